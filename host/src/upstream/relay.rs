//! Relays: the way back from an upstream server to the agent whose call it
//! is serving.
//!
//! While a forwarded call is in flight, the router registers a [`Relay`]
//! with the upstream connection. Progress notifications find it by the
//! progress token weft put on the upstream request. Server-to-client
//! requests (sampling, elicitation, roots) and log messages carry no such
//! token in the handshake era, so they go to a call of the tenant whose
//! calls are in flight on that connection: the most recent such call (for
//! log messages: the most recent whose agent asked for logs). Each
//! registration records the caller's tenant. When calls of several tenants
//! are in flight on one shared connection, nothing says whose call a
//! request or log line belongs to: weft fails closed. The server's request
//! gets an error and no agent sees it; the log line is dropped (documented
//! in `docs/decisions.md`: servers that ask agents for input should run
//! `per_tenant`).

use parking_lot::Mutex;

use std::sync::Arc;

#[allow(deprecated)]
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{ErrorData, InputRequest, ProgressToken};
use tokio::sync::{mpsc, oneshot};

/// One thing an upstream sent toward the agent.
pub enum RelayMsg {
    /// A progress notification for the call.
    Progress {
        /// The progress so far, as the server counts it.
        progress: f64,
        /// The total `progress` will reach, when the server knows it.
        total: Option<f64>,
        /// A message about the progress, if the server sent one.
        message: Option<String>,
    },
    /// A log message from the server.
    #[allow(deprecated)]
    Log(LoggingMessageNotificationParam),
    /// A request for the agent; the answer is the agent's JSON result.
    Ask {
        /// The server's request: sampling, elicitation or a list of roots.
        request: Box<InputRequest>,
        /// Where the agent's result, or an error, goes back to the server.
        reply: oneshot::Sender<Result<serde_json::Value, ErrorData>>,
    },
    /// A durable policy or code run started with this run id (so a long
    /// run can be handed to the agent as a task).
    Run(String),
}

/// How long an answered call still takes its late progress notifications.
pub const LATE_PROGRESS: std::time::Duration = std::time::Duration::from_millis(100);

/// The sending end, held by the upstream side while a call runs.
pub type Relay = mpsc::UnboundedSender<RelayMsg>;

/// How often registering a call also drops the calls answered more than
/// [`LATE_PROGRESS`] ago. Every lookup checks the time itself, so a call
/// kept a little longer is never used; pruning on every call would scan
/// every call answered in the last 100 ms, thousands under load.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// Progress held for a token no call has registered yet: rmcp sends a
/// request on its own task, so a fast server's first progress can arrive
/// before the router has registered the call's relay. It waits this long,
/// at most [`EARLY_MAX`] notifications on a connection, each message cut
/// to [`EARLY_MESSAGE`] bytes.
const EARLY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
const EARLY_MAX: usize = 256;
const EARLY_MESSAGE: usize = 4096;

/// One progress notification waiting for its call's registration.
struct Early {
    at: std::time::Instant,
    token: ProgressToken,
    progress: f64,
    total: Option<f64>,
    message: Option<String>,
}

#[derive(Default)]
struct Table {
    next: u64,
    /// Progress for tokens not registered yet, oldest first.
    early: std::collections::VecDeque<Early>,
    /// Calls in flight or answered a moment ago, in registration (and so
    /// id) order.
    calls: Vec<Call>,
    /// When answered calls were last dropped.
    pruned_at: Option<std::time::Instant>,
}

struct Call {
    id: u64,
    /// The caller's tenant (`None`: a weft without tenants, or the owner).
    tenant: Option<Arc<str>>,
    /// The progress token on the upstream request; `None` until the
    /// request has one (rmcp assigns it as it sends: see
    /// [`Relays::register_unsent`]).
    token: Option<ProgressToken>,
    relay: Relay,
    /// The agent asked for log messages (`logging/setLevel`, or a log
    /// level in a 2026-07-28 request's `_meta`).
    wants_logs: bool,
    /// When the call got its answer. Progress sent just before the answer
    /// can reach weft just after it (rmcp handles notifications on their
    /// own task), so an ended call still takes progress for a moment.
    ended: Option<std::time::Instant>,
}

