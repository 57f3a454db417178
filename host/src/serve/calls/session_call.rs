//! A handshake-era session's plain `tools/call` of a catalog tool over
//! HTTP, answered in the connection's own task.
//!
//! rmcp hands a session's request to the session's worker, which passes
//! it to the service's task, which spawns the handler's; the answer goes
//! back the same way before the HTTP response is written: three task
//! wake-ups and as many channel hops per call. For the call agents make
//! most, weft runs the same work ([`super::tool_call::catalog_work`],
//! [`super::call::drive`]) in the task that read the request, and writes
//! the one message rmcp would, as one event of an event stream.
//!
//! Only a call whose answer cannot differ from rmcp's takes this path
//! ([`plain_call`], [`takes`]): a session this replica holds (the edge
//! checks), whose agent declared no way to be asked anything (no
//! sampling, elicitation or roots), so that nothing but log messages can
//! go to it during the call, and those go on the session's own stream as
//! on rmcp's path; no per-request protocol version; a catalog tool. A
//! progress token is taken: the upstream's progress goes on the call's
//! own stream, where rmcp sends it too ([`super::own_stream`]). The agent's `notifications/cancelled` for such a call
//! is seen at the edge ([`cancelled`]) before rmcp gets it too; the call
//! then ends, and its stream closes with no message, as rmcp's does.
//! What this path gives up is resuming the answer's stream after a
//! dropped connection (rmcp's priming event id): a dropped connection
//! cancels the call instead, as a stateless call's does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use parking_lot::Mutex;
use rmcp::model::{CallToolRequestParams, ProgressToken, RequestId};
use rmcp::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use super::call::Agent;
use super::own_stream::{self, Started};
use crate::serve::Gateway;
use crate::tenant::Caller;

/// A request this path may answer: its session, id and call.
pub struct SessionCall {
    session: String,
    id: RequestId,
    params: CallToolRequestParams,
    /// The agent's progress token: progress then goes on the call's own
    /// stream ([`super::own_stream`]).
    progress: Option<ProgressToken>,
    /// The agent's trace context, for the request's span.
    trace: crate::telemetry::Sent,
}

impl SessionCall {
    /// The session the call names.
    pub fn session(&self) -> &str {
        &self.session
    }
}

/// The request, if it is a session's `tools/call` this path may answer
/// (see the module doc); `None` leaves it to rmcp.
pub fn plain_call(headers: &http::HeaderMap, body: &[u8]) -> Option<SessionCall> {
    let session = crate::serve::view::listing::handshake_session(headers)?;
    let request = super::call_body::read(body)?;
    let meta = &request.meta;
    // rmcp would read the agent's capabilities from the request's own
    // `_meta` when it has them; here they are the session's.
    if meta.protocol_version().is_some() || meta.client_capabilities().is_some() {
        return None;
    }
    #[allow(deprecated)]
    if meta.log_level().is_some() {
        return None;
    }
    let params = request.params;
    if params.request_state.is_some() || params.input_responses.is_some() {
        return None;
    }
    let trace = crate::telemetry::sent(meta, Some(headers));
    Some(SessionCall {
        session,
        id: request.id,
        progress: meta.get_progress_token(),
        params,
        trace,
    })
}

/// The calls this path runs, by session and request id, so that the
/// agent's cancellation reaches them.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<HashMap<(String, RequestId), CancellationToken>>,
}

/// A call this path took: its agent, and its place among the calls in
/// flight (left when it is dropped).
pub struct Taken {
    agent: Agent,
    gw: Arc<Gateway>,
    key: (String, RequestId),
    cancelled: CancellationToken,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.gw.session_calls.calls.lock().remove(&self.key);
    }
}

/// Whether this path answers `call`, and if so its agent: a catalog
/// tool, in a session whose agent can be asked nothing, with no call of
/// the same id in flight in it.
pub fn takes(gw: &Arc<Gateway>, call: &SessionCall) -> Option<Taken> {
    if !super::direct::catalog_tool(gw, &call.params.name) {
        return None;
    }
    let (peer, min_log) = gw.peers.agent(&call.session)?;
    let agent = agent_of(peer, min_log)?;
    if agent.can_be_asked() {
        return None;
    }
    let key = (call.session.clone(), call.id.clone());
    let cancelled = CancellationToken::new();
    {
        let mut calls = gw.session_calls.calls.lock();
        if calls.contains_key(&key) {
            return None;
        }
        calls.insert(key.clone(), cancelled.clone());
    }
    Some(Taken {
        agent,
        gw: gw.clone(),
        key,
        cancelled,
    })
}

/// The agent of a handshake-era session, as rmcp's handler sees it
/// ([`Agent::of`]), before any progress token; `None` before
/// the handshake is known.
fn agent_of(peer: Peer<RoleServer>, min_log: Option<u8>) -> Option<Agent> {
    let capabilities = peer.peer_info()?.capabilities.clone();
    Some(Agent::handshake(peer, Some(capabilities), min_log))
}

