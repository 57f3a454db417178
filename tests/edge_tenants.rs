//! The edge of `weft serve --http` with two tenants: each has its own
//! session quota (one at its quota is refused a new session, and no other
//! tenant's session is touched), every request takes a token from its
//! tenant's rate at the door (a call exactly one), and a key revoked with
//! `weft keys rm` is refused on its next request, without a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::edge::{Raw, add_key, only_text, serve, write_config};
use crate::support::recorded::{audit_records, on_route};
use crate::support::*;

/// Server-everything, and tenants `a` and `b` that see it, with `extra`
/// appended (settings first, when given).
fn two_tenants(dir: &Path, settings: &str, limits_a: &str) -> std::path::PathBuf {
    let text = format!(
        "{settings}{}\n[tenants.a]\ninclude = [\"everything.*\"]\n{limits_a}\n[tenants.b]\ninclude = [\"everything.*\"]\n",
        npm_entry("everything", "server-everything", &["stdio"])
    );
    write_config(dir, &text)
}

/// A handshake-era client of `base` holding `key`.
fn client(http: &reqwest::Client, base: &str, key: &str) -> Raw {
    Raw::keyed(http, base, "2025-11-25", key)
}

/// The status and body of an `initialize` with `key`.
async fn initialize(http: &reqwest::Client, base: &str, key: &str) -> (u16, String) {
    let raw = client(http, base, key);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "weft-edge-tenants", "version": "1"}}});
    let answer = raw.post(&init, &[]).await;
    (answer.status, answer.body)
}

/// A tenant at its session quota is refused a new session with 429 and a
/// message saying what to do; its open sessions and the other tenant's
/// keep working, and ending one of its sessions makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_has_its_own_session_quota() {
    let dir = temp_dir();
    let config = two_tenants(
        dir.path(),
        "[settings]\nmax_sessions_per_tenant = 2\n\n",
        "",
    );
    let (ka, kb) = (add_key(&config, "a"), add_key(&config, "b"));
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();

    let mut a1 = client(&http, &weft.base, &ka);
    a1.open().await;
    let mut a2 = client(&http, &weft.base, &ka);
    a2.open().await;
    let (status, body) = initialize(&http, &weft.base, &ka).await;
    assert_eq!(
        (status, body.as_str()),
        (
            429,
            r#"{"error":{"code":-32029,"data":{"httpStatus":429},"message":"tenant \"a\" holds 2 sessions, its limit (settings.max_sessions_per_tenant); end one (DELETE /mcp with its Mcp-Session-Id) before opening another"},"id":1,"jsonrpc":"2.0"}"#
        )
    );
    // b has a quota of its own, and taking all of it costs a nothing.
    let mut b1 = client(&http, &weft.base, &kb);
    b1.open().await;
    let mut b2 = client(&http, &weft.base, &kb);
    b2.open().await;
    for raw in [&mut a1, &mut a2, &mut b1, &mut b2] {
        let r = raw
            .call("everything__echo", json!({"message": "here"}))
            .await;
        assert_eq!(only_text(&r), "Echo: here");
    }
    // Ending one of a's sessions makes room for a new one of a's.
    assert_eq!(a1.delete().await, 204);
    let mut a3 = client(&http, &weft.base, &ka);
    a3.open().await;
    let r = a3.call("everything__echo", json!({"message": "new"})).await;
    assert_eq!(only_text(&r), "Echo: new");
}

