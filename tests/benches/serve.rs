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
//! - lean clients, for the latency weft adds and nothing else: one
//!   keep-alive HTTP/1.1 connection read and written in the timing task,
//!   beside JSON-RPC lines on a server-everything's stdin (`lean.rs`).
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
use std::time::{Duration, Instant};

use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::json;
use support::*;

mod callers;
pub(crate) mod floor;
mod lean;
mod measure;
mod placement;
mod shutdown;
use callers::{Caller, KeepAlive, plain_caller};
use measure::{
    Row, added_latency, lean_added_latency, load, measure, measure_interleaved, measure_shared,
    measure_with, rmcp_caller, throughput_ratios, us,
};

type Client = RunningService<RoleClient, ()>;

const LATENCY_CALLS: usize = 2000;
const LOAD_CALLS: usize = 6000;

/// A peer's rows (its rmcp client's, and its keep-alive client's when it
/// serves one), and weft's throughput against it with rmcp's client at
/// c = 16 and 64 from alternating blocks, when weft's caller was given.
struct PeerRows {
    row: Row,
    keepalive: Option<Row>,
    weft_ratios: Option<Vec<f64>>,
}

/// A peer gateway installed by `bench/setup-peers`, in front of
/// server-everything over stdio: its row with the rmcp client, and with the
/// keep-alive client when it serves streamable HTTP; measured against
/// `weft` when given. `None` when it is not installed, recorded as "not
/// measured".
async fn peer(
    name: &'static str,
    everything: &std::path::Path,
    dir: &std::path::Path,
    weft: Option<&Arc<Caller>>,
) -> Option<PeerRows> {
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
    // The first list waits until the peer has its upstream's tools
    // (`measure::rmcp_caller`).
    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = if name == "mcp-hub" {
        // mcp-hub serves the legacy HTTP+SSE transport at /mcp (GET for
        // the event stream, POST /messages); weft's own client for it.
        // It binds its port before its hub is up, and answers 500 to the
        // event stream until then: retried until it opens, for a minute.
        let deadline = Instant::now() + Duration::from_secs(60);
        let transport = loop {
            match weft::transport::legacy_sse(&url, &Default::default()).await {
                Ok(t) => break t,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot open mcp-hub's event stream: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
    } else {
        http_client(&url).await
    };
    let caller = Arc::new(rmcp_caller(label, client).await);
    let row = measure_shared(label, &caller).await;
    let weft_ratios = match weft {
        Some(weft) => Some(throughput_ratios(weft, &caller).await),
        None => None,
    };
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
    Some(PeerRows {
        row,
        keepalive,
        weft_ratios,
    })
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
        .args(["serve", "--http", "127.0.0.1:0"]);
    spawn_with_url(&mut cmd, "weft")
}

/// `cmd` started with its stdout piped, and the first `http://` URL on
/// the first line it prints (`who` names it in a panic).
fn spawn_with_url(cmd: &mut std::process::Command, who: &str) -> (Background, String) {
    let mut proc = Background::spawn(cmd.stdout(Stdio::piped()));
    let stdout = proc.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{who} printed no address: {e}"));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {who}'s line {line:?}"))
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

/// Context switches (voluntary and not) of every thread a process has now,
/// so far: the number of times its threads went to sleep or were put off
/// a core. A thread that has ended is no longer counted.
fn context_switches(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return f64::NAN;
    };
    let mut total = 0u64;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total as f64
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
        let caller = Arc::new(rmcp_caller("direct stdio", direct).await);
        Some((measure_shared("direct stdio", &caller).await, caller))
    } else {
        None
    };
    let (direct_stdio, direct_caller) = direct_stdio.unzip();

    let mut pairs: Vec<(Row, String)> = Vec::new();
    let mut via_keepalive = None;
    // weft in front of stdio and its rmcp caller, kept for the peers'
    // alternating blocks.
    let mut weft_stdio = None;
    if stdio_rows && let (Some(direct_stdio), Some(direct_caller)) = (&direct_stdio, &direct_caller)
    {
        let stdio = stdio_part(&dir, direct_caller, &everything).await;
        via_keepalive = Some(stdio.keepalive);
        weft_stdio = Some(stdio.weft);
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
            let weft = weft_stdio.as_ref().map(|(_, caller)| caller);
            if let Some(rows) = peer(name, &everything, dir.path(), weft).await {
                if let (Some(ka), Some(weft)) = (&rows.keepalive, &via_keepalive) {
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
                peers.push((name, rows.row, rows.weft_ratios));
            }
        }
    }
    drop(weft_stdio);
    let via_stdio = pairs.iter().find(|(r, _)| r.label == "weft → stdio");
    if let (Some(direct_stdio), Some((via_stdio, _))) = (&direct_stdio, via_stdio) {
        for (name, row, ratios) in &peers {
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
            // From alternating blocks of the same rmcp client against
            // each (the rows' own rates were measured minutes apart).
            let Some(ratios) = ratios else { continue };
            for (ratio, c) in ratios.iter().zip([16, 64]) {
                record::figure("4", &format!("weft/{name} calls/s c={c}"), *ratio, "x");
            }
            println!(
                "weft / {name} calls/s, rmcp client, alternating blocks: c=16 {:.2}x, c=64 {:.2}x",
                ratios[0], ratios[1]
            );
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
        compared.extend(peers.iter().map(|(_, row, _)| (row, direct_stdio)));
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
        shutdown::idle_shutdown(dir.path()).await;
    }
}

