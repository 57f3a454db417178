//! Fair shares of the caps tenants share (issue 53, finding 8), over
//! `weft serve --http` with two tenant keys, `a` and `b`, and real
//! servers: one tenant cannot take all of a cap the other needs.
//!
//! - An adapter's `limits.concurrency`: `a` fills the adapter with slow
//!   calls (server-everything's long-running operation, reached through
//!   the test adapter's nested `call`), and `b`'s call still runs.
//! - Legacy SSE sessions (256 at most): `a` opens sessions until it is
//!   refused, and `b` can still open one.
//! - Policy runs taken as MCP tasks (they outlive their request): with no
//!   `concurrent_runs` configured, `a` gets 8 at once and is refused a
//!   ninth, saying which key raises it; `b` can still start one.
//!
//! The rule (`host/src/tenant/share.rs`): where two or more tenants share
//! a cap, a tenant may take a slot only while it holds fewer slots than
//! are free, so it never holds more than half of what is left.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::edge::{Raw, only_text, serve, write_config};
use crate::support::keys::add_key_at;
use crate::support::*;

/// The slow tool every test holds a slot with.
const SLOW: &str = "trigger-long-running-operation";

/// A config in `dir` with server-everything, the test adapter as `ad`
/// (`limits.concurrency = 2`, granted the slow tool), the example `retry`
/// policy (granted the same), a journal (so that long runs become tasks),
/// and tenants `a` and `b`, who see and may run all of it: their keys.
fn setup(dir: &Path) -> (std::path::PathBuf, String, String) {
    std::fs::copy(guest_wasm("weft-adapter-guest"), dir.join("adapter.wasm"))
        .expect("copy the adapter");
    std::fs::copy(guest_wasm("weft-policy-retry"), dir.join("retry.wasm"))
        .expect("copy the policy");
    let mut text =
        String::from("[settings]\nstartup_timeout = \"60s\"\njournal = \"journal.db\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        r#"
[servers.ad]
component = "adapter.wasm"
grants = ["everything.{SLOW}"]
[servers.ad.limits]
timeout = "60s"
concurrency = 2

[policies.retry]
path = "retry.wasm"
grants = ["everything.{SLOW}"]
"#
    );
    for t in ["a", "b"] {
        text += &format!(
            "[tenants.{t}]\ninclude = [\"ad.*\", \"everything.*\"]\npolicies = [\"retry\"]\n"
        );
    }
    let config = write_config(dir, &text);
    let (a, b) = (add_key_at(&config, "a"), add_key_at(&config, "b"));
    (config, a, b)
}

/// A 2026-07-28 client of `base` with `key`.
fn client(base: &str, key: &str) -> Raw {
    Raw::keyed(&reqwest::Client::new(), base, "2026-07-28", key)
}

/// `ad.call` of the slow tool for `seconds`, as tenant `key`: the result.
async fn slow_adapter_call(base: String, key: String, seconds: u32) -> Value {
    let args = json!({"server": "everything", "tool": SLOW,
                      "args": {"duration": seconds, "steps": 1}});
    client(&base, &key).call("ad__call", args).await
}

/// While tenant `a` holds its share of the adapter's two slots with a slow
/// call, tenant `b`'s call runs and completes; `a`'s calls past its share
/// are refused as rate-limited, naming the cap and the key that raises it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_take_every_slot_of_an_adapter() {
    let dir = temp_dir();
    let (config, key_a, key_b) = setup(dir.path());
    let weft = serve(&config, &[]);

    // a asks for three slow calls at once, more than the adapter's cap.
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..3 {
        held.spawn(slow_adapter_call(weft.base.clone(), key_a.clone(), 6));
    }
    let first = within("a's first answer", held.join_next())
        .await
        .expect("three calls")
        .expect("the call task");
    // An answer before the slow call ends is a refusal: a holds what it may.
    assert_eq!(first["isError"], true, "{first}");

    let mut b = client(&weft.base, &key_b);
    let answer = within(
        "b's call",
        b.call("ad__echo", json!({"message": "b gets through"})),
    )
    .await;
    assert_eq!(
        only_text(&answer),
        "b gets through",
        "b is refused while a holds the adapter: {answer}"
    );
    assert_eq!(answer.get("isError"), None, "{answer}");

    let share = "[rate-limited] ad/call: tenant \"a\" holds 1 of adapter \"ad\"'s 2 call slots \
                 (servers.ad.limits.concurrency), as many as are left for other tenants: a tenant \
                 holds no more slots than it leaves free; retry when one of its calls ends, or \
                 raise servers.ad.limits.concurrency";
    assert_eq!(only_text(&first), share);
    let mut rest = vec![];
    while let Some(r) = within("a's other answers", held.join_next()).await {
        rest.push(r.expect("the call task"));
    }
    let done = json!({"ok": true,
        "text": "Long running operation completed. Duration: 6 seconds, Steps: 1."})
    .to_string();
    let mut want = vec![share.to_string(), done];
    let mut got: Vec<String> = rest.iter().map(only_text).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{rest:?}");
}