/// Every request (the `initialize` too) takes a token from its tenant's
/// rate at the door, a call exactly one; the other tenant is not charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_takes_one_rate_token_at_the_door() {
    let dir = temp_dir();
    // 1 a minute: what is spent is not back within the test.
    let config = two_tenants(
        dir.path(),
        "[settings]\naudit = \"audit.jsonl\"\n",
        "admin = true\n[tenants.a.limits]\ncalls_per_minute = 1\nburst = 4\n",
    );
    let (ka, kb) = (add_key(&config, "a"), add_key(&config, "b"));
    let mut weft = serve(&config, &[]);
    let http = reqwest::Client::new();

    let mut a = client(&http, &weft.base, &ka);
    a.open().await; // 1 (the notification after it takes none)
    let (id, listed) = a.request("tools/list", json!({})).await; // 2
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.message(id)["result"]["tools"].is_array());
    for n in 3..=4 {
        // Each call: one token, not one at the door and one at the router.
        let r = a
            .call("everything__echo", json!({"message": n.to_string()}))
            .await;
        assert_eq!(only_text(&r), format!("Echo: {n}"));
    }
    let (rid, refused) = a.request("ping", json!({})).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    // A JSON-RPC error an SDK can read, with the request's own id.
    let error: Value = serde_json::from_str(&refused.body).expect("a JSON body");
    assert_eq!(error["id"], rid, "{error}");
    assert_eq!(error["error"]["code"], -32029, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(
                "rate-limited: tenant \"a\" is over its rate of 1 calls a minute; retry after "
            )),
        "{error}"
    );
    let ms = error["error"]["data"]["retryAfterMs"].as_u64().unwrap_or(0);
    assert!((30_000..=60_000).contains(&ms), "{error}");
    // The next token is most of a minute away (less what the test took).
    let retry: u64 = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((30..=60).contains(&retry), "Retry-After: {retry}");
    // Over its rate, a large body is refused before it is read: the 429
    // comes back though not one byte of the declared megabyte was sent.
    let head = over_rate_head(&weft.base, &ka, 1 << 20).await;
    assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // A notification, which costs no token, still gets through.
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 99, "reason": "test"}});
    let passed = a.post(&cancel, &[]).await;
    assert_eq!(passed.status, 202, "{}", passed.body);

    let mut b = client(&http, &weft.base, &kb);
    b.open().await;
    for _ in 0..8 {
        let (id, pong) = b.request("ping", json!({})).await;
        assert_eq!(pong.status, 200, "{}", pong.body);
        assert_eq!(pong.message(id)["result"], json!({}));
    }

    // A key of nobody's: refused, and like every refusal counted (with
    // its tenant) and audited (by the key's id, or a short fingerprint).
    let (unknown, _) = initialize(&http, &weft.base, "weft_not_a_key").await;
    assert_eq!(unknown, 401);
    let metrics = http
        .get(format!("{}/metrics", weft.base))
        .bearer_auth(&ka)
        .send()
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("a body");
    for line in [
        r#"weft_calls_total{tenant="a",server="",tool="",outcome="rate-limited"} 2"#,
        r#"weft_calls_total{tenant="",server="",tool="",outcome="unauthorized"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    // weft flushes the audit writer on its way out.
    weft._proc.terminate();
    let a_id = key_ids(&config)[0].clone();
    let fingerprint = format!("unknown sha256:{}", &hex_sha256("weft_not_a_key")[..12]);
    let records = audit_records(&dir.path().join("audit.jsonl"));
    let refusals: Vec<Value> = on_route(&records, "request")
        .into_iter()
        .map(|r| json!([r["tenant"], r["key"], r["target"], r["outcome"]]))
        .collect();
    assert_eq!(
        refusals,
        [
            json!(["a", a_id, "POST /mcp", "rate-limited"]),
            json!(["a", a_id, "POST /mcp", "rate-limited"]),
            json!(["", fingerprint, "POST /mcp", "unauthorized"]),
        ]
    );
}

/// The response head to a POST with `key` that declares a body of
/// `length` bytes and sends none of it.
async fn over_rate_head(base: &str, key: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {length}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.expect("send the head");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the head has ended (or the connection has).
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut buf))
            .await
            .expect("an answer before the body was sent")
            .expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The SHA-256 of `text`, in hex.
fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `weft keys list --json`'s ids, in the order the keys were added.
fn key_ids(config: &Path) -> Vec<String> {
    crate::support::keys::key_list(config)
        .iter()
        .map(|k| k["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Polls `initialize` with `key` until it answers `want` (each poll a
/// real request; the key file is looked at once a second).
async fn until_status(http: &reqwest::Client, base: &str, key: &str, want: u16) {
    let deadline = Instant::now() + AWAIT;
    loop {
        let (status, body) = initialize(http, base, key).await;
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} ({body}) after {AWAIT:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A key revoked with `weft keys rm` while `weft serve --http` runs is
/// refused 401 on a later request; the tenant's other key still works,
/// and a key added while it runs is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_without_a_restart() {
    let dir = temp_dir();
    let config = two_tenants(dir.path(), "", "");
    let (old, kept) = (add_key(&config, "a"), add_key(&config, "a"));
    let served = serve(&config, &[]);
    let http = reqwest::Client::new();
    assert_eq!(initialize(&http, &served.base, &old).await.0, 200);

    let ids = key_ids(&config);
    assert_eq!(ids.len(), 2);
    crate::support::keys::remove_key(&config, &ids[0]);

    until_status(&http, &served.base, &old, 401).await;
    let (status, body) = initialize(&http, &served.base, &old).await;
    assert_eq!(
        (status, body.as_str()),
        (
            401,
            r#"{"error":{"code":-32001,"data":{"httpStatus":401},"message":"the key is not a key of any tenant"},"id":null,"jsonrpc":"2.0"}"#
        )
    );
    assert_eq!(initialize(&http, &served.base, &kept).await.0, 200);

    let added = add_key(&config, "b");
    until_status(&http, &served.base, &added, 200).await;
}

/// What the Python SDK raises for the edge's refusals: a JSON-RPC error
/// it can read (not "internal error"), naming the refusal and, past the
/// tenant's rate, when to retry. The banner says keys are needed.
#[test]
fn the_python_sdk_reads_the_edges_refusals() {
    let dir = temp_dir();
    let config = two_tenants(
        dir.path(),
        "",
        "[tenants.a.limits]\ncalls_per_minute = 1\nburst = 3\n",
    );
    let key = add_key(&config, "a");
    for mode in ["legacy", "2026-07-28"] {
        // A weft of its own per mode: the rate is spent in each.
        let weft = serve(&config, &[]);
        assert!(
        weft.banner.trim_end().ends_with(
            "eras 2025-11-25 with sessions and 2026-07-28 stateless; 2 tenants: requests need a key (Authorization: Bearer KEY))"
        ),
        "{}",
        weft.banner
    );
        let seen = crate::serve::agent(
            &format!("{}/mcp", weft.base),
            mode,
            "refused",
            json!({"key": key, "tool": "everything__echo", "calls": 10}),
        );
        assert_eq!(
            seen["bad_key"],
            json!({"code": -32001, "message": "the key is not a key of any tenant",
                   "data": {"httpStatus": 401}}),
            "{mode}: {seen}"
        );
        let over = &seen["over_rate"];
        assert_eq!(over["code"], -32029, "{mode}: {seen}");
        assert_eq!(over["data"]["httpStatus"], 429, "{mode}: {seen}");
        assert!(
            over["message"].as_str().is_some_and(|m| m.starts_with(
                "rate-limited: tenant \"a\" is over its rate of 1 calls a minute; retry after "
            )),
            "{mode}: {seen}"
        );
        // The next token is most of a minute away.
        let ms = over["data"]["retryAfterMs"].as_u64().unwrap_or(0);
        assert!((10_000..=60_000).contains(&ms), "{mode}: {seen}");
    }
}

/// Reads `stream` until a whole SSE event has arrived; returns its `event`
/// and `data` fields.
async fn next_event(stream: &mut reqwest::Response, buffer: &mut String) -> (String, String) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim_start().to_string())
                    .unwrap_or_default()
            };
            if block.lines().all(|l| l.starts_with(':') || l.is_empty()) {
                continue; // a keep-alive comment
            }
            return (field("event:"), field("data:"));
        }
        let chunk = within("the next SSE event", stream.chunk())
            .await
            .expect("the event stream reads")
            .expect("the event stream is open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The legacy HTTP+SSE transport under tenants: opening `/sse` needs a
/// key (401 without); the session belongs to the tenant that opened it, so
/// a POST to its endpoint with another tenant's key gets the same 404 as
/// an unknown id and reaches nothing, while its own tenant's POST is
/// accepted (202) and answered on the event stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_session_belongs_to_the_tenant_that_opened_it() {
    let dir = temp_dir();
    let config = two_tenants(dir.path(), "", "");
    let (ka, kb) = (add_key(&config, "a"), add_key(&config, "b"));
    let weft = serve(&config, &[]);
    let http = reqwest::Client::new();
    let sse = format!("{}/sse", weft.base);

    let refused = http.get(&sse).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let mut events = http.get(&sse).bearer_auth(&ka).send().await.unwrap();
    assert_eq!(events.status(), 200);
    let mut buffer = String::new();
    let (event, endpoint) = next_event(&mut events, &mut buffer).await;
    assert_eq!(event, "endpoint");
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let post_url = format!("{}{endpoint}", weft.base);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "weft-legacy-sse", "version": "1"}}});

    let other = http
        .post(&post_url)
        .bearer_auth(&kb)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert!(other.text().await.unwrap().contains("unknown sessionId"));
    let nobody = http.post(&post_url).json(&init).send().await.unwrap();
    assert_eq!(nobody.status(), 401);
    let made_up = format!("{}/messages?sessionId=0123456789abcdef", weft.base);
    let unknown = http
        .post(&made_up)
        .bearer_auth(&ka)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let own = http
        .post(&post_url)
        .bearer_auth(&ka)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 202);
    let (event, data) = next_event(&mut events, &mut buffer).await;
    assert_eq!(event, "message");
    let answer: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["protocolVersion"], "2024-11-05",
        "{answer}"
    );
    assert!(
        answer["result"]["capabilities"]["tools"].is_object(),
        "{answer}"
    );
    // What tenant b sent never reached the session: the only answer on
    // the stream was to a's initialize, and a's next request is answered
    // next.
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let sent = http
        .post(&post_url)
        .bearer_auth(&ka)
        .json(&initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let sent = http
        .post(&post_url)
        .bearer_auth(&ka)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let (event, data) = next_event(&mut events, &mut buffer).await;
    assert_eq!(event, "message");
    let answer: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(answer["id"], 2, "{answer}");
    let tools = answer["result"]["tools"].as_array().unwrap();
    assert!(
        tools.iter().any(|t| t["name"] == "everything__echo"),
        "{answer}"
    );
}
