//! Adapters' outbound HTTP (`egress`) and the secrets the host injects
//! into it (`egress_headers`), against a real local HTTP service
//! (`support::echo_http`) that records what it receives and echoes every
//! header back. The test adapter (`tests/guests/egress`) sends requests
//! through `wasi:http` and reports what it gets and what it can read.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::echo_http::EchoHttp;
use crate::support::*;
use weft::Hub;

/// The secret the host injects. It must reach the service and never the
/// adapter, nor any output of weft.
const CANARY: &str = "canary-5e1f9b2c-egress-token";

/// A config in `dir` for a service on `port`, with the egress adapter as:
/// - `net`: may request `/api/*` on 127.0.0.1:port, which gets
///   `Authorization: Bearer CANARY` injected;
/// - `small`: may request anything on 127.0.0.1:port, with responses
///   capped at 1 KiB and requests at 300 ms;
/// - `wild`: may request any host on that port (`*`), named by no address;
/// - `byname`: may request `localhost` on that port;
/// - `closed`: no `egress` at all.
fn setup(dir: &Path, port: u16) -> PathBuf {
    std::fs::copy(guest_wasm("weft-egress-guest"), dir.join("egress.wasm"))
        .expect("copy the adapter");
    write_secrets(dir, "API_TOKEN", CANARY);
    let text = format!(
        r#"[settings]
secrets = "secrets.toml"

[servers.net]
component = "egress.wasm"
egress = ["http://127.0.0.1:{port}/api/*"]
[servers.net.egress_headers."127.0.0.1"]
Authorization = "Bearer ${{secret:API_TOKEN}}"
[servers.net.config]
note = "the adapter's own config"

[servers.small]
component = "egress.wasm"
egress = ["http://127.0.0.1:{port}"]
[servers.small.limits]
max_response = "1KiB"
request_timeout = "300ms"

[servers.wild]
component = "egress.wasm"
egress = ["http://*:{port}"]

[servers.byname]
component = "egress.wasm"
egress = ["http://localhost:{port}"]

[servers.closed]
component = "egress.wasm"
"#
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn hub(dir: &Path, port: u16) -> Hub {
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.join("cache"))).expect("sandbox");
    let config = weft::Config::load(&setup(dir, port)).expect("the config loads");
    within("the hub starts", Hub::start(config)).await
}

/// `SERVER.fetch` of `args`: the adapter's report, as JSON, and its text.
async fn fetch(hub: &Hub, server: &str, args: Value) -> (Value, String) {
    let r = within(
        "an adapter's fetch",
        hub.call_tool(server, "fetch", args.as_object().cloned()),
    )
    .await
    .unwrap_or_else(|e| panic!("{server}.fetch fails: {e:?}"));
    let text = text_of(&r);
    let report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (report, text)
}

/// `SERVER.fetch` of a GET of `url`: the adapter's report.
async fn get(hub: &Hub, server: &str, url: String) -> Value {
    fetch(hub, server, json!({ "url": url })).await.0
}

/// The host's refusal as the adapter saw it: `wasi:http`'s
/// `internal-error` carrying weft's reason.
fn refusal(reason: &str) -> String {
    format!("ErrorCode::InternalError(Some({reason:?}))")
}

/// An allowed request reaches the service with the injected secret; the
/// adapter cannot set that header itself, cannot read it on its own
/// request, and gets the service's echo of it masked, in headers and body
/// alike. Its config and environment hold no trace of it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_request_carries_the_secret_the_adapter_never_sees() {
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let hub = hub(dir.path(), service.port).await;
    let url = format!("http://127.0.0.1:{}/api/items?page=2", service.port);
    let (report, text) = fetch(
        &hub,
        "net",
        json!({"url": url, "headers": {"Authorization": "Bearer mine", "X-Trace": "t-1"}}),
    )
    .await;
    assert_eq!(report["ok"], json!(true), "{text}");
    assert_eq!(report["status"], json!(200));
    // The adapter may not set the injected header...
    assert_eq!(
        report["refused_headers"],
        json!([{"header": "Authorization", "error": "HeaderError::Forbidden"}])
    );
    // ...nor read it on its own request: only what it set is there.
    assert_eq!(report["sent_headers"], json!([["x-trace", "t-1"]]));
    // The service got the secret, once, and the adapter's own header.
    let seen = service.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["path"], json!("/api/items?page=2"));
    assert_eq!(
        seen[0]["headers"]["authorization"],
        json!(format!("Bearer {CANARY}"))
    );
    assert_eq!(seen[0]["headers"]["x-trace"], json!("t-1"));
    // The echo came back masked: the header and the body.
    let echoed: Vec<(String, String)> =
        serde_json::from_value(report["headers"].clone()).expect("headers");
    assert!(
        echoed.contains(&("x-echo-authorization".to_string(), "[REDACTED]".to_string())),
        "{echoed:?}"
    );
    let body: Value =
        serde_json::from_str(report["body"].as_str().expect("a body")).expect("a JSON body");
    assert_eq!(body["headers"]["authorization"], json!("[REDACTED]"));
    assert!(!text.contains(CANARY), "the adapter saw the secret: {text}");
    // Nor does its config or environment hold it.
    let probe = within("probe", hub.call_tool("net", "probe", None))
        .await
        .expect("probe answers");
    let probe = text_of(&probe);
    assert!(probe.contains("the adapter's own config"), "{probe}");
    assert!(!probe.contains(CANARY), "{probe}");
    assert!(!probe.contains("API_TOKEN"), "{probe}");
}