/// GET /sse as `key`: the open event stream (its `endpoint` event read),
/// or the refusal's status and body.
async fn open_sse(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> Result<reqwest::Response, (u16, String)> {
    let mut resp = within(
        "GET /sse",
        http.get(format!("{base}/sse"))
            .header("accept", "text/event-stream")
            .header("authorization", format!("Bearer {key}"))
            .send(),
    )
    .await
    .expect("weft answers GET /sse");
    let status = resp.status().as_u16();
    if status != 200 {
        let body = within("the refusal's body", resp.text())
            .await
            .expect("a body");
        return Err((status, body));
    }
    let mut seen = String::new();
    while !seen.contains("event: endpoint") {
        let chunk = within("the endpoint event", resp.chunk())
            .await
            .expect("the stream reads")
            .expect("the stream is open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(resp)
}

/// Tenant `a` opens legacy SSE sessions until it is refused for its share
/// (half of the 256 weft keeps); tenant `b` can still open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_take_every_legacy_sse_session() {
    let dir = temp_dir();
    let (config, key_a, key_b) = setup(dir.path());
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();

    let mut open = vec![];
    let refused = loop {
        match open_sse(&http, &weft.base, &key_a).await {
            Ok(stream) => open.push(stream),
            Err(refusal) => break refusal,
        }
        assert!(open.len() <= 256, "a opened more sessions than weft keeps");
    };
    let theirs = open_sse(&http, &weft.base, &key_b).await;
    assert!(
        theirs.is_ok(),
        "b cannot open a session while a holds {}: {:?}",
        open.len(),
        theirs.err()
    );
    assert_eq!(open.len(), 128, "a's sessions");
    let (status, body) = refused;
    assert_eq!(status, 429, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON-RPC refusal");
    assert_eq!(
        body["error"]["message"],
        "tenant \"a\" holds 128 of the 256 legacy SSE sessions weft keeps, as many as are left \
         for other tenants: a tenant holds no more sessions than it leaves free; close one of \
         its sessions, or use streamable HTTP at /mcp",
        "{body}"
    );
}

/// `tools/call` of the `retry` policy over the slow tool, as an agent that
/// takes tasks: the JSON-RPC answer.
async fn start_run(raw: &Raw, id: u64) -> Value {
    let input = json!({"server": "everything", "tool": SLOW, "attempts": 1,
                       "items": [{"duration": 20, "steps": 1}]});
    let message = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
    "name": "retry",
    "arguments": input,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {
            "extensions": {"io.modelcontextprotocol/tasks": {}}
        },
        "io.modelcontextprotocol/clientInfo": {"name": "weft-fair-share", "version": "1"},
    }}});
    let answer = raw.post(&message, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.message(id)
}

/// With no `concurrent_runs` configured, a tenant has 8 runs at once; runs
/// taken as tasks (their requests long answered) hold theirs until they
/// end, so `a`'s ninth is refused with the key that raises the cap, and
/// `b` still starts one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_runs_have_a_default_cap_per_tenant() {
    let dir = temp_dir();
    let (config, key_a, key_b) = setup(dir.path());
    let weft = serve(&config, &[]);
    let a = client(&weft.base, &key_a);

    let a = std::sync::Arc::new(a);
    let runs: Vec<_> = (1..=9)
        .map(|id| {
            let a = a.clone();
            tokio::spawn(async move { start_run(&a, id).await })
        })
        .collect();
    let mut answers = vec![];
    for run in runs {
        answers.push(within("a's nine runs", run).await.expect("the run task"));
    }
    let (tasks, refused): (Vec<&Value>, Vec<&Value>) = answers
        .iter()
        .partition(|m| m["result"]["resultType"] == "task");
    assert_eq!(
        (tasks.len(), refused.len()),
        (8, 1),
        "a's runs: {answers:#?}"
    );
    assert_eq!(refused[0]["result"]["isError"], true, "{}", refused[0]);
    assert_eq!(
        only_text(&refused[0]["result"]),
        "retry failed: rate-limited: tenant \"a\" already has 8 policy runs in progress, its limit \
         (tenants.a.limits.concurrent_runs, 8 unless set; a run taken as a task holds its \
         place until it ends); retry when one ends, or raise tenants.a.limits.concurrent_runs",
    );

    let b = client(&weft.base, &key_b);
    let theirs = within("b's run", start_run(&b, 1)).await;
    assert_eq!(theirs["result"]["resultType"], "task", "{theirs}");
    assert_eq!(theirs["result"]["status"], "working", "{theirs}");
}
