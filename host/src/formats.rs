//! The catalog as vendors' function-calling tool lists, for agents that
//! embed weft: MCP's own `tools/list` shape, OpenAI's `tools` of chat
//! completions, and Anthropic's `tools` of messages; and tool results
//! turned back into each vendor's tool-result message.
//!
//! Vendors accept fewer names and schemas than MCP: a function name is
//! `[A-Za-z0-9_-]` and at most 64 characters, and the parameters must be
//! a JSON Schema object. [`render`] adapts each tool (other characters
//! become `_`, a long or clashing name is cut and given a short hash, a
//! schema that is not an object gets one) and returns a [`NameMap`], so
//! the name a model calls maps back to the name weft routes.

use std::collections::{BTreeMap, HashSet};

use rmcp::model::{CallToolResult, Tool};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The longest function name OpenAI and Anthropic accept.
pub const MAX_NAME: usize = 64;

/// A tool-list format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MCP's `tools/list` result: `{"tools": [...]}`, names as weft
    /// exposes them.
    Mcp,
    /// OpenAI chat completions: `[{"type": "function", "function": {...}}]`.
    OpenAi,
    /// Anthropic messages: `[{"name", "description", "input_schema"}]`.
    Anthropic,
}

impl Format {
    /// Reads `mcp`, `openai` or `anthropic`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "mcp" => Some(Format::Mcp),
            "openai" => Some(Format::OpenAi),
            "anthropic" => Some(Format::Anthropic),
            _ => None,
        }
    }
}

/// Vendor names back to the names weft exposes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NameMap {
    to_exposed: BTreeMap<String, String>,
}

impl NameMap {
    /// The exposed name (`server__tool`) of the name a model called.
    pub fn exposed<'a>(&'a self, vendor: &str) -> Option<&'a str> {
        self.to_exposed.get(vendor).map(String::as_str)
    }

    /// The vendor name of an exposed name.
    pub fn vendor<'a>(&'a self, exposed: &str) -> Option<&'a str> {
        self.to_exposed
            .iter()
            .find(|(_, e)| e.as_str() == exposed)
            .map(|(v, _)| v.as_str())
    }

    /// How many names it maps: one per tool rendered.
    pub fn len(&self) -> usize {
        self.to_exposed.len()
    }

    /// Whether it maps no names at all.
    pub fn is_empty(&self) -> bool {
        self.to_exposed.is_empty()
    }
}

/// A rendered tool list and the names' way back.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The tool list in the format asked for: `{"tools": [...]}` for MCP, an array otherwise.
    pub tools: Value,
    /// The names the list uses, mapped back to the names weft exposes.
    pub names: NameMap,
}

/// `tools` (named as weft exposes them) in `format`.
pub fn render(format: Format, tools: &[Tool]) -> Rendered {
    let mut names = NameMap::default();
    let mut taken = HashSet::new();
    let mut list = Vec::new();
    for tool in tools {
        let exposed = tool.name.to_string();
        let name = match format {
            Format::Mcp => exposed.clone(),
            _ => vendor_name(&exposed, &mut taken),
        };
        names.to_exposed.insert(name.clone(), exposed);
        let description = tool.description.as_deref().unwrap_or("").to_string();
        list.push(match format {
            Format::Mcp => {
                let mut t = serde_json::to_value(tool).unwrap_or(Value::Null);
                t["name"] = Value::String(name);
                t
            }
            Format::OpenAi => json!({
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": parameters(&tool.input_schema),
                },
            }),
            Format::Anthropic => json!({
                "name": name,
                "description": description,
                "input_schema": parameters(&tool.input_schema),
            }),
        });
    }
    let tools = match format {
        Format::Mcp => json!({ "tools": list }),
        _ => Value::Array(list),
    };
    Rendered { tools, names }
}

impl crate::Hub {
    /// Every tool an embedding agent can offer its model, as the owner
    /// sees them: the catalog's tools under the names weft routes
    /// (`server__tool`, for [`crate::Hub::call_exposed`]), then the
    /// configured policies as tools (named as in the config, for
    /// [`crate::policy::load`] and [`crate::policy::Runner`]).
    pub fn agent_tools(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self
            .catalog()
            .tools()
            .iter()
            .map(|t| {
                let mut tool = t.tool.clone();
                tool.name = t.exposed.clone().into();
                tool
            })
            .collect();
        tools.extend(
            self.config()
                .policies
                .iter()
                .map(crate::serve::tools::policy_tool),
        );
        tools
    }

    /// [`crate::Hub::agent_tools`] in `format`, with the names' way back.
    pub fn tools_as(&self, format: Format) -> Rendered {
        render(format, &self.agent_tools())
    }
}

/// A name vendors accept, unique among `taken`: other characters become
/// `_`; a name too long or already taken keeps its start and ends in a
/// short hash of the whole.
fn vendor_name(exposed: &str, taken: &mut HashSet<String>) -> String {
    let clean: String = exposed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = if clean.is_empty() {
        "tool".to_string()
    } else {
        clean.clone()
    };
    let mut salt = 0u32;
    while name.len() > MAX_NAME || taken.contains(&name) {
        let digest = Sha256::digest(format!("{exposed}\0{salt}").as_bytes());
        let tag = hex::encode(&digest[..4]);
        let keep = MAX_NAME - tag.len() - 1;
        let head: String = clean.chars().take(keep).collect();
        name = format!("{head}_{tag}");
        salt += 1;
    }
    taken.insert(name.clone());
    name
}

