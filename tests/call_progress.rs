//! A directly answered call with a progress token
//! (`serve/calls/own_stream.rs`): the upstream's progress comes on the
//! call's own event stream, before the answer, exactly as rmcp's path
//! sends it, in every era, from a TypeScript-SDK server (server-everything)
//! and a Python-SDK one; a call that sends no progress is answered in one
//! piece, as rmcp answers it. rmcp's client puts a token on every request,
//! so its calls, and the Python SDK's with a progress callback, are
//! answered directly. A session's stream of that kind opens with a priming
//! event and numbers its events; when the agent's connection drops, the
//! call runs on, and the session (no other) resumes the stream with
//! `Last-Event-ID` (`serve/calls/replay.rs`). `/metrics` counts which path
//! answered.

use serde_json::{Value, json};

use crate::direct_call::{TO_RMCP, posts};
use crate::http_upstreams::Progress;
use crate::session_calls::{to_rmcp, until_direct};
use crate::support::edge::{Answer, Raw, serve, write_config};
use crate::support::*;

const VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2026-07-28"];

/// server-everything and mcp-server-time, and the relay matrix's Python
/// SDK server (`relay__count_progress`) over stdio.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = crate::direct_call::everything_and_time("");
    let script = repo_root().join("tests/fixtures/relay-matrix/py_server.py");
    text += &command_entry(
        "relay",
        &venv_bin("python"),
        &[&script.display().to_string()],
    );
    write_config(dir, &text)
}

/// The calls that send progress: (tool, arguments, what the result says).
fn progress_cases() -> [(&'static str, Value, &'static str); 2] {
    [
        (
            "everything__trigger-long-running-operation",
            json!({"duration": 0.03, "steps": 3}),
            "Long running operation completed",
        ),
        ("relay__count_progress", json!({}), "counted 3"),
    ]
}

/// Every message of an answer, in order, with the answer's id made 0.
fn messages(answer: &Answer) -> Vec<Value> {
    let mut all = answer.messages();
    for m in &mut all {
        if m.get("id").is_some() {
            m["id"] = json!(0);
        }
    }
    all
}

/// POSTs call `id` of `tool` with `args` and progress token `token`, in
/// `raw`'s era; `to_rmcp` sends it to rmcp's path instead.
async fn call(raw: &Raw, id: u64, tool: &str, args: &Value, token: &str, rmcp: bool) -> Answer {
    let version = raw.version();
    let mut params = json!({"name": tool, "arguments": args, "_meta": {"progressToken": token}});
    let mut extra = vec![];
    if raw.stateless() {
        let meta = &mut params["_meta"];
        meta["io.modelcontextprotocol/protocolVersion"] = json!(version);
        meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
        meta["io.modelcontextprotocol/clientInfo"] =
            json!({"name": "weft-progress", "version": "1"});
        if rmcp {
            extra.push(TO_RMCP);
        }
    } else if rmcp {
        params = to_rmcp(version, &params);
    }
    let message = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    raw.post(&message, &extra).await
}