/// What the stdio part measured: its rows through weft, and the
/// keep-alive client's row (the peers are compared with it); and weft
/// itself with its rmcp caller, still running, for the peers' alternating
/// blocks.
struct StdioPart {
    rows: Vec<Row>,
    keepalive: Row,
    weft: (Background, Arc<Caller>),
}

/// weft in front of server-everything over stdio, with each client.
async fn stdio_part(
    dir: &tempfile::TempDir,
    direct: &Arc<Caller>,
    everything: &std::path::Path,
) -> StdioPart {
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
    let rmcp = Arc::new(rmcp_caller("weft → stdio", http_client(&url).await).await);
    let via_stdio = measure_shared("weft → stdio", &rmcp).await;
    let modern = ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    let via_stdio_modern = measure(
        "weft → stdio, 2026-07-28 client",
        http_client_with(&url, modern).await,
    )
    .await;
    let cpu_before = cpu_seconds(weft_stdio.0.id());
    let switches_before = context_switches(weft_stdio.0.id());
    let plain = Arc::new(plain_caller(&url));
    let via_plain = measure_shared("weft → stdio, plain HTTP client", &plain).await;
    let cpu_per_call =
        (cpu_seconds(weft_stdio.0.id()) - cpu_before) * 1e6 / CALLS_PER_MEASURE as f64;
    let switches_per_call =
        (context_switches(weft_stdio.0.id()) - switches_before) / CALLS_PER_MEASURE as f64;
    record::figure(
        "4",
        "weft context switches per call (plain HTTP client)",
        switches_per_call,
        "switches",
    );
    println!(
        "weft's context switches per call (every thread, voluntary and not, plain HTTP client): {switches_per_call:.1}"
    );
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
    load(&plain, 16, LOAD_CALLS).await;
    profile.finish();
    // The latency weft adds, from alternating blocks of sequential calls
    // through weft and to the server directly (each over its own process
    // of server-everything): the rows above were measured one after the
    // other, and the stdio server's own latency drifts between them.
    let (rmcp_via, rmcp_direct) = added_latency(&rmcp, direct).await;
    let (plain_via, plain_direct) = added_latency(&plain, direct).await;
    // What an HTTP round trip alone costs here: the same keep-alive
    // client's GET of weft's /health, against the same calls.
    let health = Arc::new(Caller::Health(
        reqwest::Client::new(),
        url.replace("/mcp", "/health"),
    ));
    let (_, round_trip) = added_latency(&plain, &health).await;
    record::figure("4", "HTTP round trip (GET /health) p50", round_trip, "µs");
    println!(
        "an HTTP round trip alone (GET /health on the same weft, the plain client): p50 {round_trip:.0} µs"
    );
    println!(
        "added p50, alternating blocks: rmcp client {:+.0} µs ({rmcp_via:.0} through weft, {rmcp_direct:.0} direct); \
         plain HTTP client {:+.0} µs ({plain_via:.0} through weft, {plain_direct:.0} direct)",
        rmcp_via - rmcp_direct,
        plain_via - plain_direct,
    );
    lean_added_latency(&url, everything).await;
    placement::by_placement(&url, everything, weft_stdio.0.id()).await;
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
    record::figure("4", "weft → stdio rss", rss_stdio, "MiB");
    println!("weft peak RSS under this load (stdio upstream): {rss_stdio:.1} MiB");
    record::figure("4", "weft added p50", rmcp_via - rmcp_direct, "µs");
    record::figure(
        "4",
        "weft added p50 (plain HTTP client)",
        plain_via - plain_direct,
        "µs",
    );
    StdioPart {
        rows: vec![via_stdio, via_stdio_modern, via_plain],
        keepalive: via_keepalive,
        weft: (weft_stdio, rmcp),
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