impl Call {
    /// In flight, or answered less than [`LATE_PROGRESS`] before `now`.
    fn recent(&self, now: std::time::Instant) -> bool {
        self.ended
            .is_none_or(|at| now.saturating_duration_since(at) < LATE_PROGRESS)
    }
}

/// The calls in flight on one connection that can reach an agent.
#[derive(Default, Clone)]
pub struct Relays {
    table: Arc<Mutex<Table>>,
    /// Server requests refused because calls of several tenants were in
    /// flight (for status and tests).
    refused: Arc<std::sync::atomic::AtomicU64>,
}

/// The error a server's request for input gets when calls of several
/// tenants are in flight on its connection.
pub const AMBIGUOUS_TENANT: &str = "weft refused this request for the agent's input: calls of \
several tenants are in flight on this shared connection, so weft cannot tell whose agent \
should answer (run the server per_tenant)";

/// The error a server's request for input gets when no call that could
/// answer it is in flight.
pub const NO_CLIENT: &str = "weft has no client to ask: this call came from a policy or the \
command line, which cannot answer sampling, elicitation or roots requests";

/// Unregisters a relay when the call ends, however it ends.
pub struct Registration {
    relays: Relays,
    id: u64,
}

impl Registration {
    /// Gives the call its request's progress token. Progress that came
    /// for the token before this goes to the call first, in the order it
    /// came; later progress takes the lock after this.
    pub fn bind(&self, token: ProgressToken) {
        let mut t = self.relays.lock();
        let now = std::time::Instant::now();
        t.early
            .retain(|e| now.saturating_duration_since(e.at) < EARLY_WAIT);
        let Ok(i) = t.calls.binary_search_by_key(&self.id, |c| c.id) else {
            return;
        };
        if t.early.iter().any(|e| e.token == token) {
            let (mine, others): (Vec<Early>, Vec<Early>) =
                t.early.drain(..).partition(|e| e.token == token);
            t.early = others.into();
            for e in mine {
                let _ = t.calls[i].relay.send(RelayMsg::Progress {
                    progress: e.progress,
                    total: e.total,
                    message: e.message,
                });
            }
        }
        t.calls[i].token = Some(token);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut t = self.relays.lock();
        let now = std::time::Instant::now();
        if let Ok(i) = t.calls.binary_search_by_key(&self.id, |c| c.id) {
            t.calls[i].ended = Some(now);
        }
    }
}

