//! `weft call SERVER TOOL [ARGS_JSON]`: one tool call, its result printed.

use std::io::Read;
use std::process::ExitCode;

use crate::config::Config;
use crate::error::ErrorKind;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ResourceContents};
use tracing::Instrument;

use super::{FAILED, USAGE, finish, only_server, start_hub};

/// The top-level entry point for `weft call`.
pub async fn run(
    config: Config,
    server: &str,
    tool: &str,
    args: Option<String>,
    as_json: bool,
    tenant: Option<&str>,
) -> ExitCode {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            crate::errln!("weft: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let config = match only_server(config, server) {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("weft: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if let Some(name) = tenant
        && let Err(code) = super::known_tenant(&config, name)
    {
        return code;
    }
    let hub = start_hub(config, false, false).await;
    // A durable adapter's call is journaled as a run.
    if let Err(e) = super::run_journal::journal_for_durable_adapters(&hub).await {
        crate::errln!("weft: {server} is durable, but {e:#}");
        return finish(FAILED).await;
    }
    let caller = match tenant.and_then(|name| hub.tenants().get(name)) {
        Some(t) => crate::tenant::Caller::tenant(t, "cli"),
        None => crate::tenant::Caller::owner(),
    };
    let span = tracing::info_span!("request", request_id = %crate::util::request_id());
    let outcome = hub
        .call_tool_as(&caller, server, tool, args)
        .instrument(span)
        .await;
    let code = match outcome {
        Ok(result) => {
            print_result(&result, as_json);
            0
        }
        Err(e) => {
            if as_json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "error": e }))
                        .unwrap_or_default()
                );
            } else {
                // The tool's own words once: the result, then only the kind.
                if let Some(result) = &e.result {
                    print_result(result, false);
                    crate::errln!(
                        "weft: {}/{}: {} (the tool's answer is above)",
                        e.server,
                        e.tool,
                        e.kind
                    );
                } else {
                    crate::errln!("weft: {e}");
                }
                if e.kind == ErrorKind::Unavailable {
                    for line in hub
                        .upstream_for(server, &caller)
                        .map(|u| u.stderr_tail(8))
                        .unwrap_or_default()
                    {
                        crate::errln!("  | {line}");
                    }
                }
            }
            if e.kind == ErrorKind::NotFound && e.server.is_empty() {
                USAGE
            } else {
                FAILED
            }
        }
    };
    finish(code).await
}

/// Reads ARGS_JSON (or stdin for "-") as a JSON object.
fn parse_args(raw: Option<String>) -> anyhow::Result<Option<JsonObject>> {
    let Some(raw) = raw else { return Ok(None) };
    let text = if raw == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| anyhow::anyhow!("cannot read arguments from stdin: {e}"))?;
        s
    } else {
        raw
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(anyhow::anyhow!(
            "ARGS_JSON must be a JSON object like '{{\"key\": \"value\"}}', not {}",
            kind_of(&other)
        )),
        Err(e) => Err(anyhow::anyhow!(
            "ARGS_JSON is not valid JSON ({e}); quote it for the shell: '{{\"key\": \"value\"}}'"
        )),
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Prints a result: text as text, other blocks summarised, and the
/// structured content as JSON when there is no text.
pub(super) fn print_result(result: &CallToolResult, as_json: bool) {
    if as_json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(result).unwrap_or_default()
        );
        return;
    }
    let mut printed_text = false;
    for block in &result.content {
        match block {
            ContentBlock::Text(t) => {
                crate::outln!("{}", t.text);
                printed_text = true;
            }
            ContentBlock::Image(i) => {
                crate::outln!("[image {}, {} bytes base64]", i.mime_type, i.data.len())
            }
            ContentBlock::Audio(a) => {
                crate::outln!("[audio {}, {} bytes base64]", a.mime_type, a.data.len())
            }
            ContentBlock::Resource(r) => match &r.resource {
                ResourceContents::TextResourceContents { uri, text, .. } => {
                    crate::outln!("[resource {uri}]\n{text}")
                }
                ResourceContents::BlobResourceContents { uri, blob, .. } => {
                    crate::outln!("[resource {uri}, {} bytes base64]", blob.len())
                }
                _ => crate::outln!("[embedded resource]"),
            },
            ContentBlock::ResourceLink(l) => crate::outln!("[link {} {}]", l.name, l.uri),
            _ => crate::outln!("[content of a kind this weft does not know]"),
        }
    }
    if !printed_text && let Some(s) = &result.structured_content {
        crate::outln!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
    }
}
