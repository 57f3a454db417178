//! Benchmark, case 5 of the suite (`bench/run`): scale. Prints figures and
//! records them for the report; asserts nothing about speed.
//! Run alone with `cargo bench -p weft-integration --profile dev --bench cases -- scale`
//! after `bash .ci/build-guests`.
//!
//! 1. 1,000 concurrent policy runs: a trivial precompiled policy that
//!    makes one call to the in-process echo server, 1,000 runs started at
//!    once, five rounds on 2 worker threads: runs per second, and the
//!    process's peak RSS before and after.
//! 2. 50 upstream servers of 100 tools each (our light stdio fixture):
//!    catalog start-up through `Hub::start` (beside one such server
//!    alone), then `weft serve --http` with that config: `tools/list` of
//!    all 5,000 tools in one page from an rmcp client (p50/p99), the same
//!    as served (plain HTTP until the body is in; its size), a `perf`
//!    profile of weft serving it (`bench/profile.py`), and weft's peak RSS.
//! 3. One tenant's hostile requests (4 MiB tool names, 10,000-word
//!    searches) against another tenant's `echo` p99 (see
//!    `common/hostile.rs`).
//!
//! `WEFT_BENCH_PARTS` (comma-separated) runs some parts only: `runs` (1),
//! `list` (2) and `hostile` (3); all when unset.

use crate::support;

use crate::record;

use crate::ports;

use crate::hostile;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;
use support::*;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::Sandbox;

const SERVERS: usize = 50;
/// Tools per server: the fixture's own, topped up with `--tools`.
const TOOLS_PER_SERVER: usize = 100;
const CONCURRENT_RUNS: usize = 1000;
const ROUNDS: usize = 5;
const LISTS: usize = 200;

fn self_rss() -> f64 {
    record::peak_rss_mib(std::process::id()).unwrap_or(f64::NAN)
}

fn fixtures(n: usize, extra: usize) -> String {
    let faulty = target_bin("weft-faulty-server");
    let tools = extra.to_string();
    (0..n)
        .map(|i| {
            let name = format!("s{i:02}");
            command_entry(&name, &faulty, &["--name", &name, "--tools", &tools])
        })
        .collect()
}

async fn concurrent_runs(dir: &std::path::Path) {
    println!("== 5b. {CONCURRENT_RUNS} concurrent policy runs ==");
    let hub = weft::Hub::start(config(dir, "[servers.echo]\nbuiltin = \"echo\"\n")).await;
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.join("cache"))).unwrap());
    let runner = Arc::new(Runner::new(hub.clone(), sandbox));
    let policy = Arc::new(Loaded {
        name: "bench".into(),
        wasm: weft::sandbox::Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).unwrap()),
        grants: Grants::new(&["echo.echo".into()]).unwrap(),
        limits: Limits::default(),
    });
    let input = json!({"attack": "calls", "n": 1, "server": "echo", "tool": "echo"}).to_string();
    // Compile once and warm up.
    for _ in 0..20 {
        let r = runner.run(&policy, &input, None).await;
        assert!(r.ok(), "{:?}", r.error);
    }
    let before = self_rss();
    let mut rates = Vec::new();
    let mut failed = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENT_RUNS)
            .map(|_| {
                let (runner, policy, input) = (runner.clone(), policy.clone(), input.clone());
                tokio::spawn(async move { runner.run(&policy, &input, None).await.ok() })
            })
            .collect();
        for t in tasks {
            if !t.await.unwrap_or(false) {
                failed += 1;
            }
        }
        rates.push(CONCURRENT_RUNS as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let after = self_rss();
    println!(
        "{CONCURRENT_RUNS} runs at once, {ROUNDS} rounds: median {median:.0} runs/s ({failed} failed); \
         peak RSS {before:.1} MiB before, {after:.1} MiB after"
    );
    record::figure("5", "1000 concurrent runs runs/s", median, "runs/s");
    record::figure("5", "1000 concurrent runs failed", failed as f64, "runs");
    record::figure("5", "peak RSS before runs", before, "MiB");
    record::figure("5", "peak RSS with 1000 concurrent runs", after, "MiB");
    hub.shutdown().await;
}

