//! Many tenants on one weft: each sees and calls only its own view, every
//! route to a tool outside it is denied before the server hears of it, a
//! canary secret appears in no output of any kind, hostile requests get
//! clear errors, one tenant's burst leaves another its latency, and a
//! server run once per tenant gives each its own process and secret.
//!
//! Keys and the secret are made with the `weft keys` and `weft secrets`
//! commands; servers are our recording fixture (for what no real server
//! can show: who called it, its environment, a leak on stderr) beside the
//! real `mcp-server-time`, shared by both tenants.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use support::*;

const CANARY: &str = "canary-7f3e9b21-do-not-leak";

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A running `weft serve --http` with two tenants and their keys.
struct Rig {
    dir: tempfile::TempDir,
    base: String,
    acme: String,
    globex: String,
    admin: String,
    process: Option<Background>,
    stderr: PathBuf,
}

fn faulty() -> PathBuf {
    target_bin("weft-faulty-server")
}

fn record_of(dir: &Path, server: &str) -> PathBuf {
    dir.join(format!("{server}.calls"))
}

/// Lines the fixture `server` recorded for `tool`.
fn recorded(dir: &Path, server: &str, tool: &str) -> usize {
    std::fs::read_to_string(record_of(dir, server))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(tool))
        .count()
}

fn fixture(dir: &Path, name: &str, extra: &[&str]) -> String {
    let record = record_of(dir, name).display().to_string();
    let mut args = vec!["--name", name, "--record", &record];
    args.extend_from_slice(extra);
    command_entry(name, &faulty(), &args)
}

/// `weft` in the rig's directory; its config is `weft.toml` there.
fn weft_in(dir: &Path) -> std::process::Command {
    let mut cmd = weft();
    cmd.current_dir(dir);
    cmd
}

