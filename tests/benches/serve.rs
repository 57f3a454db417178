//! Benchmark: `tools/call` through `weft serve --http`, beside calling the
//! same upstream directly. Prints figures; asserts nothing about speed.
//! Run with `cargo bench -p weft-integration --profile dev --bench cases -- serve`.
//!
//! The load generator is our own: one rmcp client (handshake era, one
//! session) with C tasks each keeping one `echo` call in flight.
//!
//! Paths measured, all against server-everything:
//! - direct, stdio: an rmcp client on the server's stdin/stdout;
//! - direct, HTTP: an rmcp client on the server's streamable HTTP endpoint;
//! - weft → stdio: the client on `weft serve --http`, the server behind it
//!   over stdio; the client in the handshake era (a session, SSE answers)
//!   and in 2026-07-28 (stateless, JSON answers);
//! - weft → HTTP: the same, the server behind weft over streamable HTTP;
//!   measured in blocks alternating with the direct path (six of each per
//!   level), since the server's own speed drifts as Node warms up; the
//!   ratio is the median of adjacent blocks' ratios;
//! - peers (installed by `bash bench/setup-peers`), each in front of the
//!   same server over stdio: `mcp-proxy` (one server behind streamable
//!   HTTP) and `mcp-hub` (many servers behind one endpoint, tools
//!   namespaced; it speaks only the legacy HTTP+SSE transport, so it is
//!   driven through weft's client for that) and `fastmcp run mcp.json`
//!   (a proxy for the servers of an MCP config, streamable HTTP); a peer
//!   that is not installed is recorded as "not measured", with how to
//!   install it;
//! - a keep-alive client as a new user writes one: reqwest with pooled
//!   keep-alive connections and TCP_NODELAY, the handshake era at protocol
//!   2025-06-18 (a session), answers taken as SSE; against weft and every
//!   peer that serves streamable HTTP, so each comparison uses one client.
//!
//! Added latency is weft's path minus the direct path on the same upstream
//! transport; calls per second at concurrency 1, 16 and 64. Then a `perf`
//! profile of weft under the plain client's load (`bench/profile.py`), and
//! an idle shutdown of `weft serve --http` with five stdio servers: SIGTERM
//! to exit, 20 runs.
//!
//! `WEFT_BENCH_PARTS` (comma-separated) runs some parts only: `stdio` (the
//! stdio rows, direct and through weft), `http` (the HTTP upstream rows),
//! `peers` and `shutdown`; every part when unset.

use crate::support;

use crate::record;

use crate::ports;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::json;
use support::*;

type Client = RunningService<RoleClient, ()>;

const LATENCY_CALLS: usize = 2000;
const LOAD_CALLS: usize = 6000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// How the load generator reaches a gateway: an rmcp client (the typed
/// client an agent uses), or plain HTTP with keep-alive, one JSON-RPC POST
/// per call in the stateless 2026-07-28 era, timed until the body is in
/// (the gateway alone, without the client's SSE and JSON layers).
enum Caller {
    Rmcp(Client, String),
    Plain(reqwest::Client, String, String),
    KeepAlive(KeepAlive),
}

/// A handshake-era (2025-06-18) streamable HTTP client on reqwest: one
/// session, pooled keep-alive connections with TCP_NODELAY, every answer
/// read whole (as SSE when the server streams it).
struct KeepAlive {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    tool: String,
    next_id: AtomicUsize,
}

const KEEPALIVE_VERSION: &str = "2025-06-18";

impl KeepAlive {
    fn post(&self, body: &serde_json::Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", KEEPALIVE_VERSION)
            .body(body.to_string());
        if let Some(id) = &self.session {
            req = req.header("mcp-session-id", id);
        }
        req
    }

