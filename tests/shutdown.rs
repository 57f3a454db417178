//! How `weft` stops and says what it did: `weft status` with no weft
//! running, SIGTERM during a call (the call finishes within
//! `shutdown_timeout`, or is cancelled past it, and the servers are
//! reaped either way), and logs as JSON lines carrying a request id.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::served::{Served, faulty, recorded, serve};
use crate::support::*;

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
