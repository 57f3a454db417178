//! A handshake-era session's plain `tools/call` answered in the
//! connection's task (`serve/calls/session_call.rs`), not through rmcp's
//! session worker: the message is the one rmcp sends for the same
//! request, for results, tool errors, schema mismatches and unknown tools,
//! in every handshake-era version; the agent's cancellation, and the
//! end of its session, end such a call and reach the upstream; an agent
//! that can be asked for input keeps rmcp's path. `/metrics` counts which path answered.

use std::time::Duration;

use serde_json::{Value, json};

use crate::direct_call::posts;
use crate::support::edge::{Raw, serve, write_config};
use crate::support::*;

/// A per-request protocol version (the session's own) sends the same
/// call to rmcp's path: weft's takes no call with one.
pub(crate) fn to_rmcp(version: &str, params: &Value) -> Value {
    let mut params = params.clone();
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!(version);
    params
}

/// The counts of the `direct` and `rmcp` paths.
async fn counts(http: &reqwest::Client, base: &str) -> (u64, u64) {
    (
        posts(http, base, "direct").await,
        posts(http, base, "rmcp").await,
    )
}

/// Calls `everything__echo` in `raw`'s session until weft answers one
/// directly: the session's agent is known once rmcp has handled the
/// `initialized` notification, which it does in a task of its own.
pub(crate) async fn until_direct(raw: &mut Raw, http: &reqwest::Client, base: &str) {
    let start = std::time::Instant::now();
    loop {
        let before = posts(http, base, "direct").await;
        raw.call("everything__echo", json!({"message": "ready?"}))
            .await;
        if posts(http, base, "direct").await > before {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no call of the session was answered directly"
        );
    }
}

pub(crate) fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let record = dir.join("calls.log");
    let mut text = crate::direct_call::everything_and_time("");
    text += &command_entry(
        "faulty",
        &target_bin("weft-faulty-server"),
        &[
            "--name",
            "faulty",
            "--record",
            &record.display().to_string(),
        ],
    );
    write_config(dir, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_plain_call_is_answered_directly_as_rmcp_answers_it() {
    let dir = temp_dir();
    let served = serve(&config(dir.path()), &[]);
    let http = reqwest::Client::new();
    let cases = crate::direct_call::cases();
    for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
        let mut raw = Raw::new(&http, &served.base, version);
        raw.open().await;
        until_direct(&mut raw, &http, &served.base).await;
        for (i, (tool, args)) in cases.iter().enumerate() {
            let params = json!({"name": tool, "arguments": args});
            let (d0, r0) = counts(&http, &served.base).await;
            let (id, direct) = raw.request("tools/call", params.clone()).await;
            assert_eq!(
                counts(&http, &served.base).await,
                (d0 + 1, r0),
                "{version} {tool}: not answered directly"
            );
            let (rid, via_rmcp) = raw.request("tools/call", to_rmcp(version, &params)).await;
            assert_eq!(counts(&http, &served.base).await, (d0 + 1, r0 + 1));
            assert_eq!((direct.status, via_rmcp.status), (200, 200), "{tool}");
            assert_eq!(direct.content_type(), "text/event-stream", "{tool}");
            assert_eq!(via_rmcp.content_type(), "text/event-stream", "{tool}");
            let (mut a, mut b) = (direct.message(id), via_rmcp.message(rid));
            a["id"] = json!(0);
            b["id"] = json!(0);
            assert_eq!(a, b, "{version} {tool}: the two paths answer differently");
            assert!(a["result"].get("resultType").is_none(), "{a}");
            crate::direct_call::check_case(i, &a);
        }
    }
}

/// Whether the fault fixture's record in `dir` has a line with `what`.
fn logged(dir: &std::path::Path, what: &str) -> bool {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(what))
}

/// A weft serving [`config`] whose session `raw` takes the direct path,
/// and a call of `faulty__hang` in that session, on a connection of its
/// own, which the upstream (recording in `dir`) already has.
struct Hanging {
    dir: tempfile::TempDir,
    served: crate::support::edge::Served,
    http: reqwest::Client,
    raw: Raw,
    /// The direct path's count before the call.
    before: u64,
    call: tokio::task::JoinHandle<crate::support::edge::Answer>,
}

