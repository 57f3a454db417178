//! Benchmark: the sandbox. Prints figures; asserts nothing about speed.
//! Run with `cargo bench -p weft-integration --bench sandbox --profile dev`
//! after `bash .ci/build-guests`.
//!
//! 1. Warm run of a trivial precompiled policy: p50/p99, and runs per
//!    second with 2 worker threads.
//! 2. Host overhead per `call-tool`: a policy making N calls to the
//!    built-in (in-process) echo server, beside the same N calls made
//!    natively with `hub.call_tool` through the same router.
//! 3. 100 `echo` calls to server-everything over stdio: one weft policy,
//!    beside the same 100 calls made one by one by the Python `mcp` client.

#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use weft::config::Limits;
use weft::policy::grants::Grants;
use weft::policy::{Loaded, Runner};
use weft::sandbox::Sandbox;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

fn summary(label: &str, mut v: Vec<Duration>) -> f64 {
    v.sort();
    let (p50, p99) = (pct(&v, 0.5), pct(&v, 0.99));
    println!("{label:<52} p50 {p50:>9.1} µs  p99 {p99:>9.1} µs");
    p50
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = temp_dir();
    let mut text = String::from("[servers.echo]\nbuiltin = \"echo\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let hub = weft::Hub::start(config(dir.path(), &text)).await;
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.path().join("cache"))).unwrap());
    let runner = Arc::new(Runner::new(hub.clone(), sandbox));
    let policy = Loaded {
        name: "bench".into(),
        wasm: weft::sandbox::Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).unwrap()),
        grants: Grants::new(&["echo.echo".into(), "everything.echo".into()]).unwrap(),
        limits: Limits {
            max_calls: 100_000,
            ..Limits::default()
        },
    };

    println!("== 1. warm run of a trivial precompiled policy ==");
    let trivial = json!({"attack": "echo"}).to_string();
    for _ in 0..200 {
        assert!(runner.run(&policy, &trivial, None).await.ok());
    }
    let mut runs = Vec::new();
    for _ in 0..5000 {
        let t = Instant::now();
        let r = runner.run(&policy, &trivial, None).await;
        runs.push(t.elapsed());
        assert!(r.ok());
    }
    summary("instantiate + run + report (1 at a time)", runs);
    let count = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(3);
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
    println!(
        "runs per second, 8 concurrent runs on 2 worker threads: {:.0}",
        count.load(Ordering::Relaxed) as f64 / 3.0
    );

    println!("\n== 2. host overhead per call-tool (in-process echo) ==");
    const N: u64 = 2000;
    let many = json!({"attack": "calls", "n": N, "server": "echo", "tool": "echo"}).to_string();
    let none = json!({"attack": "calls", "n": 0, "server": "echo", "tool": "echo"}).to_string();
    let mut guest_per_call = Vec::new();
    for _ in 0..10 {
        let t0 = Instant::now();
        let r0 = runner.run(&policy, &none, None).await;
        let base = t0.elapsed();
        let t = Instant::now();
        let r = runner.run(&policy, &many, None).await;
        let took = t.elapsed();
        assert!(r.ok() && r0.ok(), "{:?}", r.error);
        guest_per_call.push(took.saturating_sub(base) / N as u32);
    }
    let args = json!({"message": "1"}).as_object().cloned();
    let mut native = Vec::new();
    for _ in 0..200 {
        hub.call_tool("echo", "echo", args.clone()).await.unwrap();
    }
    for _ in 0..(N as usize * 5) {
        let t = Instant::now();
        hub.call_tool("echo", "echo", args.clone()).await.unwrap();
        native.push(t.elapsed());
    }
    let g = summary(
        "guest call-tool → router → echo (per call, 10 runs)",
        guest_per_call,
    );
    let n = summary("native hub.call_tool → router → echo", native);
    println!(
        "host overhead of a guest call over a native one: {:+.2} µs per call",
        g - n
    );

    println!("\n== 3. 100 echo calls to server-everything over stdio ==");
    let hundred =
        json!({"attack": "calls", "n": 100, "server": "everything", "tool": "echo"}).to_string();
    runner.run(&policy, &hundred, None).await;
    let mut weft_runs = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = runner.run(&policy, &hundred, None).await;
        weft_runs.push(t.elapsed());
        assert!(r.ok(), "{:?}", r.error);
    }
    let w = summary("one weft policy, 100 sequential calls", weft_runs);
    let script = format!(
        r#"
import asyncio, time, statistics
from mcp import Client, StdioServerParameters
P = StdioServerParameters(command="node", args=[{path:?}, "stdio"])
async def main():
    async with Client(P, mode="legacy") as c:
        for _ in range(100): await c.call_tool("echo", {{"message": "warm"}})
        runs = []
        for _ in range(20):
            t = time.perf_counter()
            for i in range(100): await c.call_tool("echo", {{"message": str(i)}})
            runs.append(time.perf_counter() - t)
        print(statistics.median(runs) * 1e6)
asyncio.run(main())
"#,
        path = npm_server("server-everything").display().to_string()
    );
    let out = std::process::Command::new(venv_bin("python"))
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    println!(
        "{:<52} p50 {py:>9.1} µs",
        "Python mcp client, 100 sequential calls"
    );
    println!("weft policy vs Python client: {:.2}x faster", py / w);
    hub.shutdown().await;
}
