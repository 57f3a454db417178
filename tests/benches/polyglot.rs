//! Benchmark: policies in Python and JavaScript (case 6 of `bash bench/run`).
//! Prints figures and records them with `record`; asserts nothing about
//! speed. Run alone with
//! `cargo bench -p weft-integration --profile dev --bench cases -- polyglot` after
//! `bash .ci/setup-tools` (components are built with `weft build`, once per
//! source, into `target/python-guests/` and `target/js-guests/`).
//!
//! For a trivial policy in each language (the hostile guests in their
//! behaving mode: no calls, the input returned):
//! - `first run (compile)`: the first run in a new `Sandbox` with an empty
//!   disk cache (Cranelift compiles the component and saves the artifact);
//!   one sample, as it takes up to a minute in this profile;
//! - `cached first run`: the median of three new `Sandbox`es on the filled
//!   cache (the artifact deserialized, nothing compiled);
//! - `warm run p50/p99`: the compiled component in memory; each sample one
//!   `Runner::run` (a fresh `Store` from the pre-linked `InstancePre`, with
//!   the copy-on-write image of the snapshot the toolchain made at build
//!   time; run; report), 500 samples after 20 to warm up.
//!
//! Then:
//! - `python memory per run, 100 in flight (PSS)` and `(VmRSS)`: 100 runs
//!   of the Python guest started at once, each asleep in `time.sleep` for
//!   3 s; this process's peak while they are in flight, less its figure
//!   before, over 100. PSS counts each physical page once; VmRSS counts a
//!   page of the shared copy-on-write snapshot once per instance mapping
//!   it. The window in which all 100 were in flight together is printed,
//!   so a reader can see they overlapped. `WEFT_BENCH_PART=memory` runs
//!   only this figure.
//! - `LANG first run of another component (functions cached)`: the
//!   `fanout` example's first run, compiled in a new `Sandbox` on the
//!   trivial policy's cache, which holds the interpreter's compiled
//!   functions (cranelift's incremental cache) but not this component;
//! - `fanout (LANG) p50/p99`: the `fanout` example in Rust, Python and
//!   JavaScript, against the same real servers (mcp-server-git,
//!   mcp-server-time, server-memory: seven calls, all at once), warm, 30
//!   samples each.

use crate::support;

use crate::record;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::{Origin, Sandbox, Wasm};

/// The case these figures belong to in the report.
const CASE: &str = "6";
/// Python runs in flight together for the memory figure.
const IN_FLIGHT: usize = 100;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn loaded(name: &str, file: &Path, grants: &[&str]) -> Loaded {
    Loaded {
        name: name.into(),
        wasm: Wasm::new(std::fs::read(file).unwrap()),
        grants: Grants::new(&grants.iter().map(|g| g.to_string()).collect::<Vec<_>>()).unwrap(),
        limits: Limits::default(),
    }
}

/// One run in a new `Sandbox` on `cache`; checks where the component came
/// from, returns the run's wall time.
async fn first_run(
    hub: &weft::Hub,
    policy: &Loaded,
    input: &str,
    cache: PathBuf,
    want: Origin,
) -> Duration {
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(cache)).unwrap());
    let runner = Runner::new(hub.clone(), sandbox);
    let t = Instant::now();
    let r = runner.run(policy, input, None).await;
    let took = t.elapsed();
    assert!(r.ok(), "{}: {:?}", policy.name, r.error);
    assert_eq!(r.component, want, "where the component came from");
    took
}

/// Warm runs of `policy`: `warmup` unmeasured, then `n` samples.
async fn warm(
    runner: &Runner,
    policy: &Loaded,
    input: &str,
    warmup: usize,
    n: usize,
) -> Vec<Duration> {
    for _ in 0..warmup {
        let r = runner.run(policy, input, None).await;
        assert!(r.ok(), "{}: {:?}", policy.name, r.error);
    }
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = runner.run(policy, input, None).await;
        runs.push(t.elapsed());
        assert!(r.ok(), "{}: {:?}", policy.name, r.error);
    }
    runs
}

