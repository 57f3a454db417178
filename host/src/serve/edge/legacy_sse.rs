//! The legacy HTTP+SSE transport (protocol 2024-11-05), for agents that
//! speak only it: `GET /sse` opens a session's event stream, whose first
//! event (`endpoint`) names where to POST (`/messages?sessionId=ID`); each
//! POSTed JSON-RPC message is answered `202 Accepted`, and the answers
//! come back on the stream as `message` events.
//!
//! Both routes sit behind the same guard as `/mcp` (a tenant's key, its
//! request cap, the redaction of what goes back) and the same `Host` and
//! `Origin` checks. A session belongs to the tenant that opened it: a POST
//! naming it with another tenant's key gets the same 404 as an unknown id.
//! Each session is served by the gateway's own MCP session, for the
//! caller that opened it, over a pair of bounded channels; it ends when
//! the event stream is closed. At most [`MAX_SESSIONS`] are open, and
//! where tenants share them each takes only its fair share
//! ([`crate::tenant::share`]), so one tenant cannot leave another none.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use http::StatusCode;
use parking_lot::Mutex;
use rmcp::ServiceExt;
use rmcp::model::ClientJsonRpcMessage;

use crate::serve::Gateway;
use crate::tenant::Caller;
use crate::tenant::share::{FairShare, Refused, Slot, sharer};

/// The most legacy sessions open at once.
const MAX_SESSIONS: usize = 256;

/// Messages a session holds for a slow agent (answers) or a slow handler
/// (requests) before it pushes back.
const QUEUE: usize = 64;

/// Where a session's agent POSTs.
const MESSAGES: &str = "/messages";

/// The open legacy sessions.
pub(in crate::serve) struct Sessions {
    open: Mutex<HashMap<String, Open>>,
    /// [`MAX_SESSIONS`], each tenant taking its fair share.
    slots: Arc<FairShare>,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions {
            open: Mutex::default(),
            slots: FairShare::new(MAX_SESSIONS),
        }
    }
}

struct Open {
    /// The tenant that opened it (`None` without tenants).
    tenant: Option<String>,
    to_handler: mpsc::Sender<ClientJsonRpcMessage>,
    /// Its place among [`MAX_SESSIONS`], given back when it is forgotten.
    _slot: Slot,
}

/// The routes of the legacy transport.
pub(in crate::serve) fn routes(gw: Arc<Gateway>) -> axum::Router {
    let state = (gw, Arc::new(Sessions::default()));
    axum::Router::new()
        .route("/sse", axum::routing::get(open))
        .route(MESSAGES, axum::routing::post(post))
        .with_state(state)
}

type Shared = (Arc<Gateway>, Arc<Sessions>);

fn refuse(status: StatusCode, message: &str) -> Response {
    crate::serve::refusal::response(status, message, None, None)
}

/// `GET /sse`: a new session and its event stream.
async fn open(State((gw, sessions)): State<Shared>, request: Request) -> Response {
    let caller = request.extensions().get::<Caller>().cloned();
    let slot = match sessions.slots.take(caller.as_ref().and_then(sharer)) {
        Ok(slot) => slot,
        Err(refused) => return full(&refused),
    };
    let tenant = caller
        .as_ref()
        .and_then(|c| c.tenant.as_ref())
        .map(|t| t.name.clone());
    let id = match crate::util::random_hex(16) {
        Ok(id) => id,
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let (to_handler, from_agent) = mpsc::channel::<ClientJsonRpcMessage>(QUEUE);
    let (to_agent, answers) = mpsc::channel(QUEUE);
    sessions.open.lock().insert(
        id.clone(),
        Open {
            tenant,
            to_handler,
            _slot: slot,
        },
    );
    let session = gw.session_for(caller);
    let closing = Closing {
        id: id.clone(),
        sessions: sessions.clone(),
    };
    tokio::spawn(async move {
        match session.serve((to_agent, from_agent)).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!("a legacy SSE session ended before it began: {e}"),
        }
    });
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES}?sessionId={id}"));
    let stream = events(endpoint, answers, closing);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The refusal of a session for which there is no slot: 503 when weft
/// keeps all it can, 429 when the tenant holds its share.
fn full(refused: &Refused) -> Response {
    match refused {
        Refused::Full { .. } => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{MAX_SESSIONS} legacy SSE sessions are open, the most weft keeps; close one, or use streamable HTTP at /mcp"
            ),
        ),
        Refused::Share { tenant, held, .. } => refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "tenant {tenant:?} holds {held} of the {MAX_SESSIONS} legacy SSE sessions weft \
                 keeps, as many as are left for other tenants: a tenant holds no more sessions \
                 than it leaves free; close one of its sessions, or use streamable HTTP at /mcp"
            ),
        ),
    }
}

/// The endpoint event, then each answer as a `message` event; the session
/// is forgotten when the agent stops reading.
fn events(
    endpoint: Event,
    answers: mpsc::Receiver<rmcp::model::ServerJsonRpcMessage>,
    closing: Closing,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let first = futures::stream::once(async move { Ok(endpoint) });
    let rest = answers.map(move |message| {
        // Held by the stream: dropped (and the session closed) with it.
        let _ = &closing;
        let data = serde_json::to_string(&message).unwrap_or_default();
        Ok(Event::default().event("message").data(data))
    });
    first.chain(rest)
}

/// Forgets a session when its event stream goes away, which also ends its
/// handler (its request channel closes).
struct Closing {
    id: String,
    sessions: Arc<Sessions>,
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.sessions.open.lock().remove(&self.id);
    }
}

/// `POST /messages?sessionId=ID`: one JSON-RPC message for a session.
async fn post(State((gw, sessions)): State<Shared>, request: Request) -> Response {
    let unknown = || {
        refuse(
            StatusCode::NOT_FOUND,
            "unknown sessionId: open a session with GET /sse",
        )
    };
    let Some(id) = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("sessionId="))
            .map(str::to_string)
    }) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "no sessionId: POST to the endpoint the event stream named",
        );
    };
    let tenant = request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.tenant.as_ref())
        .map(|t| t.name.clone());
    let mut sender = {
        let open = sessions.open.lock();
        match open.get(&id) {
            // To any other tenant, the session does not exist.
            Some(o) if o.tenant == tenant => o.to_handler.clone(),
            _ => return unknown(),
        }
    };
    let limit = usize::try_from(gw.hub.config().settings.max_body).unwrap_or(usize::MAX);
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the body is larger than {limit} bytes (settings.max_body), or it broke off"
                ),
            );
        }
    };
    let message: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            let mut why = e.to_string();
            crate::util::truncate(&mut why, 300);
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the body is not one JSON-RPC message: {why}"),
            );
        }
    };
    match sender.try_send(message) {
        Ok(()) => (StatusCode::ACCEPTED, Body::from("Accepted")).into_response(),
        Err(e) if e.is_full() => crate::serve::refusal::response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "the session already holds {QUEUE} messages it has not taken; retry after 1 s"
            ),
            None,
            Some(std::time::Duration::from_secs(1)),
        ),
        Err(_) => unknown(),
    }
}
