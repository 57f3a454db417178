//! Benchmark: the sandbox, cases 1–3 of the suite. Prints figures and
//! records them with `record` (into `$WEFT_BENCH_OUT` when set); asserts
//! nothing about speed. Run with
//! `cargo bench -p weft-integration --profile dev --bench cases -- sandbox`
//! after `bash .ci/build-guests` (`WEFT_BENCH_ONLY=2` runs case 2 alone, for
//! profiling it).
//!
//! 1. Host call overhead. The timer guest (`tests/guests/timer`) makes
//!    2000 sequential calls to the built-in in-process `echo` server per
//!    run, twice, and times each one itself with the WASI monotonic clock:
//!    through the SDK (`call`: building the arguments, encoding them, the
//!    crossing into the host, grants, router, echo, the result back into
//!    the guest and parsed), then through the bare `call-tool` import (the
//!    arguments' text built before the clock starts, the result's text not
//!    parsed); 5 runs give 10 000 real per-call samples of each. After
//!    each run, 2000 native `hub.call_tool("echo", "echo")` calls through
//!    the same hub and router, each timed on its own (interleaved, so that
//!    both see the machine in the same state). Records `guest call-tool
//!    p50/p99` (SDK), `guest import p50/p99`, `native call p50/p99` (µs per
//!    call, fractional), `overhead p50` (import p50 − native p50: what the
//!    host adds to a native call) and `guest SDK JSON p50` (SDK p50 −
//!    import p50: the guest's own JSON work, which a native caller does not
//!    pay), then a `perf` profile of 50 more runs (`bench/profile.py`). A
//!    guest sample also holds its own clock reads (two WASI host calls).
//!
//!    Then the check of a call's arguments against its tool's
//!    `inputSchema` (`argument check p50/p99`): every tool of
//!    server-everything whose required properties the bench can fill,
//!    2000 checks each, timed one by one.
//! 2. Policy start. A trivial precompiled policy (`tests/guests/trivial`:
//!    the Rust SDK's smallest policy, which returns its input), its
//!    compiled component already loaded in memory: each sample is one
//!    `Runner::run` (a fresh `Store`, instantiate from the pre-linked
//!    `InstancePre`, run, report); p50/p99 over 3000 runs, and runs per
//!    second with 8 concurrent runs on a 2-worker-thread runtime (2 cores)
//!    for 3 s. The same warm run of the hostile guest in its `echo` mode
//!    (no calls, returns its input) is recorded beside it (`warm run,
//!    hostile guest`): its attacks link std's files and sockets, so it has
//!    95 core imports to the trivial policy's 19, and instantiation costs
//!    in proportion (runs before `a45c358` measured only this one). Then the first run of
//!    that component in a new `Sandbox`: with an empty disk-cache directory
//!    (it is compiled with Cranelift and the artifact saved; `first run
//!    (compile)`), and in another new `Sandbox` on the now-filled directory
//!    (the artifact is deserialized from disk, nothing compiled; `cached
//!    first run`), median of 3 each, in ms. Each new `Sandbox` starts with
//!    an empty in-memory cache, as a new `weft` process would.
//! 3. Code as policy, against round trips: a workflow of N = 10 and N = 100
//!    sequential `echo` calls to server-everything over stdio, done three
//!    ways, each timed end to end as a whole workflow:
//!    - (a) one weft policy run (the hostile guest's `calls` mode) on the
//!      in-process hub, its stdio session to the server already open;
//!    - (b) the same calls one by one from the Python `mcp` SDK client in
//!      the tests' venv, its session already open (timed inside Python: a
//!      fair warm comparison with (a));
//!    - (c) "code as policies" as Python orchestrators do it: a fresh
//!      Python subprocess per workflow (`bench/python/workflow.py`,
//!      standard library only, one urllib request and connection per call)
//!      whose calls go over HTTP on 127.0.0.1 to a bridge
//!      (`bench/python/bridge.py`: starlette + uvicorn, holding one `mcp`
//!      client session to its own server-everything over stdio). The
//!      bridge is started and warmed first; each sample includes spawning
//!      the subprocess, its interpreter start, and its exit.
//!
//!    15 workflows per way and N (10 for (c) at N = 100); medians. (b)
//!    and (c) are `common/roundtrips.rs`, which case 7 shares.
//!    Records `policy N p50`, `python client N p50`, `subprocess+bridge N
//!    p50` (ms) and the ratios `python client / policy N` and
//!    `subprocess+bridge / policy N` (x), for N = 10 and N = 100.

