//! One path for every tool call: resolve the server and tool, check that the
//! catalog exposes it, apply the server's timeout, and classify failures
//! into an [`ErrorKind`].
//!
//! Calls from agents, from the CLI and (later) from policies all come
//! through here, so checks, error kinds and accounting are written once.

#[allow(deprecated)]
use rmcp::model::LoggingLevel;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientCapabilities, ClientRequest, CreateTaskResult, InputRequiredResult, InputResponses,
    JsonObject, RequestId, RequestMetaObject, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};

use crate::catalog::Catalog;
use crate::error::{CallError, ErrorKind};
use crate::upstream::relay::{Relay, RelayMsg};
use crate::upstream::{Connection, State, Upstream};
use crate::util::closest;

/// JSON-RPC error codes weft branches on.
const INVALID_PARAMS: i32 = -32602;
const METHOD_NOT_FOUND: i32 = -32601;
const RESOURCE_NOT_FOUND: i32 = -32002;

/// How many input-required rounds weft drives for one call.
const MAX_INPUT_ROUNDS: usize = 10;

/// What an agent's call brings along, so the upstream can reach the agent.
pub struct Forward {
    /// Where progress, logs and requests for the agent go.
    pub relay: Relay,
    /// The agent speaks 2026-07-28: an input-required result from a
    /// 2026-07-28 upstream goes back to it unchanged, and its retry comes
    /// back with these.
    pub pass_input_required: bool,
    pub input_responses: Option<InputResponses>,
    pub request_state: Option<String>,
    /// The agent's capabilities, told to a 2026-07-28 upstream in place of
    /// weft's own, so it asks only for what the agent can give.
    pub client_capabilities: Option<ClientCapabilities>,
    /// The log level the agent wants, for a 2026-07-28 upstream (which
    /// sends log messages only to requests that ask for them).
    #[allow(deprecated)]
    pub log_level: Option<LoggingLevel>,
}

/// A forwarded call's outcome: done, or the upstream needs the agent's input.
#[derive(Debug)]
pub enum Forwarded {
    Complete(CallToolResult),
    InputRequired(InputRequiredResult),
    /// The server made a task of the call (the 2026-07-28 tasks extension);
    /// only when the agent declared that extension.
    Task(CreateTaskResult),
}

/// Resolves and performs one call. `catalog` is the snapshot the caller saw.
pub async fn call_tool(
    upstreams: &[std::sync::Arc<Upstream>],
    catalog: &Catalog,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
) -> Result<CallToolResult, CallError> {
    match call_tool_forwarded(upstreams, catalog, server, tool, args, None).await? {
        Forwarded::Complete(result) => Ok(result),
        // Only a forward that passes input-required results on gets one.
        Forwarded::InputRequired(_) | Forwarded::Task(_) => Err(CallError::new(
            ErrorKind::Internal,
            server,
            tool,
            "the server needs input from a client",
        )),
    }
}

/// [`call_tool`] for an agent's call: progress, logs and the upstream's
/// requests reach the agent through `forward`.
pub async fn call_tool_forwarded(
    upstreams: &[std::sync::Arc<Upstream>],
    catalog: &Catalog,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
    forward: Option<&Forward>,
) -> Result<Forwarded, CallError> {
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
    if let Some(f) = forward {
        params.input_responses = f.input_responses.clone();
        params.request_state = f.request_state.clone();
    }
    let timeout = up.config.timeout;
    let outcome = tokio::time::timeout(timeout, invoke(&conn, params, forward)).await;
    match outcome {
        Err(_) => Err(err(
            ErrorKind::Timeout,
            format!(
                "no answer within {} (servers.{server}.timeout)",
                crate::util::fmt_duration(timeout)
            ),
        )),
        Ok(Ok(Forwarded::Complete(result))) if result.is_error == Some(true) => {
            let mut e = err(ErrorKind::ToolError, error_text(&result));
            e.result = serde_json::to_value(&result).ok();
            Err(e)
        }
        Ok(Ok(done)) => Ok(done),
        Ok(Err(service_error)) => {
            let e = classify(service_error, server, tool);
            if e.kind == ErrorKind::Unavailable {
                up.mark_down(&e.message);
            }
            Err(e)
        }
    }
}

/// Sends the call and drives input-required rounds: answered through the
/// agent's relay, or handed back to a 2026-07-28 agent as they are.
async fn invoke(
    conn: &Connection,
    mut params: CallToolRequestParams,
    forward: Option<&Forward>,
) -> Result<Forwarded, ServiceError> {
    let peer = conn.service.peer();
    let modern_upstream = conn.protocol.as_str() >= "2026-07-28";
    let mut meta = RequestMetaObject::default();
    if let (true, Some(f)) = (modern_upstream, forward) {
        if let Some(caps) = &f.client_capabilities {
            meta.set_client_capabilities(caps.clone());
        }
        if let Some(level) = f.log_level {
            meta.set_log_level(level);
        }
    }
    for _round in 0..MAX_INPUT_ROUNDS {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params.clone()));
        let mut options = PeerRequestOptions::no_options();
        if !meta.is_empty() {
            options.meta = Some(meta.clone());
        }
        let handle = peer.send_cancellable_request(request, options).await?;
        let _registration = forward.map(|f| {
            conn.service.service().relays.register(
                handle.progress_token.clone(),
                f.relay.clone(),
                f.log_level.is_some(),
            )
        });
        let mut guard = CancelOnDrop {
            peer: Some(peer.clone()),
            id: handle.id.clone(),
        };
        let answer = handle.await_response().await;
        guard.peer = None;
        let input = match answer? {
            ServerResult::CallToolResult(result) => return Ok(Forwarded::Complete(result)),
            ServerResult::InputRequiredResult(input) => input,
            ServerResult::CreateTaskResult(task) if forward.is_some() => {
                return Ok(Forwarded::Task(task));
            }
            _ => return Err(ServiceError::UnexpectedResponse),
        };
        let Some(f) = forward else {
            return Err(ServiceError::McpError(
                rmcp::model::ErrorData::invalid_request(
                    "the server needs input from the client (sampling, elicitation or roots), \
                 which a policy or the command line cannot give",
                    None,
                ),
            ));
        };
        if f.pass_input_required && modern_upstream {
            return Ok(Forwarded::InputRequired(input));
        }
        let mut responses = InputResponses::new();
        for (key, request) in input.input_requests.unwrap_or_default() {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let sent = f.relay.send(RelayMsg::Ask {
                request: Box::new(request),
                reply,
            });
            let value = match (sent, answer.await) {
                (Ok(()), Ok(value)) => value.map_err(ServiceError::McpError)?,
                _ => return Err(ServiceError::TransportClosed),
            };
            responses.insert(key, value);
        }
        params.input_responses = Some(responses);
        params.request_state = input.request_state;
    }
    Err(ServiceError::InputRequiredRoundsExceeded {
        max_rounds: MAX_INPUT_ROUNDS,
    })
}

/// Tells the upstream to stop a request whose caller went away.
struct CancelOnDrop {
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let id = self.id.clone();
        runtime.spawn(async move {
            let params = CancelledNotificationParam::new(
                Some(id),
                Some("the caller cancelled or timed out".into()),
            );
            let _ = peer.notify_cancelled(params).await;
        });
    }
}

/// Turns an rmcp failure into a kinded error.
pub fn classify(error: ServiceError, server: &str, tool: &str) -> CallError {
    let rpc = match &error {
        ServiceError::McpError(data) => serde_json::to_value(data).ok(),
        _ => None,
    };
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
    let mut e = CallError::new(kind, server, tool, message);
    e.rpc = rpc;
    e
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
