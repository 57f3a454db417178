//! Tasks (the 2026-07-28 tasks extension) belong to the tenant whose call
//! made them: another tenant naming a task's id gets exactly the answer an
//! id that never existed gets, and cannot cancel it.
//!
//! The upstream is our rmcp conformance fixture over stdio, which makes a
//! task of `slow_compute` for an agent that declares the extension (no
//! real server we install makes tasks on demand).

use super::*;

const TASKS: &str = "io.modelcontextprotocol/tasks";

/// One 2026-07-28 request to weft as `key`, declaring the tasks
/// extension: the JSON-RPC answer.
async fn modern(base: &str, key: &str, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    });
    let mut req = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .timeout(EXCHANGE)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str().or(params["taskId"].as_str()) {
        req = req.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = within(method, req.body(body.to_string()).send())
        .await
        .expect("weft answers");
    let status = resp.status().as_u16();
    let text = within(method, resp.text()).await.unwrap();
    assert_eq!(status, 200, "{method}: {text}");
    message_of(&text)
}

/// A JSON-RPC error answer with `id` swapped for `ID`.
fn error_modulo(answer: &Value, id: &str) -> Value {
    let e = answer
        .get("error")
        .unwrap_or_else(|| panic!("expected an error: {answer}"));
    let mut e = e.clone();
    if let Some(m) = e["message"].as_str() {
        e["message"] = Value::String(m.replace(id, "ID"));
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_naming_a_task_id_gets_the_unknown_task_answer() {
    let dir = temp_dir();
    let d = dir.path();
    let server = target_bin("weft-conformance-server");
    let mut text = command_entry("conf", &server, &["--stdio"]);
    text += "\n[tenants.a]\ninclude = [\"conf.*\"]\n\n[tenants.b]\ninclude = [\"conf.*\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let (a, b) = (add_key(d, "a"), add_key(d, "b"));
    let (_weft, base) = serve_in(d, &d.join("weft.stderr"));

    // A's call becomes a task on the shared server.
    let made = modern(
        &base,
        &a,
        "tools/call",
        json!({"name": "conf__slow_compute", "arguments": {"seconds": 30, "label": "a's"}}),
    )
    .await;
    assert_eq!(made["result"]["resultType"], "task", "{made}");
    let id = made["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task id: {made}"))
        .to_string();
    let get = |key: String, id: String| {
        let base = base.clone();
        async move { modern(&base, &key, "tasks/get", json!({"taskId": id})).await }
    };
    let mine = get(a.clone(), id.clone()).await;
    assert_eq!(mine["result"]["taskId"], id.as_str(), "{mine}");

    // B names A's id, and an id that never existed: the same answer.
    let never = format!("{id}-never");
    let theirs = get(b.clone(), id.clone()).await;
    let unknown = get(b.clone(), never.clone()).await;
    assert_eq!(
        error_modulo(&theirs, &id),
        error_modulo(&unknown, &never),
        "b tells a's task from no task"
    );
    assert_eq!(theirs["error"]["code"], -32602, "{theirs}");
    // Nor can B cancel it, or update it.
    for method in ["tasks/cancel", "tasks/update"] {
        let params = |id: &str| match method {
            "tasks/update" => json!({"taskId": id, "inputResponses": {}}),
            _ => json!({"taskId": id}),
        };
        let theirs = modern(&base, &b, method, params(&id)).await;
        let unknown = modern(&base, &b, method, params(&never)).await;
        assert_eq!(
            error_modulo(&theirs, &id),
            error_modulo(&unknown, &never),
            "{method}"
        );
    }
    // A's task carries on, untouched.
    let mine = get(a.clone(), id.clone()).await;
    assert_eq!(mine["result"]["taskId"], id.as_str(), "{mine}");
    assert_ne!(mine["result"]["status"], "cancelled", "{mine}");
    let cancelled = modern(&base, &a, "tasks/cancel", json!({"taskId": id})).await;
    assert!(
        cancelled.get("error").is_none(),
        "a cancels its own: {cancelled}"
    );
}
