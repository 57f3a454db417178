//! Benchmark (case 11): many replicas behind one load balancer.
//!
//! - The cost of a session any replica serves: echo calls in a session its
//!   replica knows, on a weft with `settings.state` (sessions in
//!   PostgreSQL) and on one without; and the first call of a session on a
//!   replica that did not open it (the row read and the handshake
//!   replayed), against that session's next call there.
//! - A task's `tasks/get` answered by the replica that holds it (a task
//!   of a stdio upstream of that replica's), against the same request
//!   sent to another replica, which passes it on to the holder.
//! - Calls a second through HAProxy (round robin, no stickiness) with
//!   three replicas and with one, 16 sessions calling at once. On two
//!   cores three replicas share the cores one has: this shows what the
//!   load balancer and the sessions' take-up cost, not scaling.
//!
//! Prints figures; asserts nothing about speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::record::{figure, latency};
use crate::support::balancer::Balancer;
use crate::support::edge::{Raw, Served, add_key, serve, write_config};
use crate::support::*;

/// Calls timed per kind of session.
const CALLS: usize = 1000;
/// Sessions taken up by a second replica.
const TAKEN_UP: usize = 100;
/// `tasks/get` requests timed on each of two replicas.
const TASK_POLLS: usize = 200;
/// Sessions calling at once for the throughput, and for how long.
const CONCURRENT: usize = 16;
const FOR: Duration = Duration::from_secs(10);

const ERA: &str = "2025-11-25";

/// A config in `dir` (with `state`, if given) and a tenant's key.
fn config_in(dir: &std::path::Path, state: Option<&str>) -> (std::path::PathBuf, String) {
    let state = state
        .map(|s| format!("state = {}\n", q(s)))
        .unwrap_or_default();
    let text = format!(
        "[settings]\n{state}startup_timeout = \"60s\"\n\n{}\n{}\n[tenants.a]\ninclude = [\"everything.*\", \"conf.*\"]\n",
        npm_entry("everything", "server-everything", &["stdio"]),
        command_entry("conf", &target_bin("weft-conformance-server"), &["--stdio"])
    );
    std::fs::create_dir_all(dir).expect("a folder");
    let config = write_config(dir, &text);
    let key = add_key(&config, "a");
    (config, key)
}

/// A new session through `base`.
async fn open(http: &reqwest::Client, base: &str, key: &str) -> String {
    let mut raw = Raw::keyed(http, base, ERA, key);
    raw.open().await;
    raw.session.expect("a session id")
}

/// One echo call in session `id` through `base`: how long it took.
async fn echo(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Duration {
    let mut raw = Raw::keyed(http, base, ERA, key);
    raw.session = Some(id.to_string());
    let t = Instant::now();
    let (rpc, answer) = raw
        .request(
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "hi"}}),
        )
        .await;
    let took = t.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.message(rpc)["result"].is_object(), "{}", answer.body);
    took
}

/// `CALLS` echo calls in one session of each of `a` and `b`, taken in
/// turn so that the machine's drift falls on both alike: their p50s, in
/// µs (after 50 untimed calls each).
async fn side_by_side(
    http: &reqwest::Client,
    (a, a_key, a_name): (&Served, &str, &str),
    (b, b_key, b_name): (&Served, &str, &str),
) -> (f64, f64) {
    let (a_id, b_id) = (
        open(http, &a.base, a_key).await,
        open(http, &b.base, b_key).await,
    );
    for _ in 0..50 {
        echo(http, &a.base, a_key, &a_id).await;
        echo(http, &b.base, b_key, &b_id).await;
    }
    let (mut a_samples, mut b_samples) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        a_samples.push(echo(http, &a.base, a_key, &a_id).await);
        b_samples.push(echo(http, &b.base, b_key, &b_id).await);
    }
    let mut p50s = [0.0; 2];
    for (i, (name, samples)) in [(a_name, a_samples), (b_name, b_samples)]
        .into_iter()
        .enumerate()
    {
        let (p50, p99) = latency("11", name, samples);
        println!("{name:<58} p50 {p50:>8.1} µs   p99 {p99:>8.1} µs");
        p50s[i] = p50;
    }
    (p50s[0], p50s[1])
}

/// A 2026-07-28 request that declares the tasks extension, through
/// `base`: how long it took, and the JSON-RPC answer.
async fn modern(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: &str,
    mut params: serde_json::Value,
) -> (Duration, serde_json::Value) {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "weft-bench", "version": "1"},
    });
    let raw = Raw::keyed(http, base, "2026-07-28", key);
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    // A request naming a task names it in `Mcp-Name` too (SEP-2243).
    let task = message["params"]["taskId"].as_str().unwrap_or_default();
    let named = [("mcp-name", task)];
    let extra: &[(&str, &str)] = if task.is_empty() { &[] } else { &named };
    let t = Instant::now();
    let answer = raw.post(&message, extra).await;
    let took = t.elapsed();
    assert_eq!(answer.status, 200, "{method}: {}", answer.body);
    (took, answer.message(1))
}

