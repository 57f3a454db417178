//! The edge of `weft serve --http`, driven by real HTTP requests: a
//! keep-alive client gets its answers without waiting on Nagle's
//! algorithm, in both protocol eras; a session's DELETE is answered 204
//! and the session is gone; `Host` and `Origin` are checked against DNS
//! rebinding, and `--allow-host` / `--allow-origin` admit exactly what
//! they name; `/health` needs no key; and an agent's own `Authorization`
//! header never reaches an upstream.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::edge::*;
use crate::support::*;

/// This process's own TCP connections to `port` (its client ends, which
/// the kernel's table ties to this process's socket inodes). Other tests
/// run in other processes, and their sockets (a thousand in TIME_WAIT
/// after the slowloris test, some of them on a local port number that a
/// later weft listens on) are never counted.
fn own_connections_to(port: u16) -> Vec<String> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(inode)) = (f.get(2), f.get(9)) else {
                return false;
            };
            port_of(remote) == Some(port) && inodes.contains(*inode)
        })
        .map(str::to_string)
        .collect()
}

/// A reqwest connector layer that lets its client open one connection
/// only: any later connect waits forever. reqwest races a fresh connect
/// against the return of the idle one to its pool, so without this a few
/// calls would go over new connections (which Nagle's delayed ACKs do not
/// hit); with it every call waits for the one connection, which is free
/// as soon as the previous answer has been read.
#[derive(Clone)]
struct OneConnection;

impl<S> tower_layer::Layer<S> for OneConnection {
    type Service = OneConnectionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OneConnectionService {
            inner,
            made: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Clone)]
struct OneConnectionService<S> {
    inner: S,
    made: Arc<AtomicBool>,
}

impl<S, R> tower_service::Service<R> for OneConnectionService<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        if self.made.swap(true, Ordering::SeqCst) {
            Box::pin(std::future::pending())
        } else {
            Box::pin(self.inner.call(request))
        }
    }
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The issue-21 bug: each answer left in two writes, and without
/// TCP_NODELAY the second waited for the client's delayed ACK, so a
/// keep-alive client waited ~40 ms per call. 20 sequential calls over one
/// connection, in both handshake versions and in 2026-07-28, must have a
/// median under 10 ms (the bug costs 40).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_client_gets_quick_answers_in_both_eras() {
    let dir = temp_dir();
    let mut text = "[settings]\nstartup_timeout = \"60s\"\n".to_string();
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let config = write_config(dir.path(), &text);
    let weft = serve(&config, &[]);
    let http = reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .connector_layer(OneConnection)
        .build()
        .expect("a client");
    let mut report = vec![];
    for version in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let mut raw = Raw::new(&http, &weft.base, version);
        if !raw.stateless() {
            raw.open().await;
        }
        let mut times = vec![];
        for i in 0..20 {
            let start = Instant::now();
            let result = raw
                .call("everything__echo", json!({"message": format!("call {i}")}))
                .await;
            times.push(start.elapsed());
            assert_eq!(only_text(&result), format!("Echo: call {i}"), "{version}");
        }
        let median = p50(times.clone());
        report.push(format!("{version}: p50 {median:?} of {times:?}"));
        assert!(
            median < Duration::from_millis(10),
            "{version}: 20 calls over one keep-alive connection took a median of {median:?}: {times:?}"
        );
        if !raw.stateless() {
            assert_eq!(raw.delete().await, 204, "{version}: DELETE of the session");
        }
    }
    // Every call above went over one connection, still open: a client
    // that opened a new one per call would never have seen the bug, and
    // one the server had closed could not have been replaced (the
    // connector makes one connection only).
    let made = own_connections_to(weft.port);
    assert_eq!(
        made.len(),
        1,
        "the calls did not share one keep-alive connection:\n{}",
        made.join("\n")
    );
    eprintln!("{}", report.join("\n"));
}

/// Opens a session, calls once, DELETEs it (204, not 202, which clients
/// take for a failure), and finds it gone: 404 to a call and to a second
/// DELETE.
async fn end_a_session(mut raw: Raw, how: &str) {
    raw.open().await;
    let result = raw.call("faulty__echo", json!({"text": "before"})).await;
    assert_eq!(only_text(&result), "before", "{how}");
    assert_eq!(raw.delete().await, 204, "{how}: the DELETE");
    let (_, answer) = raw
        .request(
            "tools/call",
            json!({"name": "faulty__echo", "arguments": {"text": "after"}}),
        )
        .await;
    assert_eq!(
        answer.status, 404,
        "{how}: a call on the ended session: {}",
        answer.body
    );
    assert_eq!(raw.delete().await, 404, "{how}: a second DELETE");
}

