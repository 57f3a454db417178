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

use crate::support::*;

/// The secret every test tries to leak. It holds characters that JSON
/// (`"`, `\`, non-ASCII with `ensure_ascii`) and URL encoding (space, `"`,
/// `\`, `/`, `&`, `=`, `%`, non-ASCII) all change, so each encoded form
/// differs from the plain one.
const CANARY: &str = "canary 7f3e9b21 \"do\\not/leak\"&x=\u{fc}%";

/// How long any one exchange with weft may take before the test fails.
const EXCHANGE: Duration = Duration::from_secs(60);

/// The JSON-RPC code of a request outside the caller's view.
const DENIED: i32 = -32003;

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

fn add_key(dir: &Path, tenant: &str) -> String {
    let out = weft_in(dir)
        .args(["keys", "add", tenant])
        .output_timed()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("weft_"), "{key}");
    key
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
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.base))
            .auth_header(key.to_string());
        within(
            "client connect",
            ().serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("client connects with a key")
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

/// Asserts that a request was refused as outside the caller's view.
fn assert_denied<T: std::fmt::Debug>(what: &str, r: Result<T, ServiceError>) {
    let (code, data, message) = rpc_error(r);
    assert_eq!(code, DENIED, "{what}: {message}");
    assert_eq!(data, Some(json!({"kind": "denied"})), "{what}: {message}");
    assert!(
        message.starts_with("denied: tenant \"acme\""),
        "{what}: {message}"
    );
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

/// Opens a 2026-07-28 `subscriptions/listen` stream for `uri` and waits
/// for its acknowledgment; the stream stays open while the answer lives.
async fn listen(base: &str, key: &str, uri: &str) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {
    "notifications": {"resourceSubscriptions": [uri]},
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }}});
    let mut resp = within(
        "subscriptions/listen",
        reqwest::Client::new()
            .post(format!("{base}/mcp"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .body(body.to_string())
            .send(),
    )
    .await
    .expect("weft answers");
    assert_eq!(resp.status().as_u16(), 200);
    let mut seen = String::new();
    while !seen.contains("notifications/subscriptions/acknowledged") {
        let chunk = within("the acknowledgment", resp.chunk())
            .await
            .expect("the stream stays open")
            .unwrap_or_else(|| panic!("the stream ended before its acknowledgment: {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    resp
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_see_and_call_only_their_own() {
    let mut rig = Rig::start("", "", &[]);
    // No key, or a key of nobody's: 401 with a challenge.
    let (status, headers, _) = raw(&format!("{}/mcp", rig.base), None, None, b"{}".to_vec()).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"weft\"");
    let (status, headers, _) = raw(
        &format!("{}/mcp", rig.base),
        Some("weft_0000"),
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"weft\", error=\"invalid_token\""
    );

    let acme = rig.client(&rig.acme).await;
    let globex = rig.client(&rig.globex).await;
    let a = tool_names(&acme).await;
    let g = tool_names(&globex).await;
    assert!(
        a.contains(&"alpha__echo".into()) && a.contains(&"time__convert_time".into()),
        "{a:?}"
    );
    assert!(
        a.contains(&"script".into()),
        "acme may run the policy: {a:?}"
    );
    assert!(!a.iter().any(|n| n.starts_with("beta__")), "{a:?}");
    assert!(
        g.contains(&"beta__echo".into()) && g.contains(&"time__get_current_time".into()),
        "{g:?}"
    );
    assert!(!g.contains(&"time__convert_time".into()), "excluded: {g:?}");
    assert!(
        !g.iter().any(|n| n.starts_with("alpha__") || n == "script"),
        "{g:?}"
    );

    // Each calls its own, and both the shared server.
    let r = call(&acme, "alpha__whoami", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert_eq!(text_of(&r), "alpha");
    let r = call(&globex, "beta__echo", json!({"text": "hi"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    for c in [&acme, &globex] {
        let r = call(c, "time__get_current_time", json!({"timezone": "UTC"})).await;
        assert_eq!(r.is_error, Some(false), "{r:?}");
    }
    // Resources, templates and prompts: each sees only its own servers'.
    let ra: Vec<String> = within("resources/list", acme.list_all_resources())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    let rg: Vec<String> = within("resources/list", globex.list_all_resources())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert!(
        !ra.is_empty()
            && ra
                .iter()
                .all(|u| u.starts_with("alpha+") || u.starts_with("leaky+")),
        "{ra:?}"
    );
    assert!(
        !rg.is_empty() && rg.iter().all(|u| u.starts_with("beta+")),
        "{rg:?}"
    );
    let pa: Vec<String> = within("prompts/list", acme.list_all_prompts())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(
        !pa.is_empty() && pa.iter().all(|p| !p.starts_with("beta")),
        "{pa:?}"
    );

    // The audit log names tenant and key of every call.
    let audit = weft_in(rig.dir.path())
        .args(["audit", "tail", "-n", "0", "--json"])
        .output_timed()
        .unwrap();
    assert!(audit.status.success());
    let records: Vec<Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let whoami = records
        .iter()
        .find(|r| r["tool"] == "whoami")
        .expect("the whoami call is recorded");
    assert_eq!(whoami["tenant"], "acme");
    assert_eq!(whoami["server"], "alpha");
    assert_eq!(whoami["outcome"], "ok");
    assert!(whoami["key"].as_str().unwrap().starts_with('k'));
    assert_eq!(whoami["args_hmac"].as_str().unwrap().len(), 64);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["tenant"] == "globex" && r["tool"] == "echo")
            .count(),
        1
    );
    let _ = rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_to_an_ungranted_tool_is_denied_and_never_reaches_the_server() {
    let mut rig = Rig::start("", "", &[]);
    let d = rig.dir.path().to_path_buf();
    let acme = rig.client(&rig.acme).await;
    let globex = rig.client(&rig.globex).await;

    // 1. A direct call, by the name globex sees (a guessed exposed name).
    let r = call(&acme, "beta__echo", json!({"text": "sneak"})).await;
    assert_eq!(r.is_error, Some(true));
    assert_eq!(error_kind(&r).as_deref(), Some("denied"), "{r:?}");
    let r = call(&globex, "time__convert_time", json!({})).await;
    assert_eq!(
        error_kind(&r).as_deref(),
        Some("denied"),
        "excluded tool: {r:?}"
    );
    // A name that exists nowhere gets no hint drawn from other tenants' tools.
    let (code, _, message) = rpc_error(
        within(
            "tools/call",
            acme.call_tool(CallToolRequestParams::new("beta__ech")),
        )
        .await,
    );
    assert_eq!(code, -32602, "{message}");
    assert!(!message.contains("beta__echo"), "{message}");

    // 2. Search finds nothing outside the view.
    let r = call(
        &acme,
        "weft_search_tools",
        json!({"query": "echo", "limit": 100}),
    )
    .await;
    let found = r.structured_content.clone().unwrap();
    let names: Vec<&str> = found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"alpha__echo"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("beta__")), "{names:?}");

    // 3. call-tool from a policy: the policy's grants allow everything,
    // the tenant's view does not. 4. @domain calls from it: beta is the
    // only server of `solo`, so that is denied; in `echoes` beta has the
    // higher priority, but acme's call goes to alpha.
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [
            {"server": "beta", "tool": "echo", "args": {"text": "via policy"}},
            {"server": "alpha", "tool": "echo", "args": {"text": "mine"}},
            {"server": "@solo", "tool": "whoami"},
            {"server": "@echoes", "tool": "whoami"}
        ]}),
    )
    .await;
    let out = r.structured_content.clone().unwrap_or_else(|| {
        serde_json::from_str(&text_of(&r)).expect("the policy's output is JSON")
    });
    let steps = out.as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 4, "{r:?}");
    assert_eq!(steps[0]["kind"], "denied", "{steps:?}");
    assert_eq!(steps[1]["ok"], true, "{steps:?}");
    assert_eq!(steps[2]["kind"], "denied", "{steps:?}");
    assert_eq!(
        steps[2]["message"],
        "tenant \"acme\" may not call \"whoami\" on any server of the domain \"solo\"",
        "{steps:?}"
    );
    assert_eq!(steps[3]["ok"], true, "{steps:?}");
    assert_eq!(steps[3]["text"], "alpha", "{steps:?}");
    // globex may not run the policy at all.
    let r = call(&globex, "script", json!({"attack": "echo"})).await;
    assert_eq!(error_kind(&r).as_deref(), Some("denied"), "{r:?}");

    // 5. Resources, prompts and completions of a server outside the view,
    // by the names globex sees.
    let prompt = within("prompts/list", globex.list_all_prompts())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .find(|n| n.starts_with("beta") && n.ends_with("greet"))
        .expect("globex sees beta's prompt");
    let template = within("templates/list", globex.list_all_resource_templates())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.uri_template.clone())
        .find(|u| u.starts_with("beta+"))
        .expect("globex sees beta's template");
    let uri = "beta+fixture://item/0";
    assert_denied(
        "resources/read",
        within(
            "resources/read",
            acme.read_resource(ReadResourceRequestParams::new(uri)),
        )
        .await,
    );
    let mut args = serde_json::Map::new();
    args.insert("name".into(), json!("acme"));
    assert_denied(
        "prompts/get",
        within(
            "prompts/get",
            acme.get_prompt(GetPromptRequestParams::new(&prompt).with_arguments(args)),
        )
        .await,
    );
    assert_denied(
        "completion/complete of a prompt",
        within(
            "completion/complete",
            acme.complete(CompleteRequestParams::new(
                Reference::for_prompt(&prompt),
                ArgumentInfo::new("name", "a"),
            )),
        )
        .await,
    );
    assert_denied(
        "completion/complete of a template",
        within(
            "completion/complete",
            acme.complete(CompleteRequestParams::new(
                Reference::for_resource(&template),
                ArgumentInfo::new("id", "1"),
            )),
        )
        .await,
    );
    // 6. Subscriptions, both eras: `resources/subscribe` in a handshake
    // session, and a 2026-07-28 `subscriptions/listen` naming the URI
    // (acknowledged, as the filter is the agent's own, but nothing is
    // subscribed upstream and weft logs the refusal).
    let session = open_session(&rig.base, &rig.acme).await;
    let subscribe = |id: u32| {
        json!({"jsonrpc": "2.0", "id": id, "method": "resources/subscribe",
            "params": {"uri": uri}})
        .to_string()
        .into_bytes()
    };
    let (s, _, body) = within(
        "resources/subscribe",
        raw(
            &format!("{}/mcp", rig.base),
            Some(&rig.acme),
            Some(&session),
            subscribe(2),
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let answer = message_of(&body);
    assert_eq!(answer["error"]["code"], DENIED, "{body}");
    assert_eq!(answer["error"]["data"], json!({"kind": "denied"}), "{body}");
    let refusals = |log: String| {
        log.lines()
            .filter(|l| l.contains("denied") && l.contains("acme") && l.contains(uri))
            .count()
    };
    let before = refusals(rig.log());
    let listening = listen(&rig.base, &rig.acme, uri).await;
    until("weft to refuse acme's listen", EXCHANGE, || {
        let n = refusals(rig.log());
        async move { n == before + 1 }
    })
    .await;

    // Nothing of it reached beta.
    for what in [
        "echo",
        "whoami",
        "resources/read",
        "prompts/get",
        "completion/complete",
        "resources/subscribe",
    ] {
        assert_eq!(recorded(&d, "beta", what), 0, "{what} reached beta");
    }
    // globex's own requests by the same routes do, each exactly once.
    let r = call(&globex, "beta__echo", json!({"text": "mine"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    within(
        "resources/read",
        globex.read_resource(ReadResourceRequestParams::new(uri)),
    )
    .await
    .expect("globex reads its own resource");
    within(
        "prompts/get",
        globex.get_prompt(GetPromptRequestParams::new(&prompt)),
    )
    .await
    .expect("globex gets its own prompt");
    within(
        "completion/complete",
        globex.complete(CompleteRequestParams::new(
            Reference::for_prompt(&prompt),
            ArgumentInfo::new("name", "a"),
        )),
    )
    .await
    .expect("globex completes its own prompt");
    let globex_listening = listen(&rig.base, &rig.globex, uri).await;
    until("globex's subscription to reach beta", EXCHANGE, || {
        let n = recorded(&d, "beta", "resources/subscribe");
        async move { n > 0 }
    })
    .await;
    for what in [
        "echo",
        "resources/read",
        "prompts/get",
        "completion/complete",
    ] {
        assert_eq!(recorded(&d, "beta", what), 1, "{what}");
    }
    assert_eq!(
        records(&d, "beta", "resources/subscribe"),
        [json!({"uri": "fixture://item/0"})]
    );
    drop((listening, globex_listening));

    // The denials are in the audit log, the policy's with its name.
    let records: Vec<Value> = std::fs::read_to_string(d.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let denied = |server: &str, policy: Value| {
        records
            .iter()
            .filter(|r| {
                r["tenant"] == "acme"
                    && r["server"] == server
                    && r["outcome"] == "denied"
                    && r["policy"] == policy
            })
            .count()
    };
    assert_eq!(denied("beta", Value::Null), 1, "{records:?}");
    assert_eq!(denied("beta", json!("script")), 1, "{records:?}");
    assert_eq!(denied("@solo", json!("script")), 1, "{records:?}");
    let _ = rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_secret_appears_in_no_output() {
    let mut rig = Rig::start("", "", &[]);
    let d = rig.dir.path().to_path_buf();
    let acme = rig.client(&rig.acme).await;
    let mut seen: Vec<(String, String)> = Vec::new();

    // A tool result that carries it, an error that carries it, a policy's
    // output that carries it.
    let r = call(&acme, "alpha__env", json!({"name": "CANARY"})).await;
    assert_eq!(text_of(&r), "[REDACTED]", "the server did send it");
    seen.push(("a tool result".into(), serde_json::to_string(&r).unwrap()));
    let r = call(&acme, "alpha__fail", json!({"text": "x"})).await;
    assert!(text_of(&r).contains("(leak: CANARY=[REDACTED])"), "{r:?}");
    seen.push(("a tool error".into(), serde_json::to_string(&r).unwrap()));
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [{"server": "alpha", "tool": "env", "args": {"name": "CANARY"}}]}),
    )
    .await;
    assert!(
        serde_json::to_string(&r).unwrap().contains("[REDACTED]"),
        "{r:?}"
    );
    seen.push((
        "a policy's output".into(),
        serde_json::to_string(&r).unwrap(),
    ));
    // A server that prints it on stderr and crashes: its stderr tail is in
    // the status, once the crash is seen.
    let _ = call(&acme, "leaky__echo", json!({"text": "x"})).await;
    let r = &rig;
    until("leaky's crash in /status", EXCHANGE, || async move {
        admin_get(r, "/status")
            .await
            .contains("leak: CANARY=[REDACTED]")
    })
    .await;
    let status = admin_get(&rig, "/status").await;
    // The server that died printing every encoded form: each one masked.
    assert!(
        status.contains("spill: https://api.invalid/v1?token=[REDACTED]"),
        "{status}"
    );
    seen.push(("/status".into(), status));
    // /status is for admin tenants only.
    let denied = within(
        "/status",
        reqwest::Client::new()
            .get(format!("{}/status", rig.base))
            .bearer_auth(&rig.acme)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    let metrics = admin_get(&rig, "/metrics").await;
    assert!(metrics.contains("weft_calls_total"), "{metrics}");
    seen.push(("/metrics".into(), metrics));

    // Over stdio, as a tenant, through the rmcp client.
    let mut cmd = tokio::process::Command::new(target_bin("weft"));
    isolate(cmd.as_std_mut());
    cmd.current_dir(&d)
        .env_remove("WEFT_CONFIG")
        .env("WEFT_LOG", "error")
        .args(["serve", "--stdio", "--tenant", "acme"]);
    let stdio = within(
        "weft serve --stdio",
        ().serve(rmcp::transport::TokioChildProcess::new(cmd).unwrap()),
    )
    .await
    .expect("weft serve --stdio --tenant acme starts");
    let r = call(&stdio, "alpha__env", json!({"name": "CANARY"})).await;
    assert_eq!(text_of(&r), "[REDACTED]", "{r:?}");
    assert!(
        !tool_names(&stdio)
            .await
            .iter()
            .any(|n| n.starts_with("beta__"))
    );
    seen.push(("stdio".into(), serde_json::to_string(&r).unwrap()));
    let _ = within("stdio cancel", stdio.cancel()).await;

    // The command line: a call, a failing call, a call to the server that
    // dies printing it (an exit path), the secrets list, check, status,
    // the audit log.
    for (args, ok) in [
        (
            vec!["call", "alpha", "env", r#"{"name":"CANARY"}"#, "--json"],
            true,
        ),
        (vec!["call", "alpha", "fail", r#"{"text":"x"}"#], false),
        (vec!["call", "spilled", "echo", r#"{"text":"x"}"#], false),
        (vec!["secrets", "list"], true),
        // check fails: spilled does not start, and says why, masked.
        (vec!["--log-level", "debug", "check"], false),
        (vec!["status", "--json"], true),
        (vec!["audit", "tail", "-n", "0"], true),
    ] {
        let out = weft_in(&d).args(&args).output_timed().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), ok, "weft {args:?}: {text}");
        if args[1] == "spilled" || args.contains(&"check") {
            assert!(
                text.contains("spill: https://api.invalid/v1?token=[REDACTED]"),
                "the exit path shows the server's stderr, masked: {text}"
            );
        }
        seen.push((format!("weft {args:?}"), text));
    }
    seen.push((
        "the audit log".into(),
        std::fs::read_to_string(d.join("audit.jsonl")).unwrap(),
    ));
    seen.push(("weft serve's own log".into(), rig.stop()));
    for (label, output) in &seen {
        assert_no_canary(label, output);
    }
    // And the secrets file itself is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("weft.secrets.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A request whose params do not fit its method is refused at weft's
/// intake, like every malformed body (400), with -32602 and its id; an
/// unknown method is answered by the session, like any request (200),
/// with -32601.
const INVALID_PARAMS_STATUS: u16 = 400;
const UNKNOWN_METHOD_STATUS: u16 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_errors_and_the_server_carries_on() {
    let mut rig = Rig::start("max_body = \"64KiB\"\nbody_timeout = \"1s\"\n", "", &[]);
    let url = format!("{}/mcp", rig.base);
    let key = rig.globex.clone();
    let session = open_session(&rig.base, &key).await;
    let post = |body: Vec<u8>| raw(&url, Some(&key), Some(&session), body);

    let (s, _, body) = post(b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\":".to_vec()).await;
    assert_eq!(s, 400);
    assert!(
        body.contains("-32700") && body.contains("not valid JSON"),
        "{body}"
    );
    let (s, _, body) =
        post(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\x80\xff\"}".to_vec()).await;
    assert_eq!(s, 400);
    assert!(body.contains("-32700") && body.contains("UTF-8"), "{body}");
    let (s, _, body) =
        post(br#"{"jsonrpc":"2.0","id":{"x":1},"method":"tools/list"}"#.to_vec()).await;
    assert_eq!(s, 400);
    assert!(body.contains("-32600") && body.contains("\"id\""), "{body}");
    let (s, _, body) =
        post(br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":[1,2]}"#.to_vec()).await;
    assert_eq!(s, 400);
    assert!(body.contains("params"), "{body}");
    let (s, _, body) = post(br#"[{"jsonrpc":"2.0","id":3,"method":"ping"}]"#.to_vec()).await;
    assert_eq!(s, 400);
    assert!(body.contains("batches"), "{body}");
    // Right shape, wrong types inside: rmcp's own invalid-params error.
    let (s, _, body) =
        post(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":7}}"#.to_vec())
            .await;
    assert_eq!(s, INVALID_PARAMS_STATUS, "{body}");
    let answer = message_of(&body);
    assert_eq!(answer["id"], 4, "{body}");
    assert_eq!(answer["error"]["code"], -32602, "{body}");
    // An unknown method.
    let (s, _, body) =
        post(br#"{"jsonrpc":"2.0","id":5,"method":"tools/frobnicate","params":{}}"#.to_vec()).await;
    assert_eq!(s, UNKNOWN_METHOD_STATUS, "{body}");
    let answer = message_of(&body);
    assert_eq!(answer["id"], 5, "{body}");
    assert_eq!(answer["error"]["code"], -32601, "{body}");
    // Too big for settings.max_body.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"beta__echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(100 * 1024)
    );
    let (s, _, body) = post(big.into_bytes()).await;
    assert_eq!(s, 413, "{body}");
    assert!(body.contains("max_body"), "{body}");
    // An unknown session id.
    let (s, _, _) = raw(
        &url,
        Some(&key),
        Some("no-such-session"),
        br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, 404);
    // Another tenant's session id: to acme it does not exist, while
    // globex, whose session it is, still uses it.
    let ping = br#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#.to_vec();
    let (s, _, body) = raw(&url, Some(&rig.acme), Some(&session), ping.clone()).await;
    assert_eq!(s, 404, "{body}");
    assert!(body.contains("unknown session"), "{body}");
    let (s, _, body) = raw(&url, Some(&key), Some(&session), ping).await;
    assert_eq!(s, 200, "{body}");
    // A body that never finishes: 408 once settings.body_timeout passes.
    let host = rig.base.trim_start_matches("http://").to_string();
    let key2 = key.clone();
    let (head, took) = within("a body that never finishes", tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        let started = Instant::now();
        write!(
            s,
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key2}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 400\r\n\r\n{{\"jsonrpc\""
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        (String::from_utf8_lossy(&buf[..n]).to_string(), started.elapsed())
    }))
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // After all that, calls still work.
    let client = rig.client(&rig.globex).await;
    let r = call(&client, "beta__echo", json!({"text": "still here"})).await;
    assert!(text_of(&r).contains("still here"), "{r:?}");
    let stderr = rig.stop();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Latencies in milliseconds of `n` sequential calls, sorted; every call
/// must succeed.
async fn sample(client: &Client, n: usize) -> Vec<f64> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let r = call(client, "beta__echo", json!({"text": i.to_string()})).await;
        assert_eq!(
            r.is_error,
            Some(false),
            "the quiet tenant's call failed: {r:?}"
        );
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

/// The value at quantile `q` of sorted figures.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// How one request of the burst ended.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    /// 429 at the door: over the rate.
    door_rate: usize,
    /// 429 at the door: `concurrent_requests` in flight already.
    door_busy: usize,
    /// Admitted at the door, refused by the router's bucket.
    router: usize,
    /// `Retry-After` values of the 429s.
    retry_after: std::collections::BTreeSet<String>,
    /// `weft/retryAfterMs` of the router's refusals: (min, max).
    retry_ms: Option<(u64, u64)>,
    other: Vec<String>,
}

/// The quiet tenant's calls per sample (before and during the burst).
const SAMPLE: usize = 200;
/// The least the noisy tenant sends.
const BURST: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_tenant_is_refused_at_the_door_and_leaves_the_other_its_latency() {
    // 600 calls a minute is 10 a second, with 20 saved up.
    let mut rig = Rig::start(
        "",
        "\n[tenants.noisy]\ninclude = [\"beta.*\"]\n[tenants.noisy.limits]\ncalls_per_minute = 600\nburst = 20\nconcurrent_requests = 16\n",
        &["noisy"],
    );
    let noisy = rig.extra[0].clone();
    let quiet = rig.client(&rig.globex).await;
    let before = sample(&quiet, SAMPLE).await;

    let session = open_session(&rig.base, &noisy).await;
    let url = format!("{}/mcp", rig.base);
    // The quiet tenant samples once the door refuses the noisy one (the
    // bucket is empty); the noisy one keeps on until that sample is done.
    let refusing = std::sync::Arc::new(tokio::sync::Notify::new());
    let (sampled_tx, sampled) = tokio::sync::watch::channel(false);
    let burst = tokio::spawn({
        let refusing = refusing.clone();
        async move {
            let client = reqwest::Client::builder()
                .timeout(EXCHANGE)
                .build()
                .unwrap();
            let mut tally = Tally::default();
            let mut tasks = tokio::task::JoinSet::new();
            let started = Instant::now();
            let mut last_sent = started;
            let mut sent = 0;
            while sent < BURST || !*sampled.borrow() {
                if tasks.len() >= 64
                    && let Some(done) = tasks.join_next().await
                {
                    count(&mut tally, done.unwrap(), &refusing);
                }
                // Every request its own id: a session answers by id.
                let body = json!({"jsonrpc": "2.0", "id": sent + 10, "method": "tools/call",
                    "params": {"name": "beta__echo", "arguments": {"text": "flood"}}});
                let req = client
                    .post(&url)
                    .bearer_auth(&noisy)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-session-id", &session)
                    .header("mcp-protocol-version", "2025-11-25")
                    .body(body.to_string());
                tasks.spawn(async move {
                    match req.send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let retry = r
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            (status, retry, r.text().await.unwrap_or_default())
                        }
                        Err(e) => (0, None, e.to_string()),
                    }
                });
                sent += 1;
                last_sent = Instant::now();
            }
            while let Some(done) = tasks.join_next().await {
                count(&mut tally, done.unwrap(), &refusing);
            }
            (tally, sent, last_sent - started, started.elapsed())
        }
    });
    within("the door's first 429", refusing.notified()).await;
    let during = sample(&quiet, SAMPLE).await;
    sampled_tx.send(true).unwrap();
    let (t, sent, sending, secs) = tokio::time::timeout(Duration::from_secs(300), burst)
        .await
        .expect("the burst ends")
        .unwrap();
    let (sending, secs) = (sending.as_secs_f64(), secs.as_secs_f64());
    let (p50, p99) = (quantile(&before, 0.5), quantile(&before, 0.99));
    let (d50, d99) = (quantile(&during, 0.5), quantile(&during, 0.99));
    eprintln!(
        "quiet tenant: p50 {p50:.2} ms, p99 {p99:.2} ms before; p50 {d50:.2} ms, p99 {d99:.2} ms during the burst; \
         noisy tenant: {sent} requests in {secs:.2} s (sending for {sending:.2} s): {t:?}"
    );
    assert!(t.other.is_empty(), "unexpected answers: {:?}", t.other);
    assert_eq!(t.ok + t.door_rate + t.door_busy + t.router, sent, "{t:?}");
    // The bucket: 20 saved up, then 10 a second while requests keep
    // coming; at most that many get through, and under constant pressure
    // no token is left unused for long (a token that comes while all 16
    // slots are taken waits for the next request: one or two at the end).
    let most = 20 + (10.0 * secs).ceil() as usize;
    let least = (20 + (10.0 * sending).floor() as usize).saturating_sub(3);
    assert!(
        (least..=most).contains(&t.ok),
        "{} admitted; the bucket allows {least}..={most}: {t:?}",
        t.ok
    );
    // A request admitted at the door (its peek saw a token) loses the token
    // to another request only while both are in flight: at most 15 others
    // per token.
    assert!(t.router <= 15 * t.ok, "{t:?}");
    // Every 429 says when to retry: the next token is at most 100 ms away,
    // rounded up to whole seconds, and a busy tenant is told 1 s.
    assert!(
        t.door_rate > 0 && t.door_busy + t.door_rate > sent / 2,
        "{t:?}"
    );
    assert_eq!(
        t.retry_after.iter().collect::<Vec<_>>(),
        ["1"],
        "Retry-After of the 429s: {t:?}"
    );
    // A router refusal names the wait for the next token: 1..=100 ms.
    if let Some((lo, hi)) = t.retry_ms {
        assert!(lo >= 1 && hi <= 100, "weft/retryAfterMs {lo}..{hi}: {t:?}");
    }
    assert_eq!(t.router > 0, t.retry_ms.is_some(), "{t:?}");
    // Reaching beta at all: the quiet tenant's calls and the admitted.
    assert_eq!(recorded(rig.dir.path(), "beta", "echo"), 2 * SAMPLE + t.ok);
    // The claim in docs/decisions.md: the quiet tenant's p99 during the
    // burst stays within QUIET_P99_MS on a loaded 2-core machine.
    assert!(
        d99 <= QUIET_P99_MS,
        "the quiet tenant's p99 went from {p99:.2} ms to {d99:.2} ms (bound {QUIET_P99_MS} ms)"
    );
    let _ = rig.stop();
}

/// The bound on the quiet tenant's p99 during the burst (see
/// docs/decisions.md, "Rate refusals at the door").
const QUIET_P99_MS: f64 = 250.0;

/// Sorts one answer of the burst into the tally.
fn count(
    t: &mut Tally,
    (status, retry, body): (u16, Option<String>, String),
    refusing: &tokio::sync::Notify,
) {
    if status == 429 {
        refusing.notify_one();
        match retry {
            Some(r) => {
                t.retry_after.insert(r);
            }
            None => t.other.push(format!("429 without Retry-After: {body}")),
        }
        if body.contains("is over its rate of 600 calls a minute") {
            t.door_rate += 1;
        } else if body.contains("already has 16 requests in flight") {
            t.door_busy += 1;
        } else {
            t.other.push(format!("429: {body}"));
        }
        return;
    }
    if status != 200 {
        t.other.push(format!("{status}: {body}"));
        return;
    }
    let answer = message_of(&body);
    let result = &answer["result"];
    let kind = result["_meta"]["weft/errorKind"].as_str();
    match (result["isError"].as_bool(), kind) {
        (Some(false) | None, None) if result["content"][0]["text"] == "flood" => t.ok += 1,
        (Some(true), Some("rate-limited")) => {
            t.router += 1;
            match result["_meta"]["weft/retryAfterMs"].as_u64() {
                Some(ms) => {
                    let (lo, hi) = t.retry_ms.unwrap_or((ms, ms));
                    t.retry_ms = Some((lo.min(ms), hi.max(ms)));
                }
                None => t
                    .other
                    .push(format!("rate-limited without retryAfterMs: {body}")),
            }
        }
        _ => t.other.push(body),
    }
}

/// `weft call --tenant T vault env {"name": "TOKEN", "reverse": true}`.
fn call_env_as(dir: &Path, tenant: Option<&str>) -> std::process::Output {
    let mut cmd = weft_in(dir);
    cmd.arg("call");
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    cmd.args(["vault", "env", r#"{"name": "TOKEN", "reverse": true}"#])
        .output_timed()
        .unwrap()
}

fn reversed(s: &str) -> String {
    s.chars().rev().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_run_per_tenant_gives_each_tenant_its_own_process_and_secret() {
    let dir = temp_dir();
    let d = dir.path();
    let (acme_token, globex_token) = ("acme-token-41f0c2", "globex-token-9d7e33");
    let mut text = fixture(d, "vault", &[]);
    text += "per_tenant = true
env = { TOKEN = \"${secret:TOKEN}\" }\n";
    text += &command_entry("time", &venv_bin("mcp-server-time"), &[]);
    text += "\n[tenants.acme]\ninclude = [\"vault.*\"]\n";
    text += "\n[tenants.globex]\ninclude = [\"vault.*\", \"time.*\"]\n";
    text += "\n[tenants.ops]\ninclude = [\"time.*\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    // Each tenant's own value; no shared one exists.
    set_secret_for(d, Some("acme"), "TOKEN", acme_token);
    set_secret_for(d, Some("globex"), "TOKEN", globex_token);

    // One-shot calls: each tenant's process got its own secret.
    for (tenant, token) in [("acme", acme_token), ("globex", globex_token)] {
        let out = call_env_as(d, Some(tenant));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{tenant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), reversed(token), "{tenant}");
    }
    // The owner has no instance to use, and ops's view does not reach it.
    let out = call_env_as(d, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("runs once per tenant"), "{stderr}");
    let out = call_env_as(d, Some("ops"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("denied"), "{stderr}");
    let out = call_env_as(d, Some("nobody"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenants: acme, globex, ops"), "{stderr}");

    // Status: one instance per tenant that reaches the server, none for ops.
    let out = weft_in(d)
        .args(["status", "--json"])
        .output_timed()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let vaults: Vec<&Value> = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "vault")
        .collect();
    let tenants: Vec<&str> = vaults.iter().filter_map(|s| s["tenant"].as_str()).collect();
    assert_eq!(tenants, ["acme", "globex"], "{status}");
    assert!(vaults.iter().all(|s| s["state"] == "up"), "{status}");
    assert_ne!(vaults[0]["pid"], vaults[1]["pid"], "{status}");

    // Through `weft serve --http`: the same tool name reaches each
    // tenant's own process; a kill -9 of acme's leaves globex's alone.
    let acme = add_key(d, "acme");
    let globex = add_key(d, "globex");
    let ops = add_key(d, "ops");
    let (weft, base) = serve_in(d, &d.join("weft.stderr"));
    let connect = |key: String| {
        let base = base.clone();
        async move {
            let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
                .auth_header(key);
            within(
                "client connect",
                ().serve(StreamableHttpClientTransport::from_config(config)),
            )
            .await
            .expect("client connects")
        }
    };
    let (a, g) = (connect(acme).await, connect(globex).await);
    let args = json!({"name": "TOKEN", "reverse": true});
    let text_of = |r: &rmcp::model::CallToolResult| {
        r.content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .unwrap_or_default()
    };
    assert!(tool_names(&a).await.contains(&"vault__env".to_string()));
    assert_eq!(
        text_of(&call(&a, "vault__env", args.clone()).await),
        reversed(acme_token)
    );
    assert_eq!(
        text_of(&call(&g, "vault__env", args.clone()).await),
        reversed(globex_token)
    );

    // /status is for admin tenants: refused without a key, and the CLI
    // says how to give one.
    let out = weft_in(d)
        .args(["status", "--url", &base])
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("WEFT_KEY"), "{stderr}");
    // ops is not an admin either: 403, with the same advice.
    let out = weft_in(d)
        .env("WEFT_KEY", &ops)
        .args(["status", "--url", &base])
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("admin"),
        "{stderr}"
    );

    // kill -9 of acme's process: globex's keeps answering, and acme's
    // instance is restarted with acme's secret again.
    let pids: Vec<(String, u32)> = vault_children(weft.0.id())
        .into_iter()
        .map(|pid| (token_of(pid), pid))
        .collect();
    let acme_pid = pids
        .iter()
        .find(|(t, _)| t == acme_token)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no vault process has acme's token: {pids:?}"));
    assert!(
        pids.iter().any(|(t, _)| t == globex_token),
        "no vault process has globex's token: {pids:?}"
    );
    // SAFETY: signals a child of this test's own weft, found above.
    assert_eq!(unsafe { libc::kill(acme_pid as i32, libc::SIGKILL) }, 0);
    assert_eq!(
        text_of(&call(&g, "vault__env", args.clone()).await),
        reversed(globex_token)
    );
    // Acme's instance comes back: a new process of weft's with acme's
    // token, and then the call answers again.
    let weft_pid = weft.0.id();
    until("acme's new vault process", Duration::from_secs(20), || {
        let back = vault_children(weft_pid)
            .into_iter()
            .any(|pid| pid != acme_pid && token_of(pid) == acme_token);
        async move { back }
    })
    .await;
    until("acme's instance to answer", Duration::from_secs(20), || {
        let a = &a;
        let args = args.clone();
        async move { call(a, "vault__env", args).await.is_error == Some(false) }
    })
    .await;
    assert_eq!(
        text_of(&call(&a, "vault__env", args.clone()).await),
        reversed(acme_token)
    );
}

/// The `vault` fixture processes started by the weft of pid `weft`: its
/// own children, not every process on the machine.
fn vault_children(weft: u32) -> Vec<u32> {
    children_of(weft)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"--name" && w[1] == b"vault")
        })
        .collect()
}

/// The `TOKEN` in a process's environment.
fn token_of(pid: u32) -> String {
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    String::from_utf8_lossy(&env)
        .split('\0')
        .find_map(|kv| kv.strip_prefix("TOKEN=").map(str::to_string))
        .unwrap_or_default()
}
