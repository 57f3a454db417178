//! HTTP upstreams: server-everything in its streamable HTTP mode and in its
//! legacy HTTP+SSE mode, through one hub.

use std::process::Command;
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use weft::Hub;
use weft::State;

/// server-everything in an HTTP mode on a port of its choosing.
///
/// It takes its port from `PORT` and, given `0`, lets the system pick one,
/// but it prints the `0` it was given rather than the port it got. So the
/// port is read from what the process listens on (`/proc`), which is
/// still race-free: nothing else can hold that socket.
fn everything_http(mode: &str) -> (Background, u16) {
    everything_http_on(mode, 0)
}

/// server-everything in an HTTP mode on `port` (0: any).
fn everything_http_on(mode: &str, port: u16) -> (Background, u16) {
    let bg = Background::spawn(
        Command::new(node22())
            .arg(npm_server("server-everything"))
            .arg(mode)
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let pid = bg.0.id();
    let mut ports = vec![];
    wait_until(
        Duration::from_secs(30),
        &format!("server-everything ({mode}) to listen"),
        || {
            ports = listening_ports(pid);
            !ports.is_empty()
        },
    );
    assert_eq!(ports.len(), 1, "one listening port: {ports:?}");
    if port != 0 {
        assert_eq!(ports[0], port);
    }
    (bg, ports[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_and_legacy_sse_upstreams() {
    let (_http, http_port) = everything_http("streamableHttp");
    let (_sse, sse_port) = everything_http("sse");
    let dir = temp_dir();
    let text = format!(
        "[servers.remote]\nurl = \"http://127.0.0.1:{http_port}/mcp\"\nheaders = {{ X-Test = \"weft\" }}\n\
         [servers.legacy]\nurl = \"http://127.0.0.1:{sse_port}/sse\"\ntransport = \"sse\"\n"
    );
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    for name in ["remote", "legacy"] {
        let s = hub.upstream(name).unwrap().status();
        assert_eq!(s.state, State::Up, "{name}: {:?}", s.state);
        assert!(s.tools >= 10, "{name} lists its tools");
    }
    assert_eq!(hub.upstream("remote").unwrap().status().transport, "http");
    assert_eq!(hub.upstream("legacy").unwrap().status().transport, "sse");
    for server in ["remote", "legacy"] {
        for i in 0..3 {
            let msg = format!("{server} {i}");
            let r = within(
                "an echo call",
                hub.call_tool(server, "echo", json!({"message": msg}).as_object().cloned()),
            )
            .await
            .unwrap();
            assert_eq!(text_of(&r), format!("Echo: {msg}"));
        }
        let sum = within(
            "a get-sum call",
            hub.call_tool(
                server,
                "get-sum",
                json!({"a": 2, "b": 40}).as_object().cloned(),
            ),
        )
        .await
        .unwrap();
        assert!(text_of(&sum).contains("42"), "{}", text_of(&sum));
    }
    assert!(hub.catalog().tool_by_exposed("legacy__echo").is_some());
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_is_not_there_is_reported() {
    let dir = temp_dir();
    // Bound but not listening: connections are refused, and no other test
    // can take the port meanwhile.
    let closed = ClosedPort::new();
    let port = closed.port;
    let text = format!(
        "[settings]\nstartup_timeout = \"5s\"\n[servers.gone]\nurl = \"http://127.0.0.1:{port}/mcp\"\n\
         [servers.gone_sse]\nurl = \"http://127.0.0.1:{port}/sse\"\ntransport = \"sse\"\n"
    );
    let hub = within(
        "the hub starts",
        Hub::start_unsupervised(config(dir.path(), &text)),
    )
    .await;
    for name in ["gone", "gone_sse"] {
        let State::Failed { error } = hub.upstream(name).unwrap().state() else {
            panic!("{name} should fail")
        };
        assert!(
            error.reason.contains(&port.to_string()),
            "{name}: {}",
            error.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_goes_away_is_reconnected() {
    let (server, port) = everything_http("streamableHttp");
    let dir = temp_dir();
    let text = format!(
        "[servers.remote]\nurl = \"http://127.0.0.1:{port}/mcp\"\n\
         [servers.remote.restart]\ninitial = \"200ms\"\nmax = \"1s\"\nmax_attempts = 0\n"
    );
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let echo = |m: &str| json!({"message": m}).as_object().cloned();
    let r = within("a call", hub.call_tool("remote", "echo", echo("before")))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "Echo: before");

    drop(server);
    let e = within(
        "a call to a stopped server",
        hub.call_tool("remote", "echo", echo("gone")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, weft::ErrorKind::Unavailable, "{e}");
    let up = hub.upstream("remote").unwrap().clone();
    eventually(Duration::from_secs(10), "the server to back off", || {
        matches!(up.state(), State::BackingOff { .. })
    })
    .await;

    // The server comes back on the same address; so does the connection.
    // (The one place a port is reused: the address is the point of the
    // test. It was this test's own server's a moment ago.)
    let (_server, _) = everything_http_on("streamableHttp", port);
    eventually(Duration::from_secs(20), "the connection to return", || {
        up.state() == State::Up
    })
    .await;
    assert!(up.status().restarts >= 1);
    let r = within(
        "a call after the return",
        hub.call_tool("remote", "echo", echo("after")),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "Echo: after");
    within("hub shutdown", hub.shutdown()).await;
}

/// A local HTTP server on port 0 that records the head of every request
/// it gets and answers each with `answer(path)`, then holds the connection
/// open until the client closes it (an event stream stays open).
struct Recorder {
    port: u16,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> Recorder {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (seen, answer) = (heads.clone(), std::sync::Arc::new(answer));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (seen, answer) = (seen.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    seen.lock().unwrap().push(head);
                    let _ = socket.write_all(answer(&path).as_bytes()).await;
                    while matches!(socket.read(&mut chunk).await, Ok(n) if n > 0) {}
                });
            }
        });
        Recorder { port, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// The value of header `name` in a recorded request head.
fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_endpoint_on_another_origin_is_refused() {
    let foreign =
        Recorder::start(|_| "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".into()).await;
    let elsewhere = format!("http://127.0.0.1:{}/messages", foreign.port);
    let sse = Recorder::start(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n\
             event: endpoint\ndata: {elsewhere}\n\n"
        )
    })
    .await;
    let dir = temp_dir();
    let text = format!(
        "[settings]\nstartup_timeout = \"5s\"\n[servers.legacy]\nurl = \"http://127.0.0.1:{}/sse\"\n\
         transport = \"sse\"\nheaders = {{ Authorization = \"Bearer sse-credential\" }}\n",
        sse.port
    );
    let hub = within(
        "the hub starts",
        Hub::start_unsupervised(config(dir.path(), &text)),
    )
    .await;
    let State::Failed { error } = hub.upstream("legacy").unwrap().state() else {
        panic!("the server should fail to start")
    };
    assert_eq!(
        error.reason,
        format!(
            "http://127.0.0.1:{}/sse named a message endpoint on another origin \
             (http://127.0.0.1:{}); weft refuses to send the server's messages and headers there",
            sse.port, foreign.port
        )
    );
    // The stream was opened with the credential; nothing went elsewhere.
    assert_eq!(
        header_in(&sse.heads()[0], "authorization").as_deref(),
        Some("Bearer sse-credential")
    );
    assert_eq!(foreign.heads(), Vec::<String>::new());
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_header_of_another_scheme_is_sent_as_written() {
    let server = Recorder::start(|_| {
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .into()
    })
    .await;
    let dir = temp_dir();
    let text = format!(
        "[settings]\nstartup_timeout = \"5s\"\n[servers.basic]\nurl = \"http://127.0.0.1:{}/mcp\"\n\
         headers = {{ Authorization = \"Basic dXNlcjpwYXNz\" }}\n",
        server.port
    );
    let hub = within(
        "the hub starts",
        Hub::start_unsupervised(config(dir.path(), &text)),
    )
    .await;
    let heads = server.heads();
    assert!(!heads.is_empty(), "weft never reached the server");
    for head in &heads {
        assert_eq!(
            header_in(head, "authorization").as_deref(),
            Some("Basic dXNlcjpwYXNz"),
            "{head}"
        );
    }
    within("hub shutdown", hub.shutdown()).await;
}