    /// One request; the JSON-RPC message answering it (SSE or JSON body).
    async fn request(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(&body).send().await.map_err(|e| e.to_string())?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method}: {status}: {text}"));
        }
        answer_message(&text, id)
            .ok_or_else(|| format!("{method}: no answer to id {id} in {text:?}"))
    }

    /// Handshake, then the tool to call (`echo`, or a peer's name for it).
    async fn connect(url: &str) -> Result<KeepAlive, String> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| e.to_string())?;
        let mut client = KeepAlive {
            http,
            url: url.to_string(),
            session: None,
            tool: String::new(),
            next_id: AtomicUsize::new(0),
        };
        let init = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
            "protocolVersion": KEEPALIVE_VERSION, "capabilities": {},
            "clientInfo": {"name": "bench-keepalive", "version": "1"}}});
        let answer = client.post(&init).send().await.map_err(|e| e.to_string())?;
        client.session = answer
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = answer.status();
        let text = answer.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() || answer_message(&text, "init").is_none() {
            return Err(format!("initialize: {status}: {text}"));
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = client.post(&note).send().await.map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!("notifications/initialized: {}", answer.status()));
        }
        let listed = client.request("tools/list", json!({})).await?;
        let names: Vec<String> = listed["result"]["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        client.tool = names
            .into_iter()
            .filter(|n| n == "echo" || n.ends_with("__echo") || n.ends_with("_echo"))
            .min_by_key(|n| n.len())
            .ok_or_else(|| format!("no echo tool in {listed}"))?;
        Ok(client)
    }
}

/// The JSON-RPC message with this id in a JSON or SSE body.
fn answer_message(text: &str, id: impl Into<serde_json::Value>) -> Option<serde_json::Value> {
    let id = id.into();
    let is_answer = |m: &serde_json::Value| {
        m.get("id") == Some(&id) && (m.get("result").is_some() || m.get("error").is_some())
    };
    if let Ok(m) = serde_json::from_str::<serde_json::Value>(text) {
        return is_answer(&m).then_some(m);
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .find(is_answer)
}

impl Caller {
    async fn call(&self) -> Result<(), String> {
        match self {
            Caller::Rmcp(client, tool) => {
                let mut params = CallToolRequestParams::new(tool.clone());
                params.arguments = json!({"message": "bench"}).as_object().cloned();
                client
                    .call_tool(params)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Caller::Plain(http, url, body) => {
                let answer = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "echo")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = answer.status();
                let text = answer.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() || !text.windows(6).any(|w| w == b"result") {
                    return Err(format!("{status}: {}", String::from_utf8_lossy(&text)));
                }
                Ok(())
            }
            Caller::KeepAlive(client) => {
                let params = json!({"name": client.tool, "arguments": {"message": "bench"}});
                let answer = client.request("tools/call", params).await?;
                match answer.get("result") {
                    Some(r) if r["isError"] != json!(true) => Ok(()),
                    _ => Err(format!("tools/call: {answer}")),
                }
            }
        }
    }
}

/// Plain HTTP calls of `echo` through weft's stateless endpoint.
fn plain_caller(url: &str) -> Caller {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"message": "bench"}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    Caller::Plain(reqwest::Client::new(), url.to_string(), body)
}

