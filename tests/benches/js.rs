//! Benchmark: a trivial JavaScript policy (the hostile JS guest in its
//! `noop` mode: no calls, returns its input) in the sandbox. Prints
//! figures; asserts nothing about speed. Run with
//! `cargo bench -p weft-integration --bench js --profile dev` after
//! `bash .ci/setup-tools` (the component is built with `weft build`, once
//! per source, into `target/js-guests/`).
//!
//! - the first run in a new `Sandbox` with an empty disk cache (the
//!   component compiled with Cranelift and saved; once, as it takes about
//!   a minute), and in three other new `Sandbox`es on the filled cache
//!   (deserialized, nothing compiled; the median), ms;
//! - warm runs, the compiled component in memory: each sample one
//!   `Runner::run` (a fresh `Store` instantiated from the pre-linked
//!   `InstancePre`, with the copy-on-write image of the wizer snapshot that
//!   componentize-js made at build time, run, report); p50/p99 over 1000.

#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::{Origin, Sandbox, Wasm};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    ms(v[v.len() / 2])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let file = support::js::js_component("tests/guests/hostile-js");
    let size = std::fs::metadata(&file).unwrap().len();
    let dir = temp_dir();
    let hub = weft::Hub::start(config(dir.path(), "")).await;
    let policy = Loaded {
        name: "noop-js".into(),
        wasm: Wasm::new(std::fs::read(&file).unwrap()),
        grants: Grants::new(&[]).unwrap(),
        limits: Limits::default(),
    };
    let input = r#"{"attack": "noop", "n": 1}"#;
    println!(
        "== a trivial JavaScript policy ({:.1} MB component) ==",
        size as f64 / 1e6
    );

    let first = |cache: std::path::PathBuf, want: Origin| {
        let (hub, policy) = (hub.clone(), policy.clone());
        async move {
            let sandbox = Arc::new(Sandbox::with_cache_dir(Some(cache)).unwrap());
            let runner = Runner::new(hub, sandbox);
            let t = Instant::now();
            let r = runner.run(&policy, input, None).await;
            let took = t.elapsed();
            assert!(r.ok(), "{:?}", r.error);
            assert_eq!(r.component, want, "where the component came from");
            took
        }
    };
    // One compile (it takes a minute), then three loads of its artifact.
    let caches = temp_dir();
    let cold = vec![first(caches.path().join("c"), Origin::Compiled).await];
    let mut cached = Vec::new();
    for _ in 0..3 {
        cached.push(first(caches.path().join("c"), Origin::Disk).await);
    }
    println!(
        "{:<56} {:>10.1} ms",
        "first run, empty cache (compile)",
        median(cold)
    );
    println!(
        "{:<56} {:>10.1} ms",
        "first run, artifact on disk (no compile)",
        median(cached)
    );

    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.path().join("cache"))).unwrap());
    let runner = Runner::new(hub.clone(), sandbox);
    assert!(runner.run(&policy, input, None).await.ok());
    let mut runs = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let r = runner.run(&policy, input, None).await;
        runs.push(t.elapsed());
        assert!(r.ok(), "{:?}", r.error);
    }
    runs.sort();
    let pct = |p: f64| ms(runs[((runs.len() as f64 - 1.0) * p).round() as usize]);
    println!("{:<56} {:>10.3} ms", "warm run p50", pct(0.5));
    println!("{:<56} {:>10.3} ms", "warm run p99", pct(0.99));
}
