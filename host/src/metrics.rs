//! Counters and histograms for `GET /metrics`, in the OpenMetrics text
//! format Prometheus scrapes: calls by server, tool and outcome, call
//! latency per server, retries, failovers, restarts, breaker and server
//! state, cache counters, policy runs by outcome, fuel used, limit kills
//! and audit records dropped.
//!
//! Call and policy figures are recorded as they happen; server state,
//! cache and audit figures are read from the hub when the metrics are
//! rendered.

use parking_lot::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cache::CacheStats;
use crate::upstream::ServerStatus;

/// The `tool` label of a call whose tool the catalog does not have (a
/// server that never listed, or is down): an agent's made-up names never
/// become label values, so the series stay as many as the catalog's tools.
pub const UNKNOWN_TOOL: &str = "(unknown)";

/// The `tool` label for `tool`: itself when the catalog has it (`known`),
/// else [`UNKNOWN_TOOL`].
pub fn tool_label(known: bool, tool: &str) -> &str {
    if known { tool } else { UNKNOWN_TOOL }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// The tenant's name from the config, or empty (no tenant, or a
    /// request refused before its key was known): bounded by the config.
    tenant: String,
    server: String,
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlaggedLabels {
    server: String,
    /// `flagged` (served) or `quarantined` (kept from agents).
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApprovalLabels {
    tenant: String,
    /// `approved`, `declined`, `cancelled`, `timeout` or `unasked`.
    answer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DomainLabels {
    domain: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    policy: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    policy: String,
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    event: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … about 16 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 17))
}

/// Every metric weft exports.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<ServerLabels, Histogram, fn() -> Histogram>,
    retries: Family<ServerLabels, Counter>,
    approvals: Family<ApprovalLabels, Counter>,
    failovers: Family<DomainLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    run_latency: Family<PolicyLabels, Histogram, fn() -> Histogram>,
    fuel: Family<PolicyLabels, Counter>,
    limit_kills: Family<LimitLabels, Counter>,
    // Read from the hub at render time.
    up: Family<ServerLabels, Gauge>,
    restarts: Family<ServerLabels, Counter>,
    breaker_open: Family<ServerLabels, Gauge>,
    breaker_opened: Family<ServerLabels, Counter>,
    tools: Family<ServerLabels, Gauge>,
    flagged: Family<FlaggedLabels, Gauge>,
    cache: Family<CacheLabels, Counter>,
    cache_items: Gauge,
    audit_dropped: Counter,
    mcp_posts: Family<PathLabels, Counter>,
    sessions_restored: Counter,
    /// Encoding takes the registry by reference; one render at a time.
    render_lock: Mutex<()>,
    /// The last minutes, for the console.
    recent: crate::recent::Recent,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("weft");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Tool calls by tenant, server, tool and outcome (ok, an error kind, or the refusal)",
            calls.clone(),
        );
        let latency: Family<ServerLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "call_duration_seconds",
            "Tool call latency by server, retries included",
            latency.clone(),
        );
        let retries = Family::<ServerLabels, Counter>::default();
        registry.register("retries", "Calls tried again", retries.clone());
        let approvals = Family::<ApprovalLabels, Counter>::default();
        registry.register(
            "approvals",
            "Calls that waited for a person's approval, by answer",
            approvals.clone(),
        );
        let failovers = Family::<DomainLabels, Counter>::default();
        registry.register(
            "failovers",
            "Domain calls passed to a lower-priority server",
            failovers.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("policy_runs", "Policy runs by outcome", runs.clone());
        let run_latency: Family<PolicyLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "policy_run_duration_seconds",
            "Policy run wall time",
            run_latency.clone(),
        );
        let fuel = Family::<PolicyLabels, Counter>::default();
        registry.register("policy_fuel_used", "Fuel used by policies", fuel.clone());
        let limit_kills = Family::<LimitLabels, Counter>::default();
        registry.register(
            "policy_limit_kills",
            "Policy runs stopped by a limit",
            limit_kills.clone(),
        );
        let up = Family::<ServerLabels, Gauge>::default();
        registry.register("upstream_up", "1 if the server is up", up.clone());
        let restarts = Family::<ServerLabels, Counter>::default();
        registry.register(
            "upstream_restarts",
            "Restarts after a crash or a lost connection",
            restarts.clone(),
        );
        let breaker_open = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "breaker_open",
            "1 while the server's circuit breaker fails calls fast",
            breaker_open.clone(),
        );
        let breaker_opened = Family::<ServerLabels, Counter>::default();
        registry.register(
            "breaker_opened",
            "Times the circuit breaker opened",
            breaker_opened.clone(),
        );
        let tools = Family::<ServerLabels, Gauge>::default();
        registry.register("upstream_tools", "Tools the server lists", tools.clone());
        let flagged = Family::<FlaggedLabels, Gauge>::default();
        registry.register(
            "tools_flagged",
            "Tools weft's scanner flagged in the owner's catalog, by server and state: flagged (served) or quarantined (kept from agents)",
            flagged.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_events",
            "Cache lookups and removals: hit, miss, eviction, invalidation",
            cache.clone(),
        );
        let cache_items = Gauge::default();
        registry.register("cache_items", "Entries in the cache", cache_items.clone());
        let audit_dropped = Counter::default();
        registry.register(
            "audit_dropped",
            "Audit records dropped because the audit writer's queue was full",
            audit_dropped.clone(),
        );
        let mcp_posts = Family::<PathLabels, Counter>::default();
        registry.register(
            "mcp_posts",
            "JSON-RPC POSTs to /mcp by the path that answered them: rmcp (its service), listed (a tools/list, stateless or in a session, from bytes serialised once), direct (a plain tools/call, stateless or in a session, answered in the connection's task without rmcp's service) or forwarded (a task request passed on to the replica that holds the task)",
            mcp_posts.clone(),
        );
        let sessions_restored = Counter::default();
        registry.register(
            "sessions_restored",
            "HTTP sessions this replica did not know, served from their row in the shared database (settings.state): opened by another replica, or by this one before a restart",
            sessions_restored.clone(),
        );
        Metrics {
            registry,
            calls,
            latency,
            retries,
            approvals,
            failovers,
            runs,
            run_latency,
            fuel,
            limit_kills,
            up,
            restarts,
            breaker_open,
            breaker_opened,
            tools,
            flagged,
            cache,
            cache_items,
            audit_dropped,
            mcp_posts,
            sessions_restored,
            render_lock: Mutex::new(()),
            recent: crate::recent::Recent::default(),
        }
    }

    /// One finished call for `tenant` (empty for none); `outcome` is `ok`
    /// or an error kind. `tool` must be a name the catalog has, else
    /// [`UNKNOWN_TOOL`] (see [`tool_label`]).
    pub fn call(&self, tenant: &str, server: &str, tool: &str, outcome: &str, took: Duration) {
        self.refusal(tenant, server, tool, outcome);
        self.recent.call(server, tool, outcome == "ok", took);
        self.latency
            .get_or_create(&ServerLabels {
                server: server.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// One request refused before it reached a server (and the count
    /// [`Metrics::call`] makes): at the HTTP edge
    /// (`unauthorized`, `rate-limited`, …) or at the router's admission
    /// (`denied`). `server` and `tool` are empty unless the catalog has
    /// them, so an agent's made-up names never become label values.
    pub fn refusal(&self, tenant: &str, server: &str, tool: &str, outcome: &str) {
        self.calls
            .get_or_create(&CallLabels {
                tenant: tenant.into(),
                server: server.into(),
                tool: tool.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The last minutes of calls and runs, for the console.
    pub fn recent(&self) -> &crate::recent::Recent {
        &self.recent
    }

    /// A POST to `/mcp` answered by `path` (rmcp, listed or direct).
    pub fn mcp_post(&self, path: &'static str) {
        self.mcp_posts
            .get_or_create(&PathLabels { path: path.into() })
            .inc();
    }

    /// A session restored from the shared database.
    pub fn session_restored(&self) {
        self.sessions_restored.inc();
    }

    pub fn retry(&self, server: &str) {
        self.retries
            .get_or_create(&ServerLabels {
                server: server.into(),
            })
            .inc();
    }

    /// One call that waited for a person's approval, by the answer.
    pub fn approval(&self, tenant: &str, answer: &str) {
        self.approvals
            .get_or_create(&ApprovalLabels {
                tenant: tenant.into(),
                answer: answer.into(),
            })
            .inc();
    }

    pub fn failover(&self, domain: &str) {
        self.failovers
            .get_or_create(&DomainLabels {
                domain: domain.into(),
            })
            .inc();
    }

    /// One finished policy run; `limit` names the limit that stopped it.
    pub fn policy_run(
        &self,
        policy: &str,
        outcome: &str,
        took: Duration,
        fuel: u64,
        limit: Option<&str>,
    ) {
        self.runs
            .get_or_create(&RunLabels {
                policy: policy.into(),
                outcome: outcome.into(),
            })
            .inc();
        let p = PolicyLabels {
            policy: policy.into(),
        };
        self.run_latency
            .get_or_create(&p)
            .observe(took.as_secs_f64());
        self.fuel.get_or_create(&p).inc_by(fuel);
        if let Some(limit) = limit {
            self.limit_kills
                .get_or_create(&LimitLabels {
                    policy: policy.into(),
                    limit: limit.into(),
                })
                .inc();
        }
    }

    /// The text exposition, after reading server and cache figures.
    pub fn render(
        &self,
        servers: &[(ServerStatus, crate::breaker::BreakerStatus)],
        flagged: &[crate::catalog::Flagged],
        cache: &CacheStats,
        audit_dropped: u64,
    ) -> String {
        let _one = self.render_lock.lock();
        // Every server's count is set, so one whose flags went away reads 0.
        for (s, _) in servers {
            for state in ["flagged", "quarantined"] {
                let n = flagged
                    .iter()
                    .filter(|f| f.server == s.name && (state == "quarantined") == f.quarantined)
                    .count();
                self.flagged
                    .get_or_create(&FlaggedLabels {
                        server: s.name.clone(),
                        state: state.into(),
                    })
                    .set(n as i64);
            }
        }
        for (s, b) in servers {
            let l = ServerLabels {
                server: match &s.tenant {
                    Some(t) => format!("{}[{t}]", s.name),
                    None => s.name.clone(),
                },
            };
            self.up
                .get_or_create(&l)
                .set(i64::from(matches!(s.state, crate::upstream::State::Up)));
            catch_up(&self.restarts.get_or_create(&l), u64::from(s.restarts));
            self.breaker_open
                .get_or_create(&l)
                .set(i64::from(b.state == "open"));
            catch_up(&self.breaker_opened.get_or_create(&l), b.opened);
            self.tools.get_or_create(&l).set(s.tools as i64);
        }
        for (event, total) in [
            ("hit", cache.hits),
            ("miss", cache.misses),
            ("eviction", cache.evictions),
            ("invalidation", cache.invalidations),
        ] {
            catch_up(
                &self.cache.get_or_create(&CacheLabels {
                    event: event.into(),
                }),
                total,
            );
        }
        self.cache_items.set(cache.items as i64);
        catch_up(&self.audit_dropped, audit_dropped);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// Raises a counter to a total kept elsewhere.
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_calls_and_runs() {
        let m = Metrics::new();
        m.call(
            "",
            "time",
            "get_current_time",
            "ok",
            Duration::from_millis(3),
        );
        m.call(
            "acme",
            "time",
            "get_current_time",
            "timeout",
            Duration::from_secs(1),
        );
        m.policy_run(
            "standup",
            "limit",
            Duration::from_millis(9),
            1234,
            Some("fuel"),
        );
        let text = m.render(&[], &[], &CacheStats::default(), 3);
        assert!(text.contains(
            r#"weft_calls_total{tenant="",server="time",tool="get_current_time",outcome="ok"} 1"#
        ));
        assert!(text.contains(
            r#"weft_calls_total{tenant="acme",server="time",tool="get_current_time",outcome="timeout"} 1"#
        ));
        assert!(text.contains(r#"weft_policy_fuel_used_total{policy="standup"} 1234"#));
        assert!(text.contains(r#"weft_policy_limit_kills_total{policy="standup",limit="fuel"} 1"#));
        assert!(text.contains("weft_call_duration_seconds_bucket"));
        assert!(text.contains("weft_audit_dropped_total 3\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
