//! Approvals in runs (issue 59): a call a rule covers, made by code mode
//! or a durable run, waits for the person behind the agent that started
//! the run, as an agent's own call does. Code mode pauses on the call and
//! finishes once approved (the Python SDK agent, both eras). A durable run
//! taken as a task waits in `input_required`; the question is answered
//! later with `tasks/update`; after a `kill -9` the resumed run asks
//! again rather than assume the answer, even for a call that is not safe
//! to repeat.

use serde_json::{Value, json};

use crate::support::code::{interpreters, weft_code};
use crate::support::edge::Raw;
use crate::support::keys::add_key;
use crate::support::recorded::{audit_records, on_route, recorded, shifting_entry};
use crate::support::tasks::{self, Caps, durable_tenants, serve_code as start};
use crate::support::*;

/// Three calls; only the third (`define`) needs approval.
const THREE_CALLS: &str = "a = tools.call('shift', 'lookup', {'word': 'one'})\nb = tools.call('shift', 'lookup', {'word': 'two'})\nc = tools.call('shift', 'define', {'word': 'three'})\nreturn {'got': [a, b, c]}";

#[test]
fn a_code_run_pauses_on_its_third_call_until_approved() {
    let interp = interpreters("python");
    for era in ["legacy", "2026-07-28"] {
        let dir = temp_dir();
        let tools = dir.path().join("tools.json");
        let record = dir.path().join("calls.log");
        std::fs::write(
            &tools,
            r#"{"lookup": "Looks up a word.", "define": "Defines a word."}"#,
        )
        .expect("write tools");
        let mut text = String::from(
            "[settings]\nstartup_timeout = \"60s\"\napproval = [\"shift.define\"]\n[code]\nenabled = true\ngrants = [\"shift.*\"]\n",
        );
        text += &shifting_entry("shift", &tools, &record);
        let cfg = dir.path().join("weft.toml");
        std::fs::write(&cfg, text).expect("write config");
        let runs = json!([{"language": "python", "code": THREE_CALLS}]);
        let arg = json!({"runs": runs, "approval": "approve"});
        let seen = if era == "legacy" {
            let target = crate::code_mode::serve_target(&interp, &cfg);
            crate::serve::agent(&target, era, "code", arg)
        } else {
            let mut cmd = weft_code(&interp);
            cmd.arg("--config").arg(&cfg).current_dir(dir.path());
            let (_weft, base) = serve_weft_http(&mut cmd);
            crate::serve::agent(&format!("{base}/mcp"), era, "code", arg)
        };
        let run = &seen["runs"][0];
        assert_eq!(run["error"], false, "{era}: {seen}");
        assert_eq!(
            run["structured"],
            json!({"got": [{"result": "found one"}, {"result": "found two"}, {"result": "found three"}]}),
            "{era}: {seen}"
        );
        let asked = seen["asked"].as_array().expect("asked");
        assert_eq!(
            asked.len(),
            1,
            "{era}: one question, for the third call: {seen}"
        );
        let question = asked[0].as_str().unwrap_or_default();
        assert!(
            question.starts_with("The run \"code (python)\" your agent started wants to call the tool \"define\" on the server \"shift\"")
                && question.contains("\"word\": \"three\""),
            "{era}: {question}"
        );
        assert_eq!(
            recorded(&record),
            ["call lookup", "call lookup", "call define"],
            "{era}"
        );
    }
}

/// A request from an agent that takes tasks and elicitation.
async fn request(raw: &mut Raw, method: &str, params: Value) -> Value {
    tasks::request(raw, Caps::Elicitation, method, params).await
}

fn client(base: &str, key: &str) -> Raw {
    Raw::keyed(&reqwest::Client::new(), base, "2026-07-28", key)
}

async fn settled(raw: &mut Raw, id: &str) -> Value {
    tasks::settled(raw, Caps::Elicitation, id).await
}

