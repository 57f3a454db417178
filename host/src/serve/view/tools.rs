//! The tool list weft shows an agent: catalog tools, policies and meta
//! tools, cut down by the `expose` setting; and the keyword search behind
//! `weft_search_tools`.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::authz::{self, Resource};
use crate::catalog::Catalog;
use crate::config::{CodeConfig, Expose, Grants, PolicyConfig};
use crate::tenant::Caller;

/// The catalog's tools that `caller` may see and call.
pub(in crate::serve) fn visible<'a>(
    catalog: &'a Catalog,
    caller: &'a Caller,
) -> impl Iterator<Item = &'a crate::catalog::ToolEntry> + 'a {
    catalog.tools().iter().filter(|t| {
        authz::allowed(
            caller,
            &Resource::Tool {
                server: &t.server,
                tool: t.name(),
            },
        )
    })
}

/// Searches the catalog by keyword.
pub const SEARCH: &str = "weft_search_tools";
/// Runs a configured policy by name.
pub const RUN_POLICY: &str = "weft_run_policy";
/// Runs Python or JavaScript source in the sandbox (code mode).
pub const RUN_CODE: &str = "weft_run_code";
/// Calls any catalog tool by its exposed name (offered when the catalog
/// itself is not listed, since many clients call only listed tools).
pub const CALL_TOOL: &str = "weft_call_tool";

/// What an exposed tool name stands for.
pub enum Target<'a> {
    Meta(&'static str),
    Policy(&'a PolicyConfig),
    Catalog,
}

/// Resolves an exposed name. Policies and meta tools come first; anything
/// else is looked up in the catalog (also when the catalog is not listed:
/// `expose` keeps lists small, it is not a permission).
pub fn target<'a>(name: &str, policies: &'a [PolicyConfig], expose: Expose) -> Target<'a> {
    match name {
        SEARCH => return Target::Meta(SEARCH),
        RUN_POLICY => return Target::Meta(RUN_POLICY),
        RUN_CODE => return Target::Meta(RUN_CODE),
        CALL_TOOL if expose != Expose::All => return Target::Meta(CALL_TOOL),
        _ => {}
    }
    match policies.iter().find(|p| p.name == name) {
        Some(p) => Target::Policy(p),
        None => Target::Catalog,
    }
}

fn object(v: Value) -> Arc<JsonObject> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

/// The meta tools for an expose mode.
pub fn meta_tools(expose: Expose, policies: &[PolicyConfig]) -> Vec<Tool> {
    let mut out = vec![
        Tool::new(
            SEARCH,
            "Search every connected MCP server's tools by keyword. Returns matching tool \
             names (callable here), descriptions and input schemas, best match first.",
            object(json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words to look for in tool names and descriptions"},
                    "server": {"type": "string", "description": "Only this server's tools"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
                },
                "required": ["query"]
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true)),
    ];
    // Listed only when there is a policy to run.
    let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    if !names.is_empty() {
        out.push(Tool::new(
            RUN_POLICY,
            format!(
                "Run a weft policy (a sandboxed workflow across servers) by name. Policies: {}.",
                names.join(", ")
            ),
            object(json!({
                "type": "object",
                "properties": {
                    "policy": {"type": "string", "enum": names},
                    "input": {"type": "object", "description": "The policy's input"}
                },
                "required": ["policy"]
            })),
        ));
    }
    if expose != Expose::All {
        out.push(Tool::new(
            CALL_TOOL,
            format!("Call a tool found with {SEARCH}, by its name, with its arguments."),
            object(json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "arguments": {"type": "object"}
                },
                "required": ["name"]
            })),
        ));
    }
    out
}

/// `weft_run_code`, its description naming the typed calls of the tools
/// `caller`'s code may use (those it can see that the code grants allow:
/// by default the read-only ones), when there is a catalog to describe;
/// the languages are those `settings` offer.
pub fn code_tool(catalog: Option<(&Catalog, &Caller)>, settings: &CodeConfig) -> Tool {
    let grants = settings
        .grants
        .as_ref()
        .map(|g| Grants::new(g).unwrap_or_default());
    let description = match catalog {
        Some((catalog, caller)) => {
            crate::code::describe(visible(catalog, caller).filter(|t| match &grants {
                Some(g) => g.allows(&t.server, t.name()),
                None => t.read_only,
            }))
            .0
        }
        None => crate::code::describe(std::iter::empty()).0,
    };
    let languages: Vec<&str> = settings.languages.iter().map(|l| l.name()).collect();
    Tool::new(
        RUN_CODE,
        description,
        object(json!({
            "type": "object",
            "properties": {
                "language": {"type": "string", "enum": languages},
                "code": {"type": "string", "description": "The body of a function of `input`; `return` gives the result"},
                "input": {"description": "The value of `input` (any JSON)"}
            },
            "required": ["language", "code"]
        })),
    )
}

/// A policy as a tool.
pub fn policy_tool(p: &PolicyConfig) -> Tool {
    let description = if p.description.is_empty() {
        format!("weft policy {:?}", p.name)
    } else {
        p.description.clone()
    };
    let schema = match &p.input_schema {
        Value::Object(_) => p.input_schema.clone(),
        _ => json!({"type": "object"}),
    };
    Tool::new(p.name.clone(), description, object(schema))
}