impl Hanging {
    /// Call `id` hanging.
    async fn start(id: u64) -> Hanging {
        let dir = temp_dir();
        let served = serve(&config(dir.path()), &[]);
        let http = reqwest::Client::new();
        let mut raw = Raw::new(&http, &served.base, "2025-11-25");
        raw.open().await;
        until_direct(&mut raw, &http, &served.base).await;
        let before = posts(&http, &served.base, "direct").await;
        let hang = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "faulty__hang", "arguments": {}}});
        let mut other = Raw::new(&reqwest::Client::new(), &served.base, "2025-11-25");
        other.session = raw.session.clone();
        let call = tokio::spawn(async move { other.post(&hang, &[]).await });
        wait_until(
            Duration::from_secs(10),
            "the upstream to get the call",
            || logged(dir.path(), "faulty hang"),
        );
        Hanging {
            dir,
            served,
            http,
            raw,
            before,
            call,
        }
    }

    /// The call's answer, once it ended (within 10 s).
    async fn answer(&mut self) -> crate::support::edge::Answer {
        tokio::time::timeout(Duration::from_secs(10), &mut self.call)
            .await
            .expect("the call ends")
            .expect("the call's task")
    }

    /// Waits until the upstream recorded the call's cancellation, and
    /// checks the call counted once on the direct path.
    async fn upstream_cancelled(&self) {
        wait_until(
            Duration::from_secs(10),
            "the upstream to record the cancellation",
            || logged(self.dir.path(), "cancelled:hang"),
        );
        assert_eq!(
            posts(&self.http, &self.served.base, "direct").await,
            self.before + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_cancellation_ends_a_direct_call_and_reaches_the_upstream() {
    let mut hanging = Hanging::start(7001).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": 7001, "reason": "the agent gave up"}});
    assert_eq!(hanging.raw.post(&cancel, &[]).await.status, 202);
    let answer = hanging.answer().await;
    // No message answers a cancelled call: its stream closes empty.
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type(), "text/event-stream");
    assert_eq!(answer.body, "", "a cancelled call is not answered");
    hanging.upstream_cancelled().await;
    // The session goes on.
    let result = hanging
        .raw
        .call("faulty__echo", json!({"text": "still here"}))
        .await;
    assert_eq!(result["content"][0]["text"], "still here", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_delete_ends_its_direct_calls() {
    let mut hanging = Hanging::start(7002).await;
    let session = hanging.raw.session.clone().expect("a session");
    let ended = crate::support::edge::send(
        hanging
            .http
            .delete(format!("{}/mcp", hanging.served.base))
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25"),
    )
    .await;
    assert_eq!(ended.status, 204, "{}", ended.body);
    // The call ends with its session, unanswered, and the upstream hears.
    let answer = hanging.answer().await;
    assert_eq!(
        answer.body, "",
        "a call of an ended session is not answered"
    );
    hanging.upstream_cancelled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_can_be_asked_keeps_rmcps_path() {
    let dir = temp_dir();
    let served = serve(&config(dir.path()), &[]);
    let http = reqwest::Client::new();
    for capabilities in [
        json!({"sampling": {}}),
        json!({"elicitation": {}}),
        json!({"roots": {}}),
    ] {
        let mut raw = Raw::new(&http, &served.base, "2025-11-25");
        let (id, answer) = raw
            .request(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": capabilities,
                       "clientInfo": {"name": "weft-session-calls", "version": "1"}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer.message(id).get("result").is_some(),
            "{}",
            answer.body
        );
        raw.session = answer
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(raw.post(&done, &[]).await.status, 202);
        // Several calls: whatever the order of rmcp's tasks, none is
        // answered directly.
        let (d0, r0) = counts(&http, &served.base).await;
        for i in 0..5 {
            let text = format!("asked {i}");
            let result = raw.call("faulty__echo", json!({"text": text})).await;
            assert_eq!(result["content"][0]["text"], text.as_str(), "{result}");
        }
        assert_eq!(
            counts(&http, &served.base).await,
            (d0, r0 + 5),
            "{capabilities}"
        );
    }
}
