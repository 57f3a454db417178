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
/// extension: the JSON-RPC answer (of a 200).
async fn modern(base: &str, key: &str, method: &str, params: Value) -> Value {
    let (status, answer) = modern_status(base, key, method, params).await;
    assert_eq!(status, 200, "{method}: {answer}");
    answer
}

/// [`modern`], with the HTTP status, whatever it is.
async fn modern_status(base: &str, key: &str, method: &str, params: Value) -> (u16, Value) {
    let capabilities = json!({"extensions": {TASKS: {}}});
    let resp = send_modern(base, key, method, params, capabilities).await;
    let status = resp.status().as_u16();
    let text = within(method, resp.text()).await.unwrap();
    (status, message_of(&text))
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

/// A's call on the conformance server becomes a task: its id.
async fn make_task(base: &str, key: &str, label: &str) -> String {
    let made = modern(
        base,
        key,
        "tools/call",
        json!({"name": "conf__slow_compute", "arguments": {"seconds": 30, "label": label}}),
    )
    .await;
    assert_eq!(made["result"]["resultType"], "task", "{made}");
    made["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task id: {made}"))
        .to_string()
}

/// The status `key`'s `tasks/get` of `id` answers.
async fn status_of(base: &str, key: &str, id: &str) -> Value {
    let got = modern(base, key, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["taskId"], id, "{got}");
    got["result"]["status"].clone()
}

/// Every task route, from a tenant whose view does not reach the server
/// that made the task: each answers as an id that never existed does, and
/// the task carries on untouched. A task listing (`tasks/list`, which the
/// 2026-07-28 extension does not have) is answered alike for every tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_route_from_outside_the_view_answers_as_an_unknown_task() {
    let dir = temp_dir();
    let d = dir.path();
    let server = target_bin("weft-conformance-server");
    let mut text = command_entry("conf", &server, &["--stdio"]);
    text += &command_entry("other", &faulty(), &["--name", "other"]);
    text += "\n[tenants.a]\ninclude = [\"conf.*\"]\n\n[tenants.c]\ninclude = [\"other.*\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let (a, c) = (add_key(d, "a"), add_key(d, "c"));
    let (_weft, base) = serve_in(d, &d.join("weft.stderr"));
    let id = make_task(&base, &a, "a's").await;
    let never = format!("{id}-never");
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let params = |id: &str| match method {
            "tasks/update" => json!({"taskId": id, "inputResponses": {}}),
            _ => json!({"taskId": id}),
        };
        let outside = modern(&base, &c, method, params(&id)).await;
        let unknown = modern(&base, &c, method, params(&never)).await;
        assert_eq!(outside["error"]["code"], -32602, "{method}: {outside}");
        assert_eq!(
            error_modulo(&outside, &id),
            error_modulo(&unknown, &never),
            "{method}: c tells a's task from no task"
        );
    }
    let listed_outside = modern_status(&base, &c, "tasks/list", json!({})).await;
    let listed_inside = modern_status(&base, &a, "tasks/list", json!({})).await;
    assert_eq!(
        listed_outside.1["error"]["code"], -32601,
        "{listed_outside:?}"
    );
    assert_eq!(listed_outside, listed_inside, "tasks/list");
    // c's cancel never reached the server: a's task is still working.
    assert_eq!(status_of(&base, &a, &id).await, "working");
}

/// Two instances of one per-tenant server hand out the same task id (the
/// fixture's ids leave out its process id): each tenant's `tasks/*` reach
/// its own instance's task, and cancelling one leaves the other working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_task_id_from_two_per_tenant_instances_stays_each_tenants_own() {
    let dir = temp_dir();
    let d = dir.path();
    let server = target_bin("weft-conformance-server");
    let mut text = command_entry("conf", &server, &["--stdio"]);
    text += "per_tenant = true\nenv = { CONFORMANCE_PLAIN_TASK_IDS = \"1\" }\n";
    text += "\n[tenants.a]\ninclude = [\"conf.*\"]\n\n[tenants.b]\ninclude = [\"conf.*\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let (a, b) = (add_key(d, "a"), add_key(d, "b"));
    let (_weft, base) = serve_in(d, &d.join("weft.stderr"));
    let a_id = make_task(&base, &a, "a's").await;
    let b_id = make_task(&base, &b, "b's").await;
    assert_eq!(a_id, b_id, "both instances gave the same id");
    // b cancels its own task: b's is cancelled, a's carries on.
    let cancelled = modern(&base, &b, "tasks/cancel", json!({"taskId": b_id})).await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    assert_eq!(status_of(&base, &b, &b_id).await, "cancelled");
    assert_eq!(status_of(&base, &a, &a_id).await, "working");
}
