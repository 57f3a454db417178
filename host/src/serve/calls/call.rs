//! One agent's `tools/call`, driven to the end: the work (an upstream call,
//! a policy run or a meta tool) runs while this loop relays what the
//! upstream sends toward the agent — progress, log messages, and requests
//! for sampling, elicitation or roots — and watches for cancellation.
//!
//! Requests for the agent go out in its own era. A handshake-era agent gets
//! a real request on its session. A 2026-07-28 agent gets an
//! `input_required` result; the work is parked under an opaque
//! `requestState` until the agent retries with its answers, then resumes
//! where it stopped.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
#[allow(deprecated)]
use rmcp::model::LoggingLevel;
use rmcp::model::{
    CallToolResponse, ClientCapabilities, ErrorData, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, ProgressNotificationParam, ProgressToken, ServerRequest,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::upstream::relay::RelayMsg;

/// The work behind one call, boxed so it can be parked.
pub type Work = Pin<Box<dyn Future<Output = Result<CallToolResponse, ErrorData>> + Send>>;

/// The prefix of `requestState` values weft makes (others are an upstream's).
pub const STATE_PREFIX: &str = "weft-input:";

/// How long a parked call waits for the agent's retry.
const PARK_TTL: Duration = Duration::from_secs(300);

/// How many calls one tenant (or the owner) may have parked at once; the
/// oldest of its own goes when it parks one more.
pub const PARKED_PER_TENANT: usize = 256;

/// Whose a parked call is: the tenant (`None` without tenants) and the key
/// that made it. Only the same tenant with the same key resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tenant: Option<String>,
    pub key_id: Option<String>,
}

impl Owner {
    pub fn of(caller: &crate::tenant::Caller) -> Owner {
        Owner {
            tenant: caller.tenant.as_ref().map(|t| t.name.clone()),
            key_id: caller.key_id.clone(),
        }
    }
}

type Reply = oneshot::Sender<Result<Value, ErrorData>>;

/// A call waiting for a 2026-07-28 agent's answers.
struct Parked {
    work: Work,
    rx: mpsc::UnboundedReceiver<RelayMsg>,
    /// Keys of the input requests sent, with where each answer goes.
    waiting: Vec<(String, Reply)>,
    at: Instant,
    owner: Owner,
    /// Order of parking, for forgetting a tenant's oldest first.
    seq: u64,
}

/// Parked calls, by `requestState`.
#[derive(Default)]
pub struct ParkingLot {
    calls: Mutex<HashMap<String, Parked>>,
    parked: std::sync::atomic::AtomicU64,
}

impl ParkingLot {
    /// Parks a call under a new unguessable `requestState`; fails, and the
    /// call with it, when the random source does.
    fn park(&self, mut parked: Parked) -> Result<String, crate::util::RandomError> {
        parked.seq = self
            .parked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = format!("{STATE_PREFIX}{}", crate::util::random_hex(16)?);
        let mut calls = self.calls.lock();
        // Dropping an abandoned call cancels its upstream request.
        calls.retain(|_, p| p.at.elapsed() < PARK_TTL);
        // The tenant's own oldest goes first; other tenants' calls stay.
        let tenant = parked.owner.tenant.clone();
        loop {
            let mine = calls.iter().filter(|(_, p)| p.owner.tenant == tenant);
            if mine.clone().count() < PARKED_PER_TENANT {
                break;
            }
            let Some(oldest) = mine.min_by_key(|(_, p)| p.seq).map(|(k, _)| k.clone()) else {
                break;
            };
            calls.remove(&oldest);
        }
        calls.insert(state.clone(), parked);
        Ok(state)
    }

    /// The call parked under `state` for `owner`; another owner's call, or
    /// an expired one, is as absent as a state that never existed.
    fn take(&self, state: &str, owner: &Owner) -> Option<Parked> {
        let mut calls = self.calls.lock();
        let p = calls.get(state)?;
        if p.owner != *owner || p.at.elapsed() >= PARK_TTL {
            return None;
        }
        calls.remove(state)
    }

    /// How many calls wait for an answer.
    pub fn len(&self) -> usize {
        self.calls.lock().len()
    }
}

