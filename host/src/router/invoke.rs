//! Stage 4 of the pipeline: one attempt on one server instance. Checks the
//! server's state and breakers, sends the call within the server's
//! timeout, drives input rounds through [`super::input`], and records the
//! outcome in the breakers.

use std::time::Duration;

use tracing::Instrument;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotificationParam, ClientRequest,
    InputResponses, RequestId, RequestMetaObject, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};

use crate::era::Era;
use crate::error::{CallError, ErrorKind};
use crate::upstream::builtin::DirectError;
use crate::upstream::lane::LaneCall;
use crate::upstream::relay::RelayMsg;
use crate::upstream::{Connection, State, Upstream};
use crate::util::fmt_duration;

use super::classify::{classify, error_text};
use super::input::{self, Driven, Round};
use super::{CallRequest, Forwarded};

/// One try. Also says whether the call reached the server.
pub(super) async fn attempt(
    up: &Upstream,
    server: &str,
    req: &CallRequest,
) -> (Result<Forwarded, CallError>, bool) {
    let tool = req.tool.as_str();
    let err = |kind, msg: String| CallError::new(kind, server, tool, msg);
    let conn = match ready(up) {
        Ok(conn) => conn,
        Err(why) => return (Err(err(ErrorKind::Unavailable, why.to_string())), false),
    };
    // A tenant's own timeout breaker, then the shared one.
    let caller = &req.caller;
    let own = caller.tenant.as_ref().map(|t| up.tenant_breaker(&t.name));
    if let Some(own) = &own
        && let Err(left) = own.admit()
    {
        let b = own.status();
        return (
            Err(err(
                ErrorKind::Unavailable,
                format!(
                    "circuit breaker open for tenant {:?} after {} consecutive timeouts of its calls; next probe in {}",
                    caller.tenant_name(),
                    b.consecutive_failures,
                    fmt_duration(left)
                ),
            )),
            false,
        );
    }
    if let Err(left) = up.breaker.admit() {
        let b = up.breaker.status();
        return (
            Err(err(
                ErrorKind::Unavailable,
                format!(
                    "circuit breaker open after {} consecutive failures; next probe in {}",
                    b.consecutive_failures,
                    fmt_duration(left)
                ),
            )),
            false,
        );
    }
    let timeout = up.config.timeout;
    let result = match tokio::time::timeout(timeout, invoke(&conn, req)).await {
        Ok(Err(Failure::Kinded { kind, message })) => Err(err(kind, message)),
        Err(_) => Err(err(
            ErrorKind::Timeout,
            format!(
                "no answer within {} (servers.{server}.timeout)",
                fmt_duration(timeout)
            ),
        )),
        Ok(Ok(Forwarded::Complete(result))) if result.is_error == Some(true) => {
            let mut e = err(ErrorKind::ToolError, error_text(&result));
            e.result = Some(Box::new(result));
            Err(e)
        }
        Ok(Ok(done)) => Ok(done),
        Ok(Err(Failure::Service(service_error))) => {
            let e = classify(service_error, server, tool);
            if e.kind == ErrorKind::Unavailable {
                up.mark_down(&e.message);
            }
            Err(e)
        }
    };
    // A server that is down fails everyone. A timeout may be the
    // caller's own doing (a slow operation it asked for): with tenants it
    // counts against that tenant's breaker only, so one tenant's slow
    // calls never cut off the others.
    let timed_out = matches!(&result, Err(e) if e.kind == ErrorKind::Timeout);
    let down = matches!(&result, Err(e) if e.kind == ErrorKind::Unavailable);
    let shared_failed = down || (timed_out && own.is_none());
    if up.breaker.record(shared_failed) {
        tracing::warn!(server, "circuit breaker opened");
    }
    if let Some(own) = &own
        && own.record(timed_out)
    {
        tracing::warn!(server, tenant = %caller.tenant_name(), "the tenant's circuit breaker opened");
    }
    if let Err(e) = &result
        && !matches!(e.kind, ErrorKind::ToolError)
    {
        up.note_error(&format!("{tool}: {}: {}", e.kind, e.message));
    }
    (result, true)
}

