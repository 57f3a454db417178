//! A handshake-era session's `tools/list` answered from the serialised
//! lists (`serve/view/listing.rs`), not through rmcp's session worker: the
//! message is the one rmcp sends for the same request, page by page, in
//! every handshake-era protocol version and for each tenant's own view;
//! a session this replica does not hold (made up, ended, another
//! tenant's) is still refused. `/metrics` counts which path answered.

use serde_json::{Value, json};

use crate::direct_call::posts;
use crate::support::edge::{Raw, add_key, serve, write_config};
use crate::support::*;

/// The request's own protocol version in `_meta` (the session's, as its
/// header says): weft's path leaves such a request to rmcp, which
/// answers it as any other; and a progress token, which neither reads.
fn to_rmcp(version: &str, cursor: &Value) -> Value {
    let mut params = json!({"_meta": {
        "io.modelcontextprotocol/protocolVersion": version,
        "progressToken": "unread",
    }});
    if !cursor.is_null() {
        params["cursor"] = cursor.clone();
    }
    params
}

/// Every page of `raw`'s list, each asked twice: once as weft's path
/// takes it, once as only rmcp does. Asserts the two are the same
/// message; returns the tools' names and the number of pages.
async fn walk_both(raw: &mut Raw, version: &str) -> (Vec<String>, usize) {
    let (mut names, mut pages, mut cursor) = (vec![], 0, Value::Null);
    loop {
        // With a progress token, as rmcp's client sends every request.
        let mut params = json!({"_meta": {"progressToken": pages}});
        if !cursor.is_null() {
            params["cursor"] = cursor.clone();
        }
        let (id, direct) = raw.request("tools/list", params).await;
        let (rid, via_rmcp) = raw.request("tools/list", to_rmcp(version, &cursor)).await;
        assert_eq!(
            (direct.status, via_rmcp.status),
            (200, 200),
            "{}",
            direct.body
        );
        // An event stream, as rmcp answers a session's request (the
        // conformance suite's multiple-streams check reads one).
        assert_eq!(direct.content_type(), "text/event-stream");
        assert_eq!(via_rmcp.content_type(), "text/event-stream");
        let (mut a, mut b) = (direct.message(id), via_rmcp.message(rid));
        a["id"] = json!(0);
        b["id"] = json!(0);
        assert_eq!(a, b, "the two paths list differently");
        // The shape from before 2026-07-28: no discriminator, no hints.
        for key in ["resultType", "ttlMs", "cacheScope"] {
            assert!(a["result"].get(key).is_none(), "{key} in {a}");
        }
        let tools = a["result"]["tools"].as_array().expect("tools").clone();
        names.extend(
            tools
                .iter()
                .map(|t| t["name"].as_str().expect("name").to_string()),
        );
        pages += 1;
        cursor = a["result"]["nextCursor"].clone();
        if cursor.is_null() {
            return (names, pages);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_tools_list_is_rmcps_message_from_the_cache_for_each_tenant() {
    let dir = temp_dir();
    let mut text = crate::direct_call::everything_and_time("page_size = 2\n");
    text += "[tenants.a]\ninclude = [\"everything.*\"]\n[tenants.b]\ninclude = [\"time.*\"]\n";
    text += "[tenants.ops]\ninclude = []\nadmin = true\n";
    let config = write_config(dir.path(), &text);
    let (key_a, key_b) = (add_key(&config, "a"), add_key(&config, "b"));
    let admin = add_key(&config, "ops");
    let served = serve(&config, &[]);
    let http = reqwest::Client::new();
    let metrics = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {admin}").parse().expect("header"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .expect("client");

    let mut listed = 0;
    let mut seen = vec![];
    for (key, prefix) in [(&key_a, "everything__"), (&key_b, "time__")] {
        for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
            let mut raw = Raw::keyed(&http, &served.base, version, key);
            raw.open().await;
            let (names, pages) = walk_both(&mut raw, version).await;
            assert!(pages >= 2, "{version}: two tools a page: {names:?}");
            // Each tenant sees its own view, never the other's.
            let own: Vec<&String> = names.iter().filter(|n| n.starts_with(prefix)).collect();
            assert!(!own.is_empty(), "{prefix}: {names:?}");
            assert!(
                names
                    .iter()
                    .all(|n| n.starts_with(prefix) || n.starts_with("weft_")),
                "{prefix}, {version}: {names:?}"
            );
            listed += pages;
            assert_eq!(posts(&metrics, &served.base, "listed").await, listed as u64);
            seen.push((key.clone(), raw));
        }
    }

    // A session's list with no version header (rmcp assumes 2025-03-26).
    let (key, raw) = &seen[0];
    let answer = raw
        .http
        .post(&raw.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {key}"))
        .header("mcp-session-id", raw.session.as_deref().expect("session"))
        .body(r#"{"jsonrpc":"2.0","id":"no-header","method":"tools/list"}"#)
        .send()
        .await
        .expect("weft answers");
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.expect("a body");
    let data = text
        .strip_prefix("data: ")
        .and_then(|t| t.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("not one event: {text}"));
    let body: Value = serde_json::from_str(data).expect("JSON");
    assert_eq!(body["id"], "no-header", "{body}");
    assert!(body["result"]["tools"].is_array(), "{body}");
    listed += 1;
    assert_eq!(posts(&metrics, &served.base, "listed").await, listed as u64);

    // Sessions not held here: another tenant's, a made-up one, an ended
    // one. None is answered from the lists.
    let (_, raw_a) = &seen[0];
    let mut b_in_a = Raw::keyed(&http, &served.base, "2025-11-25", &key_b);
    b_in_a.session = raw_a.session.clone();
    let mut made_up = Raw::keyed(&http, &served.base, "2025-11-25", &key_a);
    made_up.session = Some("00000000-0000-0000-0000-000000000000".into());
    let (_, mut ended) = seen.remove(1);
    assert_eq!(ended.delete().await, 204);
    for (what, raw) in [
        ("another tenant's", &mut b_in_a),
        ("made up", &mut made_up),
        ("ended", &mut ended),
    ] {
        let (_, answer) = raw.request("tools/list", json!({})).await;
        assert_eq!(answer.status, 404, "{what}: {}", answer.body);
        assert!(!answer.body.contains("__"), "{what}: {}", answer.body);
    }
    assert_eq!(posts(&metrics, &served.base, "listed").await, listed as u64);
}
