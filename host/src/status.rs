//! The status report behind `weft status --json` and `GET /status`:
//! every server with its state, breaker, restarts and last error, the
//! catalog's size, the cache's counters and policy runs by outcome.

use parking_lot::Mutex;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerStatus;
use crate::cache::CacheStats;
use crate::upstream::ServerStatus;

/// One server: its status and its circuit breaker.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    #[serde(flatten)]
    pub status: ServerStatus,
    pub breaker: BreakerStatus,
    /// Its calls of the last five minutes, if it had any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// A server's calls of the last five minutes and their latency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub calls: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Policy runs of one policy, by outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunCounts {
    pub ok: u64,
    pub error: u64,
    pub limit: u64,
}

/// Everything status shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Seconds since the hub started.
    pub uptime_s: u64,
    /// Every upstream server, with its state, breaker and recent latency.
    pub servers: Vec<ServerReport>,
    /// Sizes of the merged catalog.
    pub tools: usize,
    /// How many resources the merged catalog lists (templates not counted).
    pub resources: usize,
    /// How many prompts the merged catalog lists.
    pub prompts: usize,
    /// The result cache's counters.
    pub cache: CacheStats,
    /// Finished policy runs by outcome, keyed by policy name.
    pub policy_runs: BTreeMap<String, RunCounts>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// The policy returned its output.
    Ok,
    /// The policy failed or crashed, or could not start.
    Error,
    /// A limit stopped it.
    Limit,
    /// A resumed run whose replay differed from the journal.
    Nondeterministic,
}

impl RunStatus {
    /// The status as reports, logs and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Error => "error",
            RunStatus::Limit => "limit",
            RunStatus::Nondeterministic => "nondeterministic",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts policy runs as they finish.
#[derive(Debug, Default)]
pub struct PolicyRuns(Mutex<BTreeMap<String, RunCounts>>);

impl PolicyRuns {
    /// Counts one run by how it ended.
    pub fn record(&self, policy: &str, status: RunStatus) {
        let mut runs = self.0.lock();
        let c = runs.entry(policy.to_string()).or_default();
        match status {
            RunStatus::Ok => c.ok += 1,
            RunStatus::Limit => c.limit += 1,
            RunStatus::Error | RunStatus::Nondeterministic => c.error += 1,
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, RunCounts> {
        self.0.lock().clone()
    }
}