use crate::support;

use crate::record;

use crate::roundtrips;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::{Origin, Sandbox, Wasm};

/// Prints p50/p99 of per-call or per-run samples in µs and records them.
fn latency(case: &str, label: &str, name: &str, samples: Vec<Duration>) -> (f64, f64) {
    let (p50, p99) = record::latency(case, name, samples);
    println!("{label:<56} p50 {p50:>10.2} µs  p99 {p99:>10.2} µs");
    (p50, p99)
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    record::pct_us(&v, 0.5) / 1e3
}

fn loaded(name: &str, guest: &str) -> Loaded {
    Loaded {
        name: name.into(),
        wasm: Wasm::new(std::fs::read(guest_wasm(guest)).unwrap()),
        grants: Grants::new(&["echo.echo".into(), "everything.echo".into()]).unwrap(),
        limits: Limits {
            max_calls: 100_000,
            ..Limits::default()
        },
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    let mut text = String::from("[servers.echo]\nbuiltin = \"echo\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let hub = weft::Hub::start(config(dir.path(), &text)).await;
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.path().join("cache"))).unwrap());
    let runner = Arc::new(Runner::new(hub.clone(), sandbox));
    let policy = loaded("bench", "weft-hostile-guest");
    let trivial = loaded("trivial", "weft-trivial-guest");
    let timer = loaded("timer", "weft-timer-guest");

    // `WEFT_BENCH_ONLY=2` runs one case (for profiling it on its own).
    let only = std::env::var("WEFT_BENCH_ONLY").ok();
    let wanted = |case: &str| only.as_deref().is_none_or(|o| o == case);
    if wanted("1") {
        case1(&hub, &runner, &timer).await;
        args_check(&hub);
    }
    if wanted("2") {
        case2(&hub, &runner, &trivial, &policy).await;
    }
    if wanted("3") {
        case3(&runner, &policy).await;
    }
    hub.shutdown().await;
}

/// Timer runs (of 2000 calls each) sampled for case 1's profile.
const PROFILED_RUNS: usize = 50;

async fn case1(hub: &weft::Hub, runner: &Runner, timer: &Loaded) {
    println!("== 1. host call overhead: call-tool to the in-process echo ==");
    const N: usize = 2000;
    let input = json!({"n": N, "server": "echo", "tool": "echo"}).to_string();
    assert!(runner.run(timer, &input, None).await.ok());
    let args = json!({"message": "1"}).as_object().cloned();
    for _ in 0..500 {
        hub.call_tool("echo", "echo", args.clone()).await.unwrap();
    }
    // Five rounds of a timer run and then as many native calls, so that
    // both kinds of sample see the machine in the same state.
    let mut guest = Vec::with_capacity(N * 5);
    let mut import = Vec::with_capacity(N * 5);
    let mut native = Vec::with_capacity(N * 5);
    for _ in 0..5 {
        let r = runner.run(timer, &input, None).await;
        assert!(r.ok(), "{:?}", r.error);
        let samples = |key: &str| {
            let ns = r.output.as_ref().and_then(|o| o[key].as_array()).unwrap();
            ns.iter()
                .map(|n| Duration::from_nanos(n.as_u64().unwrap()))
                .collect::<Vec<_>>()
        };
        guest.extend(samples("ns"));
        import.extend(samples("import_ns"));
        for i in 0..N {
            let args = json!({"message": i.to_string()}).as_object().cloned();
            let t = Instant::now();
            hub.call_tool("echo", "echo", args).await.unwrap();
            native.push(t.elapsed());
        }
    }
    let (g, _) = latency(
        "1",
        "guest call-tool → router → echo (per call, guest clock)",
        "guest call-tool",
        guest,
    );
    let (i, _) = latency(
        "1",
        "guest's bare call-tool import (args text built, result unparsed)",
        "guest import",
        import,
    );
    let (n, _) = latency(
        "1",
        "native hub.call_tool → router → echo (per call)",
        "native call",
        native,
    );
    // What the host adds to a native call is the bare import's extra time;
    // the SDK's JSON work on top of it is the guest's own.
    record::figure("1", "overhead p50", i - n, "µs");
    record::figure("1", "guest SDK JSON p50", g - i, "µs");
    // Where a guest call's time goes: this process, profiled over five
    // more timer runs, apart from the timed ones.
    let scratch = temp_dir();
    let profile =
        record::Profile::start("1", "guest call-tool", std::process::id(), scratch.path());
    // (At a few µs a call, five runs gave the profiler too few samples.)
    for _ in 0..PROFILED_RUNS {
        let r = runner.run(timer, &input, None).await;
        assert!(r.ok(), "{:?}", r.error);
    }
    profile.finish();
    println!(
        "host overhead of a guest call over a native one: {:+.2} µs per call (p50); \
         the guest SDK's own JSON work: {:+.2} µs",
        i - n,
        g - i
    );
}