/// What weft knows about the agent making this call.
pub struct Agent {
    /// The agent's end of its connection: `None` for a stateless request
    /// answered outside rmcp's service (see `super::direct`), which
    /// carries no log level: nothing is sent to it but its progress, on
    /// the call's own stream (`own_stream`), and its answer.
    pub peer: Option<Peer<RoleServer>>,
    /// The request speaks 2026-07-28 (stateless, input-required results).
    pub modern: bool,
    pub progress_token: Option<ProgressToken>,
    pub capabilities: Option<ClientCapabilities>,
    /// The lowest log level the agent asked for (`logging/setLevel`).
    pub min_log: Option<u8>,
    /// The log level the agent asked for: the request's own `_meta` level
    /// for a 2026-07-28 agent, the session's `logging/setLevel` for a
    /// handshake-era one. Without one, no log messages are relayed.
    #[allow(deprecated)]
    pub log_level: Option<LoggingLevel>,
    /// Set when this call asked the agent for input (see
    /// [`crate::router::Forward::asked`]).
    pub asked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The call's own event stream, when weft writes it itself (see
    /// [`super::own_stream`]): progress goes there, not through `peer`.
    pub own_stream: Option<super::own_stream::Sink>,
}

impl Agent {
    pub fn of(ctx: &RequestContext<RoleServer>, min_log: Option<u8>) -> Agent {
        let modern = ctx
            .protocol_version()
            .is_some_and(|v| crate::era::Era::of(v.as_str()).is_stateless());
        #[allow(deprecated)]
        let log_level = if modern {
            ctx.meta.log_level()
        } else {
            min_log.map(level_of_rank)
        };
        Agent {
            peer: Some(ctx.peer.clone()),
            modern,
            progress_token: ctx.meta.get_progress_token(),
            capabilities: ctx.client_capabilities(),
            min_log,
            log_level,
            asked: std::sync::Arc::default(),
            own_stream: None,
        }
    }

    /// A 2026-07-28 agent of a stateless request that asked for no
    /// progress and no log messages: only its capabilities matter.
    pub fn stateless(capabilities: Option<ClientCapabilities>) -> Agent {
        Agent {
            peer: None,
            modern: true,
            progress_token: None,
            capabilities,
            min_log: None,
            log_level: None,
            asked: std::sync::Arc::default(),
            own_stream: None,
        }
    }

    /// A handshake-era agent of a request (its progress token, if any, set
    /// by [`Agent::stream_to`]), on its session's `peer`, with the session's log level (as a rank).
    pub fn handshake(
        peer: Peer<RoleServer>,
        capabilities: Option<ClientCapabilities>,
        min_log: Option<u8>,
    ) -> Agent {
        Agent {
            peer: Some(peer),
            modern: false,
            progress_token: None,
            capabilities,
            min_log,
            log_level: min_log.map(level_of_rank),
            asked: std::sync::Arc::default(),
            own_stream: None,
        }
    }

    /// Sends the progress of this agent's call, under `token`, on the
    /// call's own event stream `sink`.
    pub fn stream_to(&mut self, token: ProgressToken, sink: super::own_stream::Sink) {
        self.progress_token = Some(token);
        self.own_stream = Some(sink);
    }

    /// The way weft asks this agent's person to approve a call: the
    /// question goes on `tx`, as an upstream's requests for the agent do,
    /// so it travels in the agent's era (see [`drive`]).
    pub fn asker(&self, tx: &mpsc::UnboundedSender<RelayMsg>) -> crate::approval::Asker {
        let tx = tx.clone();
        let elicitation = self
            .capabilities
            .as_ref()
            .is_some_and(|c| c.elicitation.is_some());
        crate::approval::Asker::new(
            elicitation,
            std::sync::Arc::new(move |request| {
                let tx = tx.clone();
                Box::pin(async move {
                    let (reply, answer) = oneshot::channel();
                    tx.send(RelayMsg::Ask {
                        request: Box::new(request),
                        reply,
                    })
                    .map_err(|_| {
                        ErrorData::internal_error("the agent's call already ended", None)
                    })?;
                    answer.await.map_err(|_| {
                        ErrorData::internal_error("the agent's call ended before it answered", None)
                    })?
                })
            }),
        )
    }

    /// Whether the agent declared any way to answer a server's request
    /// (sampling, elicitation or roots).
    #[allow(deprecated)]
    pub fn can_be_asked(&self) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.sampling.is_some() || c.elicitation.is_some() || c.roots.is_some())
    }

    /// Why this agent cannot answer `request`, if it cannot.
    pub fn cannot(&self, request: &InputRequest) -> Option<ErrorData> {
        let caps = self.capabilities.as_ref();
        let (has, what) = match request {
            InputRequest::CreateMessage(_) => {
                (caps.is_some_and(|c| c.sampling.is_some()), "sampling")
            }
            InputRequest::Elicitation(_) => {
                (caps.is_some_and(|c| c.elicitation.is_some()), "elicitation")
            }
            InputRequest::ListRoots(_) => (caps.is_some_and(|c| c.roots.is_some()), "roots"),
            _ => (false, "this kind of request"),
        };
        (!has).then(|| {
            ErrorData::invalid_request(
                format!(
                    "the server asked for {what}, and the agent connected to weft did not declare \
                     the {what} capability, so weft cannot pass the request on"
                ),
                None,
            )
        })
    }
}

