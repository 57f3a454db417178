//! Per-server resilience settings: how a crashed server is restarted, which
//! failed calls are retried, when the circuit breaker opens, and how long
//! results are cached. Each is a sub-table of `[servers.NAME]`:
//!
//! ```toml
//! [servers.search.restart]
//! initial = "250ms"   # first delay after a crash
//! max = "30s"         # the delay never grows past this
//! factor = 2.0
//! jitter = 0.2        # ±20 % randomness, so servers do not restart in step
//! max_attempts = 10   # failed starts in a row before giving up; 0 = never
//!
//! [servers.search.retry]
//! max_retries = 2
//! backoff = "100ms"
//! factor = 2.0
//! kinds = ["unavailable", "timeout", "rate-limited"]
//! tools = "safe"      # only read-only or idempotent tools; "all" retries writes too
//!
//! [servers.search.breaker]
//! failures = 5        # consecutive failures that open it; 0 = no breaker
//! cooldown = "10s"    # how long it stays open before a probe call
//!
//! [servers.search.cache]
//! ttl = "30s"         # resources/read; default: only what the server allows (ttlMs)
//! tool_ttl = "5s"     # results of read-only tools; default: not cached
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::duration::RawDuration;
use crate::error::ErrorKind;

/// Every resilience setting of one server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resilience {
    /// How the server is started again after a crash (`restart`).
    pub restart: RestartPolicy,
    /// Which failed calls are tried again (`retry`).
    pub retry: RetryPolicy,
    /// When calls fail fast instead of reaching the server (`breaker`).
    pub breaker: BreakerPolicy,
    /// How long results may be served from the cache (`cache`).
    pub cache: CachePolicy,
}

/// Restarts after a crash or a lost connection: capped exponential backoff
/// with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// The delay before the first restart (default 250ms).
    pub initial: Duration,
    /// The longest delay between restarts (default 30s).
    pub max: Duration,
    /// How much the delay grows after each failed start (default 2.0).
    pub factor: f64,
    /// The fraction of the delay added or taken away at random.
    pub jitter: f64,
    /// Failed starts in a row before the server is marked failed; `None`
    /// retries forever.
    pub max_attempts: Option<u32>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.2,
            max_attempts: Some(10),
        }
    }
}

impl RestartPolicy {
    /// The delay before attempt `attempt` (1 for the first restart), with
    /// `unit` a random number in [0, 1) for the jitter.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = backoff(self.initial, self.factor, attempt, self.max);
        let spread = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((base.as_secs_f64() * spread).clamp(0.0, self.max.as_secs_f64()))
    }
}

/// Which failed calls are tried again, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// How many times a failed call is tried again, 0 to 10 (default 2).
    pub max_retries: u32,
    /// The pause before the first retry (default 100ms).
    pub backoff: Duration,
    /// How much the pause grows from one retry to the next (default 2.0).
    pub factor: f64,
    /// The error kinds that are retried (default: unavailable, timeout,
    /// rate-limited).
    pub kinds: Vec<ErrorKind>,
    /// Retry tools that are neither read-only nor idempotent too. Off by
    /// default: repeating a write by accident is worse than failing.
    pub all_tools: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(100),
            factor: 2.0,
            kinds: vec![
                ErrorKind::Unavailable,
                ErrorKind::Timeout,
                ErrorKind::RateLimited,
            ],
            all_tools: false,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry `n` (1 for the first).
    pub fn pause(&self, n: u32) -> Duration {
        backoff(self.backoff, self.factor, n, MAX_RETRY_PAUSE)
    }
}

/// The longest pause between two tries of a call.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// Capped exponential backoff, the one formula for restarts and retries:
/// `first × factor^(n-1)` for try `n` (1 for the first), at most `cap`.
pub fn backoff(first: Duration, factor: f64, n: u32, cap: Duration) -> Duration {
    let exp = factor.powi(n.saturating_sub(1).min(64) as i32);
    let secs = first.as_secs_f64() * exp;
    if secs.is_finite() && secs >= 0.0 {
        Duration::from_secs_f64(secs.min(cap.as_secs_f64()))
    } else {
        cap
    }
}

/// The circuit breaker: after `failures` consecutive failures calls fail
/// fast with `unavailable` until, after `cooldown`, a probe call succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// 0 turns the breaker off.
    pub failures: u32,
    /// How long the breaker stays open before a probe call (default 10s).
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failures: 5,
            cooldown: Duration::from_secs(10),
        }
    }
}