/// A DELETE ends a session, without tenants (rmcp forgets the session)
/// and with them (weft's guard forgets whose it was, too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ends_a_session_with_204_and_the_session_is_gone() {
    let http = reqwest::Client::new();
    let open_dir = temp_dir();
    let config = write_config(open_dir.path(), &fixture("faulty"));
    let weft = serve(&config, &[]);
    end_a_session(Raw::new(&http, &weft.base, "2025-06-18"), "no tenants").await;

    let dir = temp_dir();
    let text = fixture("faulty") + "\n[tenants.acme]\ninclude = [\"faulty.*\"]\n";
    let config = write_config(dir.path(), &text);
    let key = add_key(&config, "acme");
    let weft = serve(&config, &[]);
    let mut raw = Raw::new(&http, &weft.base, "2025-11-25");
    raw.key = Some(key);
    end_a_session(raw, "a tenant's session").await;
}

/// An `initialize` POST with extra headers: the status.
pub(crate) async fn initialize_with(
    http: &reqwest::Client,
    base: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let raw = Raw::new(http, base, "2025-11-25");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "weft-http-edge", "version": "1"}}});
    raw.post(&init, headers).await.status
}

/// The statuses of the three ways weft answers a POST to `/mcp`, sent with
/// `headers`: a handshake (rmcp's service), a 2026-07-28 `tools/call`
/// (answered by weft itself: `serve/direct.rs`) and a 2026-07-28
/// `tools/list` (from the catalog's serialised list: `serve/listing.rs`).
async fn mcp_statuses_with(
    http: &reqwest::Client,
    base: &str,
    headers: &[(&str, &str)],
) -> [u16; 3] {
    let raw = Raw::new(http, base, "2026-07-28");
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "weft-http-edge", "version": "1"},
    });
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "faulty__echo", "arguments": {"text": "x"}, "_meta": meta}});
    let list =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}});
    [
        initialize_with(http, base, headers).await,
        raw.post(&call, headers).await.status,
        raw.post(&list, headers).await.status,
    ]
}

/// DNS-rebinding protection: a `Host` that is not loopback and a browser
/// `Origin` that is not a loopback origin get 403, on every path that
/// answers `/mcp`; `--allow-host` and `--allow-origin` admit exactly what
/// they name, and nothing near it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_origin_are_checked_and_the_allow_flags_admit_exactly_what_they_name() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &fixture("faulty"));
    let http = reqwest::Client::new();

    let plain = serve(&config, &[]);
    let port = plain.port.to_string();
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![], 200),
        (vec![("host", format!("localhost:{port}"))], 200),
        (vec![("host", "evil.example".into())], 403),
        (vec![("host", format!("weft.example:{port}"))], 403),
        (vec![("origin", format!("http://localhost:{port}"))], 200),
        (vec![("origin", "http://127.0.0.1:9".into())], 200),
        (vec![("origin", "http://evil.example".into())], 403),
        (vec![("origin", "https://app.example:8443".into())], 403),
    ];
    for (headers, want) in &cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let got = mcp_statuses_with(&http, &plain.base, &h).await;
        assert_eq!(got, [*want; 3], "no allow flags, headers {headers:?}");
    }
    // The four admitted calls and lists were weft's own answers, not rmcp's.
    for path in ["direct", "listed"] {
        let n = crate::direct_call::posts(&http, &plain.base, path).await;
        assert_eq!(n, 4, "POSTs answered by the {path} path");
    }

    let allowing = serve(
        &config,
        &[
            "--allow-host",
            "weft.example",
            "--allow-origin",
            "https://app.example:8443",
        ],
    );
    let port = allowing.port.to_string();
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        // Loopback still works.
        (vec![], 200),
        (vec![("host", format!("weft.example:{port}"))], 200),
        (vec![("host", "weft.example".into())], 200),
        (vec![("host", "WEFT.EXAMPLE".into())], 200),
        (vec![("host", "api.weft.example".into())], 403),
        (vec![("host", "weft.example.evil".into())], 403),
        (vec![("host", "evil.example".into())], 403),
        (vec![("origin", "https://app.example:8443".into())], 200),
        (vec![("origin", "https://app.example".into())], 403),
        (vec![("origin", "http://app.example:8443".into())], 403),
        (vec![("origin", "https://app.example:9443".into())], 403),
        (vec![("origin", "https://evil.example:8443".into())], 403),
        (vec![("origin", "null".into())], 403),
        (
            vec![
                ("host", format!("weft.example:{port}")),
                ("origin", "https://app.example:8443".into()),
            ],
            200,
        ),
        (
            vec![
                ("host", format!("weft.example:{port}")),
                ("origin", "https://evil.example".into()),
            ],
            403,
        ),
    ];
    for (headers, want) in &cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let got = mcp_statuses_with(&http, &allowing.base, &h).await;
        assert_eq!(
            got, [*want; 3],
            "--allow-host weft.example --allow-origin https://app.example:8443, headers {headers:?}"
        );
    }
}

