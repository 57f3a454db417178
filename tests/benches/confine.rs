//! Benchmark (case 10): what the OS sandbox of stdio servers costs.
//!
//! server-everything started through `Hub::start` sandboxed (the default)
//! and with `sandbox = false`, alternately, and `echo` through
//! `hub.call_tool` on each. Prints figures; asserts nothing about speed.

use crate::record::{figure, latency};
use crate::support::*;

use std::time::{Duration, Instant};

use serde_json::json;

/// Starts of each kind, alternating; and calls per kind. Node's own
/// start-up varies by more than the sandbox costs, so the figure is the
/// median of many paired differences.
const STARTS: usize = 41;
const CALLS: usize = 1000;

fn config_for(dir: &std::path::Path, sandboxed: bool) -> weft::Config {
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    if !sandboxed {
        text += "sandbox = false\n";
    }
    let sub = dir.join(if sandboxed { "on" } else { "off" });
    std::fs::create_dir_all(&sub).expect("a config folder");
    config(&sub, &text)
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    let (on, off) = (config_for(dir.path(), true), config_for(dir.path(), false));
    println!("== 10. native servers in the OS sandbox (server-everything) ==");
    let mut starts = [Vec::new(), Vec::new()];
    // One start of each first, unmeasured: Node's and the disk's caches.
    for round in 0..=STARTS {
        for (i, cfg) in [&on, &off].into_iter().enumerate() {
            let t = Instant::now();
            let hub = weft::Hub::start(cfg.clone()).await;
            let took = t.elapsed();
            assert_eq!(
                hub.status()[0].state,
                weft::State::Up,
                "server-everything did not start"
            );
            if round > 0 {
                starts[i].push(took);
            }
            hub.shutdown().await;
        }
    }
    let (on_ms, off_ms) = (median_ms(starts[0].clone()), median_ms(starts[1].clone()));
    // Each sandboxed start against the unsandboxed one right after it, so
    // that a slow stretch of the machine falls on both sides of a pair.
    let mut added: Vec<f64> = starts[0]
        .iter()
        .zip(&starts[1])
        .map(|(on, off)| (on.as_secs_f64() - off.as_secs_f64()) * 1e3)
        .collect();
    added.sort_by(f64::total_cmp);
    let added_ms = added[added.len() / 2];
    println!(
        "start-up, median of {STARTS}: sandboxed {on_ms:.1} ms, unsandboxed {off_ms:.1} ms; \
         the median of the {STARTS} paired differences {added_ms:+.1} ms"
    );
    figure("10", "start-up sandboxed median", on_ms, "ms");
    figure("10", "start-up unsandboxed median", off_ms, "ms");
    figure("10", "start-up added by the sandbox", added_ms, "ms");
    for (label, cfg) in [("sandboxed", &on), ("unsandboxed", &off)] {
        let hub = weft::Hub::start(cfg.clone()).await;
        let args = json!({"message": "hi"}).as_object().cloned();
        let mut samples = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let t = Instant::now();
            hub.call_tool("everything", "echo", args.clone())
                .await
                .expect("echo answers");
            samples.push(t.elapsed());
        }
        let (p50, p99) = latency("10", &format!("echo {label}"), samples);
        println!("echo {label:<12} p50 {p50:>8.1} µs   p99 {p99:>8.1} µs ({CALLS} calls)");
        hub.shutdown().await;
    }
}