/// How long results may be served from weft's cache.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CachePolicy {
    /// For `resources/read`. Without it, a read is cached only as long as
    /// the server's own `ttlMs` allows.
    pub ttl: Option<Duration>,
    /// For results of read-only tools (same arguments, same result).
    pub tool_ttl: Option<Duration>,
}

/// How a server that crashed or lost its connection is started again:
/// capped exponential backoff with jitter.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRestart {
    /// The delay before the first restart: a duration, seconds or "250ms".
    #[schemars(extend("default" = "250ms"))]
    initial: Option<RawDuration>,
    /// The longest delay between restarts, which grows by `factor` up to
    /// it: a duration, not shorter than `initial`.
    #[schemars(extend("default" = "30s"))]
    max: Option<RawDuration>,
    /// How much the delay grows after each failed start: 1.0 (constant) to
    /// 10.0.
    #[schemars(extend("default" = 2.0))]
    factor: Option<f64>,
    /// The fraction of the delay added or taken away at random, so servers
    /// do not restart in step: 0.0 (none) to 1.0.
    #[schemars(extend("default" = 0.2))]
    jitter: Option<f64>,
    /// Failed starts or quick crashes in a row before the server is marked
    /// `failed`; 0 keeps trying for ever.
    #[schemars(extend("default" = 10))]
    max_attempts: Option<u32>,
}

/// Which failed calls to a server are tried again, and how.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    /// How many times a failed call is tried again: 0 to 10.
    #[schemars(extend("default" = 2))]
    max_retries: Option<u32>,
    /// The pause before the first retry, each next one `factor` times
    /// longer (at most 60s): a duration, seconds or "100ms".
    #[schemars(extend("default" = "100ms"))]
    backoff: Option<RawDuration>,
    /// How much the pause grows from one retry to the next: 1.0 (constant)
    /// to 10.0.
    #[schemars(extend("default" = 2.0))]
    factor: Option<f64>,
    /// The error kinds that are retried: unavailable, timeout,
    /// rate-limited, tool-error or internal.
    #[schemars(extend("default" = ["unavailable", "timeout", "rate-limited"]))]
    kinds: Option<Vec<String>>,
    /// Which tools are retried: "safe" (only those annotated read-only or
    /// idempotent) or "all" (writes too).
    #[schemars(extend("default" = "safe"))]
    tools: Option<String>,
}

/// A server's circuit breaker: after `failures` consecutive failed calls,
/// calls fail fast with `unavailable` without reaching the server until,
/// after `cooldown`, a probe call succeeds.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBreaker {
    /// Consecutive `unavailable` or `timeout` calls that open the breaker;
    /// 0 turns it off.
    #[schemars(extend("default" = 5))]
    failures: Option<u32>,
    /// How long the breaker stays open before one call goes through as a
    /// probe: a duration, seconds or "10s".
    #[schemars(extend("default" = "10s"))]
    cooldown: Option<RawDuration>,
}

/// How long a server's results may be served from weft's cache.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    /// How long a `resources/read` result is cached when the server gives
    /// no `ttlMs`: a duration. Without it, a read is cached only as long as
    /// the server's `ttlMs` allows.
    ttl: Option<RawDuration>,
    /// How long results of read-only tools are cached (same tool, same
    /// arguments): a duration. Without it they are not cached.
    tool_ttl: Option<RawDuration>,
}

/// The four sub-tables as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawResilience {
    pub restart: Option<RawRestart>,
    pub retry: Option<RawRetry>,
    pub breaker: Option<RawBreaker>,
    pub cache: Option<RawCache>,
}

fn factor(v: Option<f64>, file: &Path, key: &str, default: f64) -> Result<f64, ConfigError> {
    match v {
        None => Ok(default),
        Some(f) if f.is_finite() && (1.0..=10.0).contains(&f) => Ok(f),
        Some(f) => Err(ConfigError::new(file, key, format!("{f} is out of range"))
            .hint("use a growth factor from 1.0 (constant) to 10.0")),
    }
}