/// Why a server cannot take a call now.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    #[error("the server has no connection")]
    NoConnection,
    #[error("the server is disabled in the config")]
    Disabled,
    #[error("the server is starting")]
    Starting,
    /// The supervisor tries again after `wait`.
    #[error(
        "the server is down ({reason}); restart attempt {attempt} in {}",
        fmt_duration(*.wait)
    )]
    BackingOff {
        reason: String,
        attempt: u32,
        wait: Duration,
    },
    #[error("the server failed to start: {reason}")]
    Failed { reason: String },
    #[error("the server is down: {reason}")]
    Down { reason: String },
}

/// The server's connection, or why it cannot take a call now.
fn ready(up: &Upstream) -> Result<std::sync::Arc<Connection>, NotReady> {
    match up.state() {
        State::Up => up.connection().ok_or(NotReady::NoConnection),
        State::Disabled => Err(NotReady::Disabled),
        State::Starting => Err(NotReady::Starting),
        State::BackingOff {
            reason,
            attempt,
            retry_at_ms,
            ..
        } => {
            let wait =
                retry_at_ms.saturating_sub(crate::util::unix_ms(std::time::SystemTime::now()));
            Err(NotReady::BackingOff {
                reason,
                attempt,
                wait: Duration::from_millis(wait),
            })
        }
        State::Failed { error } => Err(NotReady::Failed {
            reason: error.reason,
        }),
        State::Down { reason } => Err(NotReady::Down { reason }),
    }
}

/// How one attempt failed: an rmcp error, classified by the caller, or a
/// failure an in-process server already gave a kind.
enum Failure {
    Service(ServiceError),
    Kinded { kind: ErrorKind, message: String },
}

/// Sends the call: directly to an in-process server, or over the wire.
async fn invoke(conn: &Connection, req: &CallRequest) -> Result<Forwarded, Failure> {
    let Some(direct) = &conn.direct else {
        return send(conn, req).await.map_err(Failure::Service);
    };
    match direct
        .call(&req.tool, req.args.as_deref(), &req.caller)
        .await
    {
        Ok(result) => Ok(Forwarded::Complete(result)),
        Err(DirectError::Rpc(e)) => Err(Failure::Service(ServiceError::McpError(e))),
        Err(DirectError::Kinded { kind, message }) => Err(Failure::Kinded { kind, message }),
    }
}