impl Relays {
    fn lock(&self) -> parking_lot::MutexGuard<'_, Table> {
        self.table.lock()
    }

    /// Registers `relay` for the upstream request that carries `token`,
    /// made by a caller of `tenant`.
    pub fn register(
        &self,
        token: ProgressToken,
        relay: Relay,
        wants_logs: bool,
        tenant: Option<&str>,
    ) -> Registration {
        let registration = self.register_unsent(relay, wants_logs, tenant);
        registration.bind(token);
        registration
    }

    /// Registers `relay` for a request not sent yet, whose progress token
    /// the sender assigns as it sends ([`Registration::bind`] it then). A
    /// server can ask for input as soon as it has the request, before the
    /// sender returns; registered first, the call is there to answer.
    pub fn register_unsent(
        &self,
        relay: Relay,
        wants_logs: bool,
        tenant: Option<&str>,
    ) -> Registration {
        let mut t = self.lock();
        let now = std::time::Instant::now();
        if t.pruned_at
            .is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY)
        {
            t.calls.retain(|c| c.recent(now));
            t.pruned_at = Some(now);
        }
        t.next += 1;
        let id = t.next;
        t.calls.push(Call {
            id,
            tenant: tenant.map(Arc::from),
            token: None,
            relay,
            wants_logs,
            ended: None,
        });
        Registration {
            relays: self.clone(),
            id,
        }
    }

    /// Passes a progress notification to the call whose upstream request
    /// carries `token`; one that has not registered yet gets it when it
    /// does (within [`EARLY_WAIT`]).
    pub fn progress(
        &self,
        token: &ProgressToken,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) {
        let now = std::time::Instant::now();
        let mut t = self.lock();
        if let Some(call) = t
            .calls
            .iter()
            .find(|c| c.token.as_ref() == Some(token) && c.recent(now))
        {
            let _ = call.relay.send(RelayMsg::Progress {
                progress,
                total,
                message,
            });
            return;
        }
        // A call answered longer ago than LATE_PROGRESS is not waited for.
        if t.calls.iter().any(|c| c.token.as_ref() == Some(token)) {
            return;
        }
        while t.early.len() >= EARLY_MAX
            || t.early
                .front()
                .is_some_and(|e| now.saturating_duration_since(e.at) >= EARLY_WAIT)
        {
            t.early.pop_front();
        }
        let message = message.map(|mut m| {
            crate::util::truncate(&mut m, EARLY_MESSAGE);
            m
        });
        t.early.push_back(Early {
            at: now,
            token: token.clone(),
            progress,
            total,
            message,
        });
    }

    /// The relay of the call whose upstream request carries `token`.
    #[cfg(test)]
    fn by_token(&self, token: &ProgressToken) -> Option<Relay> {
        let now = std::time::Instant::now();
        self.lock()
            .calls
            .iter()
            .find(|c| c.token.as_ref() == Some(token) && c.recent(now))
            .map(|c| c.relay.clone())
    }

    /// The relay of the most recent call still open, when every open call
    /// on the connection is of one tenant. `Err(true)` when calls of
    /// several tenants are open, `Err(false)` when none is.
    fn for_input(&self) -> Result<Relay, bool> {
        let t = self.lock();
        let mut open = t
            .calls
            .iter()
            .rev()
            .filter(|c| c.ended.is_none() && !c.relay.is_closed());
        let Some(latest) = open.next() else {
            return Err(false);
        };
        if open.any(|c| c.tenant != latest.tenant) {
            return Err(true);
        }
        Ok(latest.relay.clone())
    }

    /// The relay of the most recent open call whose agent wants log
    /// messages; failing that, of one answered a moment ago (its last
    /// messages can arrive just after its answer). `None` when calls of
    /// several tenants are open or just answered: the line could be any
    /// of theirs, so nobody gets it.
    pub fn for_logs(&self) -> Option<Relay> {
        let t = self.lock();
        // A call answered a moment ago still counts, its agent gone or not:
        // its last lines may still be on their way.
        let now = std::time::Instant::now();
        let recent = |c: &&Call| c.recent(now);
        let mut tenants = t.calls.iter().filter(recent).map(|c| &c.tenant);
        let first = tenants.next()?;
        if tenants.any(|other| other != first) {
            return None;
        }
        let wanting = || {
            t.calls
                .iter()
                .rev()
                .filter(recent)
                .filter(|c| c.wants_logs && !c.relay.is_closed())
        };
        wanting()
            .find(|c| c.ended.is_none())
            .or_else(|| wanting().next())
            .map(|c| c.relay.clone())
    }

    /// Relays a log message to the call [`Relays::for_logs`] picks; false
    /// when there is none.
    #[allow(deprecated)]
    pub fn log(&self, params: &LoggingMessageNotificationParam) -> bool {
        self.for_logs()
            .is_some_and(|relay| relay.send(RelayMsg::Log(params.clone())).is_ok())
    }

    /// How many server requests were refused because calls of several
    /// tenants were in flight.
    #[cfg(test)]
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks the agent behind the most recent call, when every call in
    /// flight is of one tenant. `Err` when no call that could ask is in
    /// flight (a call from a policy or the CLI), or when calls of several
    /// tenants are (fail closed: no agent sees the request).
    pub async fn ask(
        &self,
        server: &str,
        request: InputRequest,
    ) -> Result<serde_json::Value, ErrorData> {
        let relay = match self.for_input() {
            Ok(relay) => relay,
            Err(false) => return Err(ErrorData::invalid_request(NO_CLIENT, None)),
            Err(true) => {
                self.refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    server,
                    method = request_method(&request),
                    "refused a server's request for input: calls of several tenants are in \
                     flight on this shared connection (run the server per_tenant)"
                );
                return Err(ErrorData::invalid_request(AMBIGUOUS_TENANT, None));
            }
        };
        let (reply, answer) = oneshot::channel();
        relay
            .send(RelayMsg::Ask {
                request: Box::new(request),
                reply,
            })
            .map_err(|_| ErrorData::internal_error("the agent's call already ended", None))?;
        answer.await.map_err(|_| {
            ErrorData::internal_error("the agent's call ended before it answered", None)
        })?
    }
}