impl RawResilience {
    /// Validates and fills in defaults; `prefix` is `servers.NAME`.
    pub(crate) fn resolve(self, file: &Path, prefix: &str) -> Result<Resilience, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let dur = |d: &Option<RawDuration>, k: &str| -> Result<Option<Duration>, ConfigError> {
            d.as_ref().map(|d| d.resolve(file, &key(k))).transpose()
        };
        let mut out = Resilience::default();
        if let Some(r) = self.restart {
            let p = &mut out.restart;
            p.initial = dur(&r.initial, "restart.initial")?.unwrap_or(p.initial);
            p.max = dur(&r.max, "restart.max")?.unwrap_or(p.max);
            if p.max < p.initial {
                return Err(ConfigError::new(
                    file,
                    key("restart.max"),
                    "is shorter than restart.initial",
                ));
            }
            p.factor = factor(r.factor, file, &key("restart.factor"), p.factor)?;
            if let Some(j) = r.jitter {
                if !(0.0..=1.0).contains(&j) {
                    return Err(ConfigError::new(
                        file,
                        key("restart.jitter"),
                        format!("{j} is out of range"),
                    )
                    .hint("use a fraction from 0.0 (none) to 1.0"));
                }
                p.jitter = j;
            }
            if let Some(n) = r.max_attempts {
                p.max_attempts = (n > 0).then_some(n);
            }
        }
        if let Some(r) = self.retry {
            let p = &mut out.retry;
            if let Some(n) = r.max_retries {
                if n > 10 {
                    return Err(ConfigError::new(
                        file,
                        key("retry.max_retries"),
                        format!("{n} is more than 10"),
                    ));
                }
                p.max_retries = n;
            }
            p.backoff = dur(&r.backoff, "retry.backoff")?.unwrap_or(p.backoff);
            p.factor = factor(r.factor, file, &key("retry.factor"), p.factor)?;
            if let Some(kinds) = r.kinds {
                p.kinds = kinds
                    .iter()
                    .map(|k| {
                        ErrorKind::parse(k).ok_or_else(|| {
                            ConfigError::new(
                                file,
                                key("retry.kinds"),
                                format!("{k:?} is not an error kind"),
                            )
                            .hint("use unavailable, timeout, rate-limited, tool-error or internal")
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            p.all_tools = match r.tools.as_deref() {
                None | Some("safe") => false,
                Some("all") => true,
                Some(other) => {
                    return Err(ConfigError::new(
                        file,
                        key("retry.tools"),
                        format!("{other:?} is not a choice"),
                    )
                    .hint("use \"safe\" (read-only or idempotent tools only) or \"all\""));
                }
            };
        }
        if let Some(b) = self.breaker {
            out.breaker.failures = b.failures.unwrap_or(out.breaker.failures);
            out.breaker.cooldown =
                dur(&b.cooldown, "breaker.cooldown")?.unwrap_or(out.breaker.cooldown);
        }
        if let Some(c) = self.cache {
            out.cache.ttl = dur(&c.ttl, "cache.ttl")?;
            out.cache.tool_ttl = dur(&c.tool_ttl, "cache.tool_ttl")?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delay_grows_and_caps() {
        let p = RestartPolicy {
            jitter: 0.0,
            ..RestartPolicy::default()
        };
        assert_eq!(p.delay(1, 0.5), Duration::from_millis(250));
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(500));
        assert_eq!(p.delay(30, 0.5), Duration::from_secs(30));
        let j = RestartPolicy::default();
        let low = j.delay(3, 0.0);
        let high = j.delay(3, 0.999);
        assert!(low >= Duration::from_millis(799) && low <= Duration::from_millis(801));
        assert!(high > Duration::from_millis(1190) && high <= Duration::from_millis(1200));
    }

    #[test]
    fn retry_pause_grows() {
        let p = RetryPolicy::default();
        assert_eq!(p.pause(1), Duration::from_millis(100));
        assert_eq!(p.pause(3), Duration::from_millis(400));
        assert_eq!(p.pause(40), MAX_RETRY_PAUSE);
    }

    #[test]
    fn one_backoff_formula_caps_whatever_the_factor() {
        let cap = Duration::from_secs(5);
        let ms = Duration::from_millis;
        assert_eq!(backoff(ms(100), 2.0, 1, cap), ms(100));
        assert_eq!(backoff(ms(100), 2.0, 4, cap), ms(800));
        assert_eq!(backoff(ms(100), 1e308, 64, cap), cap);
        assert_eq!(backoff(ms(100), f64::NAN, 2, cap), cap);
        assert_eq!(backoff(ms(100), 0.0, 0, cap), ms(100));
    }
}
