//! Benchmark: a trivial Python policy (the hostile Python guest in its
//! `echo` mode: no calls, returns its input), built with `weft build`
//! (componentize-py 0.25.1 from `.ci/setup-tools`). Prints figures and
//! records them with `record`; asserts nothing about speed. Run with
//! `cargo bench -p weft-integration --bench python --profile dev`.
//!
//! - `python warm run p50/p99`: its compiled component already loaded in
//!   memory, each sample one `Runner::run` (a fresh `Store`, instantiate,
//!   run, report); 500 runs after 20 to warm up.
//! - `python first run (compile)`: the first run in a new `Sandbox` with an
//!   empty disk cache (Cranelift compiles the component; the artifact is
//!   saved), and `python cached first run`: another new `Sandbox` on the
//!   filled cache (the artifact is loaded from disk). One sample each: a
//!   compile of the 18 MiB component takes about a minute in this profile.

#[path = "../support/mod.rs"]
mod support;

#[path = "common/record.rs"]
mod record;

use std::sync::Arc;
use std::time::Instant;

use support::python::python_wasm;
use support::*;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::{Origin, Sandbox, Wasm};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let wasm = Wasm::new(std::fs::read(python_wasm("tests/guests/hostile-python")).unwrap());
    println!(
        "component: {:.1} MiB",
        wasm.bytes().len() as f64 / (1 << 20) as f64
    );
    let dir = temp_dir();
    let hub = weft::Hub::start(config(dir.path(), "")).await;
    let policy = Loaded {
        name: "python".into(),
        wasm,
        grants: Grants::new(&[]).unwrap(),
        limits: Limits::default(),
    };
    let input = r#"{"attack": "echo", "n": 1}"#;
    let first = |cache: std::path::PathBuf, want: Origin| {
        let (hub, policy) = (hub.clone(), policy.clone());
        async move {
            let runner = Runner::new(hub, Arc::new(Sandbox::with_cache_dir(Some(cache)).unwrap()));
            let t = Instant::now();
            let r = runner.run(&policy, input, None).await;
            let took = t.elapsed();
            assert!(r.ok(), "{:?}", r.error);
            assert_eq!(r.component, want, "where the component came from");
            (runner, took)
        }
    };
    let cache = dir.path().join("cache");
    let (_, cold) = first(cache.clone(), Origin::Compiled).await;
    let (runner, cached) = first(cache, Origin::Disk).await;
    let (cold, cached) = (cold.as_secs_f64() * 1e3, cached.as_secs_f64() * 1e3);
    record::figure("python", "python first run (compile)", cold, "ms");
    record::figure("python", "python cached first run", cached, "ms");
    println!("{:<56} {cold:>10.1} ms", "first run, empty cache (compile)");
    println!(
        "{:<56} {cached:>10.1} ms",
        "first run, artifact on disk (no compile)"
    );

    for _ in 0..20 {
        assert!(runner.run(&policy, input, None).await.ok());
    }
    let mut runs = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let r = runner.run(&policy, input, None).await;
        runs.push(t.elapsed());
        assert!(r.ok());
    }
    let (p50, p99) = record::latency("python", "python warm run", runs);
    println!(
        "{:<56} p50 {p50:>10.1} µs  p99 {p99:>10.1} µs",
        "warm run (in memory)"
    );
}
