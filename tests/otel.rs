//! Traces over OpenTelemetry (`settings.otel_endpoint`): a small OTLP/HTTP
//! receiver (`tests/fixtures/python/otlp_receiver.py`, decoding with the
//! Python `opentelemetry-proto` package) gets one trace per agent call,
//! its spans linked request → call → upstream, with the `traceparent` the
//! agent sent as the request's parent; the upstream (the Python SDK's
//! server, `meta_server.py`) receives the upstream span's context in
//! `_meta`. Checked for rmcp's client (a session, `_meta.traceparent`) and
//! for a plain 2026-07-28 POST (the `traceparent` header), and for a
//! policy run (request → policy → call).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, RequestMetaObject};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

use crate::support::edge::Raw;
use crate::support::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const AGENT_SPAN: &str = "00f067aa0ba902b7";
const TRACE2: &str = "0af7651916cd43dd8448eb211c80319c";
const AGENT_SPAN2: &str = "b7ad6b7169203331";

/// The receiver and its base URL.
fn receiver() -> (Background, String) {
    let mut cmd = Command::new(venv_bin("python"));
    cmd.arg(repo_root().join("tests/fixtures/python/otlp_receiver.py"))
        .stdout(Stdio::piped());
    let mut process = Background::spawn(&mut cmd);
    let stdout = process.0.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("the receiver printed no port ({e}): {line:?}"));
    (process, format!("http://127.0.0.1:{port}"))
}

async fn received(receiver: &str) -> Vec<Value> {
    reqwest::get(format!("{receiver}/spans"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The spans of `trace` once `n` have arrived (the batch goes out every
/// 100 ms here: `OTEL_BSP_SCHEDULE_DELAY`).
async fn trace(receiver: &str, trace: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let found: Vec<Value> = received(receiver)
            .await
            .into_iter()
            .filter(|s| s["trace_id"] == trace)
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "fewer than {n} spans of trace {trace} arrived: {:?}",
        received(receiver).await
    )
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = spans.iter().filter(|s| s["name"] == name).collect();
    assert_eq!(found.len(), 1, "one {name} span in {spans:?}");
    found[0]
}

/// Checks a trace of request → call → upstream under the agent's span,
/// and that the upstream got the upstream span's context: the
/// `traceparent` the server saw.
fn linked(spans: &[Value], trace: &str, agent_span: &str, seen_by_server: &str) {
    assert_eq!(spans.len(), 3, "{spans:?}");
    let request = named(spans, "request");
    let call = named(spans, "call");
    let upstream = named(spans, "upstream");
    assert_eq!(request["parent_span_id"], agent_span);
    assert_eq!(call["parent_span_id"], request["span_id"]);
    assert_eq!(upstream["parent_span_id"], call["span_id"]);
    assert_eq!(request["service"], "weft");
    assert_eq!(upstream["attributes"]["server"], "meta");
    assert_eq!(
        seen_by_server,
        format!("00-{trace}-{}-01", upstream["span_id"].as_str().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_agent_call_is_one_trace_linked_to_the_agent_and_passed_upstream() {
    let (_receiver, receiver_url) = receiver();
    let dir = temp_dir();
    std::fs::copy(
        guest_wasm("weft-timer-guest"),
        dir.path().join("timer.wasm"),
    )
    .unwrap();
    let config = format!(
        "[settings]\notel_endpoint = {}\n\
         [servers.meta]\ncommand = {}\nargs = [{}]\n\
         [servers.echo]\nbuiltin = \"echo\"\n\
         [policies.timer]\npath = \"timer.wasm\"\ngrants = [\"echo.echo\"]\n",
        q(&receiver_url),
        q(venv_bin("python").display().to_string()),
        q(repo_root()
            .join("tests/fixtures/python/meta_server.py")
            .display()
            .to_string()),
    );
    std::fs::write(dir.path().join("weft.toml"), config).unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let (_weft, base) = serve_weft_http(&mut cmd);

    // 1. rmcp's client, in a session, with the context in `_meta`.
    let client = within(
        "the agent connects",
        ().serve(StreamableHttpClientTransport::from_uri(format!(
            "{base}/mcp"
        ))),
    )
    .await
    .unwrap();
    let mut meta = RequestMetaObject::new();
    meta.0
        .set_traceparent(format!("00-{TRACE}-{AGENT_SPAN}-01"));
    let mut params = CallToolRequestParams::new("meta__meta");
    params.meta = Some(meta);
    let result = within("a call of meta", client.call_tool(params))
        .await
        .unwrap();
    let seen: Value = serde_json::from_str(&text_of(&result)).unwrap();
    let spans = trace(&receiver_url, TRACE, 3).await;
    linked(
        &spans,
        TRACE,
        AGENT_SPAN,
        seen["traceparent"].as_str().unwrap(),
    );

    // 2. A plain 2026-07-28 POST, with the context in the header.
    let http = reqwest::Client::new();
    let raw = Raw::new(&http, &base, "2026-07-28");
    let message = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "meta__meta", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "otel-test", "version": "1"},
        }},
    });
    let answer = raw
        .post(
            &message,
            &[("traceparent", &format!("00-{TRACE2}-{AGENT_SPAN2}-01"))],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let result = &answer.message(7)["result"];
    let seen: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    let spans = trace(&receiver_url, TRACE2, 3).await;
    linked(
        &spans,
        TRACE2,
        AGENT_SPAN2,
        seen["traceparent"].as_str().unwrap(),
    );

    // 3. A policy run, with no context from the agent: a trace of its own,
    // request → policy → call (the echo server is in-process: no wire).
    crate::support::timer::run_timer(&client, "echo", "echo", 1).await;
    let mut policy = None;
    for _ in 0..300 {
        policy = received(&receiver_url)
            .await
            .into_iter()
            .find(|s| s["name"] == "policy");
        if policy.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let policy = policy.expect("a policy span arrives");
    let run = trace(&receiver_url, policy["trace_id"].as_str().unwrap(), 4).await;
    let request = named(&run, "request");
    assert_eq!(
        request["parent_span_id"], "",
        "a root: the agent sent no context"
    );
    assert_eq!(policy["parent_span_id"], request["span_id"]);
    let calls: Vec<&Value> = run.iter().filter(|s| s["name"] == "call").collect();
    assert_eq!(calls.len(), 2, "the timer makes 1 + 1 calls: {run:?}");
    assert!(
        calls
            .iter()
            .all(|c| c["parent_span_id"] == policy["span_id"]),
        "{run:?}"
    );

    // One trace per agent call: three calls, three traces.
    let all = received(&receiver_url).await;
    let mut traces: Vec<&str> = all
        .iter()
        .map(|s| s["trace_id"].as_str().unwrap())
        .collect();
    traces.sort_unstable();
    traces.dedup();
    assert_eq!(traces.len(), 3, "{all:?}");
}