/// `tasks/get` of a task replica one holds, sent to it and to replica
/// two in turn (after 20 untimed each): the two p50s, in µs.
async fn task_polls(http: &reqwest::Client, replicas: &[Served], key: &str) -> (f64, f64) {
    let (_, made) = modern(
        http,
        &replicas[0].base,
        key,
        "tools/call",
        json!({"name": "conf__slow_compute", "arguments": {"seconds": 3600, "label": "bench"}}),
    )
    .await;
    let id = made["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no task: {made}"))
        .to_string();
    let (mut here, mut passed) = (Vec::new(), Vec::new());
    for i in 0..(TASK_POLLS + 20) {
        for (base, samples) in [
            (&replicas[0].base, &mut here),
            (&replicas[1].base, &mut passed),
        ] {
            let (took, got) = modern(http, base, key, "tasks/get", json!({"taskId": id})).await;
            assert_eq!(got["result"]["status"], "working", "{got}");
            if i >= 20 {
                samples.push(took);
            }
        }
    }
    let (here50, _) = latency("11", "tasks/get on the replica holding the task", here);
    let (passed50, passed99) = latency("11", "tasks/get passed on by another replica", passed);
    println!(
        "tasks/get of a task: on its replica p50 {here50:.1} µs; through another replica p50 {passed50:.1} µs, p99 {passed99:.1} µs"
    );
    (here50, passed50)
}

/// Echo calls a second through `base`, `CONCURRENT` sessions at once.
async fn throughput(http: &reqwest::Client, base: &str, key: &str) -> f64 {
    let mut ids = Vec::new();
    for _ in 0..CONCURRENT {
        ids.push(open(http, base, key).await);
    }
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut workers = Vec::new();
    for id in ids {
        let (http, base, key) = (http.clone(), base.to_string(), key.to_string());
        let (stop, done) = (stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                echo(&http, &base, &key, &id).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t = Instant::now();
    tokio::time::sleep(FOR).await;
    stop.store(true, Ordering::Relaxed);
    let calls = done.load(Ordering::Relaxed) as f64;
    let secs = t.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.await;
    }
    calls / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    println!("== 11. many replicas behind one load balancer ==");
    let pg = Postgres::start();
    let url = pg.database("bench");
    let dir = temp_dir();
    let http = reqwest::Client::new();

    // A session its replica knows: with and without the shared database.
    let (alone_config, alone_key) = config_in(&dir.path().join("alone"), None);
    let alone = serve(&alone_config, &[]);
    let (config, key) = config_in(&dir.path().join("shared"), Some(&url));
    let replicas: Vec<Served> = (0..3).map(|_| serve(&config, &[])).collect();
    let (local, shared) = side_by_side(
        &http,
        (&alone, &alone_key, "echo in a session, no shared database"),
        (
            &replicas[0],
            &key,
            "echo in a session, sessions in PostgreSQL",
        ),
    )
    .await;
    drop(alone);
    figure(
        "11",
        "per-call cost of shared sessions (p50 difference)",
        shared - local,
        "µs",
    );

    // Sessions opened on replica one, taken up by replica two.
    let mut first = Vec::with_capacity(TAKEN_UP);
    let mut next = Vec::with_capacity(TAKEN_UP);
    for _ in 0..TAKEN_UP {
        let id = open(&http, &replicas[0].base, &key).await;
        first.push(echo(&http, &replicas[1].base, &key, &id).await);
        next.push(echo(&http, &replicas[1].base, &key, &id).await);
    }
    let (first50, first99) = latency("11", "first call on another replica (take-up)", first);
    let (next50, _) = latency("11", "next call on that replica", next);
    println!(
        "first call of a session on another replica: p50 {first50:.1} µs, p99 {first99:.1} µs; the next there p50 {next50:.1} µs"
    );
    figure(
        "11",
        "take-up of a session by a replica (p50 difference)",
        first50 - next50,
        "µs",
    );

    // A task's requests, on its replica and passed on by another.
    let (here, passed) = task_polls(&http, &replicas, &key).await;
    figure(
        "11",
        "tasks/get passed on to the task's replica (p50 difference)",
        passed - here,
        "µs",
    );

    // Calls a second through HAProxy: three replicas, then one.
    let bases: Vec<&str> = replicas.iter().map(|r| r.base.as_str()).collect();
    let three = Balancer::haproxy(&dir.path().join("shared"), &bases);
    let three_rate = throughput(&http, &three.base, &key).await;
    drop(three);
    std::fs::create_dir_all(dir.path().join("one")).expect("a folder");
    let one = Balancer::haproxy(&dir.path().join("one"), &bases[..1]);
    let one_rate = throughput(&http, &one.base, &key).await;
    drop(one);
    println!(
        "echo calls a second through HAProxy, {CONCURRENT} sessions at once: three replicas {three_rate:.0}, one replica {one_rate:.0} (2 cores: overhead, not scaling)"
    );
    figure(
        "11",
        "calls/s through HAProxy, three replicas",
        three_rate,
        "calls/s",
    );
    figure(
        "11",
        "calls/s through HAProxy, one replica",
        one_rate,
        "calls/s",
    );
}
