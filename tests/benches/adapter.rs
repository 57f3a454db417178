//! Benchmark: adapters against native MCP servers (issue 18), part of case
//! 7. Prints figures and records them with `record` (into
//! `$WEFT_BENCH_OUT` when set); asserts nothing about speed. Run with
//! `cargo bench -p weft-integration --profile dev --bench cases -- adapter` after
//! `bash .ci/build-guests` and `bash .ci/setup-tools`.
//!
//! 1. A trivial adapter's tool call through the router, beside the same
//!    tool served by a native stdio MCP server. The adapter is
//!    `tests/guests/trivial-adapter` (the Rust SDK's smallest adapter: one
//!    `echo` tool answering `Echo: MESSAGE`, as server-everything's does);
//!    the native server is server-everything over stdio. Both are called
//!    in process with `hub.call_tool` (as `weft call`, policies and agents
//!    reach them), in alternating blocks of 100, 3000 calls each after a
//!    warm-up. (Runs up to `efc9079` alternated every call; each adapter
//!    call then started on caches cold from the thread's sleep through the
//!    stdio answer, which more than doubled its p50: 45.6 µs against
//!    19.8 µs in blocks, at `fc3b95e`. That case is still recorded, as
//!    `trivial adapter call after a stdio call p50/p99`: 1000 adapter calls,
//!    each timed right after an untimed stdio call.) Each
//!    adapter call is a fresh instance from the pre-linked `InstancePre`,
//!    its arguments checked against the schema, the result parsed.
//!    Records `trivial adapter call p50/p99`, `stdio server call p50/p99`
//!    and `stdio server / adapter call p50` (x).
//! 2. Memory per idle adapter, beside an idle Node MCP server. Two
//!    `weft serve --http` processes start from a warm disk cache (the
//!    components compiled by an earlier start), both with server-memory
//!    (Node) over stdio: one with no adapter, one also hosting N = 20
//!    adapters, each a distinct component (the trivial adapter with a
//!    custom section of its own, so each is compiled and loaded on its own
//!    as 20 different adapters would be). Once every server is `up` (each
//!    adapter loaded and its tools listed), VmRSS of the two weft
//!    processes is read from `/proc`; the difference over N is one idle
//!    adapter's cost. The idle Node server's VmRSS is read from the same
//!    `/proc` (its pid from weft's `/status`). Medians of 3 such pairs.
//!    Records `idle adapter memory (weft RSS growth / N, N=20)`, `idle
//!    Node MCP server RSS (server-memory)` (MiB) and `idle adapter /
//!    idle Node server memory` (ratio).

use crate::support;

use crate::record;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const CASE: &str = "7";
/// Calls timed each way, in alternating blocks.
const CALLS: usize = 3000;
/// Calls in one block: each way runs warm, as a busy server's calls do,
/// and a drift of the machine reaches both ways alike.
const BLOCK: usize = 100;
/// Adapters hosted by the second weft of part 2.
const ADAPTERS: usize = 20;
/// Pairs of weft processes measured in part 2.
const ROUNDS: usize = 3;

/// The trivial adapter's bytes with a custom section named
/// `weft-bench-copy` holding `n`: the same code, another component (its
/// digest differs, so weft compiles and loads it on its own).
fn distinct_copy(bytes: &[u8], n: usize) -> Vec<u8> {
    fn leb(mut v: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"weft-bench-copy";
    let payload = n.to_le_bytes();
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend(body);
    out
}

async fn call_latency(dir: &Path) {
    std::fs::copy(
        guest_wasm("weft-trivial-adapter-guest"),
        dir.join("trivial.wasm"),
    )
    .expect("copy the adapter");
    let text = format!(
        "[servers.trivial]\ncomponent = \"trivial.wasm\"\n{}",
        npm_entry("everything", "server-everything", &["stdio"])
    );
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.join("cache"))).expect("sandbox");
    let hub = weft::Hub::start(config(dir, &text)).await;
    let echo = |hub: &weft::Hub, server: &'static str, i: usize| {
        let hub = hub.clone();
        async move {
            let args = json!({"message": i.to_string()}).as_object().cloned();
            let r = hub
                .call_tool(server, "echo", args)
                .await
                .unwrap_or_else(|e| panic!("{server}.echo fails: {e:?}"));
            assert_eq!(text_of(&r), format!("Echo: {i}"), "{server}");
        }
    };
    for i in 0..300 {
        echo(&hub, "trivial", i).await;
        echo(&hub, "everything", i).await;
    }
    println!("== 7. a trivial tool call through the router: adapter vs native stdio server ==");
    let (mut adapter, mut stdio) = (Vec::new(), Vec::new());
    for block in 0..CALLS / BLOCK {
        for j in 0..BLOCK {
            let i = block * BLOCK + j;
            let t = Instant::now();
            echo(&hub, "trivial", i).await;
            adapter.push(t.elapsed());
        }
        for j in 0..BLOCK {
            let i = block * BLOCK + j;
            let t = Instant::now();
            echo(&hub, "everything", i).await;
            stdio.push(t.elapsed());
        }
    }
    // Each adapter call right after a stdio call: the worker thread slept
    // through the server's answer, and the call starts on cold caches.
    let mut interleaved = Vec::new();
    for i in 0..CALLS / 3 {
        echo(&hub, "everything", i).await;
        let t = Instant::now();
        echo(&hub, "trivial", i).await;
        interleaved.push(t.elapsed());
    }
    let (i50, i99) = record::latency(CASE, "trivial adapter call after a stdio call", interleaved);
    println!(
        "{:<52} p50 {i50:>8.1} µs  p99 {i99:>8.1} µs",
        "the same, each right after a stdio call"
    );
    let (a50, a99) = record::latency(CASE, "trivial adapter call", adapter);
    println!(
        "{:<52} p50 {a50:>8.1} µs  p99 {a99:>8.1} µs",
        "trivial adapter (Rust SDK) echo"
    );
    let (s50, s99) = record::latency(CASE, "stdio server call (server-everything echo)", stdio);
    println!(
        "{:<52} p50 {s50:>8.1} µs  p99 {s99:>8.1} µs",
        "server-everything echo over stdio"
    );
    record::figure(CASE, "stdio server / adapter call p50", s50 / a50, "x");
    println!("stdio server / adapter p50: {:.1}x", s50 / a50);
    hub.shutdown().await;
}

