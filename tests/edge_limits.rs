//! The defences of `weft serve --http` against slow and greedy clients,
//! driven over real sockets: a thousand idle connections and some that
//! send their head a byte at a time are closed after `header_timeout`,
//! the per-address cap refuses the excess with 503, oversized heads get
//! 431, and all the while a normal client's `tools/call` is answered.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::edge::{Raw, Served, only_text, serve, write_config};
use crate::support::*;

/// The idle connections the slowloris test holds open (the issue's figure).
const IDLE: usize = 1000;

/// Lifts this process's soft limit on open files to its hard limit.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The listening address of a served weft.
fn addr_of(weft: &Served) -> SocketAddr {
    format!("127.0.0.1:{}", weft.port)
        .parse()
        .expect("an address")
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(from), 0))
        .expect("bind a loopback address");
    within("a connection", socket.connect(to))
        .await
        .expect("connect")
}

/// Everything the server sends until it closes the connection.
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match within("the server to send or close", stream.read(&mut buf)).await {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("reading: {e}"),
        }
    }
}

/// A reqwest client whose connections come from `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .build()
        .expect("a client")
}

/// Slowloris: a thousand connections that never send a byte, and a few
/// that send their head a byte every 100 ms, do not keep a normal client
/// out; the per-address cap answers the 1,001st connection from the same
/// address 503; every slow connection is closed once `header_timeout`
/// has run out, and its address may connect again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_capped_and_closed_while_a_normal_client_is_served() {
    raise_fd_limit();
    let dir = temp_dir();
    // The thousand idle connections must all be open before the first
    // runs out of time, or the cap below has a free place: on a loaded
    // machine opening them has taken over five seconds.
    let text = format!(
        "[settings]\nheader_timeout = \"15s\"\nmax_connections_per_client = {IDLE}\n\n{}",
        npm_entry("everything", "server-everything", &["stdio"])
    );
    let config = write_config(dir.path(), &text);
    let weft = serve(&config, &[]);
    let addr = addr_of(&weft);

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(connect_from([127, 0, 0, 1], addr).await);
    }
    // Trickling heads, from an address of their own.
    let mut trickles = Vec::new();
    for _ in 0..10 {
        let mut stream = connect_from([127, 0, 0, 3], addr).await;
        trickles.push(tokio::spawn(async move {
            let head = b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let (mut rd, mut wr) = stream.split();
            let mut buf = [0u8; 1024];
            let trickle = async {
                for b in head.iter().cycle() {
                    if wr.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                std::future::pending::<()>().await;
            };
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                    Err(e) => panic!("a trickling connection: {e}"),
                },
                _ = trickle => unreachable!(),
            }
        }));
    }

    // The cap: one more connection from the idle ones' address is told
    // why, and closed.
    let mut excess = connect_from([127, 0, 0, 1], addr).await;
    let refused = String::from_utf8_lossy(&read_all(&mut excess).await).to_string();
    assert!(
        refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(
        refused.ends_with(&format!(
            "{{\"error\":{{\"code\":-32000,\"data\":{{\"httpStatus\":503,\"retryAfterMs\":1000}},\"message\":\"{IDLE} connections from this address are open, its limit (settings.max_connections_per_client); close one first\"}},\"id\":null,\"jsonrpc\":\"2.0\"}}"
        )),
        "{refused}"
    );

    // A normal client, meanwhile, is served.
    let normal = client_from([127, 0, 0, 2]);
    let mut raw = Raw::new(&normal, &weft.base, "2025-11-25");
    raw.open().await;
    let result = raw
        .call("everything__echo", json!({"message": "still here"}))
        .await;
    assert_eq!(only_text(&result), "Echo: still here");

    // Heads too large are refused: too many fields, or too many bytes.
    for (what, extra) in [
        (
            "65 header fields",
            (0..65)
                .map(|i| format!("x-h{i}: v\r\n"))
                .collect::<String>(),
        ),
        (
            "a 40 KiB header",
            format!("x-big: {}\r\n", "a".repeat(40 << 10)),
        ),
    ] {
        let mut stream = connect_from([127, 0, 0, 2], addr).await;
        let head = format!("GET /health HTTP/1.1\r\nhost: localhost\r\n{extra}\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .expect("send a head");
        let answer = String::from_utf8_lossy(&read_all(&mut stream).await).to_string();
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{what}: {answer}"
        );
    }

    // The slow ones are closed by weft (each read ends), having been sent
    // nothing.
    for (i, mut stream) in idle.into_iter().enumerate() {
        let got = read_all(&mut stream).await;
        assert_eq!(got, b"", "idle connection {i}");
    }
    for (i, t) in trickles.into_iter().enumerate() {
        let got = within("a trickling connection to be closed", t)
            .await
            .expect("the trickle task");
        assert_eq!(got, 0, "trickling connection {i}");
    }
    // Their places are given back: the idle ones' address is served again.
    let again = client_from([127, 0, 0, 1]);
    let mut raw = Raw::new(&again, &weft.base, "2025-11-25");
    raw.open().await;
    let result = raw
        .call("everything__echo", json!({"message": "back"}))
        .await;
    assert_eq!(only_text(&result), "Echo: back");
}