/// Runs `total` echo calls with `concurrency` in flight; returns sorted
/// latencies and calls per second.
async fn load(caller: &Arc<Caller>, concurrency: usize, total: usize) -> (Vec<Duration>, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (caller, next) = (caller.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                let r = caller.call().await;
                samples.push(t.elapsed());
                if let Err(e) = r {
                    panic!("call failed under load: {e}");
                }
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    let wall = start.elapsed();
    all.sort();
    let rate = all.len() as f64 / wall.as_secs_f64();
    (all, rate)
}

struct Row {
    label: String,
    p50: Duration,
    p99: Duration,
    rates: Vec<f64>,
}

async fn measure(label: &str, client: Client) -> Row {
    let caller = rmcp_caller(label, client).await;
    measure_with(label, caller).await
}

/// An rmcp client and the name its server gives the `echo` tool.
async fn rmcp_caller(label: &str, client: Client) -> Caller {
    // A gateway may namespace the tool (mcp-hub: `everything__echo`).
    let tools = client.list_all_tools().await.expect("tools/list answers");
    let tool = tools
        .iter()
        .map(|t| t.name.to_string())
        .filter(|n| n == "echo" || n.ends_with("__echo") || n.ends_with("_echo"))
        .min_by_key(|n| n.len())
        .unwrap_or_else(|| panic!("{label}: no echo tool among {} tools", tools.len()));
    Caller::Rmcp(client, tool)
}

/// How many alternating blocks [`measure_interleaved`] runs per level.
const ROUNDS: usize = 6;

/// Two paths to the same server measured in alternating blocks (a, b, a,
/// b, …), so that the server warming up or the machine's load drifting
/// falls on both alike: latency from blocks of sequential calls, calls/s
/// at each concurrency as the median of the blocks. Returns both rows and,
/// per concurrency, the median of the blocks' a/b ratios (each block of a
/// against the b block right after it).
async fn measure_interleaved(a: (&str, Caller), b: (&str, Caller)) -> (Row, Row, Vec<f64>) {
    let (a_label, a) = (a.0, Arc::new(a.1));
    let (b_label, b) = (b.0, Arc::new(b.1));
    load(&a, 4, 300).await;
    load(&b, 4, 300).await;
    let (mut a_lat, mut b_lat) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a_lat.extend(load(&a, 1, LATENCY_CALLS / ROUNDS).await.0);
        b_lat.extend(load(&b, 1, LATENCY_CALLS / ROUNDS).await.0);
    }
    a_lat.sort();
    b_lat.sort();
    let (mut a_rates, mut b_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for c in [1, 16, 64] {
        let total = if c == 1 { LATENCY_CALLS } else { LOAD_CALLS } / ROUNDS * 2;
        let (mut ar, mut br, mut rr) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let x = load(&a, c, total).await.1;
            let y = load(&b, c, total).await.1;
            ar.push(x);
            br.push(y);
            rr.push(x / y);
        }
        a_rates.push(median(ar));
        b_rates.push(median(br));
        ratios.push(median(rr));
    }
    let a_row = recorded(a_label, a_lat, a_rates);
    let b_row = recorded(b_label, b_lat, b_rates);
    (a_row, b_row, ratios)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

async fn measure_with(label: &str, caller: Caller) -> Row {
    let caller = Arc::new(caller);
    // Warm up.
    load(&caller, 4, 300).await;
    let (lat, _) = load(&caller, 1, LATENCY_CALLS).await;
    let mut rates = Vec::new();
    for c in [1, 16, 64] {
        let total = if c == 1 { LATENCY_CALLS } else { LOAD_CALLS };
        rates.push(load(&caller, c, total).await.1);
    }
    recorded(label, lat, rates)
}

/// A path's row from its sorted latencies and its calls/s at c = 1, 16
/// and 64: recorded and printed.
fn recorded(label: &str, lat: Vec<Duration>, rates: Vec<f64>) -> Row {
    let row = Row {
        label: label.to_string(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        rates,
    };
    record::latency("4", label, lat);
    for (c, rate) in [1, 16, 64].iter().zip(&row.rates) {
        record::figure("4", &format!("{label} calls/s c={c}"), *rate, "calls/s");
    }
    println!(
        "{:<22} p50 {:>7.0} µs  p99 {:>7.0} µs  calls/s c=1 {:>6.0}  c=16 {:>6.0}  c=64 {:>6.0}",
        row.label,
        us(row.p50),
        us(row.p99),
        row.rates[0],
        row.rates[1],
        row.rates[2]
    );
    row
}

/// A peer gateway installed by `bench/setup-peers`, in front of
/// server-everything over stdio: its row with the rmcp client, and with the
/// keep-alive client when it serves streamable HTTP. `None` when it is not
/// installed, recorded as "not measured".
async fn peer(
    name: &'static str,
    everything: &std::path::Path,
    dir: &std::path::Path,
) -> Option<(Row, Option<Row>)> {
    let label = match name {
        "mcp-proxy" => "mcp-proxy → stdio",
        "fastmcp" => "fastmcp → stdio",
        _ => "mcp-hub → stdio",
    };
    let tools = std::env::var("WEFT_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"));
    let bin = tools.join(match name {
        "mcp-proxy" => "peers/venv/bin/mcp-proxy",
        "fastmcp" => "peers/fastmcp/bin/fastmcp",
        _ => "peers/npm/node_modules/.bin/mcp-hub",
    });
    if !bin.exists() {
        record::not_measured("4", label, "not installed: run `bash bench/setup-peers`");
        return None;
    }
    // mcp-hub and fastmcp read the usual MCP config file.
    let config = dir.join(format!("{name}.json"));
    let servers = json!({"mcpServers": {"everything": {
        "command": "node", "args": [everything.display().to_string(), "stdio"]}}});
    std::fs::write(&config, servers.to_string()).expect("write the peer's config");
    let mut cmd = std::process::Command::new(bin);
    // Port 0: the peer binds a free port, read back from /proc. mcp-hub
    // refuses port 0 ("Cannot register workspace: no port specified"), so
    // it gets a port picked here, and is then waited for on that port.
    let picked = (name == "mcp-hub").then(free_port);
    let port_arg = picked.unwrap_or(0).to_string();
    // The peers' own state (mcp-hub's workspace cache) goes to the bench's
    // temporary home, never to the real one.
    isolate(&mut cmd);
    match name {
        "mcp-proxy" => cmd
            .args(["--port", &port_arg, "--host", "127.0.0.1", "node"])
            .arg(everything)
            .arg("stdio"),
        "fastmcp" => cmd
            .arg("run")
            .arg(&config)
            .args(["--transport", "http", "--host", "127.0.0.1", "--no-banner"])
            .args(["--log-level", "WARNING", "--port", &port_arg]),
        _ => cmd.args(["--port", &port_arg, "--config"]).arg(&config),
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let proc = Background::spawn(&mut cmd);
    let port = ports::bound_port(proc.0.id(), Duration::from_secs(60));
    if let Some(picked) = picked {
        assert_eq!(port, picked, "{name} listens on the port it was given");
    }
    // Give the peer time to start its upstream before the first list.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = if name == "mcp-hub" {
        // mcp-hub serves the legacy HTTP+SSE transport at /mcp (GET for
        // the event stream, POST /messages); weft's own client for it.
        let transport = weft::connect_legacy_sse(&url, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("cannot open mcp-hub's event stream: {e}"));
        ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
    } else {
        http_client(&url).await
    };
    let row = measure(label, client).await;
    let rss = record::peak_rss_mib(proc.0.id()).unwrap_or(f64::NAN);
    record::figure("4", &format!("{label} rss"), rss, "MiB");
    let keepalive_label = format!("{label}, keep-alive SSE client");
    let keepalive = if name == "mcp-hub" {
        record::not_measured(
            "4",
            &keepalive_label,
            "mcp-hub serves only the legacy HTTP+SSE transport (GET /mcp, POST /messages)",
        );
        None
    } else {
        match KeepAlive::connect(&url).await {
            Ok(client) => Some(measure_with(&keepalive_label, Caller::KeepAlive(client)).await),
            Err(e) => {
                record::not_measured("4", &keepalive_label, &format!("no session: {e}"));
                None
            }
        }
    };
    Some((row, keepalive))
}

async fn http_client(url: &str) -> Client {
    http_client_with(url, ClientLifecycleMode::Initialize).await
}

async fn http_client_with(url: &str, lifecycle: ClientLifecycleMode) -> Client {
    let transport = StreamableHttpClientTransport::from_uri(url.to_string());
    ().serve_with_lifecycle(transport, lifecycle)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// `weft serve --http` on a free port with this config; returns the process and URL.
fn start_weft(config: &std::path::Path) -> (Background, String) {
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(config)
        .args(["serve", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut proc = Background::spawn(&mut cmd);
    let stdout = proc.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("weft printed its address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_string();
    (proc, url)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(f64::NAN)
}

/// Whether `WEFT_BENCH_PARTS` selects this part (every part when unset).
fn part(name: &str) -> bool {
    std::env::var("WEFT_BENCH_PARTS")
        .map_or(true, |parts| parts.split(',').any(|p| p.trim() == name))
}

/// Calls one `measure_with` makes: warm-up, latency, then each load level.
const CALLS_PER_MEASURE: usize = 300 + LATENCY_CALLS + LATENCY_CALLS + 2 * LOAD_CALLS;

#[tokio::main]
pub async fn run() {
    let dir = temp_dir();
    let everything = npm_server("server-everything");
    println!(
        "tools/call echo on server-everything; {LATENCY_CALLS} sequential calls for latency, {LOAD_CALLS} per load level\n"
    );
    let stdio_rows = part("stdio");

    // Direct, stdio: the baseline of the stdio rows and the peers.
    let direct_stdio = if stdio_rows || part("peers") {
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(&everything).arg("stdio");
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server-everything");
        let direct =
            ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
                .await
                .expect("connect over stdio");
        Some(measure("direct stdio", direct).await)
    } else {
        None
    };

    let mut pairs: Vec<(Row, String)> = Vec::new();
    let mut via_keepalive = None;
    if stdio_rows && let Some(direct_stdio) = &direct_stdio {
        let stdio = stdio_part(&dir, direct_stdio).await;
        via_keepalive = Some(stdio.keepalive);
        pairs.extend(
            stdio
                .rows
                .into_iter()
                .map(|r| (r, direct_stdio.label.clone())),
        );
    }
    if part("http") {
        let (via_http, direct_http) = http_part(&dir, &everything).await;
        pairs.push((via_http, direct_http.label.clone()));
        pairs.push((direct_http, String::new()));
    }

    // Peers in front of the same server over stdio.
    let mut peers = Vec::new();
    if part("peers") {
        for name in ["mcp-proxy", "mcp-hub", "fastmcp"] {
            if let Some((row, keepalive)) = peer(name, &everything, dir.path()).await {
                if let (Some(ka), Some(weft)) = (&keepalive, &via_keepalive) {
                    // The same keep-alive client against weft and this peer.
                    for (i, c) in [1, 16, 64].iter().enumerate() {
                        record::figure(
                            "4",
                            &format!("weft/{name} calls/s c={c} (keep-alive SSE client)"),
                            weft.rates[i] / ka.rates[i],
                            "x",
                        );
                    }
                }
                peers.push((name, row));
            }
        }
    }
    let via_stdio = pairs.iter().find(|(r, _)| r.label == "weft → stdio");
    if let (Some(direct_stdio), Some((via_stdio, _))) = (&direct_stdio, via_stdio) {
        for (name, row) in &peers {
            record::figure(
                "4",
                &format!("{name} added p50"),
                us(row.p50) - us(direct_stdio.p50),
                "µs",
            );
            record::figure(
                "4",
                &format!("{name} p50 / weft p50"),
                us(row.p50) / us(via_stdio.p50),
                "x",
            );
            for (i, c) in [16, 64].iter().enumerate() {
                record::figure(
                    "4",
                    &format!("weft/{name} calls/s c={c}"),
                    via_stdio.rates[i + 1] / row.rates[i + 1],
                    "x",
                );
            }
        }
    }

    println!();
    let find = |label: &str| {
        pairs
            .iter()
            .map(|(r, _)| r)
            .chain(direct_stdio.iter())
            .find(|r| r.label == label)
    };
    let mut compared: Vec<(&Row, &Row)> = pairs
        .iter()
        .filter_map(|(row, base)| Some((row, find(base)?)))
        .collect();
    if let Some(direct_stdio) = &direct_stdio {
        compared.extend(peers.iter().map(|(_, row)| (row, direct_stdio)));
    }
    for (weft, direct) in compared {
        println!(
            "added ({} vs {}): p50 {:+.0} µs, p99 {:+.0} µs; throughput ratio c=1 {:.2}, c=16 {:.2}, c=64 {:.2}",
            weft.label,
            direct.label,
            us(weft.p50) - us(direct.p50),
            us(weft.p99) - us(direct.p99),
            weft.rates[0] / direct.rates[0],
            weft.rates[1] / direct.rates[1],
            weft.rates[2] / direct.rates[2],
        );
    }
    if part("shutdown") {
        idle_shutdown(dir.path()).await;
    }
}

/// What the stdio part measured: its rows through weft, and the
/// keep-alive client's row (the peers are compared with it).
struct StdioPart {
    rows: Vec<Row>,
    keepalive: Row,
}

/// weft in front of server-everything over stdio, with each client.
async fn stdio_part(dir: &tempfile::TempDir, direct_stdio: &Row) -> StdioPart {
    let config = dir.path().join("stdio.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nnames = \"none\"\n{}",
            npm_entry("everything", "server-everything", &["stdio"])
        ),
    )
    .unwrap();
    let (weft_stdio, url) = start_weft(&config);
    let via_stdio = measure("weft → stdio", http_client(&url).await).await;
    let modern = ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    let via_stdio_modern = measure(
        "weft → stdio, 2026-07-28 client",
        http_client_with(&url, modern).await,
    )
    .await;
    let cpu_before = cpu_seconds(weft_stdio.0.id());
    let via_plain = measure_with("weft → stdio, plain HTTP client", plain_caller(&url)).await;
    let cpu_per_call =
        (cpu_seconds(weft_stdio.0.id()) - cpu_before) * 1e6 / CALLS_PER_MEASURE as f64;
    record::figure(
        "4",
        "weft CPU per call (plain HTTP client)",
        cpu_per_call,
        "µs",
    );
    println!("weft's own CPU per call (user + system, plain HTTP client): {cpu_per_call:.0} µs");
    // Where weft's time goes under that load: a profile, taken apart from
    // the timed runs above so that sampling does not skew them.
    let profile = record::Profile::start("4", "gateway", weft_stdio.0.id(), dir.path());
    load(&Arc::new(plain_caller(&url)), 16, LOAD_CALLS).await;
    profile.finish();
    // The keep-alive client a new user writes.
    let keepalive = KeepAlive::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("the keep-alive client cannot open a session with weft: {e}"));
    let via_keepalive = measure_with(
        "weft → stdio, keep-alive SSE client",
        Caller::KeepAlive(keepalive),
    )
    .await;
    let rss_stdio = record::peak_rss_mib(weft_stdio.0.id()).unwrap_or(f64::NAN);
    drop(weft_stdio);
    record::figure("4", "weft → stdio rss", rss_stdio, "MiB");
    println!("weft peak RSS under this load (stdio upstream): {rss_stdio:.1} MiB");
    record::figure(
        "4",
        "weft added p50",
        us(via_stdio.p50) - us(direct_stdio.p50),
        "µs",
    );
    record::figure(
        "4",
        "weft added p50 (plain HTTP client)",
        us(via_plain.p50) - us(direct_stdio.p50),
        "µs",
    );
    StdioPart {
        rows: vec![via_stdio, via_stdio_modern, via_plain],
        keepalive: via_keepalive,
    }
}

/// server-everything over streamable HTTP, called directly and through
/// weft (the same server, the same rmcp client); records the throughput
/// ratio weft keeps. Returns (weft → HTTP, direct HTTP).
async fn http_part(dir: &tempfile::TempDir, everything: &std::path::Path) -> (Row, Row) {
    let mut cmd = std::process::Command::new("node");
    cmd.arg(everything)
        .arg("streamableHttp")
        .env("PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let http_server = Background::spawn(&mut cmd);
    let port = ports::bound_port(http_server.0.id(), Duration::from_secs(30));
    let upstream_url = format!("http://127.0.0.1:{port}/mcp");

    // weft in front, the upstream over HTTP (the same server as above).
    let config = dir.path().join("http.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nnames = \"none\"\n[servers.everything]\nurl = {}\n",
            q(&upstream_url)
        ),
    )
    .unwrap();
    let (weft_http, url) = start_weft(&config);
    let direct = rmcp_caller("direct HTTP", http_client(&upstream_url).await).await;
    let via = rmcp_caller("weft → HTTP", http_client(&url).await).await;
    let (via_http, direct_http, ratios) =
        measure_interleaved(("weft → HTTP", via), ("direct HTTP", direct)).await;
    let rss_http = record::peak_rss_mib(weft_http.0.id()).unwrap_or(f64::NAN);
    drop(weft_http);
    record::figure("4", "weft → HTTP rss", rss_http, "MiB");
    for (c, ratio) in [1, 16, 64].iter().zip(ratios) {
        record::figure(
            "4",
            &format!("weft → HTTP / direct HTTP calls/s c={c}"),
            ratio,
            "x",
        );
    }
    println!("weft peak RSS under this load (HTTP upstream): {rss_http:.1} MiB");
    (via_http, direct_http)
}

/// Runs of the idle-shutdown measurement.
const SHUTDOWN_RUNS: usize = 20;

/// An idle `weft serve --http` in front of five real stdio servers (the
/// example config's kinds: server-everything, -memory and -filesystem on
/// Node; mcp-server-time and -git on Python), all up: the time from
/// SIGTERM to weft's exit, over 20 runs (1 ms resolution).
async fn idle_shutdown(dir: &std::path::Path) {
    let repo = dir.join("shutdown-repo");
    std::fs::create_dir_all(&repo).expect("a repo dir");
    git_repo(&repo);
    let files = dir.join("shutdown-files");
    std::fs::create_dir_all(&files).expect("a files dir");
    let text = format!(
        "{}{}env = {{ MEMORY_FILE_PATH = {} }}\n{}{}{}",
        npm_entry("everything", "server-everything", &["stdio"]),
        npm_entry("memory", "server-memory", &[]),
        q(dir.join("shutdown-memory.jsonl").display().to_string()),
        npm_entry(
            "files",
            "server-filesystem",
            &[&files.display().to_string()]
        ),
        command_entry(
            "time",
            &venv_bin("mcp-server-time"),
            &["--local-timezone", "UTC"]
        ),
        command_entry(
            "git",
            &venv_bin("mcp-server-git"),
            &["--repository", &repo.display().to_string()]
        ),
    );
    let config = dir.join("shutdown.toml");
    std::fs::write(&config, text).expect("write the config");
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for run in 0..SHUTDOWN_RUNS {
        let (mut weft, url) = start_weft(&config);
        let status_url = url.replace("/mcp", "/status");
        // Idle means every server is up and nothing is in flight.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let status: serde_json::Value =
                match tokio::time::timeout(Duration::from_secs(10), async {
                    http.get(&status_url)
                        .send()
                        .await?
                        .json::<serde_json::Value>()
                        .await
                })
                .await
                {
                    Ok(Ok(v)) => v,
                    _ => json!({}),
                };
            let up = status["servers"]
                .as_array()
                .map(|s| s.iter().filter(|s| s["state"] == "up").count())
                .unwrap_or(0);
            if up == 5 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "run {run}: servers not all up: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = weft.0.id();
        let start = Instant::now();
        // SAFETY: kill(2) on the pid of a child this function owns.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let code = loop {
            if let Some(status) = weft.0.try_wait().expect("wait for weft") {
                break status.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "weft did not exit within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        times.push(start.elapsed());
        if code != Some(143) {
            println!("run {run}: weft exited with {code:?} on SIGTERM, not 143");
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (p50, max) = (ms(percentile(&times, 0.5)), ms(times[times.len() - 1]));
    println!(
        "idle shutdown, 5 stdio servers, {SHUTDOWN_RUNS} runs: p50 {p50:.0} ms, max {max:.0} ms"
    );
    record::figure("4", "idle shutdown, 5 stdio servers p50", p50, "ms");
    record::figure("4", "idle shutdown, 5 stdio servers max", max, "ms");
}
