//! Many tenants on one weft: each sees and calls only its own view, every
//! route to a tool outside it is denied before the server hears of it, a
//! canary secret appears in no output of any kind (in no form: plain,
//! JSON-escaped, URL-encoded), hostile requests get clear errors, one
//! tenant's burst is refused at the door while another keeps its latency,
//! and a server run once per tenant gives each its own process and secret.
//!
//! Keys and the secret are made with the `weft keys` and `weft secrets`
//! commands; servers are our recording fixture (for what no real server
//! can show: who called it, its environment, a leak on stderr, whether a
//! request arrived at all) beside the real `mcp-server-time`, shared by
//! both tenants. weft binds port 0 and prints its address; every await on
//! weft or a socket is under a timeout.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{
    ArgumentInfo, CallToolRequestParams, CompleteRequestParams, GetPromptRequestParams,
    ReadResourceRequestParams, Reference,
};
use rmcp::service::ServiceError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::keys::add_key;
use crate::support::*;

mod canary;
mod domains;
mod hostile;
mod input_and_breaker;
mod listen;
mod oracle;
mod per_tenant;
mod probing;
mod stdio_rate;
mod tasks;
mod views;

/// The secret every test tries to leak. It holds characters that JSON
/// (`"`, `\`, non-ASCII with `ensure_ascii`) and URL encoding (space, `"`,
/// `\`, `/`, `&`, `=`, `%`, non-ASCII) all change, so each encoded form
/// differs from the plain one.
const CANARY: &str = "canary 7f3e9b21 \"do\\not/leak\"&x=\u{fc}%";

/// How long any one exchange with weft may take before the test fails.
const EXCHANGE: Duration = Duration::from_secs(60);

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// Awaits `f`, failing the test if it takes longer than [`EXCHANGE`].
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(EXCHANGE, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {EXCHANGE:?}"))
}