/// The counts of the `direct` and `rmcp` paths.
async fn counts(http: &reqwest::Client, base: &str) -> (u64, u64) {
    (
        posts(http, base, "direct").await,
        posts(http, base, "rmcp").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_on_a_direct_calls_own_stream_is_what_rmcps_path_sends() {
    let dir = temp_dir();
    let served = serve(&config(dir.path()), &[]);
    let http = reqwest::Client::new();
    for version in VERSIONS {
        let mut raw = Raw::new(&http, &served.base, version);
        if !raw.stateless() {
            raw.open().await;
            until_direct(&mut raw, &http, &served.base).await;
        }
        for (n, (tool, args, said)) in progress_cases().into_iter().enumerate() {
            let token = format!("p-{n}");
            let (d0, r0) = counts(&http, &served.base).await;
            let direct = call(&raw, 100, tool, &args, &token, false).await;
            assert_eq!(
                counts(&http, &served.base).await,
                (d0 + 1, r0),
                "{version} {tool}: not answered directly"
            );
            let via_rmcp = call(&raw, 101, tool, &args, &token, true).await;
            assert_eq!(counts(&http, &served.base).await, (d0 + 1, r0 + 1));
            assert_eq!((direct.status, via_rmcp.status), (200, 200), "{tool}");
            assert_eq!(
                direct.content_type(),
                "text/event-stream",
                "{version} {tool}"
            );
            assert_eq!(
                via_rmcp.content_type(),
                "text/event-stream",
                "{version} {tool}"
            );
            let (a, b) = (messages(&direct), messages(&via_rmcp));
            assert_eq!(a, b, "{version} {tool}: the two paths stream differently");
            // Three progress notifications with the agent's token, then
            // the answer.
            assert_eq!(a.len(), 4, "{version} {tool}: {a:?}");
            for (i, m) in a[..3].iter().enumerate() {
                assert_eq!(m["method"], "notifications/progress", "{m}");
                assert_eq!(m["params"]["progressToken"], json!(token), "{m}");
                assert_eq!(m["params"]["progress"], json!(i as f64 + 1.0), "{m}");
            }
            let text = a[3]["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default();
            assert!(text.contains(said), "{version} {tool}: {}", a[3]);
        }
        // A call with a token that sends no progress: one message, as
        // rmcp's path gives it (JSON in 2026-07-28, one event before).
        for (i, (tool, args)) in crate::direct_call::cases().iter().enumerate() {
            let (d0, r0) = counts(&http, &served.base).await;
            let direct = call(&raw, 200, tool, args, "quiet", false).await;
            let via_rmcp = call(&raw, 201, tool, args, "quiet", true).await;
            assert_eq!(
                counts(&http, &served.base).await,
                (d0 + 1, r0 + 1),
                "{tool}"
            );
            assert_eq!(direct.status, via_rmcp.status, "{version} {tool}");
            assert_eq!(
                direct.content_type(),
                via_rmcp.content_type(),
                "{version} {tool}"
            );
            let expected = if raw.stateless() {
                "application/json"
            } else {
                "text/event-stream"
            };
            assert_eq!(direct.content_type(), expected, "{version} {tool}");
            let (a, b) = (messages(&direct), messages(&via_rmcp));
            assert_eq!(a, b, "{version} {tool}: the two paths answer differently");
            assert_eq!(a.len(), 1, "{version} {tool}: {a:?}");
            crate::direct_call::check_case(i, &a[0]);
        }
    }
}

// One thread: rmcp hands each notification to a task of its own, and on
// one thread they run in the order they arrived.
#[tokio::test(flavor = "current_thread")]
async fn rmcps_client_and_the_python_sdks_calls_with_progress_are_answered_directly() {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, NumberOrString, ProgressToken, RequestMetaObject};
    let dir = temp_dir();
    let served = serve(&config(dir.path()), &[]);
    let http = reqwest::Client::new();
    let base = &served.base;

    // rmcp's client: one session, its connection kept alive.
    let progress = Progress::default();
    let client = progress
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
            format!("{base}/mcp"),
        ))
        .await
        .expect("rmcp's client connects");
    // Its first call may come before weft has seen the session's
    // `initialized` (rmcp handles it in a task of its own).
    let start = std::time::Instant::now();
    loop {
        let before = posts(&http, base, "direct").await;
        let echo = CallToolRequestParams::new("everything__echo").with_arguments(
            json!({"message": "ready?"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        client.peer().call_tool(echo).await.expect("echo");
        if posts(&http, base, "direct").await > before {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "rmcp's client is never answered directly"
        );
    }
    for (i, (tool, args, said)) in progress_cases().into_iter().enumerate() {
        if let Ok(mut seen) = progress.0.lock() {
            seen.clear();
        }
        let (d0, r0) = counts(&http, base).await;
        let mut params = CallToolRequestParams::new(tool)
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::Number(i as i64 + 1),
        )));
        let r = client
            .peer()
            .call_tool(params)
            .await
            .expect("a call with progress");
        assert!(text_of(&r).contains(said), "{tool}: {}", text_of(&r));
        assert_eq!(
            counts(&http, base).await,
            (d0 + 1, r0),
            "{tool}: not answered directly"
        );
        let seen = progress.0.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen, vec![1.0, 2.0, 3.0], "{tool}");
    }
    client.cancel().await.expect("rmcp's client leaves");

    // The Python SDK: a new process and connection per agent, in both eras.
    let url = format!("{base}/mcp");
    for mode in ["legacy", "2026-07-28"] {
        for (tool, args, said) in progress_cases() {
            let before = posts(&http, base, "direct").await;
            let agent_url = url.clone();
            let arg = json!({"tool": tool, "args": args, "list_first": true});
            let out = tokio::task::spawn_blocking(move || {
                crate::serve::agent(&agent_url, mode, "progress", arg)
            })
            .await
            .expect("the Python SDK agent");
            assert_eq!(
                out["progress"],
                json!([1.0, 2.0, 3.0]),
                "{mode} {tool}: {out}"
            );
            assert!(
                out["text"].as_str().unwrap_or_default().contains(said),
                "{out}"
            );
            assert_eq!(
                posts(&http, base, "direct").await,
                before + 1,
                "{mode} {tool}: not answered directly"
            );
        }
    }
}

