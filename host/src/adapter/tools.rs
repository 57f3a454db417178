//! An adapter's `list-tools` answer, checked and turned into MCP tools.
//! Everything here comes from the guest: names are checked, schemas must
//! be JSON objects, and the count is capped.

use std::collections::HashSet;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};

use crate::sandbox::AdapterTool;

/// The most tools one adapter may list.
pub const MAX_TOOLS: usize = 1024;
/// The longest tool name.
pub const MAX_TOOL_NAME: usize = 128;

/// Why an adapter's tool list cannot be served. Names are shown cut to
/// 64 characters (they come from the guest).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("the component lists {0} tools, over the cap of {MAX_TOOLS}")]
    TooMany(usize),
    #[error("the component lists the tool {0:?} twice")]
    Twice(String),
    #[error("the component lists a tool named {0:?}: a name is 1 to {MAX_TOOL_NAME} bytes")]
    NameLength(String),
    #[error(
        "the component lists a tool named {0:?}: a name may hold only letters, digits, `_`, `-` and `.`"
    )]
    NameCharacters(String),
    #[error("tool {tool:?}: its {field} is not a JSON object")]
    NotObject { tool: String, field: &'static str },
    #[error("tool {tool:?}: its {field} is not valid JSON: {error}")]
    NotJson {
        tool: String,
        field: &'static str,
        error: serde_json::Error,
    },
}

/// A guest's name, cut for messages.
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}

/// The adapter's tools as MCP tools, or why they cannot be served.
pub(super) fn convert(listed: Vec<AdapterTool>) -> Result<Vec<Tool>, ListError> {
    if listed.len() > MAX_TOOLS {
        return Err(ListError::TooMany(listed.len()));
    }
    let mut seen = HashSet::new();
    listed
        .into_iter()
        .map(|t| {
            check_name(&t.name)?;
            if !seen.insert(t.name.clone()) {
                return Err(ListError::Twice(shown(&t.name)));
            }
            let input = schema(&t.name, "input-schema", &t.input_schema)?;
            let output = t
                .output_schema
                .as_deref()
                .map(|s| schema(&t.name, "output-schema", s))
                .transpose()?;
            let mut tool = Tool::new(t.name, t.description, Arc::new(input));
            tool.title = t.title;
            tool.output_schema = output.map(Arc::new);
            if t.read_only {
                tool = tool.with_annotations(ToolAnnotations::new().read_only(true));
            }
            Ok(tool)
        })
        .collect()
}

fn check_name(name: &str) -> Result<(), ListError> {
    if name.is_empty() || name.len() > MAX_TOOL_NAME {
        return Err(ListError::NameLength(shown(name)));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ListError::NameCharacters(shown(name)));
    }
    Ok(())
}

/// A schema as a JSON object; "" is an object with any properties.
fn schema(tool: &str, field: &'static str, text: &str) -> Result<JsonObject, ListError> {
    if text.trim().is_empty() {
        let mut any = JsonObject::new();
        any.insert("type".into(), "object".into());
        return Ok(any);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ListError::NotObject {
            tool: shown(tool),
            field,
        }),
        Err(error) => Err(ListError::NotJson {
            tool: shown(tool),
            field,
            error,
        }),
    }
}
