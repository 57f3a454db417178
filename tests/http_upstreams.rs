//! HTTP upstreams: server-everything in its streamable HTTP mode and in its
//! legacy HTTP+SSE mode, through one hub; and weft's own streamable HTTP
//! client against server-everything (TypeScript SDK) and a Python SDK
//! server: event-stream and JSON answers, a session the server forgot,
//! progress during a call, and the answer-size cap.

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

/// The Python SDK fixture (`tests/fixtures/python/http_server.py`) over
/// streamable HTTP on a port of its choosing; `json` makes it answer with
/// JSON bodies instead of event streams.
fn python_http(json: bool) -> (Background, u16) {
    python_http_with(if json { &["--json"] } else { &[] })
}

/// The same fixture with these arguments after its port (`--tls`, ...).
pub(crate) fn python_http_with<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Background, u16) {
    let mut all = vec![std::ffi::OsString::from("0")];
    all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    python_fixture("http_server.py", &all)
}

/// A Python fixture of `tests/fixtures/python` that listens on a port
/// the system picks: (process, that port).
pub(crate) fn python_fixture<S: AsRef<std::ffi::OsStr>>(
    script: &str,
    args: &[S],
) -> (Background, u16) {
    let script = repo_root().join("tests/fixtures/python").join(script);
    let mut cmd = Command::new(venv_bin("python"));
    cmd.arg(&script).args(args);
    let bg = Background::spawn(
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let pid = bg.0.id();
    let mut ports = vec![];
    wait_until(
        Duration::from_secs(30),
        "the Python server to listen",
        || {
            ports = listening_ports(pid);
            !ports.is_empty()
        },
    );
    (bg, ports[0])
}

/// A hub with one HTTP server `up` at `port`.
async fn hub_on(dir: &std::path::Path, port: u16) -> Hub {
    let text = format!("[servers.up]\nurl = \"http://127.0.0.1:{port}/mcp\"\n");
    let hub = within("the hub starts", Hub::start(config(dir, &text))).await;
    let s = hub.upstream("up").unwrap().status();
    assert_eq!(s.state, State::Up, "{:?}", s.state);
    hub
}

fn message(m: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    json!({ "message": m }).as_object().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_and_json_answers_from_both_sdks() {
    let (_ts, ts_port) = everything_http("streamableHttp");
    let (_py, py_port) = python_http(false);
    let (_py_json, py_json_port) = python_http(true);
    for (what, port) in [
        ("TypeScript, event stream", ts_port),
        ("Python, event stream", py_port),
        ("Python, JSON", py_json_port),
    ] {
        let dir = temp_dir();
        let hub = hub_on(dir.path(), port).await;
        assert_eq!(
            hub.upstream("up").unwrap().status().protocol.as_deref(),
            Some("2025-11-25"),
            "{what}"
        );
        // Calls at once share the session; each gets its own answer.
        let call = |i: usize| hub.call_tool("up", "echo", message(&format!("{what} {i}")));
        let (a, b, c, d) = within("four calls at once", async {
            tokio::join!(call(0), call(1), call(2), call(3))
        })
        .await;
        for (i, answer) in [a, b, c, d].into_iter().enumerate() {
            let r = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(text_of(&r), format!("Echo: {what} {i}"));
        }
        within("hub shutdown", hub.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_forgot_is_started_again() {
    for json in [false, true] {
        let (_py, port) = python_http(json);
        let dir = temp_dir();
        let hub = hub_on(dir.path(), port).await;
        let r = within("a call", hub.call_tool("up", "echo", message("before")))
            .await
            .unwrap();
        assert_eq!(text_of(&r), "Echo: before");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let stats = || async {
            let v: serde_json::Value = http
                .get(format!("{base}/stats"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["sessions"].as_u64().unwrap()
        };
        assert_eq!(stats().await, 1);
        http.post(format!("{base}/expire")).send().await.unwrap();
        // The server answers 404 to the old session: weft starts a new one
        // and the call goes through in it, with no restart.
        let r = within(
            "a call after the session ended",
            hub.call_tool("up", "echo", message("after")),
        )
        .await
        .unwrap();
        assert_eq!(text_of(&r), "Echo: after", "json={json}");
        assert_eq!(stats().await, 2, "json={json}: one new session");
        let s = hub.upstream("up").unwrap().status();
        assert_eq!((s.state, s.restarts), (State::Up, 0), "json={json}");
        within("hub shutdown", hub.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_size_cap_fails_that_call_only() {
    const CAP: usize = 16 << 20;
    for json in [false, true] {
        let (_py, port) = python_http(json);
        let dir = temp_dir();
        let hub = hub_on(dir.path(), port).await;
        let size = |n: usize| json!({ "size": n }).as_object().cloned();
        let small = within("a small answer", hub.call_tool("up", "big", size(1000)))
            .await
            .unwrap();
        assert_eq!(text_of(&small), "x".repeat(1000));
        let e = within(
            "an answer over the cap",
            hub.call_tool("up", "big", size(CAP + 1)),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, weft::ErrorKind::Internal, "json={json}: {e}");
        assert!(
            e.message
                .contains(&format!("the server's answer is over {CAP} bytes")),
            "json={json}: {}",
            e.message
        );
        // The server answered, so it is up: not marked down, not restarted.
        let r = within(
            "a call after",
            hub.call_tool("up", "echo", message("still here")),
        )
        .await
        .unwrap();
        assert_eq!(text_of(&r), "Echo: still here");
        let s = hub.upstream("up").unwrap().status();
        assert_eq!((s.state, s.restarts), (State::Up, 0), "json={json}");
        within("hub shutdown", hub.shutdown()).await;
    }
}

/// An agent that records the progress weft relays to it.
#[derive(Clone, Default)]
pub(crate) struct Progress(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<f64>>>);

impl rmcp::ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.lock().unwrap().push(params.progress);
    }
}

// One thread: rmcp hands each notification the agent receives to a task
// of its own, and on two workers two such tasks may push out of order.
// On one thread they run in the order they were spawned, which is the
// order the notifications arrived in, so the order recorded is weft's.
#[tokio::test(flavor = "current_thread")]
async fn progress_from_an_http_upstream_reaches_the_agent_before_the_result() {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, NumberOrString, ProgressToken, RequestMetaObject};
    let (_ts, ts_port) = everything_http("streamableHttp");
    let (_py, py_port) = python_http(false);
    let dir = temp_dir();
    let text = format!(
        "[servers.ts]\nurl = \"http://127.0.0.1:{ts_port}/mcp\"\n\
         [servers.py]\nurl = \"http://127.0.0.1:{py_port}/mcp\"\n"
    );
    let config_path = dir.path().join("weft.toml");
    std::fs::write(&config_path, text).unwrap();
    let (_weft, base) = serve_weft_http(weft().arg("--config").arg(&config_path));
    let progress = Progress::default();
    let client = within(
        "the agent connects",
        progress
            .clone()
            .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
                format!("{base}/mcp"),
            )),
    )
    .await
    .unwrap();
    let cases = [
        (
            "ts__trigger-long-running-operation",
            json!({"duration": 1, "steps": 3}),
            "Long running operation completed",
        ),
        ("py__count", json!({"n": 3}), "counted 3"),
    ];
    for (i, (tool, args, said)) in cases.into_iter().enumerate() {
        progress.0.lock().unwrap().clear();
        let mut params =
            CallToolRequestParams::new(tool).with_arguments(args.as_object().cloned().unwrap());
        params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::Number(i as i64 + 1),
        )));
        let r = within("a call with progress", client.peer().call_tool(params))
            .await
            .unwrap();
        assert!(text_of(&r).contains(said), "{tool}: {}", text_of(&r));
        // Relayed in order as they were read, all before the result.
        assert_eq!(*progress.0.lock().unwrap(), vec![1.0, 2.0, 3.0], "{tool}");
    }
    within("the agent leaves", client.cancel()).await.unwrap();
}
