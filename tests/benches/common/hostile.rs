//! Scale, part 3: one tenant's hostile requests against another's latency.
//!
//! `weft serve --http` with three tenants in front of our stdio fixture
//! with 16 tools. The quiet tenant's `echo` p99 is measured alone, then
//! again while another tenant sends, from two connections at once and over
//! and over, a `tools/call` whose name is just under the default
//! `max_body` (4 MiB) and a `weft_search_tools` query of 10,000 words.
//!
//! The loud tenant has the rate an operator gives a tenant
//! (`calls_per_minute = 120`): each of its requests costs a rate token at
//! the door, and past its rate it is refused there. That ratio is the
//! target (at most 2x). The unlimited tenant has no rate: its flood
//! (about 300 MB/s of request bodies on this machine) is a bandwidth
//! problem, recorded for what it is, not a target.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use super::support::*;
use super::{ports, record};

/// Sequential `echo` calls per measurement.
const CALLS: usize = 1000;

/// `weft keys add TENANT` in `dir`: the key.
fn add_key(dir: &std::path::Path, tenant: &str) -> String {
    let out = weft()
        .current_dir(dir)
        .args(["keys", "add", tenant])
        .output()
        .expect("weft keys add");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The quiet tenant's echo latencies, `CALLS` calls one after another.
async fn echo_latencies(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let mut p = CallToolRequestParams::new("fixture__echo");
        p.arguments = json!({"text": format!("quiet {i}")}).as_object().cloned();
        let t = Instant::now();
        client.call_tool(p).await.expect("echo answers");
        samples.push(t.elapsed());
    }
    samples
}

/// A handshake-era session opened by hand for `key`: its id.
async fn open_session(http: &reqwest::Client, url: &str, key: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "loud", "version": "1"}}});
    let resp = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .await
        .expect("initialize");
    let session = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_string();
    let _ = resp.text().await;
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    http.post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(done.to_string())
        .send()
        .await
        .expect("initialized");
    session
}

pub async fn hostile_tenant(dir: &std::path::Path) {
    let dir = dir.join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = target_bin("weft-faulty-server");
    let mut text = command_entry("fixture", &fixture, &["--name", "fixture", "--tools", "8"]);
    for (tenant, limits) in [
        ("quiet", ""),
        ("loud", "\n[tenants.loud.limits]\ncalls_per_minute = 120\n"),
        ("open", ""),
    ] {
        text += &format!("\n[tenants.{tenant}]\ninclude = [\"fixture.*\"]\n{limits}");
    }
    std::fs::write(dir.join("weft.toml"), text).unwrap();
    let quiet_key = add_key(&dir, "quiet");
    let (loud_key, open_key) = (add_key(&dir, "loud"), add_key(&dir, "open"));
    let weft = Background::spawn(
        weft()
            .current_dir(&dir)
            .args(["serve", "--http", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let port = ports::bound_port(weft.0.id(), Duration::from_secs(60));
    let url = format!("http://127.0.0.1:{port}/mcp");
    let config = StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header(quiet_key);
    let quiet =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("the quiet tenant connects");
    // Warm up, then alone.
    let _ = echo_latencies(&quiet).await;
    let (_, alone) = record::latency(
        "5",
        "quiet tenant echo, alone",
        echo_latencies(&quiet).await,
    );

    let (_, limited) = under_flood(&quiet, &url, &loud_key, "loud (120 calls a minute)").await;
    let (_, unlimited) = under_flood(&quiet, &url, &open_key, "unlimited").await;
    record::figure(
        "5",
        "quiet tenant echo p99, hostile / alone",
        limited / alone,
        "x",
    );
    record::figure(
        "5",
        "quiet tenant echo p99, unlimited hostile / alone",
        unlimited / alone,
        "x",
    );
    println!(
        "quiet tenant's echo p99: {:.2} ms alone; {:.2} ms ({:.2}x) beside a hostile tenant at its rate; {:.2} ms ({:.2}x) beside one without a rate",
        alone / 1e3,
        limited / 1e3,
        limited / alone,
        unlimited / 1e3,
        unlimited / alone
    );
    drop(quiet);
    drop(weft);
}

/// The quiet tenant's echo p99 while the tenant of `key` sends the two
/// hostile requests in turn from two connections, on a runtime of its own
/// (so its client work does not hold up the quiet client's).
async fn under_flood(
    quiet: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    url: &str,
    key: &str,
    who: &str,
) -> (f64, f64) {
    let huge_name = "x".repeat((4 << 20) - 4096);
    let words: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
    // Leaked, so each send passes the same bytes without copying 4 MiB.
    let bodies: [&'static str; 2] = [
        Box::leak(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": huge_name, "arguments": {}}})
            .to_string()
            .into_boxed_str(),
        ),
        Box::leak(
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "weft_search_tools", "arguments": {"query": words.join(" ")}}})
            .to_string()
            .into_boxed_str(),
        ),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (url, key) = (url.to_string(), key.to_string());
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let mut senders = Vec::new();
                for _ in 0..2 {
                    let http = reqwest::Client::new();
                    let session = open_session(&http, &url, &key).await;
                    let (url, key) = (url.clone(), key.clone());
                    let (stop, sent) = (stop.clone(), sent.clone());
                    senders.push(tokio::spawn(async move {
                        let mut i = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let answer = http
                                .post(&url)
                                .bearer_auth(&key)
                                .header("content-type", "application/json")
                                .header("accept", "application/json, text/event-stream")
                                .header("mcp-session-id", &session)
                                .header("mcp-protocol-version", "2025-11-25")
                                .body(bodies[i % 2])
                                .send()
                                .await;
                            if let Ok(resp) = answer {
                                let _ = resp.bytes().await;
                            }
                            sent.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                        }
                    }));
                }
                for s in senders {
                    let _ = s.await;
                }
            });
        })
    };
    // Once both are sending.
    while sent.load(Ordering::Relaxed) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let before = sent.load(Ordering::Relaxed);
    let figures = record::latency(
        "5",
        &format!("quiet tenant echo, another tenant hostile: {who}"),
        echo_latencies(quiet).await,
    );
    let hostile = sent.load(Ordering::Relaxed) - before;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || flood.join()).await;
    record::figure(
        "5",
        &format!("hostile requests per second: {who}"),
        hostile as f64 / secs,
        "req/s",
    );
    figures
}