/// Polls an async condition until it holds (the event a test waits for),
/// failing after `deadline`.
async fn until<F: Future<Output = bool>>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !within(what, check()).await {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every form of the canary an output could carry it in: plain,
/// JSON-escaped (as Rust's `Debug`, serde_json and Python's `json.dumps`
/// write it) and URL-encoded (every byte, form-style with `+`, Python's
/// `quote` keeping `/`, and a URL query as the `url` crate writes it).
fn canary_forms() -> Vec<(&'static str, String)> {
    let pct = |keep: &[u8], plus: bool| -> String {
        CANARY
            .bytes()
            .map(|b| match b {
                b' ' if plus => "+".to_string(),
                b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let json = serde_json::to_string(CANARY).unwrap();
    let json_ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    let mut url = reqwest::Url::parse("http://x.invalid/").unwrap();
    url.set_query(Some(&format!("t={CANARY}")));
    let query = url.query().unwrap().strip_prefix("t=").unwrap().to_string();
    let forms = vec![
        ("plain", CANARY.to_string()),
        ("JSON", json.trim_matches('"').to_string()),
        ("JSON, ASCII only", json_ascii.trim_matches('"').to_string()),
        ("Debug", format!("{CANARY:?}").trim_matches('"').to_string()),
        ("percent-encoded", pct(b"", false)),
        ("form-encoded", pct(b"", true)),
        ("percent-encoded, / kept", pct(b"/", false)),
        ("URL query", query),
    ];
    // Each is a different string, or the list proves less than it says.
    for (i, (name, form)) in forms.iter().enumerate() {
        for (other, f) in &forms[..i] {
            if name.starts_with("JSON") || name == &"Debug" {
                continue;
            }
            assert_ne!(form, f, "{name} and {other} are the same form");
        }
    }
    forms
}

/// Fails if `output` carries the canary in any form.
fn assert_no_canary(label: &str, output: &str) {
    for (form, value) in canary_forms() {
        assert!(
            !output.contains(&value),
            "{label} shows the secret ({form} form {value:?}):\n{output}"
        );
    }
}

/// A running `weft serve --http` with tenants and their keys.
struct Rig {
    dir: tempfile::TempDir,
    base: String,
    acme: String,
    globex: String,
    admin: String,
    /// Keys of the extra tenants the test asked for, in its order.
    extra: Vec<String>,
    process: Option<Background>,
    stderr: PathBuf,
}

fn faulty() -> PathBuf {
    target_bin("weft-faulty-server")
}

fn record_of(dir: &Path, server: &str) -> PathBuf {
    dir.join(format!("{server}.calls"))
}

/// The lines the fixture `server` recorded for `what` (a tool, or a
/// method such as `prompts/get`), as (line, arguments).
fn records(dir: &Path, server: &str, what: &str) -> Vec<Value> {
    std::fs::read_to_string(record_of(dir, server))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (_, w, args) = (parts.next()?, parts.next()?, parts.next().unwrap_or("null"));
            (w == what).then(|| serde_json::from_str(args).unwrap_or(Value::Null))
        })
        .collect()
}

/// How many times the fixture `server` recorded `what`.
fn recorded(dir: &Path, server: &str, what: &str) -> usize {
    records(dir, server, what).len()
}

fn fixture(dir: &Path, name: &str, extra: &[&str]) -> String {
    let record = record_of(dir, name).display().to_string();
    let mut args = vec!["--name", name, "--record", &record];
    args.extend_from_slice(extra);
    command_entry(name, &faulty(), &args)
}

/// A server that prints every form of `$CANARY` on stderr inside a URL,
/// as a server would that logs the request it failed to make, then runs
/// the fixture (`then` non-empty) or exits 1 before its handshake.
fn spill(name: &str, then: &[&str]) -> String {
    const SCRIPT: &str = "import os,sys,json,urllib.parse as u;v=os.environ['CANARY'];\
        [print('spill: https://api.invalid/v1?token='+f,file=sys.stderr,flush=True) for f in \
        (v,u.quote(v,safe=''),u.quote_plus(v),u.quote(v),json.dumps(v),json.dumps(v,ensure_ascii=False))];\
        sys.argv[1:] and os.execv(sys.argv[1],sys.argv[1:]);sys.exit(1)";
    let mut args = vec!["-c", SCRIPT];
    args.extend_from_slice(then);
    command_entry(name, &venv_bin("python"), &args)
        + "env = { CANARY = \"${secret:CANARY}\" }\n"
        + &format!("[servers.{name}.restart]\nmax_attempts = 1\n")
}

/// `weft` in the rig's directory; its config is `weft.toml` there.
fn weft_in(dir: &Path) -> std::process::Command {
    let mut cmd = weft();
    cmd.current_dir(dir);
    cmd
}

fn set_secret(dir: &Path, name: &str, value: &str) {
    set_secret_for(dir, None, name, value)
}

/// `weft secrets set [--tenant T] NAME`, the value on stdin.
fn set_secret_for(dir: &Path, tenant: Option<&str>, name: &str, value: &str) {
    use std::io::{Read, Write};
    let mut args = vec!["secrets", "set", name];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let mut child = weft_in(dir)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(value.as_bytes()).unwrap();
    }
    let status = wait_child(&mut child, COMMAND_DEADLINE);
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(status.success(), "{stderr}");
}

/// `weft serve --http 127.0.0.1:0` in `dir` with debug logs into `stderr`:
/// the process and the base URL it printed.
fn serve_in(dir: &Path, stderr: &Path) -> (Background, String) {
    serve_weft_http(
        weft_in(dir)
            .env("WEFT_LOG", "debug")
            .stderr(std::fs::File::create(stderr).unwrap()),
    )
}

impl Rig {
    /// Writes the config, the canary and keys for acme, globex, ops and
    /// `extra_keys`, then starts weft.
    fn start(extra_settings: &str, extra_tenants: &str, extra_keys: &[&str]) -> Rig {
        let dir = temp_dir();
        let d = dir.path();
        let time = venv_bin("mcp-server-time");
        let mut text = format!(
            "[settings]\naudit = \"audit.jsonl\"\n{extra_settings}\n\
             [policies.script]\npath = {}\ngrants = [\"*.*\"]\n\n",
            q(guest_wasm("weft-hostile-guest").display().to_string())
        );
        text += &fixture(d, "alpha", &["--leak-env", "CANARY"]);
        text += "env = { CANARY = \"${secret:CANARY}\" }\ndomains = [\"echoes\"]\n";
        // beta wins the echoes domain on priority, and is alone in solo.
        text += &fixture(d, "beta", &[]);
        text += "domains = [\"echoes\", \"solo\"]\npriority = 10\n";
        text += &fixture(d, "leaky", &["--leak-env", "CANARY", "--crash-after", "0"]);
        text +=
            "env = { CANARY = \"${secret:CANARY}\" }\n[servers.leaky.restart]\nmax_attempts = 1\n";
        text += &spill("spilled", &[]);
        text += &command_entry("time", &time, &[]);
        text += "\n[tenants.acme]\ninclude = [\"alpha.*\", \"leaky.*\", \"time.*\"]\npolicies = [\"script\"]\n";
        text += "\n[tenants.globex]\ninclude = [\"beta.*\", \"time.*\"]\nexclude = [\"time.convert_time\"]\n";
        text += "\n[tenants.ops]\nadmin = true\ninclude = [\"time.*\"]\n";
        text += extra_tenants;
        std::fs::write(d.join("weft.toml"), text).unwrap();
        set_secret(d, "CANARY", CANARY);
        let acme = add_key(d, "acme");
        let globex = add_key(d, "globex");
        let admin = add_key(d, "ops");
        let extra = extra_keys.iter().map(|t| add_key(d, t)).collect();
        let stderr = d.join("weft.stderr");
        let (process, base) = serve_in(d, &stderr);
        Rig {
            dir,
            base,
            acme,
            globex,
            admin,
            extra,
            process: Some(process),
            stderr,
        }
    }

    async fn client(&self, key: &str) -> Client {
        connect(&self.base, key).await
    }

    /// What weft has written on stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Stops weft and returns what it wrote on stderr.
    fn stop(&mut self) -> String {
        self.process.take();
        self.log()
    }
}

async fn call(client: &Client, name: &str, args: Value) -> rmcp::model::CallToolResult {
    let mut p = CallToolRequestParams::new(name.to_string());
    p.arguments = args.as_object().cloned();
    within(name, client.call_tool(p))
        .await
        .expect("the call is answered")
}

/// `weft serve --stdio --tenant TENANT` in `dir` (its `weft.toml`), with
/// the rmcp client connected to it.
async fn stdio_as(dir: &Path, tenant: &str) -> Client {
    let mut cmd = tokio::process::Command::new(target_bin("weft"));
    isolate(cmd.as_std_mut());
    cmd.current_dir(dir)
        .env_remove("WEFT_CONFIG")
        .env("WEFT_LOG", "error")
        .args(["serve", "--stdio", "--tenant", tenant]);
    within(
        "weft serve --stdio",
        ().serve(rmcp::transport::TokioChildProcess::new(cmd).unwrap()),
    )
    .await
    .unwrap_or_else(|e| panic!("weft serve --stdio --tenant {tenant} starts: {e}"))
}

fn error_kind(r: &rmcp::model::CallToolResult) -> Option<String> {
    r.meta
        .as_ref()
        .and_then(|m| m.get("weft/errorKind"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The JSON-RPC error a request was refused with: (code, data).
fn rpc_error<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> (i32, Option<Value>, String) {
    match r {
        Err(ServiceError::McpError(e)) => (e.code.0, e.data.clone(), e.message.to_string()),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Asserts that a request outside the caller's view was answered exactly
/// as a name that does not exist is: `code` and `message`, no data.
fn assert_hidden<T: std::fmt::Debug>(
    what: &str,
    code: i32,
    message: &str,
    r: Result<T, ServiceError>,
) {
    let (got_code, data, got) = rpc_error(r);
    assert_eq!((got_code, got.as_str()), (code, message), "{what}");
    assert_eq!(data, None, "{what}: {got}");
}

async fn tool_names(client: &Client) -> Vec<String> {
    within("tools/list", client.list_all_tools())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// One raw HTTP exchange: (status, headers, body).
async fn raw(
    url: &str,
    key: Option<&str>,
    session: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .timeout(EXCHANGE)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let resp = req.send().await.expect("weft answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

/// The JSON-RPC message in an answer body, plain JSON or one SSE event.
fn message_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC answer in {body:?}"))
    })
}

/// Opens a handshake-era session by hand; returns its id.
async fn open_session(base: &str, key: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, headers, body) = raw(
        &format!("{base}/mcp"),
        Some(key),
        None,
        init.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let session = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_string();
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = raw(
        &format!("{base}/mcp"),
        Some(key),
        Some(&session),
        done.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    session
}

/// A stateless (2026-07-28) POST of `body`, a `method` request, with `key`.
async fn post_modern(base: &str, key: &str, method: &str, body: &Value) -> reqwest::Response {
    within(
        method,
        reqwest::Client::new()
            .post(format!("{base}/mcp"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .body(body.to_string())
            .send(),
    )
    .await
    .expect("weft answers")
}

/// Sends one 2026-07-28 (stateless) request as `key`, declaring
/// `capabilities`; `Mcp-Name` is the params' `name` or `taskId`.
async fn send_modern(
    base: &str,
    key: &str,
    method: &str,
    mut params: Value,
    capabilities: Value,
) -> reqwest::Response {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    });
    let mut req = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str().or(params["taskId"].as_str()) {
        req = req.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    within(method, req.body(body.to_string()).send())
        .await
        .expect("weft answers")
}

/// Opens a 2026-07-28 `subscriptions/listen` stream for `uri` and waits
/// for its acknowledgment; the stream stays open while the answer lives.
async fn listen(base: &str, key: &str, uri: &str) -> listen::Stream {
    listen::Stream::open(base, key, &[uri]).await
}

/// An rmcp client (handshake era) on `weft serve --http` at `base`.
async fn connect(base: &str, key: &str) -> Client {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(key);
    within(
        "client connect",
        ().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("client connects with a key")
}

/// An admin GET of `/status` or `/metrics`.
async fn admin_get(rig: &Rig, path: &str) -> String {
    let resp = within(
        path,
        reqwest::Client::new()
            .get(format!("{}{path}", rig.base))
            .bearer_auth(&rig.admin)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    within(path, resp.text()).await.unwrap()
}
