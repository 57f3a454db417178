//! What the console shows of the last minutes, kept in memory: each
//! server's call latencies in 10-second slots (for its p50, p99 and
//! sparkline), each tool's call and error counts, and the last runs with
//! their calls.
//!
//! Everything here is bounded: slots keep a sample of at most
//! [`SAMPLES`] latencies, at most [`SLOTS`] slots per server, at most
//! [`MAX_TOOLS`] tools and [`MAX_RUNS`] runs of at most [`MAX_RUN_CALLS`]
//! calls each. Names come from the config and the catalog (the router
//! records only calls that reached a server).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

/// How long one slot of a server's series covers.
pub const SLOT: Duration = Duration::from_secs(10);
/// Slots kept per server: five minutes.
pub const SLOTS: usize = 30;
/// Latencies kept per slot (a reservoir sample beyond that).
const SAMPLES: usize = 256;
/// Tools with counts kept.
const MAX_TOOLS: usize = 10_000;
/// Runs kept.
pub const MAX_RUNS: usize = 100;
/// Calls kept per run.
pub const MAX_RUN_CALLS: usize = 200;

/// One slot of a server's latencies.
#[derive(Debug, Clone, Default)]
struct Slot {
    /// Seconds since the Unix epoch at which the slot starts.
    start: u64,
    calls: u64,
    samples: Vec<f32>,
}

/// A server's figures over the kept slots, oldest slot first.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Series {
    pub calls: u64,
    /// Milliseconds; `None` with no calls.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The p50 of each slot (`None` for a slot with no calls), [`SLOTS`]
    /// of them ending with the current slot.
    pub slots: Vec<Option<f64>>,
}

/// A tool's counts since start.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ToolCounts {
    pub calls: u64,
    pub errors: u64,
}

/// One call of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunCall {
    pub server: String,
    pub tool: String,
    pub ms: f64,
    /// `ok` or the error kind.
    pub outcome: String,
}

/// One finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// A number this process gives every run it records, to open it by.
    pub seq: u64,
    /// The journal's run id, for a durable run.
    pub run_id: Option<String>,
    pub policy: String,
    pub status: String,
    pub error: Option<String>,
    pub duration_ms: f64,
    pub fuel_used: u64,
    /// All the calls the run made (`calls` holds at most
    /// [`MAX_RUN_CALLS`] of them).
    pub call_count: usize,
    pub calls: Vec<RunCall>,
    /// Milliseconds since the Unix epoch when it ended.
    pub ended_at_ms: u64,
}

/// Tool counts by server, then tool.
type ByServer = HashMap<String, HashMap<String, ToolCounts>>;

/// The console's memory of the last minutes.
#[derive(Debug, Default)]
pub struct Recent {
    servers: Mutex<HashMap<String, VecDeque<Slot>>>,
    /// How many tools are counted, and the counts by server, then tool
    /// (looked up without allocating).
    tools: Mutex<(usize, ByServer)>,
    runs: Mutex<(u64, VecDeque<RunSummary>)>,
}

fn now_s() -> u64 {
    crate::util::unix_ms(std::time::SystemTime::now()) / 1000
}

fn slot_start(t: u64) -> u64 {
    t - t % SLOT.as_secs()
}

impl Recent {
    /// One call that reached `server`; `ok` is false for an error.
    pub fn call(&self, server: &str, tool: &str, ok: bool, took: Duration) {
        self.call_at(now_s(), server, tool, ok, took);
    }

    fn call_at(&self, now: u64, server: &str, tool: &str, ok: bool, took: Duration) {
        let start = slot_start(now);
        let ms = took.as_secs_f64() * 1e3;
        {
            let mut servers = self.servers.lock();
            let series = match servers.get_mut(server) {
                Some(s) => s,
                None => servers.entry(server.to_string()).or_default(),
            };
            if series.back().is_none_or(|s| s.start != start) {
                series.push_back(Slot {
                    start,
                    ..Slot::default()
                });
                while series.len() > SLOTS {
                    series.pop_front();
                }
            }
            if let Some(slot) = series.back_mut() {
                slot.calls += 1;
                if slot.samples.len() < SAMPLES {
                    slot.samples.push(ms as f32);
                } else {
                    // Reservoir sampling keeps every call equally likely
                    // to be in the sample.
                    let j = (crate::util::random_unit() * slot.calls as f64) as usize;
                    if let Some(s) = slot.samples.get_mut(j) {
                        *s = ms as f32;
                    }
                }
            }
        }
        let mut guard = self.tools.lock();
        let (count, tools) = &mut *guard;
        let counts = match tools.get_mut(server).and_then(|t| t.get_mut(tool)) {
            Some(c) => c,
            None if *count >= MAX_TOOLS => return,
            None => {
                *count += 1;
                tools
                    .entry(server.to_string())
                    .or_default()
                    .entry(tool.to_string())
                    .or_default()
            }
        };
        counts.calls += 1;
        if !ok {
            counts.errors += 1;
        }
    }