/// Level order for filtering relayed log messages.
#[allow(deprecated)]
pub fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The level of a rank from [`level_rank`].
#[allow(deprecated)]
fn level_of_rank(rank: u8) -> LoggingLevel {
    match rank {
        0 => LoggingLevel::Debug,
        1 => LoggingLevel::Info,
        2 => LoggingLevel::Notice,
        3 => LoggingLevel::Warning,
        4 => LoggingLevel::Error,
        5 => LoggingLevel::Critical,
        6 => LoggingLevel::Alert,
        _ => LoggingLevel::Emergency,
    }
}

/// Runs `work` to its end (or to a parked input-required result), or
/// until `cancelled` fires.
pub async fn drive(
    cancelled: &CancellationToken,
    agent: &Agent,
    owner: &Owner,
    lot: &ParkingLot,
    mut work: Work,
    mut rx: mpsc::UnboundedReceiver<RelayMsg>,
) -> Result<CallToolResponse, ErrorData> {
    let mut asks = FuturesUnordered::new();
    // Whether progress or log messages came during this call.
    let mut streamed = false;
    loop {
        tokio::select! {
            biased;
            _ = cancelled.cancelled() => {
                // Dropping the work cancels the upstream request or the run.
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
            Some(msg) = rx.recv() => match msg {
                RelayMsg::Ask { request, reply } => {
                    agent.asked.store(true, std::sync::atomic::Ordering::SeqCst);
                    if let Some(e) = agent.cannot(&request) {
                        let _ = reply.send(Err(e));
                    } else if agent.modern {
                        return park(lot, owner, work, rx, *request, reply);
                    } else {
                        let peer = agent.peer.clone();
                        asks.push(async move { (reply, ask(peer.as_ref(), *request).await) });
                    }
                }
                RelayMsg::Run(_) => {}
                other => {
                    streamed = true;
                    relay_notification(agent, other).await
                }
            },
            Some((reply, answer)) = asks.next(), if !asks.is_empty() => {
                let _ = reply.send(answer);
            }
            out = &mut work => {
                // Progress and logs sent before the result go out before it.
                // Progress is relayed as the upstream's messages are read, so
                // it is already in `rx`; log messages may still be on their
                // way (rmcp hands them to a task of their own): a call that
                // streamed waits a moment for the rest.
                let grace = if streamed {
                    Duration::from_millis(5)
                } else {
                    Duration::ZERO
                };
                loop {
                    let next = match rx.try_recv() {
                        Ok(msg) => Some(msg),
                        Err(_) if grace.is_zero() => None,
                        Err(_) => tokio::time::timeout(grace, rx.recv()).await.ok().flatten(),
                    };
                    match next {
                        Some(msg) => relay_notification(agent, msg).await,
                        None => break,
                    }
                }
                return out;
            }
        }
    }
}

/// Passes progress and log messages on to the agent.
pub(in crate::serve) async fn relay_notification(agent: &Agent, msg: RelayMsg) {
    match msg {
        RelayMsg::Progress {
            progress,
            total,
            message,
        } => {
            let Some(token) = &agent.progress_token else {
                return;
            };
            let mut p = ProgressNotificationParam::new(token.clone(), progress);
            p.total = total;
            p.message = message;
            if let Some(sink) = &agent.own_stream {
                super::own_stream::progress(sink, p);
            } else if let Some(peer) = &agent.peer {
                let _ = peer.notify_progress(p).await;
            }
        }
        #[allow(deprecated)]
        RelayMsg::Log(params) => {
            let level = params.level;
            if let Some(peer) = &agent.peer
                && agent.min_log.is_none_or(|min| level_rank(level) >= min)
            {
                let _ = peer.notify_logging_message(params).await;
            }
        }
        RelayMsg::Ask { reply, .. } => {
            let _ = reply.send(Err(ErrorData::internal_error(
                "the call ended before the agent could be asked",
                None,
            )));
        }
        RelayMsg::Run(_) => {}
    }
}

/// Parks the work and returns the input-required result for the agent.
fn park(
    lot: &ParkingLot,
    owner: &Owner,
    work: Work,
    mut rx: mpsc::UnboundedReceiver<RelayMsg>,
    first: InputRequest,
    reply: Reply,
) -> Result<CallToolResponse, ErrorData> {
    let mut requests = InputRequests::new();
    let mut waiting = Vec::new();
    requests.insert("weft-0".to_string(), first);
    waiting.push(("weft-0".to_string(), reply));
    // Requests already queued go out in the same round.
    let mut kept = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        match msg {
            RelayMsg::Ask { request, reply } => {
                let key = format!("weft-{}", waiting.len());
                requests.insert(key.clone(), *request);
                waiting.push((key, reply));
            }
            other => kept.push(other),
        }
    }
    // Progress and logs that raced the park are dropped: the agent's
    // request is answered now.
    drop(kept);
    let state = lot
        .park(Parked {
            work,
            rx,
            waiting,
            at: Instant::now(),
            owner: owner.clone(),
            seq: 0,
        })
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
        Some(requests),
        Some(state),
    )))
}