/// The one question a task in `input_required` shows.
fn question(got: &Value) -> String {
    assert_eq!(got["result"]["status"], "input_required", "{got}");
    let requests = got["result"]["inputRequests"]
        .as_object()
        .expect("inputRequests");
    assert_eq!(requests.keys().collect::<Vec<_>>(), ["weft-0"], "{got}");
    let asked = &requests["weft-0"];
    assert_eq!(asked["method"], "elicitation/create", "{got}");
    asked["params"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_durable_run_task_waits_in_input_required_and_asks_again_after_a_restart() {
    let interp = interpreters("python");
    let dir = temp_dir();
    // Only tenant a's calls of `slow` wait for approval. `slow` is not
    // safe to repeat: after a crash, only the journal's record that it
    // waited (and was not sent) lets the resumed run ask again.
    let (key_a, key_b) = durable_tenants(dir.path(), "", "approval = [\"w.slow\"]\n");
    let arrived = || recorded(&dir.path().join("record.txt")).len();
    let code = json!({"language": "python", "code": "r = tools.call('w', 'slow', {'ms': 10})\nreturn {'slow': r}"});

    let (mut first, base) = start(&interp, dir.path());
    let mut a = client(&base, &key_a);
    let mut b = client(&base, &key_b);

    // Tenant b has no rule: its run is answered at once.
    let plain = request(
        &mut b,
        "tools/call",
        json!({"name": "weft_run_code", "arguments": code}),
    )
    .await;
    assert_eq!(plain["result"]["resultType"], "complete", "{plain}");
    assert_eq!(arrived(), 1);

    // Tenant a's run asks: it is a task at once, waiting on the question.
    let created = request(
        &mut a,
        "tools/call",
        json!({"name": "weft_run_code", "arguments": code}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_string();
    let got = settled(&mut a, &id).await;
    let asked = question(&got);
    assert!(
        asked.contains("the tool \"slow\" on the server \"w\""),
        "{asked}"
    );
    // Another tenant can neither see nor answer it.
    let yes = json!({"weft-0": {"action": "accept", "content": {"approve": true}}});
    let theirs = request(
        &mut b,
        "tasks/update",
        json!({"taskId": id, "inputResponses": yes}),
    )
    .await;
    assert_eq!(
        theirs["error"]["message"],
        json!(format!("unknown task {id:?}")),
        "{theirs}"
    );
    assert_eq!(arrived(), 1, "nothing went out while the run waits");

    // weft dies while the question waits; the resumed run asks again.
    first.0.kill().expect("kill -9 weft");
    let _ = first.0.wait();
    let (_second, base) = start(&interp, dir.path());
    let mut a = client(&base, &key_a);
    let again = tasks::poll_until(&mut a, Caps::Elicitation, &id, |got| {
        got["result"]["status"] == "input_required"
    })
    .await;
    assert!(question(&again).contains("the tool \"slow\" on the server \"w\""));
    assert_eq!(arrived(), 1, "the resumed run did not assume the answer");

    // Answered, the run goes on and completes.
    let updated = request(
        &mut a,
        "tasks/update",
        json!({"taskId": id, "inputResponses": yes}),
    )
    .await;
    assert!(updated.get("error").is_none(), "{updated}");
    let done = settled(&mut a, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["result"]["isError"], json!(false), "{done}");
    assert_eq!(arrived(), 2, "the approved call went out once");
}

/// A durable policy run (the Rust policy template, calling
/// server-everything's `echo`) taken as a task, its question declined
/// with `tasks/update`: the task completes as the policy's error, which
/// says the call was declined, and `echo` was never called.
#[tokio::test(flavor = "multi_thread")]
async fn a_declined_policy_task_ends_with_the_reason() {
    let dir = temp_dir();
    let mut text = String::from(
        "[settings]\nstartup_timeout = \"60s\"\njournal = \"journal.db\"\naudit = \"audit.jsonl\"\n",
    );
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        "[policies.greet]\npath = {}\ngrants = [\"everything.echo\"]\n",
        q(guest_wasm("weft-policy-template").display().to_string())
    );
    text += "[tenants.a]\ninclude = [\"everything.*\"]\npolicies = [\"greet\"]\napproval = [\"everything.echo\"]\n";
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let key = add_key(dir.path(), "a");
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (mut served, base) = serve_weft_http(&mut cmd);
    let mut a = client(&base, &key);

    let created = request(
        &mut a,
        "tools/call",
        json!({"name": "greet", "arguments": {"message": "hi"}}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_string();
    let asked = question(&settled(&mut a, &id).await);
    assert!(asked.starts_with("The run \"greet\" your agent started wants to call the tool \"echo\" on the server \"everything\""), "{asked}");

    let no = json!({"weft-0": {"action": "decline"}});
    let updated = request(
        &mut a,
        "tasks/update",
        json!({"taskId": id, "inputResponses": no}),
    )
    .await;
    assert!(updated.get("error").is_none(), "{updated}");
    let done = settled(&mut a, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["result"]["isError"], true, "{done}");
    let said = done["result"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        said.contains("declined: the person declined the call"),
        "{said}"
    );

    // The audit has the decline, and no call of echo. The audit's writer
    // thread may not have reached the file yet; weft flushes it on exit.
    served.terminate();
    let records = audit_records(&dir.path().join("audit.jsonl"));
    let approvals = on_route(&records, "approval");
    assert_eq!(approvals.len(), 1, "{records:?}");
    assert_eq!(approvals[0]["outcome"], "declined");
    assert_eq!(approvals[0]["tenant"], "a");
    assert_eq!(approvals[0]["target"], "tenants.a.approval");
    let echoed = on_route(&records, "tool-call")
        .into_iter()
        .filter(|r| r["tool"] == "echo" && r["outcome"] == "ok")
        .count();
    assert_eq!(echoed, 0, "{records:?}");
}