/// Sends the call and drives input-required rounds: answered through the
/// agent's relay, or handed back to a 2026-07-28 agent as they are.
async fn send(conn: &Connection, req: &CallRequest) -> Result<Forwarded, ServiceError> {
    let forward = req.forward.as_ref();
    // A handshake-era agent's call goes to a dual-era server in that era,
    // where the server's requests ride the call's own stream (see
    // `upstream::handshake_side`).
    let handshake_agent = forward.is_some_and(|f| f.handshake_agent);
    let side = match &conn.handshake_side {
        Some(side) if handshake_agent => side.session().await,
        _ => None,
    };
    let service = side.unwrap_or(&conn.service);
    let peer = service.peer();
    let stateless_upstream = side.is_none() && conn.era() == Era::Stateless;
    let mut meta = RequestMetaObject::default();
    if let (true, Some(f)) = (stateless_upstream, forward) {
        if let Some(caps) = &f.client_capabilities {
            meta.set_client_capabilities(caps.clone());
        }
        if let Some(level) = f.log_level {
            meta.set_log_level(level);
        }
    }
    // The upstream request's own span; its context goes to the server in
    // `_meta` (SEP-414) while traces are exported.
    let span = tracing::info_span!("upstream", server = %req.server, tool = %req.tool);
    if let Some((parent, state)) = span.in_scope(crate::telemetry::current) {
        meta.set_traceparent(parent);
        if let Some(state) = state {
            meta.set_tracestate(state);
        }
    }
    let tenant = req.caller.tenant.as_ref().map(|t| t.name.as_str());
    let send = |responses: Option<InputResponses>, state: Option<String>| {
        let mut options = PeerRequestOptions::no_options();
        if !meta.is_empty() {
            options.meta = Some(meta.clone());
        }
        let peer = peer.clone();
        async move {
            // The agent's relay, for the server's requests about this call
            // (sampling, elicitation) and its progress and logs.
            let register = |token: &rmcp::model::ProgressToken| {
                forward.map(|f| {
                    service.service().relays.register(
                        token.clone(),
                        f.relay.clone(),
                        f.log_level.is_some(),
                        tenant,
                    )
                })
            };
            let (pending, _registration) = match &conn.lane {
                // The lane writes the line itself, so the server may ask
                // before the send returns: the relay is registered first.
                Some(lane) if options.meta.is_none() => {
                    let call = LaneCall {
                        name: &req.tool,
                        arguments: req.args.as_deref(),
                        input_responses: responses.as_ref(),
                        request_state: state.as_deref(),
                    };
                    let (sent, registration) = lane.send_after(call, register).await?;
                    (Pending::Lane(sent), registration)
                }
                _ => {
                    let mut params = CallToolRequestParams::new(req.tool.clone());
                    params.arguments = req.wire_args();
                    params.input_responses = responses;
                    params.request_state = state;
                    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
                    // rmcp sends on its own task, and the server may ask
                    // for input before `send_cancellable_request` returns
                    // the request's progress token: the relay is registered
                    // before the send, and given the token after it.
                    let registration = forward.map(|f| {
                        service.service().relays.register_unsent(
                            f.relay.clone(),
                            f.log_level.is_some(),
                            tenant,
                        )
                    });
                    let handle = peer.send_cancellable_request(request, options).await?;
                    if let Some(registration) = &registration {
                        registration.bind(handle.progress_token.clone());
                    }
                    (Pending::Rmcp(handle), registration)
                }
            };
            let id = match &pending {
                Pending::Lane(sent) => &sent.id,
                Pending::Rmcp(handle) => &handle.id,
            };
            // Ties weft's request id (the span) to the id the upstream sees.
            tracing::debug!(upstream_id = %id, "sent to the upstream");
            let mut guard = CancelOnDrop {
                peer: Some(peer.clone()),
                id: id.clone(),
            };
            let answer = match pending {
                Pending::Lane(sent) => sent.answer().await,
                Pending::Rmcp(handle) => handle.await_response().await,
            };
            guard.peer = None;
            match answer? {
                ServerResult::CallToolResult(result) => {
                    Ok(Round::Done(Forwarded::Complete(result)))
                }
                ServerResult::InputRequiredResult(input) if forward.is_some() => {
                    Ok(Round::Input(input))
                }
                ServerResult::InputRequiredResult(_) => Err(ServiceError::McpError(
                    rmcp::model::ErrorData::invalid_request(
                        "the server needs input from the client (sampling, elicitation or roots), \
                         which a policy or the command line cannot give",
                        None,
                    ),
                )),
                ServerResult::CreateTaskResult(task) if forward.is_some() => {
                    Ok(Round::Done(Forwarded::Task(task)))
                }
                _ => Err(ServiceError::UnexpectedResponse),
            }
        }
    };
    let ask = |request| async move {
        let Some(f) = forward else {
            return Err(ServiceError::TransportClosed);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = f.relay.send(RelayMsg::Ask {
            request: Box::new(request),
            reply,
        });
        match (sent, answer.await) {
            (Ok(()), Ok(value)) => value.map_err(ServiceError::McpError),
            _ => Err(ServiceError::TransportClosed),
        }
    };
    let first = forward.map_or((None, None), |f| {
        (f.input_responses.clone(), f.request_state.clone())
    });
    let pass = forward.is_some_and(|f| f.pass_input_required) && stateless_upstream;
    match input::drive(first, pass, send, ask)
        .instrument(span)
        .await?
    {
        Driven::Done(done) => Ok(done),
        Driven::InputRequired(input) => Ok(Forwarded::InputRequired(input)),
    }
}

/// A tool call sent to the upstream: on a stdio server's lane, or through
/// rmcp's service.
enum Pending {
    Lane(crate::upstream::lane::Sent),
    Rmcp(rmcp::service::RequestHandle<RoleClient>),
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