/// Resumes a parked call with the agent's answers.
pub async fn resume(
    cancelled: &CancellationToken,
    agent: &Agent,
    owner: &Owner,
    lot: &ParkingLot,
    state: &str,
    mut answers: InputResponses,
) -> Result<CallToolResponse, ErrorData> {
    let Some(parked) = lot.take(state, owner) else {
        return Err(ErrorData::invalid_params(
            "unknown or expired requestState: the call it belonged to has ended; call the tool again",
            None,
        ));
    };
    for (key, reply) in parked.waiting {
        let answer = answers.remove(&key).ok_or_else(|| {
            ErrorData::invalid_params(format!("inputResponses has no answer for {key:?}"), None)
        });
        let _ = reply.send(answer);
    }
    drive(cancelled, agent, owner, lot, parked.work, parked.rx).await
}

/// Sends one request to a handshake-era agent.
#[allow(deprecated)]
pub async fn ask(
    peer: Option<&Peer<RoleServer>>,
    request: InputRequest,
) -> Result<Value, ErrorData> {
    let Some(peer) = peer else {
        return Err(ErrorData::internal_error(
            "this request has no connection to ask the agent on",
            None,
        ));
    };
    let request = match request {
        InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
        InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
        InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
        _ => {
            return Err(ErrorData::invalid_request(
                "weft cannot pass this kind of request on",
                None,
            ));
        }
    };
    let answer = peer.send_request(request).await.map_err(|e| match e {
        rmcp::service::ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("the agent did not answer: {other}"), None),
    })?;
    serde_json::to_value(answer).map_err(|e| {
        ErrorData::internal_error(format!("cannot encode the agent's answer: {e}"), None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(tenant: &str, key: &str) -> Owner {
        Owner {
            tenant: Some(tenant.into()),
            key_id: Some(key.into()),
        }
    }

    fn parked(owner: &Owner) -> Parked {
        let (_tx, rx) = mpsc::unbounded_channel();
        Parked {
            work: Box::pin(async { Err(ErrorData::internal_error("never run", None)) }),
            rx,
            waiting: Vec::new(),
            at: Instant::now(),
            owner: owner.clone(),
            seq: 0,
        }
    }

    #[test]
    fn a_parked_call_resumes_only_for_its_own_tenant_and_key() {
        let lot = ParkingLot::default();
        let (a, b) = (owner("a", "k1"), owner("b", "k2"));
        let state = lot.park(parked(&a)).unwrap();
        assert!(lot.take(&state, &b).is_none(), "another tenant");
        assert!(lot.take(&state, &owner("a", "k9")).is_none(), "another key");
        assert!(
            lot.take(
                &state,
                &Owner {
                    tenant: None,
                    key_id: None
                }
            )
            .is_none()
        );
        assert_eq!(lot.len(), 1, "a refused take leaves the call parked");
        assert!(lot.take(&state, &a).is_some());
        assert!(lot.take(&state, &a).is_none(), "taken once");
    }

    #[test]
    fn one_tenant_fills_only_its_own_share_of_the_lot() {
        let lot = ParkingLot::default();
        let (a, b) = (owner("a", "k1"), owner("b", "k2"));
        let first_b = lot.park(parked(&b)).unwrap();
        let first_a = lot.park(parked(&a)).unwrap();
        for _ in 0..PARKED_PER_TENANT * 2 {
            lot.park(parked(&a)).unwrap();
        }
        assert_eq!(lot.len(), PARKED_PER_TENANT + 1);
        assert!(lot.take(&first_a, &a).is_none(), "a's oldest went");
        assert!(lot.take(&first_b, &b).is_some(), "b's call stayed");
    }
}
