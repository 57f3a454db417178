//! Long runs as MCP tasks (issue 19): over `weft serve --http`, a
//! 2026-07-28 agent that declares the tasks extension gets a task for a
//! code run still going after a second, with the run id as the task id;
//! it polls `tasks/get` by that id across a `kill -9` of weft and a
//! restart that resumes the run (`settings.resume = true`), and gets the
//! run's output. Another tenant naming the id gets exactly what an id
//! that never existed gets. A short run is answered at once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::code::interpreters;
use crate::support::edge::Raw;
use crate::support::recorded::recorded;
use crate::support::tasks::{self, Caps, durable_tenants, serve_code as start};
use crate::support::*;

const SLOW_CODE: &str = "tools.call('w', 'slow', {'ms': 4000})\nreturn {'slept': input['n']}";

/// A request from an agent that takes tasks.
async fn request(raw: &mut Raw, method: &str, params: Value) -> Value {
    tasks::request(raw, Caps::Tasks, method, params).await
}

fn client(base: &str, key: &str) -> Raw {
    Raw::keyed(&reqwest::Client::new(), base, "2026-07-28", key)
}

/// [`durable_tenants`], the `slow` tool listed as idempotent.
fn setup(dir: &std::path::Path) -> (String, String) {
    durable_tenants(dir, "idempotent_tools = [\"slow\"]\n", "")
}

/// The tools the recording server received, in order.
fn arrived(dir: &std::path::Path) -> Vec<String> {
    recorded(&dir.join("record.txt"))
        .iter()
        .filter_map(|l| l.split(' ').nth(1).map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_run_is_a_task_that_outlives_a_restart() {
    let interp = interpreters("python");
    let dir = temp_dir();
    let (key_a, key_b) = setup(dir.path());

    let (mut first, base) = start(&interp, dir.path());
    let mut a = client(&base, &key_a);
    let mut b = client(&base, &key_b);

    // A short run is answered at once, as a plain result.
    let quick = request(
        &mut a,
        "tools/call",
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": "return 41 + 1"}}),
    )
    .await;
    assert_eq!(quick["result"]["content"][0]["text"], "42", "{quick}");
    assert_eq!(quick["result"]["resultType"], "complete", "{quick}");

    // A long one becomes a task named by its run id.
    let created = request(
        &mut a,
        "tools/call",
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": SLOW_CODE, "input": {"n": 7}}}),
    )
    .await;
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working", "{created}");
    let id = task["taskId"].as_str().expect("a task id").to_string();
    assert!(id.starts_with('r'), "the run id: {id}");
    let got = request(&mut a, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "working", "{got}");

    // Tenant b naming a's task gets what a made-up id gets.
    let theirs = request(&mut b, "tasks/get", json!({"taskId": id})).await;
    let made_up = request(&mut b, "tasks/get", json!({"taskId": "r-no-such-run"})).await;
    assert_eq!(
        theirs["error"]["message"],
        json!(format!("unknown task {id:?}")),
        "{theirs}"
    );
    assert_eq!(
        made_up["error"]["message"], "unknown task \"r-no-such-run\"",
        "{made_up}"
    );
    assert_eq!(theirs["error"]["code"], made_up["error"]["code"]);

    // weft dies mid-run; the next one resumes the run from its journal.
    first.0.kill().expect("kill -9 weft");
    let _ = first.0.wait();
    let (_second, base) = start(&interp, dir.path());
    let mut a = client(&base, &key_a);
    let mut b = client(&base, &key_b);
    let theirs = request(&mut b, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(
        theirs["error"]["message"],
        json!(format!("unknown task {id:?}")),
        "after the restart: {theirs}"
    );
    let done = tasks::settled(&mut a, Caps::Tasks, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["structuredContent"],
        json!({"slept": 7}),
        "{done}"
    );
    // The slow call reached the server before the kill, and once more
    // from the resume (it is listed in idempotent_tools).
    assert_eq!(arrived(dir.path()), ["slow", "slow"]);
}

/// `tasks/cancel` stops the run where it is: the task is `cancelled`, its
/// journal records it ended, and a restart does not resume it (the slow
/// call, idempotent, would be sent again if it did).
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_run_task_stops_and_is_not_resumed() {
    let interp = interpreters("python");
    let dir = temp_dir();
    let (key_a, _) = setup(dir.path());
    let (mut first, base) = start(&interp, dir.path());
    let mut a = client(&base, &key_a);
    let code = "tools.call('w', 'slow', {'ms': 3000})\ntools.call('w', 'echo', {'text': 'after'})\nreturn 1";
    let created = request(
        &mut a,
        "tools/call",
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": code}}),
    )
    .await;
    let id = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task: {created}"))
        .to_string();
    // Cancel while `slow` runs (on a loaded machine the run may not have
    // reached it when the task is handed out).
    crate::support::eventually(Duration::from_secs(60), "slow to start", || {
        arrived(dir.path()) == ["slow"]
    })
    .await;
    let cancelled = request(&mut a, "tasks/cancel", json!({"taskId": id})).await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let got = request(&mut a, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
    first.0.kill().expect("kill weft");
    let _ = first.0.wait();
    let (_second, base) = start(&interp, dir.path());
    let mut a = client(&base, &key_a);
    let got = request(&mut a, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "completed", "{got}");
    assert_eq!(got["result"]["result"]["isError"], true, "{got}");
    assert_eq!(
        got["result"]["result"]["content"][0]["text"],
        "code (python) error: cancelled by the agent",
        "{got}"
    );
    assert_eq!(arrived(dir.path()), ["slow"], "not resumed");
}