/// Every tool an agent is shown, in order: catalog, policies, meta tools.
/// `policies` are those the caller may run; catalog tools outside the
/// caller's view are left out.
pub fn exposed(
    catalog: &Catalog,
    policies: &[PolicyConfig],
    expose: Expose,
    caller: &Caller,
    code: Option<&CodeConfig>,
) -> Vec<Tool> {
    let mut out = Vec::new();
    if expose == Expose::All {
        out.extend(
            visible(catalog, caller)
                .filter(|t| !policies.iter().any(|p| p.name == t.exposed))
                .map(|t| {
                    let mut tool = t.tool.clone();
                    tool.name = t.exposed.clone().into();
                    tool
                }),
        );
    }
    if let (Expose::Code, Some(settings)) = (expose, code) {
        // The orchestrator mode: search, and code for everything else.
        out.extend(
            meta_tools(expose, policies)
                .into_iter()
                .filter(|t| t.name == SEARCH),
        );
        out.push(code_tool(Some((catalog, caller)), settings));
        return out;
    }
    if matches!(expose, Expose::All | Expose::Policies) {
        out.extend(policies.iter().map(policy_tool));
    }
    out.extend(meta_tools(expose, policies));
    if let Some(settings) = code {
        out.push(code_tool(Some((catalog, caller)), settings));
    }
    out
}

/// The configured policies `caller` may list and run.
pub(crate) fn policies_for(hub: &crate::Hub, caller: &Caller) -> Vec<PolicyConfig> {
    hub.config()
        .policies
        .iter()
        .filter(|p| authz::allowed(caller, &Resource::Policy(&p.name)))
        .cloned()
        .collect()
}

/// Every tool `tools/list` shows `caller` (all pages), as `weft serve`
/// would with `expose`: what `weft tools --tenant` prints.
pub(crate) fn listed(hub: &crate::Hub, expose: Expose, caller: &Caller) -> Vec<Tool> {
    let policies = policies_for(hub, caller);
    exposed(&hub.catalog_for(caller), &policies, expose, caller, None)
}

/// The longest search query weft takes, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;
/// The most words a search query may have.
pub const MAX_QUERY_WORDS: usize = 16;

/// A search query weft refuses to run: its cost would grow with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is {0} bytes long; at most {MAX_QUERY_BYTES} are searched")]
    TooLong(usize),
    #[error("the query has more than {MAX_QUERY_WORDS} words")]
    TooManyWords,
}

/// The distinct lowercase words of a query, refused when the query is
/// longer than [`MAX_QUERY_BYTES`] or has more than [`MAX_QUERY_WORDS`]
/// distinct words.
pub fn query_words(query: &str) -> Result<Vec<String>, QueryError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong(query.len()));
    }
    let mut words: Vec<String> = Vec::new();
    for w in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = w.to_lowercase();
        if !words.contains(&w) {
            if words.len() == MAX_QUERY_WORDS {
                return Err(QueryError::TooManyWords);
            }
            words.push(w);
        }
    }
    Ok(words)
}

/// Keyword search: every word of `query` found in a tool's name,
/// description or server adds to its score; names count double. The
/// query is bounded ([`query_words`]), so one search costs at most
/// [`MAX_QUERY_WORDS`] passes over the caller's part of the catalog.
pub fn search(
    catalog: &Catalog,
    query: &str,
    server: Option<&str>,
    limit: usize,
    caller: &Caller,
) -> Result<Value, QueryError> {
    let words = query_words(query)?;
    let mut hits: Vec<(u32, &crate::catalog::ToolEntry)> = visible(catalog, caller)
        .filter(|t| server.is_none_or(|s| &*t.server == s))
        .filter_map(|t| {
            let name = t.exposed.to_lowercase();
            let desc = t
                .tool
                .description
                .as_deref()
                .unwrap_or_default()
                .to_lowercase();
            let score: u32 = words
                .iter()
                .map(|w| {
                    2 * u32::from(name.contains(w.as_str()))
                        + u32::from(desc.contains(w.as_str()))
                        + u32::from(t.server.to_lowercase() == *w)
                })
                .sum();
            (score > 0 || words.is_empty()).then_some((score, t))
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.exposed.cmp(&b.1.exposed)));
    let tools: Vec<Value> = hits
        .iter()
        .take(limit.clamp(1, 100))
        .map(|(_, t)| {
            json!({
                "name": t.exposed,
                "server": &*t.server,
                "tool": t.name(),
                "description": t.tool.description,
                "inputSchema": &*t.tool.input_schema,
                "readOnly": t.read_only,
            })
        })
        .collect();
    // The query is echoed cut short, never as long as it came.
    let mut shown = query.to_string();
    crate::util::truncate(&mut shown, crate::error::SHOWN_CHARS);
    Ok(json!({"query": shown, "matches": hits.len(), "tools": tools}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_bounded_in_bytes_and_words() {
        assert_eq!(
            query_words("Read  read FILE"),
            Ok(vec!["read".to_string(), "file".to_string()])
        );
        let many = (0..10_000).map(|i| format!("w{i}")).collect::<Vec<_>>();
        assert_eq!(
            query_words(&many.join(" ")),
            Err(QueryError::TooLong(many.join(" ").len()))
        );
        let seventeen = many[..17].join(" ");
        assert_eq!(query_words(&seventeen), Err(QueryError::TooManyWords));
        assert_eq!(query_words(&many[..16].join(" ")).map(|w| w.len()), Ok(16));
        // Repeating a word does not count against the cap.
        assert_eq!(query_words(&"echo ".repeat(200)).map(|w| w.len()), Ok(1));
    }
}