/// A GET of `raw`'s session at `base` resuming after `last`: its answer.
async fn resume(http: &reqwest::Client, base: &str, session: &str, last: &str) -> Answer {
    let request = http
        .get(format!("{base}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", session)
        .header("last-event-id", last);
    crate::support::edge::send(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_session_calls_dropped_stream_runs_on_and_is_resumed_with_last_event_id() {
    let dir = temp_dir();
    let served = serve(&config(dir.path()), &[]);
    let base = &served.base;
    let http = reqwest::Client::new();
    let mut raw = Raw::new(&http, base, "2025-11-25");
    raw.open().await;
    until_direct(&mut raw, &http, base).await;
    let session = raw.session.clone().expect("a session");
    let (d0, r0) = counts(&http, base).await;
    // The call, on a connection of its own, read up to its first progress.
    let own = reqwest::Client::new();
    let message = json!({"jsonrpc": "2.0", "id": 300, "method": "tools/call", "params": {
        "name": "everything__trigger-long-running-operation",
        "arguments": {"duration": 0.8, "steps": 4},
        "_meta": {"progressToken": "resume-me"}}});
    let mut response = own
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .body(message.to_string())
        .send()
        .await
        .expect("the call");
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    while !seen.contains("notifications/progress") {
        let chunk = response.chunk().await.expect("read the stream");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.expect("the stream goes on"),
        ));
    }
    assert_eq!(
        counts(&http, base).await,
        (d0 + 1, r0),
        "not answered directly"
    );
    // A priming event (an id and a retry, no message), as rmcp's streams
    // open, then the first progress, with its id.
    let ids: Vec<String> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 2, "{seen}");
    let stream = ids[0].strip_suffix("/0").expect("the priming event's id");
    assert!(stream.starts_with("weft-"), "{seen}");
    assert_eq!(ids[1], format!("{stream}/1"), "{seen}");
    assert!(seen.contains("retry: 3000"), "{seen}");
    // The connection drops.
    drop(response);
    drop(own);

    // Another session cannot resume it: rmcp's empty stream.
    let mut other = Raw::new(&http, base, "2025-11-25");
    other.open().await;
    let stranger = other.session.clone().expect("a session");
    let refused = resume(&http, base, &stranger, &ids[1]).await;
    assert_eq!(refused.status, 200);
    assert!(refused.messages().is_empty(), "{}", refused.body);

    // Its own session resumes after the last event it saw, and gets the
    // rest as the call, still running, sends it.
    let resumed = resume(&http, base, &session, &ids[1]).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(resumed.content_type(), "text/event-stream");
    let got = resumed.messages();
    assert_eq!(got.len(), 4, "{}", resumed.body);
    for (i, m) in got[..3].iter().enumerate() {
        assert_eq!(m["params"]["progressToken"], "resume-me", "{m}");
        assert_eq!(m["params"]["progress"], json!(i as f64 + 2.0), "{m}");
    }
    assert_eq!(got[3]["id"], 300);
    let text = got[3]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("Long running operation completed"),
        "{}",
        got[3]
    );
    let resumed_ids: Vec<&str> = resumed
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    let expected: Vec<String> = (2..=5).map(|n| format!("{stream}/{n}")).collect();
    assert_eq!(resumed_ids, expected);
}
