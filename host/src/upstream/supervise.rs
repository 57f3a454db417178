//! The supervisor: one task per server that notices when its connection
//! ends and brings it back, with capped exponential backoff and jitter.
//!
//! A server that failed its first start is retried the same way. Failed
//! starts and quick crashes (up for less than the policy's `max` delay)
//! count as consecutive attempts; after `max_attempts` of them the server
//! is marked failed and left alone. Each transition is told to the hub,
//! which rebuilds the catalog and tells agents.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{State, Upstream, UpstreamEvent};
use crate::config::Settings;

/// Uptime after which a crash no longer counts as part of a crash loop.
const MIN_STABLE: Duration = Duration::from_secs(10);

/// Watches `up` until `stop` is cancelled.
pub async fn supervise(
    up: Arc<Upstream>,
    settings: Settings,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    stop: CancellationToken,
) {
    let policy = up.config.resilience.restart.clone();
    let stable = policy.max.max(MIN_STABLE);
    let server = up.key().to_string();
    let tell = |event: UpstreamEvent| {
        let _ = events.send(event);
    };
    let (mut attempt, mut reason) = match up.state() {
        State::Up => (0, String::new()),
        // A component that failed to load fails the same way again: it
        // stays failed, with its reason, until the config changes.
        State::Failed { .. } if up.is_component() => return,
        State::Failed { error } => (1, error.reason),
        _ => return,
    };
    loop {
        if up.state() == State::Up {
            let Some(closed) = up.closed_token() else {
                return;
            };
            let since = Instant::now();
            tokio::select! {
                _ = closed.cancelled() => {}
                _ = stop.cancelled() => return,
            }
            if stop.is_cancelled() {
                return;
            }
            reason = up.lost();
            attempt = if since.elapsed() >= stable {
                1
            } else {
                attempt + 1
            };
            tracing::warn!(server = %server, reason = %reason, attempt, "server lost; restarting");
            tell(UpstreamEvent::Lost {
                server: server.clone(),
            });
        }
        if policy.max_attempts.is_some_and(|max| attempt >= max) {
            tracing::error!(server = %server, attempts = attempt, "giving up on the server");
            up.give_up(format!(
                "{reason} (gave up after {attempt} attempts in a row; servers.{server}.restart.max_attempts)"
            ));
            tell(UpstreamEvent::GaveUp {
                server: server.clone(),
            });
            return;
        }
        let delay = policy.delay(attempt.max(1), crate::util::random_unit());
        up.backing_off(&reason, attempt, SystemTime::now() + delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
        match up.start(&settings, events.clone()).await {
            Ok(()) if stop.is_cancelled() => {
                up.stop();
                return;
            }
            Ok(()) => {
                up.count_restart();
                tracing::info!(server = %server, "server restarted");
                tell(UpstreamEvent::Restarted {
                    server: server.clone(),
                });
            }
            Err(e) => {
                if stop.is_cancelled() {
                    return;
                }
                attempt += 1;
                reason = e.reason;
                tracing::warn!(server = %server, reason = %reason, attempt, "restart failed");
            }
        }
    }
}