/// Case 1, part 2: the check of a call's arguments against the tool's
/// `inputSchema`, on every tool of server-everything whose schema the
/// sample arguments fit (its required properties, each a value of its
/// type), 2000 checks each, timed one by one (compiled before timing).
fn args_check(hub: &weft::Hub) {
    let catalog = hub.catalog();
    let mut samples = Vec::new();
    let mut tools = 0;
    for e in catalog
        .tools()
        .iter()
        .filter(|e| &*e.server == "everything")
    {
        let args = sample_args(&e.tool.input_schema);
        if e.args
            .check(&e.tool.name, &e.tool.input_schema, Some(&args))
            .is_err()
        {
            continue;
        }
        tools += 1;
        for _ in 0..2000 {
            let t = Instant::now();
            let fit = e
                .args
                .check(&e.tool.name, &e.tool.input_schema, Some(&args));
            samples.push(t.elapsed());
            assert!(std::hint::black_box(fit).is_ok());
        }
    }
    assert!(
        tools > 0,
        "no tool of server-everything took the sample arguments"
    );
    latency(
        "1",
        &format!("argument check, {tools} of server-everything's tools"),
        "argument check",
        samples,
    );
}

/// Arguments that fit a simple schema: each required property, a value
/// of its type (an enum's first value).
fn sample_args(
    schema: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let props = schema.get("properties").and_then(|p| p.as_object());
    for name in schema
        .get("required")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
    {
        let prop = props.and_then(|p| p.get(name));
        let value = match prop.and_then(|p| p.get("enum")).and_then(|e| e.get(0)) {
            Some(first) => first.clone(),
            None => match prop.and_then(|p| p.get("type")).and_then(|t| t.as_str()) {
                Some("string") => json!("sample"),
                Some("integer") | Some("number") => json!(1),
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                _ => json!({}),
            },
        };
        out.insert(name.to_string(), value);
    }
    out
}

/// `runner.run` of `policy` 3000 times, one at a time, after 200 to warm
/// up: the samples.
async fn warm_runs(runner: &Runner, policy: &Loaded, input: &str) -> Vec<Duration> {
    for _ in 0..200 {
        assert!(runner.run(policy, input, None).await.ok());
    }
    let mut runs = Vec::new();
    for _ in 0..3000 {
        let t = Instant::now();
        let r = runner.run(policy, input, None).await;
        runs.push(t.elapsed());
        assert!(r.ok());
    }
    runs
}