/// An input schema as the parameters vendors take: a JSON Schema object
/// (`{"type": "object"}` when the tool's is not), without `$schema`.
fn parameters(schema: &Map<String, Value>) -> Value {
    let mut schema = schema.clone();
    schema.remove("$schema");
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        schema.insert("type".into(), json!("object"));
    }
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    Value::Object(schema)
}

/// A tool result as text a model reads: the text blocks, else the
/// structured content as JSON, with other blocks named by kind.
pub fn result_text(result: &CallToolResult) -> String {
    let mut parts = Vec::new();
    for block in &result.content {
        use rmcp::model::ContentBlock;
        match block {
            ContentBlock::Text(t) => parts.push(t.text.clone()),
            ContentBlock::Image(i) => parts.push(format!("[image {}]", i.mime_type)),
            ContentBlock::Audio(a) => parts.push(format!("[audio {}]", a.mime_type)),
            ContentBlock::Resource(_) => parts.push("[embedded resource]".into()),
            ContentBlock::ResourceLink(l) => parts.push(format!("[resource {}]", l.uri)),
            _ => parts.push("[content of another kind]".into()),
        }
    }
    if parts.is_empty()
        && let Some(s) = &result.structured_content
    {
        parts.push(s.to_string());
    }
    parts.join("\n")
}

/// The chat message that answers an OpenAI tool call `call_id`.
pub fn openai_result(call_id: &str, result: &CallToolResult) -> Value {
    let mut text = result_text(result);
    if result.is_error == Some(true) {
        text = format!("error: {text}");
    }
    json!({"role": "tool", "tool_call_id": call_id, "content": text})
}

/// The content block that answers an Anthropic `tool_use` block `id`.
pub fn anthropic_result(id: &str, result: &CallToolResult) -> Value {
    json!({
        "type": "tool_result",
        "tool_use_id": id,
        "content": [{"type": "text", "text": result_text(result)}],
        "is_error": result.is_error == Some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;

    fn tool(name: &str, schema: Value) -> Tool {
        let schema = schema.as_object().cloned().unwrap_or_default();
        Tool::new(
            name.to_string(),
            "does a thing",
            std::sync::Arc::new(schema),
        )
    }

    #[test]
    fn names_are_made_acceptable_and_map_back() {
        let long = format!("server__{}", "x".repeat(80));
        let tools = [
            tool(
                "everything__echo",
                json!({"type": "object", "properties": {"message": {"type": "string"}}}),
            ),
            tool("git.server__log entries", json!({})),
            tool(
                "git_server__log_entries",
                json!({"$schema": "x", "type": "object"}),
            ),
            tool(&long, json!({"type": "object"})),
        ];
        for format in [Format::OpenAi, Format::Anthropic] {
            let r = render(format, &tools);
            let listed: Vec<String> = r
                .tools
                .as_array()
                .unwrap()
                .iter()
                .map(|t| match format {
                    Format::OpenAi => t["function"]["name"].as_str().unwrap().to_string(),
                    _ => t["name"].as_str().unwrap().to_string(),
                })
                .collect();
            assert_eq!(listed[0], "everything__echo");
            assert_eq!(listed[1], "git_server__log_entries");
            // The clean form is taken: a hashed one, still acceptable.
            assert_ne!(listed[2], listed[1]);
            assert!(
                listed[2].starts_with("git_server__log_entries_"),
                "{}",
                listed[2]
            );
            assert_eq!(listed[3].len(), MAX_NAME);
            for (vendor, t) in listed.iter().zip(&tools) {
                assert!(vendor.len() <= MAX_NAME);
                assert!(
                    vendor
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                );
                assert_eq!(r.names.exposed(vendor), Some(&*t.name), "{vendor}");
                assert_eq!(r.names.vendor(&t.name), Some(vendor.as_str()));
            }
            // Schemas are objects without $schema.
            let params = match format {
                Format::OpenAi => &r.tools[1]["function"]["parameters"],
                _ => &r.tools[1]["input_schema"],
            };
            assert_eq!(params, &json!({"type": "object", "properties": {}}));
            let params = match format {
                Format::OpenAi => &r.tools[2]["function"]["parameters"],
                _ => &r.tools[2]["input_schema"],
            };
            assert!(params.get("$schema").is_none());
        }
        let mcp = render(Format::Mcp, &tools);
        assert_eq!(mcp.tools["tools"][1]["name"], "git.server__log entries");
        assert_eq!(
            mcp.names.exposed("git.server__log entries"),
            Some("git.server__log entries")
        );
    }

    #[test]
    fn results_map_back() {
        let ok = CallToolResult::success(vec![ContentBlock::text("Echo: hi")]);
        assert_eq!(
            openai_result("call_1", &ok),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "Echo: hi"})
        );
        let failed = CallToolResult::error(vec![ContentBlock::text("no such file")]);
        assert_eq!(
            anthropic_result("toolu_1", &failed),
            json!({"type": "tool_result", "tool_use_id": "toolu_1",
                   "content": [{"type": "text", "text": "no such file"}], "is_error": true})
        );
        let structured = CallToolResult::structured(json!({"a": 1}));
        assert!(result_text(&structured).contains("\"a\":1"));
    }
}
