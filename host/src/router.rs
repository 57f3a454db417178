//! One path for every tool call: resolve the server and tool, check that the
//! catalog exposes it, apply the server's timeout, and classify failures
//! into an [`ErrorKind`].
//!
//! Calls from agents, from the CLI and (later) from policies all come
//! through here, so checks, error kinds and accounting are written once.

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::ServiceError;

use crate::catalog::Catalog;
use crate::error::{CallError, ErrorKind};
use crate::upstream::{State, Upstream};
use crate::util::closest;

/// JSON-RPC error codes weft branches on.
const INVALID_PARAMS: i32 = -32602;
const METHOD_NOT_FOUND: i32 = -32601;
const RESOURCE_NOT_FOUND: i32 = -32002;

/// Resolves and performs one call. `catalog` is the snapshot the caller saw.
pub async fn call_tool(
    upstreams: &[std::sync::Arc<Upstream>],
    catalog: &Catalog,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
) -> Result<CallToolResult, CallError> {
    let err = |kind, msg: String| CallError::new(kind, server, tool, msg);
    let Some(up) = upstreams.iter().find(|u| u.name() == server) else {
        let names: Vec<&str> = upstreams.iter().map(|u| u.name()).collect();
        let hint = closest(server, names.iter().copied())
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_else(|| format!("; configured servers: {}", names.join(", ")));
        return Err(err(
            ErrorKind::NotFound,
            format!("no server named {server:?}{hint}"),
        ));
    };
    let conn = match up.state() {
        State::Up => up.connection(),
        State::Disabled => {
            return Err(err(
                ErrorKind::Unavailable,
                "the server is disabled in the config".into(),
            ));
        }
        State::Starting => {
            return Err(err(
                ErrorKind::Unavailable,
                "the server is still starting".into(),
            ));
        }
        State::Failed { error } => {
            return Err(err(
                ErrorKind::Unavailable,
                format!("the server failed to start: {}", error.reason),
            ));
        }
        State::Down { reason } => {
            return Err(err(
                ErrorKind::Unavailable,
                format!("the server is down: {reason}"),
            ));
        }
    };
    let Some(conn) = conn else {
        return Err(err(
            ErrorKind::Unavailable,
            "the server has no connection".into(),
        ));
    };
    if catalog.tool(server, tool).is_none() {
        let names: Vec<&str> = catalog
            .tools()
            .iter()
            .filter(|t| &*t.server == server)
            .map(|t| t.name())
            .collect();
        let hint = closest(tool, names.iter().copied())
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default();
        let hidden = up.listing().tools.iter().any(|t| t.name == tool);
        let why = if hidden {
            "is hidden by this server's include/exclude filter"
        } else {
            "does not exist on this server"
        };
        return Err(err(
            ErrorKind::NotFound,
            format!("tool {tool:?} {why}{hint}"),
        ));
    }

    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args;
    let timeout = up.config.timeout;
    let outcome = tokio::time::timeout(timeout, conn.service.call_tool(params)).await;
    match outcome {
        Err(_) => Err(err(
            ErrorKind::Timeout,
            format!(
                "no answer within {} (servers.{server}.timeout)",
                crate::util::fmt_duration(timeout)
            ),
        )),
        Ok(Ok(result)) if result.is_error == Some(true) => {
            let mut e = err(ErrorKind::ToolError, error_text(&result));
            e.result = serde_json::to_value(&result).ok();
            Err(e)
        }
        Ok(Ok(result)) => Ok(result),
        Ok(Err(service_error)) => {
            let e = classify(service_error, server, tool);
            if e.kind == ErrorKind::Unavailable {
                up.mark_down(&e.message);
            }
            Err(e)
        }
    }
}

/// Turns an rmcp failure into a kinded error.
pub fn classify(error: ServiceError, server: &str, tool: &str) -> CallError {
    let (kind, message) = match error {
        ServiceError::McpError(data) => {
            let code = data.code.0;
            let lower = data.message.to_ascii_lowercase();
            let kind = if lower.contains("rate limit") || lower.contains("too many requests") {
                ErrorKind::RateLimited
            } else if code == INVALID_PARAMS
                && (lower.contains("unknown tool") || lower.contains("not found"))
            {
                ErrorKind::NotFound
            } else if code == INVALID_PARAMS {
                ErrorKind::InvalidArgs
            } else if code == METHOD_NOT_FOUND || code == RESOURCE_NOT_FOUND {
                ErrorKind::NotFound
            } else {
                ErrorKind::Internal
            };
            (kind, format!("{} (JSON-RPC {code})", data.message))
        }
        ServiceError::TransportClosed => (
            ErrorKind::Unavailable,
            "the connection to the server closed".into(),
        ),
        ServiceError::TransportSend(e) => (
            ErrorKind::Unavailable,
            format!("cannot send to the server: {e}"),
        ),
        ServiceError::Timeout { timeout } => (
            ErrorKind::Timeout,
            format!("no answer within {}", crate::util::fmt_duration(timeout)),
        ),
        ServiceError::Cancelled { reason } => (
            ErrorKind::Internal,
            format!(
                "cancelled: {}",
                reason.unwrap_or_else(|| "no reason given".into())
            ),
        ),
        other => (ErrorKind::Internal, other.to_string()),
    };
    CallError::new(kind, server, tool, message)
}

/// The text a failed tool gave, for the error message.
fn error_text(result: &CallToolResult) -> String {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if text.is_empty() {
        "the tool reported an error".into()
    } else {
        text.join("\n")
    }
}