/// A config in `dir` with server-memory over stdio and `adapters`
/// distinct copies of the trivial adapter.
fn memory_config(dir: &Path, adapters: usize) -> PathBuf {
    let bytes = std::fs::read(guest_wasm("weft-trivial-adapter-guest")).expect("the adapter");
    let mut text = memory_entry("memory", &dir.join("memory"));
    for n in 0..adapters {
        let file = format!("adapter-{n}.wasm");
        std::fs::write(dir.join(&file), distinct_copy(&bytes, n)).expect("write a copy");
        text += &format!("\n[servers.a{n}]\ncomponent = \"{file}\"\n");
    }
    let path = dir.join(format!("weft-{adapters}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts `weft serve --http` on `config`, waits until every server is
/// up, and returns (weft's VmRSS, the memory server's VmRSS) in MiB.
fn idle_rss(config: &Path, cache: &Path, servers: usize) -> (f64, f64) {
    let mut cmd = weft();
    cmd.env("WEFT_CACHE_DIR", cache).arg("-c").arg(config);
    let (process, base) = serve_weft_http(&mut cmd);
    let deadline = Instant::now() + Duration::from_secs(600);
    let node = loop {
        let status = http_status(&base);
        let list = status["servers"].as_array().cloned().unwrap_or_default();
        let up = list.iter().filter(|s| s["state"] == "up").count();
        if up == servers {
            let memory = list.iter().find(|s| s["name"] == "memory").expect("memory");
            break memory["pid"].as_u64().expect("the memory server's pid") as u32;
        }
        assert!(
            Instant::now() < deadline,
            "servers did not come up: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Idle: nothing is being called; let start-up work settle.
    std::thread::sleep(Duration::from_secs(1));
    let weft_rss = record::rss_mib(process.0.id()).expect("weft's VmRSS");
    let node_rss = record::rss_mib(node).expect("the Node server's VmRSS");
    drop(process);
    (weft_rss, node_rss)
}

fn idle_memory(dir: &Path) {
    let cache = dir.join("weft-cache");
    let bare = memory_config(dir, 0);
    let hosting = memory_config(dir, ADAPTERS);
    // Fill the disk cache: later starts load compiled artifacts.
    idle_rss(&hosting, &cache, ADAPTERS + 1);
    println!("== 7. memory of an idle adapter vs an idle Node MCP server (server-memory) ==");
    let (mut per_adapter, mut node) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (without, n1) = idle_rss(&bare, &cache, 1);
        let (with, n2) = idle_rss(&hosting, &cache, ADAPTERS + 1);
        per_adapter.push((with - without) / ADAPTERS as f64);
        node.push(n1);
        node.push(n2);
        println!(
            "weft alone {without:.1} MiB, with {ADAPTERS} adapters {with:.1} MiB; Node server {n1:.1} / {n2:.1} MiB"
        );
    }
    let per = record::median(per_adapter);
    let node = record::median(node);
    record::figure(
        CASE,
        &format!("idle adapter memory (weft RSS growth / N, N={ADAPTERS})"),
        per,
        "MiB",
    );
    record::figure(
        CASE,
        "idle Node MCP server RSS (server-memory)",
        node,
        "MiB",
    );
    record::figure(
        CASE,
        "idle adapter / idle Node server memory",
        per / node,
        "ratio",
    );
    println!(
        "per idle adapter {per:.2} MiB; idle Node server {node:.1} MiB; ratio {:.3}",
        per / node
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    call_latency(dir.path()).await;
    let blocking = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || idle_memory(&blocking))
        .await
        .expect("the memory part");
}
