//! One failing server never takes the rest down: a crash during a policy
//! run, a flapping server and its circuit breaker, failover within a
//! domain, retries of safe tools only, and the cache's counters, with
//! status and metrics read from a running `weft serve --http`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{Value, json};
use weft::Change;
use weft::Grants;
use weft::State;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::Sandbox;
use weft::{ErrorKind, Hub};

fn faulty() -> std::path::PathBuf {
    target_bin("weft-faulty-server")
}

fn recorded(path: &std::path::Path, tool: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(tool))
        .count()
}

fn kill9(pid: u32) {
    // SAFETY: signals a server process this test's hub started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_policy_run_is_unavailable_and_the_server_comes_back() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "flaky",
        &faulty(),
        &["--name", "flaky", "--record", &record.display().to_string()],
    );
    text += "[servers.flaky.restart]\ninitial = \"200ms\"\n";
    text += &command_entry("time", &venv_bin("mcp-server-time"), &[]);
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    assert_eq!(hub.upstream("time").unwrap().state(), State::Up);
    let first_pid = hub.upstream("flaky").unwrap().status().pid.expect("pid");
    let mut changes = hub.changes();

    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.path().join("cache"))).unwrap());
    let runner = Arc::new(Runner::new(hub.clone(), sandbox));
    let policy = Arc::new(Loaded {
        name: "script".into(),
        wasm: weft::sandbox::Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).unwrap()),
        grants: Grants::new(&["flaky.*".into(), "time.*".into()]).unwrap(),
        limits: Limits::default(),
    });
    let script = json!({"attack": "script", "calls": [
        {"server": "flaky", "tool": "slow", "args": {"ms": 5000}},
        {"server": "time", "tool": "get_current_time", "args": {"timezone": "UTC"}},
        {"server": "flaky", "tool": "echo", "args": {"text": "after the crash"}},
    ]});
    let run = {
        let (runner, policy, input) = (runner.clone(), policy.clone(), script.to_string());
        tokio::spawn(async move { runner.run(&policy, &input, None).await })
    };
    // Kill the server once the slow call has reached it (the policy's
    // compile comes first and takes a while on a cold cache).
    eventually(AWAIT, "the slow call to reach the server", || {
        recorded(&record, "slow") == 1
    })
    .await;
    kill9(first_pid);
    let report = within("the policy run", run).await.unwrap();
    assert!(report.ok(), "{:?}", report.error);
    let out = report.output.unwrap();
    assert_eq!(out[0]["ok"], false, "{out}");
    assert_eq!(out[0]["kind"], "unavailable", "{out}");
    assert_eq!(
        out[1]["ok"], true,
        "the other server keeps answering: {out}"
    );
    assert!(out[1]["text"].as_str().unwrap().contains("UTC"), "{out}");

    // The supervisor brings it back as a new process and tells agents.
    let up = hub.upstream("flaky").unwrap().clone();
    eventually(Duration::from_secs(15), "flaky to restart", || {
        let s = up.status();
        s.state == State::Up && s.restarts == 1 && s.pid != Some(first_pid)
    })
    .await;
    assert!(!alive(first_pid), "the killed process is reaped");
    let status = up.status();
    assert!(
        status
            .last_error
            .as_ref()
            .is_some_and(|e| !e.message.is_empty()),
        "{status:?}"
    );
    // The hub hears of the restart through its event task, which may run
    // just after the status flips to up: wait for the change itself.
    let mut heard = vec![];
    let got = tokio::time::timeout(AWAIT, async {
        while let Ok(c) = changes.recv().await {
            let tools = c == Change::Tools;
            heard.push(c);
            if tools {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "list_changed after restart: {heard:?}");

    let again = json!({"attack": "script", "calls": [
        {"server": "flaky", "tool": "echo", "args": {"text": "back"}},
        {"server": "time", "tool": "get_current_time", "args": {"timezone": "UTC"}},
    ]});
    let report = within(
        "the second policy run",
        runner.run(&policy, &again.to_string(), None),
    )
    .await;
    let out = report.output.expect("output");
    assert_eq!(out[0]["ok"], true, "{out}");
    assert_eq!(out[0]["text"], "back");
    assert_eq!(out[1]["ok"], true, "{out}");
    let report = hub.report();
    assert_eq!(report.policy_runs["script"].ok, 2);
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_server_opens_and_then_closes_the_breaker() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "flappy",
        &faulty(),
        &[
            "--record",
            &record.display().to_string(),
            "--name",
            "flappy",
        ],
    );
    text += "timeout = \"300ms\"\n";
    text += "[servers.flappy.breaker]\nfailures = 3\ncooldown = \"800ms\"\n";
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let echo = |t: &str| json!({"text": t}).as_object().cloned();
    let up = hub.upstream("flappy").unwrap().clone();

    for cycle in 1..=2u64 {
        // Bad phase: every call hangs past the timeout.
        for _ in 0..3 {
            let e = within(
                "a call past its timeout",
                hub.call_tool("flappy", "slow", json!({"ms": 3000}).as_object().cloned()),
            )
            .await
            .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        }
        assert_eq!(up.breaker.status().state, "open");
        assert_eq!(up.breaker.status().opened, cycle);
        // Open: calls fail fast and never reach the server.
        let before = recorded(&record, "echo");
        let started = Instant::now();
        let e = within(
            "a call to an open breaker",
            hub.call_tool("flappy", "echo", echo("x")),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
        assert!(e.message.contains("circuit breaker open"), "{}", e.message);
        // Fast: well under the 300 ms the server would have had.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(250), "{took:?}");
        assert_eq!(recorded(&record, "echo"), before);
        // Good phase: after the cool-down one probe gets through and
        // closes it.
        eventually(AWAIT, "the breaker's cool-down", || {
            up.breaker.status().state == "half-open"
        })
        .await;
        let r = within("the probe", hub.call_tool("flappy", "echo", echo("probe")))
            .await
            .unwrap();
        assert_eq!(text_of(&r), "probe");
        assert_eq!(up.breaker.status().state, "closed");
        assert_eq!(recorded(&record, "echo"), before + 1);
    }
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(r#"weft_breaker_opened_total{server="flappy"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"weft_calls_total{tenant="",server="flappy",tool="slow",outcome="timeout"} 6"#
        ),
        "{metrics}"
    );
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_call_fails_over_to_a_lower_priority_server() {
    let dir = temp_dir();
    let mut text = command_entry("primary", &faulty(), &["--name", "primary"]);
    text += "priority = 10\ndomains = [\"search\"]\n";
    text += "[servers.primary.restart]\ninitial = \"300ms\"\n";
    text += &command_entry("backup", &faulty(), &["--name", "backup"]);
    text += "priority = 1\ndomains = [\"search\"]\n";
    text += &command_entry("elsewhere", &faulty(), &["--name", "elsewhere"]);
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let whoami = async |hub: &Hub| {
        within("a domain call", hub.call_tool("@search", "whoami", None))
            .await
            .map(|r| text_of(&r))
    };
    assert_eq!(whoami(&hub).await.unwrap(), "primary");

    let pid = hub.upstream("primary").unwrap().status().pid.unwrap();
    kill9(pid);
    assert_eq!(
        whoami(&hub).await.unwrap(),
        "backup",
        "fails over while the primary is down"
    );
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(r#"weft_failovers_total{domain="search"} 1"#),
        "{metrics}"
    );

    let primary = hub.upstream("primary").unwrap().clone();
    eventually(Duration::from_secs(15), "the primary to return", || {
        primary.state() == State::Up
    })
    .await;
    assert_eq!(whoami(&hub).await.unwrap(), "primary");

    let e = within(
        "an unknown domain",
        hub.call_tool("@nowhere", "whoami", None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("domains: search"), "{}", e.message);
    let e = within(
        "an unknown tool",
        hub.call_tool("@search", "no_such_tool", None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_safe_tools_are_retried_unless_configured() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let rec = record.display().to_string();
    let mut text = command_entry(
        "cautious",
        &faulty(),
        &["--rate-limit", "2", "--record", &rec, "--name", "cautious"],
    );
    text += "[servers.cautious.retry]\nbackoff = \"20ms\"\n";
    text += &command_entry(
        "bold",
        &faulty(),
        &["--rate-limit", "2", "--record", &rec, "--name", "bold"],
    );
    text += "[servers.bold.retry]\nbackoff = \"20ms\"\ntools = \"all\"\n";
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let count = |server: &str, tool: &str| {
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&format!("{server} {tool} ")))
            .count()
    };

    // A read-only tool is retried past two rate-limit refusals.
    let r = within("a retried read", hub.call_tool("cautious", "limited", None))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "limited after 3 tries");
    assert_eq!(count("cautious", "limited"), 3);
    // A write is not: one try, and the kind says why.
    let e = within("a write", hub.call_tool("cautious", "limited_write", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited, "{e}");
    assert_eq!(count("cautious", "limited_write"), 1);
    // Unless the server's retry policy says all tools.
    let r = within(
        "a retried write",
        hub.call_tool("bold", "limited_write", None),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "limited_write after 3 tries");
    assert_eq!(count("bold", "limited_write"), 3);
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(r#"weft_retries_total{server="cautious"} 2"#),
        "{metrics}"
    );
    within("hub shutdown", hub.shutdown()).await;
}

/// A running `weft serve --http` over a recording fixture server.
struct Served {
    process: Background,
    base: String,
    record: std::path::PathBuf,
    /// weft's stderr, line by line.
    stderr: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

/// Every line of `pipe`, sent on as it comes, read on a thread of its own.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn serve(flags: &[&str], extra: &str) -> Served {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "fixture",
        &faulty(),
        &[
            &[
                "--record",
                &record.display().to_string(),
                "--name",
                "fixture",
            ],
            flags,
        ]
        .concat(),
    );
    text += extra;
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path())
        .stderr(std::process::Stdio::piped());
    let (mut process, base) = serve_weft_http(&mut cmd);
    let stderr = lines_of(process.0.stderr.take().expect("stderr is piped"));
    Served {
        process,
        base,
        record,
        stderr,
        _dir: dir,
    }
}

impl Served {
    async fn get(&self, path: &str) -> (String, String) {
        http_get(&format!("{}{path}", self.base)).await
    }

    async fn status(&self) -> Value {
        serde_json::from_str(&self.get("/status").await.1).expect("status is JSON")
    }

    async fn client(&self) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        use rmcp::ServiceExt;
        let transport =
            rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", self.base));
        let client = within("the client connects", ().serve(transport))
            .await
            .expect("client connects");
        // The test looks at weft's cache, so the client keeps none of its own.
        within(
            "the client's cache setting",
            client.set_response_cache_config(rmcp::ClientCacheConfig::disabled()),
        )
        .await;
        client
    }
}

