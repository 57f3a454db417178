//! Figures a benchmark records for the suite's report (`bench/run`).
//!
//! Each figure is one JSON line appended to the file named by
//! `WEFT_BENCH_OUT` (nothing is written when it is unset, so a bench run
//! by hand just prints). `bench/report.py` turns the lines into
//! `bench/results/results.json`, a Markdown table and a chart.

use std::io::Write;
use std::time::Duration;

/// Records one figure: `case` is the suite's case number ("1".."5"),
/// `name` what was measured, `value` in `unit` ("µs", "ms", "calls/s",
/// "runs/s", "MiB", "x").
pub fn figure(case: &str, name: &str, value: f64, unit: &str) {
    let Ok(path) = std::env::var("WEFT_BENCH_OUT") else {
        return;
    };
    let line = serde_json::json!({"case": case, "name": name, "value": value, "unit": unit});
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(mut f) => {
            let _ = writeln!(f, "{line}");
        }
        Err(e) => eprintln!("bench: cannot append to {path}: {e}"),
    }
}

/// The p-th percentile (0..=1) of sorted samples, in µs.
pub fn pct_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

/// Sorts the samples and records their p50 and p99 (µs) as
/// `NAME p50` and `NAME p99`; returns (p50, p99).
pub fn latency(case: &str, name: &str, mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let (p50, p99) = (pct_us(&samples, 0.5), pct_us(&samples, 0.99));
    figure(case, &format!("{name} p50"), p50, "µs");
    figure(case, &format!("{name} p99"), p99, "µs");
    (p50, p99)
}

/// Peak resident memory of a process (VmHWM), in MiB.
#[allow(dead_code)]
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