async fn many_servers(dir: &std::path::Path) {
    println!("\n== 5a. {SERVERS} servers × {TOOLS_PER_SERVER} tools ==");
    // How many tools the fixture has of its own, so that each server gets
    // exactly TOOLS_PER_SERVER.
    let bare = weft::Hub::start(config(dir, &fixtures(1, 0))).await;
    let own = bare.catalog().tools().len();
    bare.shutdown().await;
    assert!(
        own <= TOOLS_PER_SERVER,
        "the fixture has {own} tools of its own"
    );
    let extra = TOOLS_PER_SERVER - own;
    let one = config(dir, &fixtures(1, extra));
    let t = Instant::now();
    let hub = weft::Hub::start(one).await;
    let single = t.elapsed();
    hub.shutdown().await;

    // The whole list in one page, as weft served it before it paged by
    // size: the figures below that say "5000 tools" are of that page.
    let text = format!(
        "[settings]\npage_size = 10000\npage_bytes = \"64MiB\"\n{}",
        fixtures(SERVERS, extra)
    );
    // The median of three starts with this config text.
    let median_start = |text: String| async move {
        let mut starts = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let hub = weft::Hub::start(config(dir, &text)).await;
            starts.push(t.elapsed());
            let tools = hub.catalog().tools().len();
            assert_eq!(tools, SERVERS * TOOLS_PER_SERVER, "every server listed");
            hub.shutdown().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        starts.sort();
        starts[1].as_secs_f64() * 1e3
    };
    // Pinned (the default: every definition digested and checked against
    // its pin, stored beside the journal), then with neither pins nor
    // the scanner.
    let start_ms = median_start(text.clone()).await;
    let bare_ms = median_start(text.replace(
        "[settings]\n",
        "[settings]\npin = \"off\"\nscan = \"off\"\n",
    ))
    .await;
    println!(
        "catalog start-up: {start_ms:.0} ms (median of 3) for {SERVERS} servers, pinned and scanned; {bare_ms:.0} ms with pin and scan off; one alone {:.0} ms",
        single.as_secs_f64() * 1e3
    );
    record::figure(
        "5",
        "catalog start 50 servers, pin and scan off",
        bare_ms,
        "ms",
    );
    record::figure("5", "catalog start 50 servers", start_ms, "ms");
    record::figure(
        "5",
        "catalog start 1 server",
        single.as_secs_f64() * 1e3,
        "ms",
    );

    std::fs::write(dir.join("weft.toml"), &text).unwrap();
    let want = SERVERS * TOOLS_PER_SERVER;
    let (weft, port, client) = serve_listing(dir, "weft.toml", want).await;
    let mut lists = Vec::new();
    for _ in 0..LISTS {
        let t = Instant::now();
        let r = client.list_tools(None).await.expect("tools/list answers");
        lists.push(t.elapsed());
        assert!(r.tools.len() >= want);
    }
    let (p50, p99) = record::latency("5", "tools/list 5000 tools (rmcp client, parsed)", lists);
    // The same list as weft serves it: one stateless (2026-07-28) request
    // over plain HTTP, timed until the whole body has arrived, without the
    // client's parsing of the body into typed tools.
    let http = reqwest::Client::new();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    let (raw, body_bytes) = plain_lists(&http, port, &body).await;
    let (raw50, raw99) = record::latency("5", "tools/list 5000 tools (HTTP, body received)", raw);
    record::figure(
        "5",
        "tools/list 5000 tools body size",
        body_bytes as f64 / 1024.0,
        "KiB",
    );
    // Where weft's time goes serving it: a profile over more lists,
    // apart from the timed ones.
    let profile = record::Profile::start("5", "tools/list", weft.0.id(), dir);
    for _ in 0..LISTS / 2 {
        http.post(format!("http://127.0.0.1:{port}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .body(body.clone())
            .send()
            .await
            .expect("weft answers")
            .bytes()
            .await
            .expect("a body");
    }
    profile.finish();
    println!(
        "tools/list of {want} tools, plain HTTP until the body is in: p50 {:.2} ms, p99 {:.2} ms",
        raw50 / 1e3,
        raw99 / 1e3
    );
    let rss = record::peak_rss_mib(weft.0.id()).unwrap_or(f64::NAN);
    println!(
        "tools/list of {want} tools through weft serve --http: p50 {:.2} ms, p99 {:.2} ms; weft peak RSS {rss:.1} MiB",
        p50 / 1e3,
        p99 / 1e3
    );
    record::figure("5", "weft RSS with 50 servers", rss, "MiB");
    drop(client);
    drop(weft);

    // The same list served by a weft with neither pins nor the scanner,
    // side by side: what trust on the wire costs as served.
    let off = text.replace(
        "[settings]\n",
        "[settings]\npin = \"off\"\nscan = \"off\"\n",
    );
    std::fs::write(dir.join("off.toml"), &off).unwrap();
    let (bare, port, client) = serve_listing(dir, "off.toml", want).await;
    drop(client);
    let (raw, _) = plain_lists(&http, port, &body).await;
    let (off50, off99) = record::latency(
        "5",
        "tools/list 5000 tools (HTTP, body received), pin and scan off",
        raw,
    );
    println!(
        "tools/list of {want} tools with pin and scan off, plain HTTP until the body is in: p50 {:.2} ms, p99 {:.2} ms (pinned and scanned: p50 {:.2} ms)",
        off50 / 1e3,
        off99 / 1e3,
        raw50 / 1e3
    );
    drop(bare);

    paged_lists(dir, &text, want, &http).await;
}

/// Blocks of timed lists, alternating between the two servers.
const BLOCKS: usize = 10;
const PER_BLOCK: usize = 20;

/// `tools/list` as weft pages it by default (at most 64 KiB a page)
/// against the whole list in one page, in alternating blocks from one
/// run: the first page parsed by an rmcp client, every page walked, and
/// the first page as served over plain HTTP.
async fn paged_lists(dir: &std::path::Path, one_page: &str, want: usize, http: &reqwest::Client) {
    println!("\n== 5b. tools/list paged by size, against one page ==");
    let paged = one_page
        .replace("page_size = 10000\n", "")
        .replace("page_bytes = \"64MiB\"\n", "");
    std::fs::write(dir.join("paged.toml"), &paged).unwrap();
    let (_whole, _, whole_client) = serve_listing(dir, "weft.toml", want).await;
    let (_paged, paged_port, paged_client) = serve_listing(dir, "paged.toml", want).await;
    let first = paged_client
        .list_tools(None)
        .await
        .expect("tools/list answers");
    assert!(
        first.next_cursor.is_some(),
        "the paged list has a next page"
    );
    let page_tools = first.tools.len();
    let (mut one, mut firsts, mut walks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..BLOCKS {
        for _ in 0..PER_BLOCK {
            let t = Instant::now();
            let r = whole_client
                .list_tools(None)
                .await
                .expect("tools/list answers");
            one.push(t.elapsed());
            assert!(r.tools.len() >= want);
        }
        for _ in 0..PER_BLOCK {
            let t = Instant::now();
            let r = paged_client
                .list_tools(None)
                .await
                .expect("tools/list answers");
            firsts.push(t.elapsed());
            assert_eq!(r.tools.len(), page_tools);
        }
        for _ in 0..PER_BLOCK / 4 {
            let t = Instant::now();
            let all = paged_client
                .list_all_tools()
                .await
                .expect("tools/list answers");
            walks.push(t.elapsed());
            assert!(all.len() >= want);
        }
    }
    let (one50, _) = record::latency(
        "5",
        "tools/list 5000 tools, one page, alternating (rmcp client, parsed)",
        one,
    );
    let (first50, first99) = record::latency(
        "5",
        "tools/list 5000 tools, first page (rmcp client, parsed)",
        firsts,
    );
    let (walk50, _) = record::latency(
        "5",
        "tools/list 5000 tools, every page (rmcp client, parsed)",
        walks,
    );
    record::figure(
        "5",
        "tools/list first page tools",
        page_tools as f64,
        "tools",
    );
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    let (raw, size) = plain_lists(http, paged_port, &body).await;
    let (raw50, _) = record::latency(
        "5",
        "tools/list 5000 tools, first page (HTTP, body received)",
        raw,
    );
    record::figure(
        "5",
        "tools/list first page body size",
        size as f64 / 1024.0,
        "KiB",
    );
    println!(
        "tools/list of {want} tools, rmcp client: one page of all {want} p50 {:.2} ms; the first page ({page_tools} tools, {:.1} KiB) p50 {:.2} ms, p99 {:.2} ms; every page p50 {:.2} ms; the first page as served {:.0} µs",
        one50 / 1e3,
        size as f64 / 1024.0,
        first50 / 1e3,
        first99 / 1e3,
        walk50 / 1e3,
        raw50
    );
}

/// `weft serve --http` on port 0 with the config `file` in `dir`, and an
/// rmcp client of it once the catalog lists `want` tools (or after a
/// minute): the process, its port and the client.
async fn serve_listing(
    dir: &std::path::Path,
    file: &str,
    want: usize,
) -> (
    Background,
    u16,
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
) {
    let weft = Background::spawn(
        support::weft()
            .current_dir(dir)
            .args(["--config", file, "serve", "--http", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let port = ports::bound_port(weft.0.id(), Duration::from_secs(120));
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://127.0.0.1:{port}/mcp"
        )))
        .await
        .expect("client connects");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = client.list_all_tools().await.map_or(0, |r| r.len());
        if n >= want || Instant::now() > deadline {
            println!("tools listed: {n}");
            return (weft, port, client);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Times [`LISTS`] stateless `tools/list` requests over plain HTTP, each
/// until its whole body has arrived (after 20 untimed), and the body's
/// size.
async fn plain_lists(http: &reqwest::Client, port: u16, body: &str) -> (Vec<Duration>, usize) {
    let mut raw = Vec::new();
    let mut body_bytes = 0;
    for i in 0..LISTS + 20 {
        let t = Instant::now();
        let text = http
            .post(format!("http://127.0.0.1:{port}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .body(body.to_string())
            .send()
            .await
            .expect("weft answers")
            .bytes()
            .await
            .expect("a body");
        if i >= 20 {
            raw.push(t.elapsed());
        }
        body_bytes = text.len();
        assert!(text.len() > 10_000, "a list: {} bytes", text.len());
    }
    (raw, body_bytes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    let part = |name: &str| {
        std::env::var("WEFT_BENCH_PARTS")
            .map_or(true, |parts| parts.split(',').any(|p| p.trim() == name))
    };
    if part("runs") {
        concurrent_runs(dir.path()).await;
    }
    if part("list") {
        many_servers(dir.path()).await;
    }
    if part("hostile") {
        hostile::hostile_tenant(dir.path()).await;
    }
}