/// A request the list does not allow (another path, another port) is
/// refused with the reason before any connection: the service never sees
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_off_the_list_are_refused_before_any_connection() {
    let service = EchoHttp::start().await;
    let other = ClosedPort::new();
    let dir = temp_dir();
    let hub = hub(dir.path(), service.port).await;
    let p = service.port;
    let report = get(&hub, "net", format!("http://127.0.0.1:{p}/admin")).await;
    assert_eq!(report["ok"], json!(false));
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused http://127.0.0.1:{p}/admin: not on the `egress` list of servers.net (http://127.0.0.1:{p}/api/*)"
        )))
    );
    let o = other.port;
    let report = get(&hub, "net", format!("http://127.0.0.1:{o}/api/x")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused http://127.0.0.1:{o}/api/x: not on the `egress` list of servers.net (http://127.0.0.1:{p}/api/*)"
        )))
    );
    // A server entry without `egress` may make no request at all.
    let report = get(&hub, "closed", format!("http://127.0.0.1:{p}/api/x")).await;
    assert_eq!(
        report["error"],
        json!(refusal(
            "weft egress: adapter \"closed\" may not make HTTP requests: its server entry has no `egress` list (add egress = [\"http://HOST:PORT/*\"] to [servers.closed])"
        ))
    );
    assert_eq!(service.connections(), 0, "{:?}", service.seen());
}

/// A loopback address is reached only when an entry names it: `*` does
/// not, and neither does a name that resolves to it (`localhost`), which
/// is refused after resolution, whatever the name's entry says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_need_an_entry_that_names_them() {
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let hub = hub(dir.path(), service.port).await;
    let p = service.port;
    let report = get(&hub, "wild", format!("http://127.0.0.1:{p}/")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused http://127.0.0.1:{p}/: 127.0.0.1 is a loopback address, reached only when an `egress` entry names it (such as \"http://127.0.0.1:{p}\")"
        )))
    );
    let report = get(&hub, "byname", format!("http://localhost:{p}/")).await;
    let error = report["error"].as_str().expect("an error");
    let prefix = format!(
        "ErrorCode::InternalError(Some(\"weft egress: refused http://localhost:{p}/: localhost resolves to "
    );
    assert!(error.starts_with(&prefix), "{error}");
    assert!(
        error.contains(", a loopback address; a name may only resolve to public addresses"),
        "{error}"
    );
    assert_eq!(service.connections(), 0, "{:?}", service.seen());
    // The same service, named by its address, is reached.
    let (report, text) = fetch(
        &hub,
        "small",
        json!({"url": format!("http://127.0.0.1:{p}/")}),
    )
    .await;
    assert_eq!(report["status"], json!(200), "{text}");
    assert_eq!(service.connections(), 1);
}

/// A response over `limits.max_response`, and one slower than
/// `limits.request_timeout`, are refused with the limit's name; the next
/// request of the same adapter works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_over_the_cap_are_refused() {
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let hub = hub(dir.path(), service.port).await;
    let p = service.port;
    let report = get(&hub, "small", format!("http://127.0.0.1:{p}/big")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused http://127.0.0.1:{p}/big: the response (200 OK) is over 1024 bytes (servers.small.limits.max_response)"
        )))
    );
    let report = get(&hub, "small", format!("http://127.0.0.1:{p}/slow")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused http://127.0.0.1:{p}/slow: no complete answer within 300 ms (servers.small.limits.request_timeout)"
        )))
    );
    let report = get(&hub, "small", format!("http://127.0.0.1:{p}/ok")).await;
    assert_eq!(report["status"], json!(200));
}