/// Start figures and warm runs of a trivial policy in `lang`; returns its
/// warm runner.
async fn trivial(
    hub: &weft::Hub,
    lang: &str,
    policy: &Loaded,
    input: &str,
    caches: &Path,
) -> Runner {
    println!(
        "== a trivial {lang} policy ({:.1} MiB component) ==",
        policy.wasm.bytes().len() as f64 / (1 << 20) as f64
    );
    let cache = caches.join(lang);
    let cold = first_run(hub, policy, input, cache.clone(), Origin::Compiled).await;
    let mut cached = Vec::new();
    for _ in 0..3 {
        cached.push(first_run(hub, policy, input, cache.clone(), Origin::Disk).await);
    }
    cached.sort();
    let (cold, cached) = (ms(cold), ms(cached[1]));
    record::figure(CASE, &format!("{lang} first run (compile)"), cold, "ms");
    record::figure(CASE, &format!("{lang} cached first run"), cached, "ms");
    println!("{:<56} {cold:>10.1} ms", "first run, empty cache (compile)");
    println!(
        "{:<56} {cached:>10.1} ms",
        "first run, artifact on disk (median of 3)"
    );
    let runner = Runner::new(
        hub.clone(),
        Arc::new(Sandbox::with_cache_dir(Some(cache)).unwrap()),
    );
    let runs = warm(&runner, policy, input, 20, 500).await;
    let (p50, p99) = record::latency(CASE, &format!("{lang} warm run"), runs);
    println!(
        "{:<56} p50 {p50:>9.1} µs  p99 {p99:>9.1} µs",
        "warm run (in memory)"
    );
    runner
}

/// Memory added per Python run with [`IN_FLIGHT`] runs asleep at once,
/// two ways: VmRSS, which counts a page of the shared copy-on-write image
/// once for every instance that maps it, and PSS, which counts each
/// physical page once.
async fn python_memory(runner: Arc<Runner>, policy: &Loaded) {
    let pid = std::process::id();
    let rss_before = record::rss_mib(pid).expect("VmRSS of this process");
    let pss_before = record::pss_mib(pid).expect("Pss of this process");
    let input = r#"{"attack": "sleep", "ms": 3000}"#;
    let runs: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (runner, policy) = (runner.clone(), policy.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                let r = runner.run(&policy, input, None).await;
                (start, Instant::now(), r)
            })
        })
        .collect();
    let (mut rss_peak, mut pss_peak) = (rss_before, pss_before);
    while !runs.iter().all(|r| r.is_finished()) {
        rss_peak = rss_peak.max(record::rss_mib(pid).unwrap_or(0.0));
        pss_peak = pss_peak.max(record::pss_mib(pid).unwrap_or(0.0));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (mut last_start, mut first_end) = (None::<Instant>, None::<Instant>);
    for run in runs {
        let (start, end, r) = run.await.unwrap();
        assert!(r.ok(), "{:?}", r.error);
        assert_eq!(r.output, Some(serde_json::json!("slept")));
        last_start = Some(last_start.map_or(start, |s| s.max(start)));
        first_end = Some(first_end.map_or(end, |e| e.min(end)));
    }
    let together = first_end
        .unwrap()
        .saturating_duration_since(last_start.unwrap());
    println!(
        "all {IN_FLIGHT} runs were in flight together for {:.0} ms",
        ms(together)
    );
    for (what, before, peak) in [
        ("PSS", pss_before, pss_peak),
        ("VmRSS", rss_before, rss_peak),
    ] {
        let each = (peak - before) / IN_FLIGHT as f64;
        record::figure(
            CASE,
            &format!("python memory per run, {IN_FLIGHT} in flight ({what})"),
            each,
            "MiB",
        );
        println!(
            "{:<56} {each:>10.2} MiB  ({before:.0} MiB before, {peak:.0} MiB peak)",
            format!("memory added per concurrent run ({what})")
        );
    }
}