    /// The figures of every server that had a call in the kept slots.
    pub fn servers(&self) -> HashMap<String, Series> {
        self.servers_at(now_s())
    }

    fn servers_at(&self, now: u64) -> HashMap<String, Series> {
        let current = slot_start(now);
        let first = current.saturating_sub(SLOT.as_secs() * (SLOTS as u64 - 1));
        let servers = self.servers.lock();
        servers
            .iter()
            .map(|(name, slots)| {
                let kept: Vec<&Slot> = slots.iter().filter(|s| s.start >= first).collect();
                let mut all: Vec<f32> = kept
                    .iter()
                    .flat_map(|s| s.samples.iter().copied())
                    .collect();
                all.sort_by(f32::total_cmp);
                let series = Series {
                    calls: kept.iter().map(|s| s.calls).sum(),
                    p50_ms: quantile(&all, 0.50),
                    p99_ms: quantile(&all, 0.99),
                    slots: (0..SLOTS as u64)
                        .map(|i| {
                            let start = first + i * SLOT.as_secs();
                            kept.iter().find(|s| s.start == start).and_then(|s| {
                                let mut v = s.samples.clone();
                                v.sort_by(f32::total_cmp);
                                quantile(&v, 0.50)
                            })
                        })
                        .collect(),
                };
                (name.clone(), series)
            })
            .collect()
    }

    /// Every tool's counts, by (server, tool).
    pub fn tools(&self) -> HashMap<(String, String), ToolCounts> {
        let guard = self.tools.lock();
        guard
            .1
            .iter()
            .flat_map(|(server, tools)| {
                tools
                    .iter()
                    .map(move |(tool, c)| ((server.clone(), tool.clone()), *c))
            })
            .collect()
    }

    /// Keeps a finished run (the oldest kept one goes beyond
    /// [`MAX_RUNS`]), numbering it; its calls are cut to
    /// [`MAX_RUN_CALLS`] and its error to 2 KiB.
    pub fn run(&self, mut summary: RunSummary) {
        summary.calls.truncate(MAX_RUN_CALLS);
        if let Some(e) = &mut summary.error {
            crate::util::truncate(e, 2048);
        }
        let mut runs = self.runs.lock();
        runs.0 += 1;
        summary.seq = runs.0;
        runs.1.push_front(summary);
        runs.1.truncate(MAX_RUNS);
    }

    /// The kept runs, newest first.
    pub fn runs(&self) -> Vec<RunSummary> {
        self.runs.lock().1.iter().cloned().collect()
    }

    /// One kept run by its number.
    pub fn find_run(&self, seq: u64) -> Option<RunSummary> {
        self.runs.lock().1.iter().find(|r| r.seq == seq).cloned()
    }
}

/// The `q` quantile of sorted samples, as f64 milliseconds.
fn quantile(sorted: &[f32], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).map(|v| f64::from(*v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_roll_and_quantiles_come_from_the_kept_ones() {
        let r = Recent::default();
        let t0 = 1_000_000;
        for ms in 1..=100 {
            r.call_at(t0, "a", "x", ms != 100, Duration::from_millis(ms));
        }
        let s = &r.servers_at(t0)["a"];
        assert_eq!(s.calls, 100);
        assert_eq!(s.p50_ms, Some(51.0));
        assert_eq!(s.p99_ms, Some(99.0));
        assert_eq!(s.slots.len(), SLOTS);
        assert_eq!(*s.slots.last().unwrap(), Some(51.0));
        assert_eq!(
            r.tools()[&("a".into(), "x".into())],
            ToolCounts {
                calls: 100,
                errors: 1
            }
        );
        // Five minutes later the old slot has gone from the figures.
        let later = t0 + SLOT.as_secs() * SLOTS as u64;
        r.call_at(later, "a", "x", true, Duration::from_millis(7));
        let s = &r.servers_at(later)["a"];
        assert_eq!((s.calls, s.p50_ms), (1, Some(7.0)));
        assert_eq!(s.slots.iter().filter(|s| s.is_some()).count(), 1);
    }

    #[test]
    fn a_slot_keeps_a_bounded_sample() {
        let r = Recent::default();
        for _ in 0..10_000 {
            r.call_at(50, "a", "x", true, Duration::from_millis(1));
        }
        let servers = r.servers.lock();
        let slot = &servers["a"][0];
        assert_eq!((slot.calls, slot.samples.len()), (10_000, SAMPLES));
    }
}
