//! Durable adapters (`[servers.NAME] durable = true`): each call of the
//! component server is a run in the journal, its nested calls journaled;
//! a call killed halfway is resumed by `weft runs resume` or by a `weft
//! serve` started again with `resume = true`, without sending a nested
//! write twice.
//!
//! The adapter is the test adapter (`tests/guests/adapter`), whose `call`
//! tool makes one nested call; the nested write goes to weft-faulty-server
//! `w`, which records every call it receives (see `durable.rs`).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::durable::{Setup, output_json, stderr};
use crate::support::*;

/// The adapter `a`, durable, allowed to call `w`.
const ADAPTER: &str =
    "[servers.a]\ncomponent = \"adapter.wasm\"\ngrants = [\"w.*\"]\ndurable = true\n";

fn setup(settings: &str) -> Setup {
    let s = Setup::with_settings(settings, ADAPTER);
    std::fs::copy(
        guest_wasm("weft-adapter-guest"),
        s.dir.path().join("adapter.wasm"),
    )
    .unwrap();
    s
}

/// The arguments of the adapter's `call`: one write to `w`.
fn write_args() -> Value {
    json!({"server": "w", "tool": "tool_0", "args": {"text": "write 0"}})
}

/// `weft call a call … --json`; `crash` arms the test hook.
fn call(s: &Setup, crash: Option<&str>) -> std::process::Output {
    let mut cmd = weft();
    cmd.arg("--config").arg(&s.config).args([
        "call",
        "a",
        "call",
        &write_args().to_string(),
        "--json",
    ]);
    if let Some(at) = crash {
        cmd.env("WEFT_TEST_CRASH_AT", at);
    }
    cmd.output().unwrap()
}

/// The adapter's answer to the write, as its text content.
fn answer_text(result: &Value) -> Value {
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"));
    serde_json::from_str(text).unwrap()
}

fn expected_answer() -> Value {
    json!({"ok": true, "text": "tool_0: write 0"})
}

/// An uninterrupted durable call: its run id in `_meta`, the run `ok` in
/// the journal with the nested call in its timeline, its output the
/// result the caller got.
#[test]
fn a_durable_adapter_call_is_a_journaled_run_named_in_its_result() {
    let s = setup("journal = \"journal.db\"\n");
    let result = output_json(&call(&s, None));
    assert_eq!(answer_text(&result), expected_answer());
    let id = result["_meta"]["weft/run-id"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"));
    let run = s.only_run();
    assert_eq!(run["id"], id);
    assert_eq!(run["status"], "ok");
    assert_eq!(run["spec"], "adapter:a");
    let shown = output_json(&s.weft(&["runs", "show", id, "--json"]));
    let calls: Vec<&Value> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "call")
        .collect();
    assert_eq!(calls.len(), 1, "{shown}");
    assert!(
        calls[0]["request"]
            .as_str()
            .unwrap()
            .contains(r#""tool":"tool_0""#),
        "{shown}"
    );
    let output: Value = serde_json::from_str(shown["output"].as_str().unwrap()).unwrap();
    assert_eq!(answer_text(&output), expected_answer());
    assert_eq!(s.record(), ["tool_0 write 0"]);
    // Without `durable`, the same call leaves no run.
    let plain = Setup::with_settings(
        "journal = \"journal.db\"\n",
        &ADAPTER.replace("durable = true\n", ""),
    );
    std::fs::copy(
        guest_wasm("weft-adapter-guest"),
        plain.dir.path().join("adapter.wasm"),
    )
    .unwrap();
    let result = output_json(&call(&plain, None));
    assert_eq!(result["_meta"]["weft/run-id"], Value::Null, "{result}");
    let listed = output_json(&plain.weft(&["runs", "list", "--json"]));
    assert_eq!(listed, json!([]));
}

/// Killed after the nested write's result was stored, the call resumes
/// with `weft runs resume`: the write is answered from the journal, not
/// sent again, and the resumed call answers what an uninterrupted one
/// does. Killed after the write was sent and before its result was
/// stored, the resume stops in doubt naming it, and sends nothing.
#[test]
fn an_adapter_call_killed_mid_call_resumes_without_repeating_its_write() {
    for at in ["after-result:1", "after-send:1"] {
        let s = setup("journal = \"journal.db\"\n");
        let out = call(&s, Some(at));
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{at}: {}",
            stderr(&out)
        );
        assert_eq!(s.record(), ["tool_0 write 0"], "{at}");
        let run = s.only_run();
        assert_eq!(run["status"], "interrupted", "{at}");
        let id = run["id"].as_str().unwrap();
        let resumed = s.weft(&["runs", "resume", id, "--json"]);
        if at == "after-send:1" {
            assert_eq!(resumed.status.code(), Some(1), "{at}");
            let message = stderr(&resumed);
            assert!(
                message.contains("is in doubt: call #")
                    && message.contains(r#"(w.tool_0 {"text":"write 0"})"#),
                "{at}: {message}"
            );
            assert_eq!(s.only_run()["status"], "in-doubt");
        } else {
            assert_eq!(
                answer_text(&output_json(&resumed)),
                expected_answer(),
                "{at}"
            );
            assert_eq!(s.only_run()["status"], "ok", "{at}");
        }
        assert_eq!(
            s.record(),
            ["tool_0 write 0"],
            "{at}: the write was repeated"
        );
    }
}

/// A `weft serve` killed in the middle of an agent's durable adapter call,
/// started again with `resume = true`, finishes the call on its own, the
/// nested write sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_killed_mid_adapter_call_resumes_it_on_start() {
    let s = setup("journal = \"journal.db\"\nresume = true\n");
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(&s.config)
        .env("WEFT_TEST_CRASH_AT", "after-result:1");
    let (mut served, base) = serve_weft_http(&mut cmd);
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    let client = within("the client connects", ().serve(transport))
        .await
        .expect("client connects");
    let params = CallToolRequestParams::new("a__call".to_string())
        .with_arguments(write_args().as_object().cloned().unwrap());
    let pending = tokio::spawn(async move {
        let _ = client.call_tool(params).await;
    });
    let status =
        tokio::task::spawn_blocking(move || wait_child(&mut served.0, Duration::from_secs(60)))
            .await
            .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
    pending.abort();
    assert_eq!(s.record(), ["tool_0 write 0"]);
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let mut cmd = weft();
    cmd.arg("--config").arg(&s.config);
    let (_again, _) = serve_weft_http(&mut cmd);
    let mut run = Value::Null;
    wait_until(Duration::from_secs(60), &format!("run {id} ends"), || {
        let out = s.weft(&["runs", "show", &id, "--json"]);
        if !out.status.success() {
            return false;
        }
        run = serde_json::from_slice(&out.stdout).unwrap();
        !matches!(run["status"].as_str(), Some("running" | "interrupted"))
    });
    assert_eq!(run["status"], "ok", "{run}");
    let output: Value = serde_json::from_str(run["output"].as_str().unwrap()).unwrap();
    assert_eq!(answer_text(&output), expected_answer());
    assert_eq!(s.record(), ["tool_0 write 0"], "the write was repeated");
}
