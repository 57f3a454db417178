//! Hostile requests get clear errors, and one tenant's burst is refused
//! at the door while another keeps its latency.

use super::*;

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