/// GET over plain HTTP: (content type, body).
async fn http_get(url: &str) -> (String, String) {
    let url = url.to_string();
    let get = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(AWAIT)).unwrap();
        s.set_write_timeout(Some(AWAIT)).unwrap();
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let ctype = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_string)
            })
            .unwrap_or_default();
        // Small bodies; axum sends a length rather than chunks.
        (ctype, body.to_string())
    });
    within("an HTTP GET", get).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_counts_hits_misses_and_invalidations() {
    // The fixture speaks 2026-07-28 and allows a minute (`ttlMs`); it
    // leaves `cacheScope` out, which means private to the reader.
    let served = serve(
        &["--resource-ttl-ms", "60000"],
        "[servers.fixture.cache]\ntool_ttl = \"60s\"\n",
    );
    let client = served.client().await;
    let read = async |uri: &str| {
        let r = within(
            "a resource read",
            client.read_resource(rmcp::model::ReadResourceRequestParams::new(uri)),
        )
        .await
        .expect("read");
        match &r.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{other:?}"),
        }
    };
    let uri = "fixture+fixture://item/0";
    assert_eq!(read(uri).await, "contents of fixture://item/0");
    assert_eq!(read(uri).await, "contents of fixture://item/0");
    assert_eq!(
        recorded(&served.record, "resources/read"),
        1,
        "the second read is a hit"
    );
    let cache = served.status().await["cache"].clone();
    assert_eq!(
        (cache["hits"].as_u64(), cache["misses"].as_u64()),
        (Some(1), Some(1)),
        "{cache}"
    );
    assert_eq!(cache["items"], 1);

    // The server says the resource changed: the entry goes.
    let call = |tool: &str, args: Value| {
        rmcp::model::CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().cloned().unwrap_or_default())
    };
    within(
        "the touch call",
        client.call_tool(call("fixture__touch", json!({"uri": "fixture://item/0"}))),
    )
    .await
    .expect("touch");
    let start = Instant::now();
    loop {
        let cache = served.status().await["cache"].clone();
        if cache["invalidations"] == 1 {
            assert_eq!(cache["items"], 0, "{cache}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no invalidation: {cache}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read(uri).await, "contents of fixture://item/0");
    assert_eq!(
        recorded(&served.record, "resources/read"),
        2,
        "a miss after the update"
    );

    // A read-only tool's result is cached per arguments.
    for text in ["a", "a", "b"] {
        let r = within(
            "an echo call",
            client.call_tool(call("fixture__echo", json!({"text": text}))),
        )
        .await
        .expect("echo");
        assert_eq!(text_of(&r), text);
    }
    assert_eq!(
        recorded(&served.record, "echo"),
        2,
        "the second `a` is a hit"
    );
    let cache = served.status().await["cache"].clone();
    assert_eq!(
        (cache["hits"].as_u64(), cache["misses"].as_u64()),
        (Some(2), Some(4)),
        "{cache}"
    );
    assert!((cache["hit_rate"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9);

    // The same figures in Prometheus form, and through `weft status`.
    let (ctype, metrics) = served.get("/metrics").await;
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(
        metrics.contains(r#"weft_cache_events_total{event="hit"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"weft_calls_total{tenant="",server="fixture",tool="touch",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"weft_upstream_up{server="fixture"} 1"#),
        "{metrics}"
    );
    let out = weft()
        .args(["status", "--url", &served.base])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("fixture") && l.contains(" up ")),
        "{table}"
    );
    assert!(table.contains("2 hits, 4 misses (33% hit rate)"), "{table}");
    within("the client closes", client.cancel()).await.ok();
}

#[test]
fn status_without_a_running_weft_says_so() {
    let closed = ClosedPort::new();
    let out = weft()
        .args([
            "status",
            "--url",
            &format!("http://127.0.0.1:{}", closed.port),
        ])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is `weft serve --http` running there?"),
        "{err}"
    );
}

impl Served {
    /// Sends SIGTERM and waits for weft to exit: (exit code, how long).
    fn terminate(&mut self, within: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        // SAFETY: signals the weft process this test spawned.
        unsafe {
            libc::kill(self.process.0.id() as i32, libc::SIGTERM);
        }
        let status = wait_child(&mut self.process.0, within);
        (status.code(), started.elapsed())
    }
}

/// How a `weft serve` stopped during a call ended.
struct Stopped {
    /// weft's exit code.
    code: Option<i32>,
    /// From SIGTERM to weft's exit.
    took: Duration,
    /// How the call ended for the agent.
    outcome: Result<rmcp::model::CallToolResult, rmcp::ServiceError>,
    /// What weft printed to stderr.
    stderr: Vec<String>,
}

/// Starts a `slow` call of `ms`, sends weft SIGTERM once the call has
/// reached the server, and reports how that ended, once the server is gone.
async fn stop_during_a_slow_call(shutdown_timeout: &str, ms: u64) -> Stopped {
    let mut served = serve(
        &[],
        &format!("[settings]\nshutdown_timeout = \"{shutdown_timeout}\"\n"),
    );
    let server_pid = served.status().await["servers"][0]["pid"].as_u64().unwrap() as u32;
    let client = served.client().await;
    let peer = client.peer().clone();
    let call = tokio::spawn(async move {
        peer.call_tool(
            rmcp::model::CallToolRequestParams::new("fixture__slow")
                .with_arguments(json!({"ms": ms}).as_object().cloned().unwrap()),
        )
        .await
    });
    eventually(AWAIT, "the slow call to reach the server", || {
        recorded(&served.record, "slow") == 1
    })
    .await;
    let (code, took) = served.terminate(Duration::from_secs(10));
    let outcome = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends with weft")
        .expect("the call task");
    // weft stops the group before it exits; the kernel may take a moment
    // to tear the process down.
    eventually(Duration::from_secs(5), "the server to be gone", || {
        !alive(server_pid)
    })
    .await;
    // weft has exited, so its stderr ends.
    let mut stderr = vec![];
    while let Ok(line) = served.stderr.recv_timeout(Duration::from_secs(10)) {
        stderr.push(line);
    }
    Stopped {
        code,
        took,
        outcome,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_weft_lets_calls_finish_then_reaps_its_servers() {
    let stopped = stop_during_a_slow_call("5s", 1500).await;
    assert_eq!(stopped.code, Some(143));
    assert!(
        stopped.took >= Duration::from_millis(900),
        "weft waited for the call: {:?}",
        stopped.took
    );
    let result = stopped.outcome.expect("the call in flight finished");
    assert_eq!(text_of(&result), "slept 1500 ms");
    assert_eq!(
        stopped.stderr,
        [
            "weft: waiting up to 5.0 s for 1 call in flight (signal again to stop now)",
            "weft: terminated; stopping servers",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_shutdown_deadline_is_cancelled() {
    let stopped = stop_during_a_slow_call("300ms", 20_000).await;
    assert_eq!(stopped.code, Some(143));
    assert!(
        stopped.took < Duration::from_secs(3),
        "the deadline holds: {:?}",
        stopped.took
    );
    assert_eq!(
        stopped.stderr,
        [
            "weft: waiting up to 300 ms for 1 call in flight (signal again to stop now)",
            "weft: cancelling 1 unfinished call",
            "weft: terminated; stopping servers",
        ]
    );
    // The agent gets an answer, not a dropped connection: the call failed
    // because weft stopped the server under it.
    let result = stopped
        .outcome
        .expect("weft answers the cancelled call before it exits");
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert_eq!(
        text_of(&result),
        "[unavailable] fixture/slow: the connection to the server closed"
    );
    assert_eq!(
        result.meta.as_ref().and_then(|m| m.get("weft/errorKind")),
        Some(&json!("unavailable")),
        "{result:?}"
    );
}

#[test]
fn logs_are_json_lines_with_a_request_id() {
    let dir = temp_dir();
    let text = command_entry("fixture", &faulty(), &[]);
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let out = weft()
        .current_dir(dir.path())
        .args(["--log-format", "json", "--log-level", "weft=debug"])
        .args(["call", "fixture", "echo", r#"{"text": "traced"}"#])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "traced",
        "stdout has only the result"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let done = lines
        .iter()
        .find(|l| l["fields"]["message"] == "call done")
        .unwrap_or_else(|| panic!("no router line: {stderr}"));
    let spans = done["spans"].as_array().expect("spans");
    let id = spans
        .iter()
        .find_map(|s| s["request_id"].as_str())
        .unwrap_or_else(|| panic!("no request id: {done}"));
    assert_eq!(id.len(), 12);
    assert!(
        spans
            .iter()
            .any(|s| s["server"] == "fixture" && s["tool"] == "echo"),
        "{done}"
    );
}