async fn case2(hub: &weft::Hub, runner: &Arc<Runner>, policy: &Loaded, hostile: &Loaded) {
    println!("\n== 2. policy start: a trivial precompiled policy ==");
    let trivial = json!({"attack": "echo"}).to_string();
    latency(
        "2",
        "warm: instantiate + run + report (1 at a time)",
        "warm run",
        warm_runs(runner, policy, &trivial).await,
    );
    latency(
        "2",
        "the same, hostile guest (95 core imports)",
        "warm run, hostile guest",
        warm_runs(runner, hostile, &trivial).await,
    );
    let count = Arc::new(AtomicU64::new(0));
    let secs = 3.0;
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (runner, policy, count, trivial) = (
                runner.clone(),
                policy.clone(),
                count.clone(),
                trivial.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < stop {
                    runner.run(&policy, &trivial, None).await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let rate = count.load(Ordering::Relaxed) as f64 / secs;
    record::figure("2", "runs/s", rate, "runs/s");
    println!("runs per second, 8 concurrent runs on 2 worker threads: {rate:.0}");

    // The first run in a new Sandbox: cold (compile) and from the disk cache.
    let first = |cache: std::path::PathBuf, want: Origin| {
        let (hub, policy, trivial) = (hub.clone(), policy.clone(), trivial.clone());
        async move {
            let sandbox = Arc::new(Sandbox::with_cache_dir(Some(cache)).unwrap());
            let runner = Runner::new(hub, sandbox);
            let t = Instant::now();
            let r = runner.run(&policy, &trivial, None).await;
            let took = t.elapsed();
            assert!(r.ok(), "{:?}", r.error);
            assert_eq!(r.component, want, "where the component came from");
            took
        }
    };
    let (mut cold, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let caches = temp_dir();
        cold.push(first(caches.path().join("c"), Origin::Compiled).await);
        cached.push(first(caches.path().join("c"), Origin::Disk).await);
    }
    let (cold, cached) = (median_ms(cold), median_ms(cached));
    record::figure("2", "first run (compile)", cold, "ms");
    record::figure("2", "cached first run", cached, "ms");
    println!(
        "{:<56} {cold:>10.1} ms",
        "first run, new Sandbox, empty cache (compile)"
    );
    println!(
        "{:<56} {cached:>10.1} ms",
        "first run, new Sandbox, artifact on disk (no compile)"
    );
}

async fn case3(runner: &Runner, policy: &Loaded) {
    println!("\n== 3. code as policy vs round trips: N echo calls to server-everything (stdio) ==");
    const NS: [usize; 2] = [10, 100];
    const REPS: usize = 15;

    // (a) one weft policy per workflow.
    let mut weft = Vec::new();
    for n in NS {
        let input =
            json!({"attack": "calls", "n": n, "server": "everything", "tool": "echo"}).to_string();
        assert!(runner.run(policy, &input, None).await.ok());
        let mut runs = Vec::new();
        for _ in 0..REPS {
            let t = Instant::now();
            let r = runner.run(policy, &input, None).await;
            runs.push(t.elapsed());
            assert!(r.ok(), "{:?}", r.error);
        }
        weft.push(median_ms(runs));
    }

    // (b) the Python mcp client, one call at a time on an open session.
    let py = roundtrips::python_client_ms(&NS, REPS);

    // (c) a fresh Python subprocess per workflow, calling through the bridge.
    let bridge = roundtrips::Bridge::start(100);
    bridge.workflow(10);
    let mut bridged = Vec::new();
    for n in NS {
        let reps = if n >= 100 { 10 } else { REPS };
        bridged.push(median_ms((0..reps).map(|_| bridge.workflow(n)).collect()));
    }

    for (i, n) in NS.into_iter().enumerate() {
        let (w, p, b) = (weft[i], py[&n], bridged[i]);
        record::figure("3", &format!("policy N={n} p50"), w, "ms");
        record::figure("3", &format!("python client N={n} p50"), p, "ms");
        record::figure("3", &format!("subprocess+bridge N={n} p50"), b, "ms");
        record::figure("3", &format!("python client / policy N={n}"), p / w, "x");
        record::figure(
            "3",
            &format!("subprocess+bridge / policy N={n}"),
            b / w,
            "x",
        );
        println!("-- N = {n} --");
        println!("{:<56} p50 {w:>10.2} ms", "(a) one weft policy");
        println!(
            "{:<56} p50 {p:>10.2} ms  ({:.2}x the policy)",
            "(b) Python mcp client, one call at a time",
            p / w
        );
        println!(
            "{:<56} p50 {b:>10.2} ms  ({:.2}x the policy)",
            "(c) fresh Python subprocess + HTTP bridge",
            b / w
        );
    }
}