fn add_key(dir: &Path, tenant: &str) -> String {
    let out = weft_in(dir).args(["keys", "add", tenant]).output().unwrap();
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
    use std::io::Write;
    let mut args = vec!["secrets", "set", name];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let mut child = weft_in(dir)
        .args(&args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Rig {
    fn start(extra_settings: &str, extra_tenants: &str) -> Rig {
        let dir = temp_dir();
        let d = dir.path();
        let time = venv_bin("mcp-server-time");
        let mut text = format!(
            "[settings]\naudit = \"audit.jsonl\"\n{extra_settings}\n\
             [policies.script]\npath = {}\ngrants = [\"*.*\"]\n\n",
            q(guest_wasm("weft-hostile-guest").display().to_string())
        );
        text += &fixture(d, "alpha", &["--leak-env", "CANARY"]);
        text += "env = { CANARY = \"${secret:CANARY}\" }\n";
        text += &fixture(d, "beta", &[]);
        text += &fixture(d, "leaky", &["--leak-env", "CANARY", "--crash-after", "0"]);
        text +=
            "env = { CANARY = \"${secret:CANARY}\" }\n[servers.leaky.restart]\nmax_attempts = 1\n";
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
        let port = free_port();
        let stderr = d.join("weft.stderr");
        let process = Background::spawn(
            weft_in(d)
                .env("WEFT_LOG", "debug")
                .args(["serve", "--http", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap()),
        );
        wait_for_port(port, Duration::from_secs(60));
        Rig {
            dir,
            base: format!("http://127.0.0.1:{port}"),
            acme,
            globex,
            admin,
            process: Some(process),
            stderr,
        }
    }

    async fn client(&self, key: &str) -> Client {
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.base))
            .auth_header(key.to_string());
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("client connects with a key")
    }

    /// Stops weft and returns what it wrote on stderr.
    fn stop(&mut self) -> String {
        self.process.take();
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

async fn call(client: &Client, name: &str, args: Value) -> rmcp::model::CallToolResult {
    let mut p = CallToolRequestParams::new(name.to_string());
    p.arguments = args.as_object().cloned();
    client.call_tool(p).await.expect("the call is answered")
}

fn error_kind(r: &rmcp::model::CallToolResult) -> Option<String> {
    r.meta
        .as_ref()
        .and_then(|m| m.get("weft/errorKind"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

async fn tool_names(client: &Client) -> Vec<String> {
    client
        .list_all_tools()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_see_and_call_only_their_own() {
    let mut rig = Rig::start("", "");
    // No key, or a key of nobody's: 401 with a challenge.
    let (status, headers, _) = raw(&format!("{}/mcp", rig.base), None, None, b"{}".to_vec()).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"weft\""),
        "{challenge}"
    );
    let (status, headers, _) = raw(
        &format!("{}/mcp", rig.base),
        Some("weft_0000"),
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
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
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert!(text_of(&r).contains("alpha"), "{r:?}");
    let r = call(&globex, "beta__echo", json!({"text": "hi"})).await;
    assert!(text_of(&r).contains("hi"), "{r:?}");
    for c in [&acme, &globex] {
        let r = call(c, "time__get_current_time", json!({"timezone": "UTC"})).await;
        assert_ne!(r.is_error, Some(true), "{r:?}");
    }
    // Resources: each sees only its own servers'.
    let res = |list: Vec<rmcp::model::Resource>| -> Vec<String> {
        list.into_iter().map(|r| r.uri.clone()).collect()
    };
    let ra = res(acme.list_all_resources().await.unwrap());
    let rg = res(globex.list_all_resources().await.unwrap());
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

    // The audit log names tenant and key of every call.
    let audit = weft_in(rig.dir.path())
        .args(["audit", "tail", "-n", "0", "--json"])
        .output()
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
    assert_eq!(whoami["args_sha256"].as_str().unwrap().len(), 64);
    assert!(
        records
            .iter()
            .any(|r| r["tenant"] == "globex" && r["tool"] == "echo")
    );
    let _ = rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_to_an_ungranted_tool_is_denied_and_never_reaches_the_server() {
    let mut rig = Rig::start("", "");
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
    let e = acme
        .call_tool(CallToolRequestParams::new("beta__ech"))
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains("beta__echo"), "{e}");

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
    // the tenant's view does not.
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [
            {"server": "beta", "tool": "echo", "args": {"text": "via policy"}},
            {"server": "alpha", "tool": "echo", "args": {"text": "mine"}}
        ]}),
    )
    .await;
    let out = r.structured_content.clone().unwrap_or_else(|| {
        serde_json::from_str(&text_of(&r)).expect("the policy's output is JSON")
    });
    let steps = out.as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 2, "{r:?}");
    assert_eq!(steps[0]["kind"], "denied", "{steps:?}");
    assert_eq!(steps[1]["ok"], true, "{steps:?}");
    // globex may not run the policy at all.
    let r = call(&globex, "script", json!({"attack": "echo"})).await;
    assert_eq!(error_kind(&r).as_deref(), Some("denied"), "{r:?}");

    // 4. resources/read of another tenant's server's URI.
    let e = acme
        .read_resource(ReadResourceRequestParams::new("beta+fixture://item/0"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("denied"), "{e}");

    // Nothing of it reached beta; globex's own call does.
    assert_eq!(recorded(&d, "beta", "echo"), 0);
    assert_eq!(recorded(&d, "beta", "resources/read"), 0);
    let r = call(&globex, "beta__echo", json!({"text": "mine"})).await;
    assert_ne!(r.is_error, Some(true));
    assert_eq!(recorded(&d, "beta", "echo"), 1);

    // The denials are in the audit log, the policy's with its name.
    let records: Vec<Value> = std::fs::read_to_string(d.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.iter().any(|r| r["tenant"] == "acme"
        && r["server"] == "beta"
        && r["outcome"] == "denied"
        && r["policy"].is_null()));
    assert!(records.iter().any(|r| r["tenant"] == "acme"
        && r["server"] == "beta"
        && r["outcome"] == "denied"
        && r["policy"] == "script"));
    let _ = rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_secret_appears_in_no_output() {
    let mut rig = Rig::start("", "");
    let d = rig.dir.path().to_path_buf();
    let acme = rig.client(&rig.acme).await;
    let mut seen = Vec::new();

    // A tool result that carries it, an error that carries it, a policy's
    // output that carries it.
    let r = call(&acme, "alpha__env", json!({"name": "CANARY"})).await;
    let text = text_of(&r);
    assert!(
        text.contains("[REDACTED]"),
        "the server did send it: {text}"
    );
    seen.push(serde_json::to_string(&r).unwrap());
    let r = call(&acme, "alpha__fail", json!({"text": "x"})).await;
    assert!(text_of(&r).contains("[REDACTED]"), "{r:?}");
    seen.push(serde_json::to_string(&r).unwrap());
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [{"server": "alpha", "tool": "env", "args": {"name": "CANARY"}}]}),
    )
    .await;
    seen.push(serde_json::to_string(&r).unwrap());
    // A server that prints it on stderr and crashes: its stderr tail is in
    // the status.
    let _ = call(&acme, "leaky__echo", json!({"text": "x"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = reqwest::Client::new()
        .get(format!("{}/status", rig.base))
        .bearer_auth(&rig.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    let status = status.text().await.unwrap();
    assert!(status.contains("leak: CANARY=[REDACTED]"), "{status}");
    seen.push(status);
    // /status is for admin tenants only.
    let denied = reqwest::Client::new()
        .get(format!("{}/status", rig.base))
        .bearer_auth(&rig.acme)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", rig.base))
        .bearer_auth(&rig.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("weft_calls_total"), "{metrics}");
    seen.push(metrics);

    // Over stdio, as a tenant, through the real Python-free rmcp client.
    let mut cmd = tokio::process::Command::new(target_bin("weft"));
    cmd.current_dir(&d)
        .env_remove("WEFT_CONFIG")
        .env("WEFT_LOG", "error")
        .args(["serve", "--stdio", "--tenant", "acme"]);
    let stdio =
        ().serve(rmcp::transport::TokioChildProcess::new(cmd).unwrap())
            .await
            .expect("weft serve --stdio --tenant acme starts");
    let r = call(&stdio, "alpha__env", json!({"name": "CANARY"})).await;
    assert!(text_of(&r).contains("[REDACTED]"), "{r:?}");
    assert!(
        !tool_names(&stdio)
            .await
            .iter()
            .any(|n| n.starts_with("beta__"))
    );
    seen.push(serde_json::to_string(&r).unwrap());
    let _ = stdio.cancel().await;

    // The command line: a call, the secrets list, check, the audit log.
    for args in [
        vec!["call", "alpha", "env", r#"{"name":"CANARY"}"#, "--json"],
        vec!["call", "alpha", "fail", r#"{"text":"x"}"#],
        vec!["secrets", "list"],
        vec!["--log-level", "debug", "check"],
        vec!["audit", "tail", "-n", "0"],
    ] {
        let out = weft_in(&d).args(&args).output().unwrap();
        seen.push(format!(
            "weft {args:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    seen.push(std::fs::read_to_string(d.join("audit.jsonl")).unwrap());
    seen.push(rig.stop());
    for (i, output) in seen.iter().enumerate() {
        assert!(
            !output.contains(CANARY),
            "output {i} shows the secret:\n{output}"
        );
    }
    // And the secrets file itself is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("weft.secrets.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_errors_and_the_server_carries_on() {
    let mut rig = Rig::start("max_body = \"64KiB\"\nbody_timeout = \"1s\"\n", "");
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
    assert!(s == 200 || s == 400 || s == 422, "{s} {body}");
    assert!(body.contains("error"), "{body}");
    // An unknown method.
    let (s, _, body) =
        post(br#"{"jsonrpc":"2.0","id":5,"method":"tools/frobnicate","params":{}}"#.to_vec()).await;
    assert!(body.contains("-32601") || s >= 400, "{s} {body}");
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
    let (head, took) = tokio::task::spawn_blocking(move || {
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
    })
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

/// The p50 of 40 sequential calls, in milliseconds; every call must succeed.
async fn sample(client: &Client) -> f64 {
    let mut ms = Vec::new();
    for i in 0..40 {
        let t = Instant::now();
        let r = call(client, "beta__echo", json!({"text": i.to_string()})).await;
        assert_ne!(
            r.is_error,
            Some(true),
            "the quiet tenant's call failed: {r:?}"
        );
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_tenant_leaves_the_other_its_latency() {
    let mut rig = Rig::start(
        "",
        "\n[tenants.noisy]\ninclude = [\"beta.*\"]\n[tenants.noisy.limits]\ncalls_per_minute = 600\nburst = 20\nconcurrent_requests = 16\n",
    );
    let noisy = add_key(rig.dir.path(), "noisy");
    // Keys are read at start-up: restart weft to pick up the new one.
    drop(rig.process.take());
    let port = rig.base.rsplit(':').next().unwrap().to_string();
    rig.process = Some(Background::spawn(
        weft_in(rig.dir.path())
            .args(["serve", "--http", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    ));
    wait_for_port(port.parse().unwrap(), Duration::from_secs(60));
    let quiet = rig.client(&rig.globex).await;
    let before = sample(&quiet).await;

    let session = open_session(&rig.base, &noisy).await;
    let url = format!("{}/mcp", rig.base);
    let burst_started = Instant::now();
    let burst = tokio::spawn(async move {
        let client = reqwest::Client::new();
        // Every request its own id: a session answers by id.
        let body = |id: usize| {
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "beta__echo", "arguments": {"text": "flood"}}})
            .to_string()
        };
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..10_000 {
            if tasks.len() >= 64
                && let Some(Ok(k)) = tasks.join_next().await
            {
                *counts.entry(k).or_default() += 1;
            }
            let req = client
                .post(&url)
                .bearer_auth(&noisy)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", "2025-11-25")
                .body(body(id + 10));
            tasks.spawn(async move {
                match req.send().await {
                    Ok(r)
                        if r.status().as_u16() == 429
                            && r.headers().contains_key("retry-after") =>
                    {
                        "http-429".to_string()
                    }
                    Ok(r) => {
                        let text = r.text().await.unwrap_or_default();
                        if text.contains("rate-limited") {
                            "rate-limited".into()
                        } else if text.contains("flood") {
                            "ok".into()
                        } else {
                            "other".into()
                        }
                    }
                    Err(_) => "transport".into(),
                }
            });
        }
        while let Some(Ok(k)) = tasks.join_next().await {
            *counts.entry(k).or_default() += 1;
        }
        counts
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = sample(&quiet).await;
    let counts = burst.await.unwrap();
    let secs = burst_started.elapsed().as_secs_f64();
    eprintln!(
        "quiet tenant p50: {before:.2} ms before, {during:.2} ms during the burst; noisy tenant: {counts:?} in {secs:.1} s"
    );
    let total: usize = counts.values().sum();
    assert_eq!(total, 10_000);
    let ok = counts.get("ok").copied().unwrap_or(0);
    let refused = counts.get("http-429").copied().unwrap_or(0)
        + counts.get("rate-limited").copied().unwrap_or(0);
    let admitted = 20 + (10.0 * secs).ceil() as usize + 1;
    assert!(
        ok <= admitted,
        "the bucket lets 20 + 10/s through: {counts:?}"
    );
    assert!(ok >= 20, "the burst allowance is 20: {counts:?}");
    assert_eq!(
        ok + refused,
        10_000,
        "every request is answered or refused: {counts:?}"
    );
    // Reaching beta at all: the quiet tenant's 80 calls and the admitted.
    assert_eq!(recorded(rig.dir.path(), "beta", "echo"), 80 + ok);
    assert!(
        during <= (before * 5.0).max(25.0),
        "the quiet tenant's p50 went from {before:.2} ms to {during:.2} ms"
    );
    let _ = rig.stop();
}

/// `weft call --tenant T vault env {"name": "TOKEN", "reverse": true}`.
fn call_env_as(dir: &Path, tenant: Option<&str>) -> std::process::Output {
    let mut cmd = weft_in(dir);
    cmd.arg("call");
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    cmd.args(["vault", "env", r#"{"name": "TOKEN", "reverse": true}"#])
        .output()
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
    let out = weft_in(d).args(["status", "--json"]).output().unwrap();
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
    let port = free_port();
    let _weft = Background::spawn(
        weft_in(d)
            .args(["serve", "--http", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for_port(port, Duration::from_secs(60));
    let connect = |key: String| async move {
        let config =
            StreamableHttpClientTransportConfig::with_uri(format!("http://127.0.0.1:{port}/mcp"))
                .auth_header(key);
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("client connects")
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
        .args(["status", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("WEFT_KEY"), "{stderr}");
    // ops is not an admin either: 403, with the same advice.
    let out = weft_in(d)
        .env("WEFT_KEY", &ops)
        .args(["status", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("admin"),
        "{stderr}"
    );

    // kill -9 of acme's process: globex's keeps answering, and acme's
    // instance is restarted with acme's secret again.
    let pids: Vec<(String, u64)> = {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", "weft-faulty-server --name vault"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .map(|pid: u64| {
                let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                let token = String::from_utf8_lossy(&env)
                    .split('\0')
                    .find_map(|kv| kv.strip_prefix("TOKEN=").map(str::to_string))
                    .unwrap_or_default();
                (token, pid)
            })
            .collect()
    };
    let acme_pid = pids
        .iter()
        .find(|(t, _)| t == acme_token)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no vault process has acme's token: {pids:?}"));
    assert!(
        pids.iter().any(|(t, _)| t == globex_token),
        "no vault process has globex's token: {pids:?}"
    );
    std::process::Command::new("kill")
        .args(["-9", &acme_pid.to_string()])
        .status()
        .unwrap();
    assert_eq!(
        text_of(&call(&g, "vault__env", args.clone()).await),
        reversed(globex_token)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = call(&a, "vault__env", args.clone()).await;
        if r.is_error != Some(true) {
            assert_eq!(text_of(&r), reversed(acme_token));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acme's instance did not come back: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
