//! Relays: the way back from an upstream server to the agent whose call it
//! is serving.
//!
//! While a forwarded call is in flight, the router registers a [`Relay`]
//! with the upstream connection. Progress notifications find it by the
//! progress token weft put on the upstream request. Server-to-client
//! requests (sampling, elicitation, roots) and log messages carry no such
//! token in the handshake era, so they go to the most recent call in flight
//! on that connection (for log messages: the most recent whose agent asked
//! for logs): exact when one such call is running there, a best guess when
//! several are (documented in `docs/decisions.md`).

use parking_lot::Mutex;

use std::sync::Arc;

#[allow(deprecated)]
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{ErrorData, InputRequest, ProgressToken};
use tokio::sync::{mpsc, oneshot};

/// One thing an upstream sent toward the agent.
pub enum RelayMsg {
    Progress {
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    #[allow(deprecated)]
    Log(LoggingMessageNotificationParam),
    /// A request for the agent; the answer is the agent's JSON result.
    Ask {
        request: Box<InputRequest>,
        reply: oneshot::Sender<Result<serde_json::Value, ErrorData>>,
    },
}

/// How long an answered call still takes its late progress notifications.
pub const LATE_PROGRESS: std::time::Duration = std::time::Duration::from_millis(100);

/// The sending end, held by the upstream side while a call runs.
pub type Relay = mpsc::UnboundedSender<RelayMsg>;

#[derive(Default)]
struct Table {
    next: u64,
    /// Calls in flight, oldest first.
    calls: Vec<Call>,
}

struct Call {
    id: u64,
    /// The progress token on the upstream request.
    token: ProgressToken,
    relay: Relay,
    /// The agent asked for log messages (`logging/setLevel`, or a log
    /// level in a 2026-07-28 request's `_meta`).
    wants_logs: bool,
    /// When the call got its answer. Progress sent just before the answer
    /// can reach weft just after it (rmcp handles notifications on their
    /// own task), so an ended call still takes progress for a moment.
    ended: Option<std::time::Instant>,
}

/// The calls in flight on one connection that can reach an agent.
#[derive(Default, Clone)]
pub struct Relays {
    table: Arc<Mutex<Table>>,
}

/// Unregisters a relay when the call ends, however it ends.
pub struct Registration {
    relays: Relays,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut t = self.relays.lock();
        let now = std::time::Instant::now();
        if let Some(c) = t.calls.iter_mut().find(|c| c.id == self.id) {
            c.ended = Some(now);
        }
    }
}

impl Relays {
    fn lock(&self) -> parking_lot::MutexGuard<'_, Table> {
        self.table.lock()
    }

    /// Registers `relay` for the upstream request that carries `token`.
    pub fn register(&self, token: ProgressToken, relay: Relay, wants_logs: bool) -> Registration {
        let mut t = self.lock();
        t.calls
            .retain(|c| c.ended.is_none_or(|at| at.elapsed() < LATE_PROGRESS));
        t.next += 1;
        let id = t.next;
        t.calls.push(Call {
            id,
            token,
            relay,
            wants_logs,
            ended: None,
        });
        Registration {
            relays: self.clone(),
            id,
        }
    }

    /// The relay of the call whose upstream request carries `token`.
    pub fn by_token(&self, token: &ProgressToken) -> Option<Relay> {
        self.lock()
            .calls
            .iter()
            .find(|c| &c.token == token && c.ended.is_none_or(|at| at.elapsed() < LATE_PROGRESS))
            .map(|c| c.relay.clone())
    }

    /// The relay of the most recent call still open.
    pub fn latest(&self) -> Option<Relay> {
        self.lock()
            .calls
            .iter()
            .rev()
            .find(|c| c.ended.is_none() && !c.relay.is_closed())
            .map(|c| c.relay.clone())
    }

    /// The relay of the most recent open call whose agent wants log
    /// messages; failing that, of one answered a moment ago (its last
    /// messages can arrive just after its answer).
    pub fn latest_for_logs(&self) -> Option<Relay> {
        let t = self.lock();
        let wanting = || {
            t.calls
                .iter()
                .rev()
                .filter(|c| c.wants_logs && !c.relay.is_closed())
        };
        wanting()
            .find(|c| c.ended.is_none())
            .or_else(|| wanting().find(|c| c.ended.is_some_and(|at| at.elapsed() < LATE_PROGRESS)))
            .map(|c| c.relay.clone())
    }

    /// Asks the agent behind the most recent call. `Err` when no call that
    /// could ask is in flight (a call from a policy or the CLI).
    pub async fn ask(&self, request: InputRequest) -> Result<serde_json::Value, ErrorData> {
        let Some(relay) = self.latest() else {
            return Err(ErrorData::invalid_request(
                "weft has no client to ask: this call came from a policy or the command line, \
                 which cannot answer sampling, elicitation or roots requests",
                None,
            ));
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
        );
        let gb = relays.register(
            ProgressToken(rmcp::model::NumberOrString::Number(2)),
            b,
            false,
        );
        assert!(relays.latest_for_logs().is_some());
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
        assert!(relays.latest().is_some());
        drop(ga);
        assert!(relays.latest().is_none());
        // Just answered: late log messages still find it.
        assert!(relays.latest_for_logs().is_some());
    }
}
