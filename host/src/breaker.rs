//! A circuit breaker per server: after N consecutive failed calls
//! (`unavailable` or `timeout`), calls fail fast until the cool-down has
//! passed and one probe call gets through and succeeds.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::BreakerPolicy;

/// Whether a call may go to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The breaker is closed (or off).
    Pass,
    /// The breaker was open; this call is the probe.
    Probe,
}

/// The breaker's state for status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BreakerStatus {
    /// `closed`, `open`, `half-open` or `off`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Times it opened.
    pub opened: u64,
    /// Milliseconds until a probe is let through, while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_in_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    failures: u32,
    /// When it opened (or a probe failed); `None` while closed.
    opened_at: Option<Instant>,
    /// When the current probe was let through.
    probing_since: Option<Instant>,
    opened: u64,
}

/// One server's breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Breaker {
        Breaker {
            policy,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// Lets a call through, or says how long until a probe may go.
    pub fn admit(&self) -> Result<Admission, Duration> {
        if self.policy.failures == 0 {
            return Ok(Admission::Pass);
        }
        let mut inner = self.lock();
        let Some(opened_at) = inner.opened_at else {
            return Ok(Admission::Pass);
        };
        let cooldown = self.policy.cooldown;
        let waited = opened_at.elapsed();
        if waited < cooldown {
            return Err(cooldown - waited);
        }
        // One probe at a time; a probe whose caller vanished without an
        // outcome is replaced after another cool-down.
        match inner.probing_since {
            Some(since) if since.elapsed() < cooldown => Err(cooldown - since.elapsed()),
            _ => {
                inner.probing_since = Some(Instant::now());
                Ok(Admission::Probe)
            }
        }
    }

    /// Records a call that reached the server; `failed` for `unavailable`
    /// and `timeout`. Returns true when this opened the breaker.
    pub fn record(&self, failed: bool) -> bool {
        if self.policy.failures == 0 {
            return false;
        }
        let mut inner = self.lock();
        if !failed {
            *inner = Inner {
                opened: inner.opened,
                ..Inner::default()
            };
            return false;
        }
        inner.failures = inner.failures.saturating_add(1);
        if inner.opened_at.is_some() {
            // A failed probe: stay open for another cool-down.
            inner.opened_at = Some(Instant::now());
            inner.probing_since = None;
            return false;
        }
        if inner.failures >= self.policy.failures {
            inner.opened_at = Some(Instant::now());
            inner.opened += 1;
            return true;
        }
        false
    }

    /// A snapshot for status.
    pub fn status(&self) -> BreakerStatus {
        let inner = self.lock();
        let (state, probe_in) = match (self.policy.failures, inner.opened_at) {
            (0, _) => ("off", None),
            (_, None) => ("closed", None),
            (_, Some(at)) => match self.policy.cooldown.checked_sub(at.elapsed()) {
                Some(left) => ("open", Some(left.as_millis() as u64)),
                None => ("half-open", Some(0)),
            },
        };
        BreakerStatus {
            state,
            consecutive_failures: inner.failures,
            opened: inner.opened,
            probe_in_ms: probe_in,
        }
    }

    /// True while calls fail fast.
    pub fn is_open(&self) -> bool {
        self.status().state == "open"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(failures: u32, cooldown_ms: u64) -> Breaker {
        Breaker::new(BreakerPolicy {
            failures,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_n_failures_and_closes_after_a_good_probe() {
        let b = breaker(3, 30);
        assert!(!b.record(true));
        assert!(!b.record(true));
        assert_eq!(b.admit(), Ok(Admission::Pass));
        assert!(b.record(true));
        assert!(b.admit().is_err());
        assert_eq!(b.status().state, "open");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Ok(Admission::Probe));
        // Only one probe at a time.
        assert!(b.admit().is_err());
        b.record(false);
        assert_eq!(b.status().state, "closed");
        assert_eq!(b.status().opened, 1);
        assert_eq!(b.admit(), Ok(Admission::Pass));
    }

    #[test]
    fn a_failed_probe_reopens() {
        let b = breaker(1, 20);
        assert!(b.record(true));
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(b.admit(), Ok(Admission::Probe));
        b.record(true);
        assert!(b.admit().is_err());
        assert_eq!(b.status().opened, 1);
    }

    #[test]
    fn success_resets_the_count() {
        let b = breaker(2, 1000);
        b.record(true);
        b.record(false);
        b.record(true);
        assert_eq!(b.admit(), Ok(Admission::Pass));
    }

    #[test]
    fn off_never_opens() {
        let b = breaker(0, 10);
        for _ in 0..10 {
            assert!(!b.record(true));
        }
        assert_eq!(b.admit(), Ok(Admission::Pass));
        assert_eq!(b.status().state, "off");
    }
}
