//! The direct path for a stateless (2026-07-28) `tools/call` over HTTP
//! (`serve/direct.rs`): a plain call is answered without rmcp's
//! per-request service, and its answer is the one rmcp's path gives the
//! same request, for results, tool errors, schema mismatches and unknown
//! tools alike; an upstream's request for input parks the call and the
//! agent's retry resumes it. `/metrics` counts which path answered.

use serde_json::{Value, json};

use crate::support::edge::{Raw, serve, write_config};
use crate::support::*;

/// A header that sends the same request to rmcp's path: rmcp ignores a
/// param header no schema annotates, and weft's direct path takes no
/// request with one.
pub(crate) const TO_RMCP: (&str, &str) = ("mcp-param-unused", "1");

/// `weft_mcp_posts_total` for `path`, from `/metrics`.
pub(crate) async fn posts(http: &reqwest::Client, base: &str, path: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics body");
    let prefix = format!("weft_mcp_posts_total{{path=\"{path}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// The 2026-07-28 `_meta` of a request, with `capabilities`.
fn meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "weft-direct-test", "version": "1"},
    })
}

fn call_message(id: u64, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// The calls both paths are compared on: a result, arguments that do not
/// fit the schema (a tool error weft makes), a tool error the upstream
/// makes (a 2026-07-28 server), and a name nobody has (a JSON-RPC error).
pub(crate) fn cases() -> [(&'static str, Value); 4] {
    [
        ("everything__echo", json!({"message": "hi"})),
        ("everything__echo", json!({"message": 5})),
        (
            "time__convert_time",
            json!({"source_timezone": "Nowhere/Land", "time": "12:00", "target_timezone": "UTC"}),
        ),
        ("everything__no-such-tool", json!({})),
    ]
}

/// What answer `a` to case `i` of [`cases`] must hold.
pub(crate) fn check_case(i: usize, a: &Value) {
    match i {
        0 => assert_eq!(a["result"]["content"][0]["text"], "Echo: hi", "{a}"),
        1 => assert_eq!(
            a["result"]["_meta"]["weft/errorKind"], "invalid-args",
            "{a}"
        ),
        2 => assert_eq!(a["result"]["isError"], true, "{a}"),
        _ => assert_eq!(a["error"]["code"], -32602, "{a}"),
    }
}

/// A config's text: `[settings]` with `settings`, then server-everything
/// (a 2025-11-25 server) and mcp-server-time (a 2026-07-28 one).
pub(crate) fn everything_and_time(settings: &str) -> String {
    let mut text = format!("[settings]\nstartup_timeout = \"60s\"\n{settings}");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stateless_call_is_answered_directly_as_rmcp_answers_it() {
    let dir = temp_dir();
    let text = everything_and_time("");
    let served = serve(&write_config(dir.path(), &text), &[]);
    let http = reqwest::Client::new();
    let raw = Raw::new(&http, &served.base, "2026-07-28");
    let cases = cases();
    for (i, (tool, args)) in cases.iter().enumerate() {
        let id = i as u64 + 1;
        let message = call_message(
            id,
            json!({"name": tool, "arguments": args, "_meta": meta(json!({}))}),
        );
        let direct = raw.post(&message, &[]).await;
        let via_rmcp = raw.post(&message, &[TO_RMCP]).await;
        assert_eq!(
            (direct.status, via_rmcp.status),
            (200, 200),
            "{tool}: {} / {}",
            direct.body,
            via_rmcp.body
        );
        assert_eq!(direct.content_type(), "application/json", "{tool}");
        assert_eq!(via_rmcp.content_type(), "application/json", "{tool}");
        let (a, b) = (direct.message(id), via_rmcp.message(id));
        assert_eq!(a, b, "{tool}: the two paths answer differently");
        check_case(i, &a);
    }
    assert_eq!(posts(&http, &served.base, "direct").await, 4);
    assert_eq!(posts(&http, &served.base, "rmcp").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_call_that_needs_the_agent_parks_and_resumes_on_its_retry() {
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let served = serve(&write_config(dir.path(), &text), &[]);
    let http = reqwest::Client::new();
    let raw = Raw::new(&http, &served.base, "2026-07-28");
    let first = call_message(
        1,
        json!({"name": "everything__trigger-sampling-request",
               "arguments": {"prompt": "weft?", "maxTokens": 20},
               "_meta": meta(json!({"sampling": {}}))}),
    );
    let answer = raw.post(&first, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let result = answer.message(1)["result"].clone();
    assert_eq!(result["resultType"], "input_required", "{result}");
    let request = &result["inputRequests"]["weft-0"];
    assert_eq!(request["method"], "sampling/createMessage", "{result}");
    let state = result["requestState"].as_str().expect("a requestState");
    assert!(state.starts_with("weft-input:"), "{state}");
    assert_eq!(posts(&http, &served.base, "direct").await, 1);

    // The retry carries the answer (and goes to rmcp's path: it resumes).
    let retry = call_message(
        2,
        json!({"name": "everything__trigger-sampling-request",
               "arguments": {"prompt": "weft?", "maxTokens": 20},
               "requestState": state,
               "inputResponses": {"weft-0": {
                   "role": "assistant",
                   "content": {"type": "text", "text": "sampled on the direct path"},
                   "model": "test-model", "stopReason": "endTurn"}},
               "_meta": meta(json!({"sampling": {}}))}),
    );
    let answer = raw.post(&retry, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let result = answer.message(2)["result"].clone();
    assert_eq!(result["resultType"], "complete", "{result}");
    assert!(
        result.to_string().contains("sampled on the direct path"),
        "the upstream did not get the agent's answer: {result}"
    );
    assert_eq!(posts(&http, &served.base, "rmcp").await, 1);
    assert_eq!(posts(&http, &served.base, "direct").await, 1);
}