/// A tenant's `concurrent_requests` counts a streamed answer until its
/// body ends: while a long call streams its progress, the tenant's next
/// request is refused 429; once the stream has ended, the next is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_holds_the_tenants_request_slot_until_it_ends() {
    let dir = temp_dir();
    let text = format!(
        "{}\n[tenants.a]\ninclude = [\"everything.*\"]\nlimits = {{ concurrent_requests = 1 }}\n",
        npm_entry("everything", "server-everything", &["stdio"])
    );
    let config = write_config(dir.path(), &text);
    let key = crate::support::edge::add_key(&config, "a");
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();
    let mut raw = Raw::new(&http, &weft.base, "2025-11-25");
    raw.key = Some(key.clone());
    raw.open().await;

    // The long call, with a progress token: its stream starts with the
    // first progress notification and ends with the result.
    let call = json!({"jsonrpc": "2.0", "id": 50, "method": "tools/call", "params": {
        "name": "everything__trigger-long-running-operation",
        "arguments": {"duration": 4, "steps": 4},
        "_meta": {"progressToken": "p1"}}});
    let mut streaming = within(
        "the long call's head",
        http.post(&raw.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", raw.session.clone().expect("a session"))
            .header("authorization", format!("Bearer {key}"))
            .body(call.to_string())
            .send(),
    )
    .await
    .expect("the long call is answered");
    assert_eq!(streaming.status().as_u16(), 200);
    let mut seen = String::new();
    while !seen.contains("notifications/progress") {
        let chunk = within("a chunk of the stream", streaming.chunk())
            .await
            .expect("a readable stream")
            .expect("the stream goes on until the result");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // While it streams, the tenant has no slot for another request.
    let (_, refused) = raw.request("tools/list", json!({})).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(
        refused.body,
        r#"{"error":{"code":-32029,"data":{"httpStatus":429,"retryAfterMs":1000},"message":"rate-limited: tenant \"a\" already has 1 requests in flight (its limit); retry after 1 s"},"id":null,"jsonrpc":"2.0"}"#
    );

    // The stream ends with the result; then the slot is free at once.
    while let Some(chunk) = within("the rest of the stream", streaming.chunk())
        .await
        .expect("a readable stream")
    {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("Long running operation completed. Duration: 4 seconds, Steps: 4."),
        "{seen}"
    );
    let (id, listed) = raw.request("tools/list", json!({})).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        listed.message(id)["result"]["tools"].is_array(),
        "{}",
        listed.body
    );
}

/// `/status` and `/metrics` pass the Host and Origin checks `/mcp` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_check_host_and_origin() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &crate::support::edge::fixture("faulty"));
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();
    let port = weft.port;
    for path in ["/status", "/metrics"] {
        let url = format!("{}{path}", weft.base);
        let get = |headers: Vec<(&'static str, String)>| {
            let mut req = http.get(&url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            crate::support::edge::send(req)
        };
        assert_eq!(get(vec![]).await.status, 200, "{path}");
        let evil = get(vec![("host", format!("evil.example:{port}"))]).await;
        assert_eq!(
            (evil.status, evil.body.as_str()),
            (
                403,
                r#"{"error":{"code":-32003,"data":{"httpStatus":403},"message":"Forbidden: Host header is not allowed"},"id":null,"jsonrpc":"2.0"}"#
            ),
            "{path} with a foreign Host"
        );
        let cross = get(vec![("origin", "http://evil.example".into())]).await;
        assert_eq!(
            (cross.status, cross.body.as_str()),
            (
                403,
                r#"{"error":{"code":-32003,"data":{"httpStatus":403},"message":"Forbidden: Origin header is not allowed"},"id":null,"jsonrpc":"2.0"}"#
            ),
            "{path} with a foreign Origin"
        );
        let local = get(vec![("origin", format!("http://localhost:{port}"))]).await;
        assert_eq!(local.status, 200, "{path} with a loopback Origin");
    }
}

/// Without tenants, `--http` on an address beyond loopback is refused
/// with a message saying what to do; `--allow-open` serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_bind_without_tenants_needs_allow_open() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &crate::support::edge::fixture("faulty"));
    let out = weft()
        .arg("--config")
        .arg(&config)
        .args(["serve", "--http", "0.0.0.0:0"])
        .output_timed()
        .expect("run weft serve");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("weft: --http 0.0.0.0:0 listens beyond this machine, and the config defines no tenants, so anyone who reaches it may call every tool; define a tenant ([tenants.NAME], then `weft keys add NAME`) so callers need a key, or pass --allow-open if a proxy in front authenticates them"),
        "{stderr}"
    );
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(&config)
        .args(["serve", "--http", "0.0.0.0:0", "--allow-open"])
        .stdout(std::process::Stdio::piped());
    let mut proc = Background::spawn(&mut cmd);
    let stdout = proc.0.stdout.take().expect("stdout is piped");
    let base = crate::support::edge::base_of(&first_line(stdout, Duration::from_secs(90)));
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
    let port = base.rsplit(':').next().expect("a port");
    let health = crate::support::edge::send(
        reqwest::Client::new().get(format!("http://127.0.0.1:{port}/health")),
    )
    .await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
}