/// With tenants, every route needs a key but `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_without_a_key_when_tenants_exist() {
    let dir = temp_dir();
    let text = fixture("faulty") + "\n[tenants.ops]\nadmin = true\ninclude = [\"faulty.*\"]\n";
    let config = write_config(dir.path(), &text);
    let key = add_key(&config, "ops");
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();
    let health = send(http.get(format!("{}/health", weft.base))).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok\n");
    for path in ["/status", "/metrics"] {
        let refused = send(http.get(format!("{}{path}", weft.base))).await;
        assert_eq!(
            refused.status, 401,
            "{path} without a key: {}",
            refused.body
        );
        let admitted = send(
            http.get(format!("{}{path}", weft.base))
                .header("authorization", format!("Bearer {key}")),
        )
        .await;
        assert_eq!(
            admitted.status, 200,
            "{path} with the admin key: {}",
            admitted.body
        );
    }
    assert_eq!(initialize_with(&http, &weft.base, &[]).await, 401);
}

/// The agent's key stops at weft: an HTTP upstream (the fixture over
/// `--http`, whose `headers` tool returns the request headers it got)
/// sees the headers its own config gives it, and never the agent's
/// `Authorization`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_authorization_never_reaches_an_upstream() {
    let mut cmd = std::process::Command::new(target_bin("weft-faulty-server"));
    cmd.args(["--name", "remote", "--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut upstream = Background::spawn(&mut cmd);
    let stdout = upstream.0.stdout.take().expect("stdout is piped");
    let upstream_url = format!(
        "{}/mcp",
        base_of(&first_line(stdout, Duration::from_secs(30)))
    );

    let dir = temp_dir();
    let text = format!(
        "[servers.plain]\nurl = {url}\nheaders = {{ X-Upstream-Marker = \"configured-for-plain\" }}\n\n\
         [servers.authed]\nurl = {url}\nheaders = {{ Authorization = \"Bearer configured-for-authed\" }}\n\n\
         [tenants.acme]\ninclude = [\"plain.*\", \"authed.*\"]\n",
        url = q(&upstream_url)
    );
    let config = write_config(dir.path(), &text);
    let key = add_key(&config, "acme");
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();
    for version in ["2025-11-25", "2026-07-28"] {
        let mut raw = Raw::new(&http, &weft.base, version);
        raw.key = Some(key.clone());
        if !raw.stateless() {
            raw.open().await;
        }
        let seen = |result: &Value| -> serde_json::Map<String, Value> {
            let text = only_text(result);
            assert!(
                !text.contains(&key),
                "{version}: the agent's key reached the upstream: {text}"
            );
            match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => m,
                other => panic!("{version}: the headers tool gave {other:?}: {text}"),
            }
        };
        let plain = seen(&raw.call("plain__headers", json!({})).await);
        assert_eq!(
            plain.get("x-upstream-marker"),
            Some(&json!("configured-for-plain")),
            "{version}: {plain:?}"
        );
        assert_eq!(plain.get("authorization"), None, "{version}: {plain:?}");
        let authed = seen(&raw.call("authed__headers", json!({})).await);
        assert_eq!(
            // The configured credential reached the upstream; what the
            // upstream echoes of it is masked on its way to the agent.
            authed.get("authorization"),
            Some(&json!("[REDACTED]")),
            "{version}: {authed:?}"
        );
        assert_eq!(
            authed.get("x-upstream-marker"),
            None,
            "{version}: {authed:?}"
        );
    }
}