/// A hub with the servers the `fanout` example asks, and the input for it.
async fn fanout_hub(dir: &Path) -> (weft::Hub, String) {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git_repo(&repo);
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &git_time_memory_entries(dir, &repo);
    let hub = weft::Hub::start(config(dir, &text)).await;
    let input = serde_json::json!({"repo": repo, "timezones": ["UTC", "Asia/Tokyo", "Europe/Paris", "America/New_York"]});
    (hub, input.to_string())
}

/// The `fanout` example in each language, side by side.
async fn fanout(dir: &Path, caches: &Path) {
    println!("== fanout: one policy, three languages, the same servers ==");
    let (hub, input) = fanout_hub(dir).await;
    let grants = [
        "git.git_status",
        "git.git_log",
        "time.*",
        "memory.read_graph",
    ];
    // Python and JS compile into the cache of their trivial policy, whose
    // compiled functions (the interpreter's) are then on disk: the first
    // run times a second component's compile with that cache.
    let ports = [
        ("Rust", "fanout-rust", guest_wasm("weft-policy-fanout")),
        (
            "Python",
            "python",
            python::python_wasm("plugins/fanout-python"),
        ),
        ("JavaScript", "js", js::js_component("plugins/fanout-js")),
    ];
    for (lang, cache, file) in ports {
        let policy = loaded("fanout", &file, &grants);
        let sandbox = Sandbox::with_cache_dir(Some(caches.join(cache))).unwrap();
        let runner = Runner::new(hub.clone(), Arc::new(sandbox));
        let t = Instant::now();
        let report = runner.run(&policy, &input, None).await;
        let first = ms(t.elapsed());
        assert!(report.ok(), "fanout in {lang}: {:?}", report.error);
        assert_eq!(
            report.component,
            Origin::Compiled,
            "fanout in {lang} compiles"
        );
        if lang != "Rust" {
            let name = format!("{cache} first run of another component (functions cached)");
            record::figure(CASE, &name, first, "ms");
            println!(
                "{:<56} {first:>10.1} ms",
                format!("fanout in {lang}, first run (functions cached)")
            );
        }
        assert_eq!(report.calls.len(), 7, "fanout in {lang} makes seven calls");
        let runs = warm(&runner, &policy, &input, 3, 30).await;
        let (p50, p99) = record::latency(CASE, &format!("fanout ({lang})"), runs);
        println!(
            "{:<56} p50 {p50:>9.1} µs  p99 {p99:>9.1} µs",
            format!("fanout in {lang}, warm")
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    let caches = dir.path().join("caches");
    let hub = weft::Hub::start(config(dir.path(), "")).await;

    let python = loaded(
        "python",
        &python::python_wasm("tests/guests/hostile-python"),
        &[],
    );
    // WEFT_BENCH_PART=memory: only the memory figure (the component
    // compiled into a fresh cache first, without the start figures).
    if std::env::var("WEFT_BENCH_PART").as_deref() == Ok("memory") {
        let sandbox = Sandbox::with_cache_dir(Some(caches.join("python"))).unwrap();
        let runner = Runner::new(hub.clone(), Arc::new(sandbox));
        warm(&runner, &python, r#"{"attack": "echo", "n": 1}"#, 20, 1).await;
        python_memory(Arc::new(runner), &python).await;
        return;
    }
    let runner = trivial(
        &hub,
        "python",
        &python,
        r#"{"attack": "echo", "n": 1}"#,
        &caches,
    )
    .await;
    python_memory(Arc::new(runner), &python).await;

    let js = loaded("js", &js::js_component("tests/guests/hostile-js"), &[]);
    trivial(&hub, "js", &js, r#"{"attack": "noop", "n": 1}"#, &caches).await;

    let fanout_dir = dir.path().join("fanout");
    std::fs::create_dir(&fanout_dir).unwrap();
    fanout(&fanout_dir, &caches).await;
}
