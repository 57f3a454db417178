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

/// The adapter's tools as MCP tools, or why they cannot be served.
pub(super) fn convert(listed: Vec<AdapterTool>) -> Result<Vec<Tool>, String> {
    if listed.len() > MAX_TOOLS {
        return Err(format!(
            "the component lists {} tools, over the cap of {MAX_TOOLS}",
            listed.len()
        ));
    }
    let mut seen = HashSet::new();
    listed
        .into_iter()
        .map(|t| {
            check_name(&t.name)?;
            if !seen.insert(t.name.clone()) {
                return Err(format!("the component lists the tool {:?} twice", t.name));
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

fn check_name(name: &str) -> Result<(), String> {
    let shown: String = name.chars().take(64).collect();
    if name.is_empty() || name.len() > MAX_TOOL_NAME {
        return Err(format!(
            "the component lists a tool named {shown:?}: a name is 1 to {MAX_TOOL_NAME} bytes"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "the component lists a tool named {shown:?}: a name may hold only letters, digits, `_`, `-` and `.`"
        ));
    }
    Ok(())
}

/// A schema as a JSON object; "" is an object with any properties.
fn schema(tool: &str, field: &str, text: &str) -> Result<JsonObject, String> {
    if text.trim().is_empty() {
        let mut any = JsonObject::new();
        any.insert("type".into(), "object".into());
        return Ok(any);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("tool {tool:?}: its {field} is not a JSON object")),
        Err(e) => Err(format!("tool {tool:?}: its {field} is not valid JSON: {e}")),
    }
}