/// The method of a server's request, for the log.
fn request_method(request: &InputRequest) -> &'static str {
    match request {
        InputRequest::CreateMessage(_) => "sampling/createMessage",
        InputRequest::Elicitation(_) => "elicitation/create",
        InputRequest::ListRoots(_) => "roots/list",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_follows_registrations_and_drops() {
        let relays = Relays::default();
        let (a, _ra) = mpsc::unbounded_channel();
        let (b, _rb) = mpsc::unbounded_channel();
        let ga = relays.register(
            ProgressToken(rmcp::model::NumberOrString::Number(1)),
            a,
            true,
            None,
        );
        let gb = relays.register(
            ProgressToken(rmcp::model::NumberOrString::Number(2)),
            b,
            false,
            None,
        );
        assert!(relays.for_logs().is_some());
        assert!(
            relays
                .by_token(&ProgressToken(rmcp::model::NumberOrString::Number(1)))
                .is_some()
        );
        drop(gb);
        // An answered call still takes late progress, but asks go elsewhere.
        assert!(
            relays
                .by_token(&ProgressToken(rmcp::model::NumberOrString::Number(2)))
                .is_some()
        );
        assert!(relays.for_input().is_ok());
        drop(ga);
        assert!(relays.for_input().is_err());
        // Just answered: late log messages still find it.
        assert!(relays.for_logs().is_some());
    }

    fn token(n: i64) -> ProgressToken {
        ProgressToken(rmcp::model::NumberOrString::Number(n))
    }

    #[test]
    fn requests_and_logs_go_to_one_tenant_or_to_nobody() {
        let relays = Relays::default();
        let (a, mut ra) = mpsc::unbounded_channel();
        let (b, mut rb) = mpsc::unbounded_channel();
        let ga = relays.register(token(1), a, true, Some("a"));
        // A alone: A's call takes the request and the log line.
        assert!(relays.for_input().is_ok());
        assert!(relays.for_logs().is_some());
        // B's call too: nobody can be told apart, so nobody gets them.
        let gb = relays.register(token(2), b, true, Some("b"));
        assert_eq!(relays.for_input().err(), Some(true));
        assert!(relays.for_logs().is_none());
        // Two calls of one tenant: the newest takes them.
        drop(gb);
        let (a2, mut ra2) = mpsc::unbounded_channel();
        let _ga2 = relays.register(token(3), a2, true, Some("a"));
        // B answered a moment ago: its late log lines could still come.
        assert!(relays.for_logs().is_none());
        let relay = relays.for_input().ok().unwrap();
        relay
            .send(RelayMsg::Progress {
                progress: 1.0,
                total: None,
                message: None,
            })
            .unwrap();
        assert!(ra2.try_recv().is_ok());
        assert!(ra.try_recv().is_err() && rb.try_recv().is_err());
        drop(ga);
    }

    /// A call registered before its request is sent answers a server that
    /// asks for input at once, before the request's progress token is
    /// known; its progress, held until then, reaches it once it is bound.
    #[tokio::test]
    async fn a_call_registered_before_its_send_answers_an_early_ask() {
        let relays = Relays::default();
        let (relay, mut from_server) = mpsc::unbounded_channel();
        let call = relays.register_unsent(relay, false, None);
        relays.progress(&token(7), 1.0, None, None);
        let asking = relays.clone();
        let ask = tokio::spawn(async move {
            asking
                .ask("s", InputRequest::ListRoots(Default::default()))
                .await
        });
        match from_server.recv().await {
            Some(RelayMsg::Ask { reply, .. }) => {
                let _ = reply.send(Ok(serde_json::json!({"roots": []})));
            }
            _ => panic!("the ask did not reach the call"),
        }
        let answer = ask.await.expect("the ask task");
        assert_eq!(answer.ok(), Some(serde_json::json!({"roots": []})));
        assert!(from_server.try_recv().is_err(), "no progress before bind");
        call.bind(token(7));
        match from_server.try_recv() {
            Ok(RelayMsg::Progress { progress, .. }) => assert_eq!(progress, 1.0),
            _ => panic!("the early progress did not follow the bind"),
        }
        relays.progress(&token(7), 2.0, None, None);
        assert!(matches!(
            from_server.try_recv(),
            Ok(RelayMsg::Progress { progress, .. }) if progress == 2.0
        ));
    }

    /// Progress that arrives before its call is registered reaches that
    /// call, in order and before later progress, and no other call.
    #[test]
    fn progress_before_the_registration_waits_for_its_call() {
        let relays = Relays::default();
        for n in [1.0, 2.0] {
            relays.progress(&token(7), n, Some(3.0), None);
        }
        relays.progress(&token(8), 9.0, None, Some("x".repeat(10_000)));
        let (a, mut ra) = mpsc::unbounded_channel();
        let _ga = relays.register(token(7), a, false, Some("a"));
        relays.progress(&token(7), 3.0, Some(3.0), None);
        let mut seen = Vec::new();
        while let Ok(RelayMsg::Progress { progress, .. }) = ra.try_recv() {
            seen.push(progress);
        }
        assert_eq!(seen, [1.0, 2.0, 3.0]);
        // Token 8's progress is still held for its own call, its message cut.
        let (b, mut rb) = mpsc::unbounded_channel();
        let _gb = relays.register(token(8), b, false, Some("b"));
        match rb.try_recv() {
            Ok(RelayMsg::Progress {
                progress, message, ..
            }) => {
                assert_eq!(progress, 9.0);
                // Cut, with an ellipsis to say so.
                assert_eq!(
                    message.map(|m| m.len()),
                    Some(EARLY_MESSAGE + '…'.len_utf8())
                );
            }
            _ => panic!("token 8's early progress was lost"),
        }
        assert!(ra.try_recv().is_err());
    }

    /// At most EARLY_MAX notifications wait; the oldest go first.
    #[test]
    fn early_progress_is_capped() {
        let relays = Relays::default();
        for n in 0..(EARLY_MAX as i64 + 10) {
            relays.progress(&token(n), n as f64, None, None);
        }
        assert_eq!(relays.lock().early.len(), EARLY_MAX);
        assert_eq!(relays.lock().early.front().map(|e| e.progress), Some(10.0));
    }

    #[tokio::test]
    #[allow(deprecated)]
    async fn a_request_with_several_tenants_in_flight_fails_closed() {
        let relays = Relays::default();
        let (a, mut ra) = mpsc::unbounded_channel();
        let (b, mut rb) = mpsc::unbounded_channel();
        let _ga = relays.register(token(1), a, false, Some("a"));
        let _gb = relays.register(token(2), b, false, None);
        let asked = relays
            .ask(
                "shared",
                InputRequest::ListRoots(rmcp::model::ListRootsRequest::default()),
            )
            .await;
        assert_eq!(asked.unwrap_err().message, AMBIGUOUS_TENANT);
        assert_eq!(relays.refused(), 1);
        assert!(ra.try_recv().is_err() && rb.try_recv().is_err());
    }
}