/// A redirect is not followed: the adapter gets the 302 (and may ask
/// again, checked again); the service saw one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_come_back_to_the_adapter() {
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let hub = hub(dir.path(), service.port).await;
    let report = get(
        &hub,
        "small",
        format!("http://127.0.0.1:{}/moved", service.port),
    )
    .await;
    assert_eq!(report["status"], json!(302));
    let headers: Vec<(String, String)> =
        serde_json::from_value(report["headers"].clone()).expect("headers");
    assert!(
        headers.contains(&("location".to_string(), "/api/moved-here".to_string())),
        "{headers:?}"
    );
    let paths: Vec<Value> = service.seen().iter().map(|r| r["path"].clone()).collect();
    assert_eq!(paths, vec![json!("/moved")]);
}

/// Through the `weft` binary, with every log on (trace): the service receives the
/// secret, and neither the result nor weft's log shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_shows_in_no_output_of_weft() {
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let config = setup(dir.path(), service.port);
    let url = format!("http://127.0.0.1:{}/api/echo", service.port);
    let args = json!({"url": url}).to_string();
    let mut cmd = weft();
    // Every log of weft and its HTTP stack; the compiler's own are left out
    // for their bulk.
    cmd.env(
        "WEFT_LOG",
        "trace,cranelift_codegen=info,regalloc2=info,wasmtime=info",
    )
    .env("WEFT_CACHE_DIR", dir.path().join("cache"))
    .arg("-c")
    .arg(&config)
    .args(["call", "net", "fetch", &args, "--json"]);
    let out = tokio::task::spawn_blocking(move || cmd.output_timed())
        .await
        .expect("join")
        .expect("weft call runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("x-echo-authorization"), "{stdout}");
    assert!(
        stderr.contains("adapter request") && stderr.contains("/api/echo"),
        "the request is logged: {stderr}"
    );
    assert!(!stdout.contains(CANARY), "{stdout}");
    assert!(!stderr.contains(CANARY), "{stderr}");
    let seen = service.seen();
    assert_eq!(
        seen[0]["headers"]["authorization"],
        json!(format!("Bearer {CANARY}"))
    );
}

/// Through `weft serve --http` with the audit log on: an agent's call that
/// made the host inject the secret, and one refused by the allow-list,
/// leave it in none of the agent's results, `/status`, `/metrics`, the
/// audit log or weft's own log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_shows_in_no_status_metrics_or_audit() {
    use rmcp::ServiceExt;
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let config = setup(dir.path(), service.port);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[settings]\n", "[settings]\naudit = \"audit.jsonl\"\n", 1),
    )
    .unwrap();
    let mut cmd = weft();
    cmd.env("WEFT_LOG", "debug")
        .env("WEFT_CACHE_DIR", dir.path().join("cache"))
        .arg("--config")
        .arg(&config)
        .stderr(std::fs::File::create(dir.path().join("weft.log")).unwrap());
    let (mut served, base) = serve_weft_http(&mut cmd);
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    let client = within("the agent connects", ().serve(transport))
        .await
        .expect("the agent connects");
    let mut seen_by_agent = String::new();
    for url in [
        format!("http://127.0.0.1:{}/api/echo", service.port),
        format!("http://127.0.0.1:{}/outside", service.port),
    ] {
        let params = rmcp::model::CallToolRequestParams::new("net__fetch".to_string())
            .with_arguments(json!({"url": url}).as_object().cloned().unwrap());
        let result = within("the call answers", client.call_tool(params))
            .await
            .expect("net__fetch answers");
        seen_by_agent += &serde_json::to_string(&result).unwrap();
    }
    assert!(
        seen_by_agent.contains("x-echo-authorization"),
        "{seen_by_agent}"
    );
    assert!(seen_by_agent.contains("refused"), "{seen_by_agent}");
    let status = reqwest::get(format!("{base}/status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("\"net\""), "{status}");
    assert!(
        metrics.contains(r#"server="net",tool="fetch""#),
        "{metrics}"
    );
    client.cancel().await.ok();
    // weft flushes the audit writer on its way out.
    served.terminate();
    let log = std::fs::read_to_string(dir.path().join("weft.log")).unwrap();
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 2, "{audit}");
    assert!(!log.is_empty());
    assert_eq!(
        service.seen()[0]["headers"]["authorization"],
        json!(format!("Bearer {CANARY}"))
    );
    for (channel, text) in [
        ("the agent's results", &seen_by_agent),
        ("/status", &status),
        ("/metrics", &metrics),
        ("the audit log", &audit),
        ("weft's log", &log),
    ] {
        assert!(!text.contains(CANARY), "the secret is in {channel}: {text}");
    }
}
