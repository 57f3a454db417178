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
#[allow(dead_code)]
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
    status_mib(pid, "VmHWM:")
}

/// Resident memory of a process now (VmRSS), in MiB.
#[allow(dead_code)]
pub fn rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmRSS:")
}

/// Proportional set size of a process now, in MiB: each physical page
/// counted once, shared ones split among their mappers. Unlike VmRSS, a
/// page of a copy-on-write image that many instances map counts once.
#[allow(dead_code)]
pub fn pss_mib(pid: u32) -> Option<f64> {
    kb_field_mib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// A field of `/proc/PID/status` given in kB, in MiB.
#[allow(dead_code)]
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    kb_field_mib(&format!("/proc/{pid}/status"), field)
}

/// A line `FIELD  N kB` of a `/proc` file, in MiB.
#[allow(dead_code)]
fn kb_field_mib(path: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(path).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Records that a figure could not be measured in this run, and why (a
/// peer not installed, a client a gateway cannot serve, no `perf`): the
/// report shows it as "not measured" instead of leaving a gap.
#[allow(dead_code)]
pub fn not_measured(case: &str, name: &str, reason: &str) {
    println!("{name}: not measured ({reason})");
    let Ok(path) = std::env::var("WEFT_BENCH_OUT") else {
        return;
    };
    let line = serde_json::json!({"case": case, "name": name, "unit": "", "value": null, "reason": reason});
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

/// A `perf record` of one process while a bench drives a load, summarised
/// into the raw data by `bench/profile.py` (the share of samples per
/// component: kernel, libc, hyper and axum, rmcp, the router, …) so that
/// the report's profile figures come from a recorded profile, never from
/// typing. Set `WEFT_BENCH_PROFILE=0` to skip profiles.
#[allow(dead_code)]
pub struct Profile {
    child: Option<std::process::Child>,
    file: std::path::PathBuf,
    case: String,
    which: String,
}

#[allow(dead_code)]
impl Profile {
    /// Starts sampling `pid` (returns once `perf` has opened its output).
    /// Without `perf`, records "not measured" and does nothing.
    pub fn start(case: &str, which: &str, pid: u32, dir: &std::path::Path) -> Profile {
        let file = dir.join(format!("perf-{}.data", which.replace(['/', ' '], "-")));
        let mut profile = Profile {
            child: None,
            file: file.clone(),
            case: case.into(),
            which: which.into(),
        };
        if std::env::var("WEFT_BENCH_PROFILE").as_deref() == Ok("0") {
            return profile;
        }
        let _ = std::fs::remove_file(&file);
        let spawned = std::process::Command::new("perf")
            .args(["record", "-q", "-F", "1999", "-p", &pid.to_string(), "-o"])
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(mut child) => {
                // perf writes its file's header once the counters are open.
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while !file.metadata().is_ok_and(|m| m.len() > 0) {
                    if std::time::Instant::now() > deadline
                        || child.try_wait().ok().flatten().is_some()
                    {
                        let _ = child.kill();
                        let _ = child.wait();
                        not_measured(case, &format!("profile {which}"), "perf did not start");
                        return profile;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                profile.child = Some(child);
            }
            Err(e) => not_measured(case, &format!("profile {which}"), &format!("perf: {e}")),
        }
        profile
    }

    /// Stops sampling and appends the summary to the raw data.
    pub fn finish(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on the pid of a child this value owns.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    not_measured(
                        &self.case,
                        &format!("profile {}", self.which),
                        "perf did not stop",
                    );
                    return;
                }
            }
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/profile.py");
        let status = std::process::Command::new("python3")
            .arg(script)
            .args(["--case", &self.case, "--which", &self.which])
            .arg(&self.file)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            not_measured(
                &self.case,
                &format!("profile {}", self.which),
                "bench/profile.py failed",
            );
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The median of `v` (the mean of the two middle values when their number
/// is even); NaN when `v` is empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