/// Ends the call this session's `notifications/cancelled` in `body`
/// names, if this path runs it. rmcp gets the notification too, and
/// ignores an id it does not know.
pub fn cancelled(gw: &Gateway, session: &str, body: &[u8]) {
    gw.session_calls.cancel(session, body);
}

impl InFlight {
    /// Cancels the call of `session` that the cancellation in `body`
    /// names; a call of another session with the same id is not touched.
    fn cancel(&self, session: &str, body: &[u8]) -> bool {
        use rmcp::model::{ClientJsonRpcMessage, ClientNotification};
        let Ok(ClientJsonRpcMessage::Notification(note)) = serde_json::from_slice(body) else {
            return false;
        };
        let ClientNotification::CancelledNotification(note) = note.notification else {
            return false;
        };
        let Some(id) = note.params.request_id else {
            return false;
        };
        let key = (session.to_string(), id);
        let calls = self.calls.lock();
        let Some(token) = calls.get(&key) else {
            return false;
        };
        token.cancel();
        true
    }
}

/// The answer to `call` (one [`takes`] took) for `caller`.
pub async fn answer(
    gw: &Arc<Gateway>,
    caller: &Caller,
    call: SessionCall,
    mut taken: Taken,
) -> Response {
    let SessionCall {
        session,
        id,
        params,
        trace,
        progress,
    } = call;
    // A client that goes away drops this future (or the stream's body),
    // and with it the work, which cancels the upstream request; so does
    // the agent's cancellation ([`cancelled`]). A cancelled call is not
    // answered: its stream closes with no message, as rmcp's does.
    let Some(token) = progress else {
        let agent = &taken.agent;
        let outcome =
            super::direct::run(gw, caller, &id, params, &trace, agent, &taken.cancelled).await;
        let message = (!taken.cancelled.is_cancelled())
            .then(|| super::direct::settle(outcome, id, agent, true).0);
        return one_piece(message);
    };
    // Progress goes on the call's own stream, as rmcp routes a session's
    // progress to the stream of the request that holds the token.
    let (sink, source) = own_stream::channel();
    taken.agent.stream_to(token, sink);
    let tape = gw.replays.open(&session);
    let (gw, caller) = (gw.clone(), caller.clone());
    let call = async move {
        let agent = &taken.agent;
        let outcome =
            super::direct::run(&gw, &caller, &id, params, &trace, agent, &taken.cancelled).await;
        (!taken.cancelled.is_cancelled()).then(|| super::direct::settle(outcome, id, agent, true).0)
    };
    match own_stream::start(call, source, |message| message, Some(tape)).await {
        Started::Ended(message) => one_piece(message),
        Started::Streaming(response) => response,
    }
}

/// The rest of a stream this path wrote, for a session's `GET` whose
/// `Last-Event-ID` names it (see [`super::replay`]); `None` leaves the
/// `GET` to rmcp.
pub fn resume(gw: &Gateway, headers: &http::HeaderMap) -> Option<Response> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let last = text("last-event-id").filter(|id| super::replay::is_ours(id))?;
    let session = text("mcp-session-id")?;
    let events = gw.replays.resume(session, last)?;
    Some(own_stream::with_headers(Body::from_stream(events)))
}

/// Ends the calls this path runs for `session`, which has ended.
pub fn session_ended(gw: &Gateway, session: &str) {
    gw.session_calls
        .calls
        .lock()
        .iter()
        .filter(|((s, _), _)| s == session)
        .for_each(|(_, token)| token.cancel());
}

/// An event stream of `message` alone (or of nothing), in one piece.
fn one_piece(message: Option<rmcp::model::ServerJsonRpcMessage>) -> Response {
    let body = match message.as_ref().map(own_stream::event) {
        None => Body::empty(),
        Some(Ok(event)) => Body::from(event),
        Some(Err(e)) => {
            return crate::serve::refusal::response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot encode the answer: {e}"),
                None,
                None,
            );
        }
    };
    own_stream::with_headers(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str) -> Vec<u8> {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_cancellation_reaches_only_its_own_sessions_call() {
        let in_flight = InFlight::default();
        let (a7, b7, a8) = (
            CancellationToken::new(),
            CancellationToken::new(),
            CancellationToken::new(),
        );
        for (session, id, token) in [("a", 7, &a7), ("b", 7, &b7), ("a", 8, &a8)] {
            in_flight
                .calls
                .lock()
                .insert((session.into(), RequestId::Number(id)), token.clone());
        }
        assert!(in_flight.cancel("b", &note("7")));
        assert!(b7.is_cancelled() && !a7.is_cancelled() && !a8.is_cancelled());
        // Another session's id, a string id for a number, not a
        // cancellation: nothing.
        assert!(!in_flight.cancel("c", &note("7")));
        assert!(!in_flight.cancel("a", &note("\"7\"")));
        assert!(!in_flight.cancel("a", br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}}"#));
        assert!(!a7.is_cancelled());
        assert!(in_flight.cancel("a", &note("7")));
        assert!(a7.is_cancelled() && !a8.is_cancelled());
    }
}
