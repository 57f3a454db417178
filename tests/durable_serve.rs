//! Durable runs through `weft serve`: a policy run called as a tool (or
//! through `weft_run_policy`) is journaled, its run id comes back in the
//! result's `_meta["weft/run-id"]`, and a `weft serve` that is stopped in
//! the middle of a run (aborted by the crash hook, as `kill -9` would)
//! and started again with `settings.resume = true` finishes the run, each
//! write once; with the journal in PostgreSQL, a second replica takes the
//! run over once the dead one's lease expires.
//!
//! The writes go to weft-faulty-server, whose record file is the count of
//! side effects; the agent is rmcp's client over streamable HTTP.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::durable::{Setup, WRITES, input, output_json};
use crate::support::*;

/// The policy `writes` (the durable test guest) with grants on `w`.
const POLICY: &str = "[policies.writes]\npath = \"durable.wasm\"\ngrants = [\"w.*\"]\n";

fn setup(settings: &str) -> Setup {
    Setup::with_settings(settings, POLICY)
}

/// `weft serve --http` on a setup's config; `crash` arms the test hook.
fn serve(s: &Setup, crash: Option<&str>) -> (Background, String) {
    let mut cmd = weft();
    cmd.arg("--config").arg(&s.config);
    if let Some(at) = crash {
        cmd.env("WEFT_TEST_CRASH_AT", at);
    }
    serve_weft_http(&mut cmd)
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn connect(base: &str) -> Client {
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    within("the client connects", ().serve(transport))
        .await
        .expect("client connects")
}

async fn call(
    client: &Client,
    tool: &str,
    args: Value,
) -> Result<rmcp::model::CallToolResult, rmcp::ServiceError> {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap());
    tokio::time::timeout(Duration::from_secs(120), client.call_tool(params))
        .await
        .expect("the call answers within 2 minutes")
}

/// The run id in a result's `_meta`.
fn run_id(result: &rmcp::model::CallToolResult) -> String {
    let meta = result.meta.as_ref().expect("the result has _meta");
    meta.get("weft/run-id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no weft/run-id in {meta:?}"))
        .to_string()
}

/// The calls of a run as `weft runs show --json` lists them: `tool text
/// -> result text`.
fn shown_calls(s: &Setup, id: &str) -> Vec<String> {
    let shown = output_json(&s.weft(&["runs", "show", id, "--json"]));
    shown["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {shown}"))
        .iter()
        .filter(|e| e["kind"] == "call")
        .map(|e| {
            let request: Value = serde_json::from_str(e["request"].as_str().unwrap()).unwrap();
            let args: Value = serde_json::from_str(request["args"].as_str().unwrap()).unwrap();
            let outcome: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
            let result: Value = serde_json::from_str(outcome["ok"].as_str().unwrap()).unwrap();
            format!(
                "{} {} -> {}",
                request["tool"].as_str().unwrap(),
                args["text"].as_str().unwrap(),
                result["content"][0]["text"].as_str().unwrap()
            )
        })
        .collect()
}

/// A policy called as a tool and through `weft_run_policy`: each run's id
/// comes back in `_meta`, and `weft runs show` on it lists its three calls
/// with their results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_run_through_serve_returns_its_run_id_and_is_journaled() {
    let s = setup("journal = \"journal.db\"\n");
    let (_served, base) = serve(&s, None);
    let client = connect(&base).await;
    let direct = call(&client, "writes", input()).await.unwrap();
    assert_ne!(direct.is_error, Some(true), "{direct:?}");
    let first = run_id(&direct);
    let meta = call(
        &client,
        "weft_run_policy",
        json!({"policy": "writes", "input": input()}),
    )
    .await
    .unwrap();
    assert_ne!(meta.is_error, Some(true), "{meta:?}");
    let second = run_id(&meta);
    assert_ne!(first, second);
    assert!(first.starts_with('r') && first.len() > 20, "{first}");
    for id in [&first, &second] {
        assert_eq!(
            shown_calls(&s, id),
            [
                "tool_0 write 0 -> tool_0: write 0",
                "tool_1 write 1 -> tool_1: write 1",
                "tool_2 write 2 -> tool_2: write 2"
            ],
            "run {id}"
        );
        let shown = output_json(&s.weft(&["runs", "show", id, "--json"]));
        assert_eq!(shown["status"], "ok", "{shown}");
        assert_eq!(shown["policy"], "writes", "{shown}");
        assert_eq!(shown["options"]["origin"], "serve", "{shown}");
    }
    assert_eq!(s.record(), [WRITES, WRITES].concat());
    client.cancel().await.ok();
}

/// Waits until run `id` has ended or stopped (neither running nor
/// interrupted).
pub(crate) fn ended(s: &Setup, id: &str, within: Duration) -> Value {
    let mut last = Value::Null;
    wait_until(within, &format!("run {id} ends"), || {
        let out = s.weft(&["runs", "show", id, "--json"]);
        if !out.status.success() {
            return false;
        }
        last = serde_json::from_slice(&out.stdout).unwrap();
        !matches!(last["status"].as_str(), Some("running" | "interrupted"))
    });
    last
}

/// The one run's id, once the setup's journal holds it.
fn the_run(s: &Setup) -> String {
    s.only_run()["id"].as_str().unwrap().to_string()
}

/// Calls the policy on a serve armed to abort at `at`: the process dies
/// of SIGABRT in the middle of the call (whose answer never comes).
async fn call_until_it_dies(mut served: Background, base: &str, at: &str) {
    let client = connect(base).await;
    let params = CallToolRequestParams::new("writes".to_string())
        .with_arguments(input().as_object().cloned().unwrap());
    let pending = tokio::spawn(async move {
        let _ = client.call_tool(params).await;
    });
    let status = tokio::task::spawn_blocking(move || {
        let status = wait_child(&mut served.0, Duration::from_secs(60));
        (status, served)
    })
    .await
    .unwrap()
    .0;
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{at}: {status:?}");
    pending.abort();
}

/// A serve stopped before the 2nd write's intent or after its result,
/// started again with `resume = true`, finishes the run on its own: each
/// write once, the same output as an uninterrupted run. Stopped after
/// the 2nd write was sent, the restarted serve marks the run `in-doubt`
/// naming that write, and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_killed_mid_run_resumes_it_on_start_with_each_write_once() {
    let expected = json!({"results": ["tool_0: write 0", "tool_1: write 1", "tool_2: write 2"]});
    for (at, sent_before) in [
        ("before-intent:2", 1),
        ("after-result:2", 2),
        ("after-send:2", 2),
    ] {
        let s = setup("journal = \"journal.db\"\nresume = true\n");
        let (served, base) = serve(&s, Some(at));
        call_until_it_dies(served, &base, at).await;
        assert_eq!(s.record(), WRITES[..sent_before], "{at}");
        let id = the_run(&s);
        assert_eq!(s.only_run()["status"], "interrupted", "{at}");
        let (_again, _) = serve(&s, None);
        let run = ended(&s, &id, Duration::from_secs(60));
        if at == "after-send:2" {
            assert_eq!(run["status"], "in-doubt", "{at}: {run}");
            let error = run["error"].as_str().unwrap();
            assert!(
                error.contains(r#"(w.tool_1 {"text":"write 1"})"#),
                "{at}: {error}"
            );
            assert_eq!(s.record(), WRITES[..2], "{at}: the call in doubt was sent");
            continue;
        }
        assert_eq!(run["status"], "ok", "{at}: {run}");
        let output: Value = serde_json::from_str(run["output"].as_str().unwrap()).unwrap();
        assert_eq!(output, expected, "{at}");
        assert_eq!(s.record(), WRITES, "{at}: a write was lost or repeated");
    }
}

/// Two `weft serve` replicas on one PostgreSQL, `lease = "1s"`: replica A
/// dies after the 2nd write's result; replica B, already running, takes
/// the run over once A's lease expires and finishes it, each write once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_takes_over_the_run_of_a_dead_serve_on_postgres() {
    let pg = Postgres::start();
    let settings = format!(
        "state = {}\nlease = \"1s\"\nresume = true\n",
        q(pg.database("replicas"))
    );
    let a = setup(&settings);
    // B: its own folder and config, the same database, the same server
    // record file.
    let b = setup(&settings);
    let record = |s: &Setup| s.dir.path().join("record.txt").display().to_string();
    let text = std::fs::read_to_string(&b.config)
        .unwrap()
        .replace(&record(&b), &record(&a));
    std::fs::write(&b.config, text).unwrap();
    let (_b_served, _) = serve(&b, None);
    let (a_served, a_base) = serve(&a, Some("after-result:2"));
    call_until_it_dies(a_served, &a_base, "after-result:2").await;
    let id = the_run(&a);
    let run = ended(&b, &id, Duration::from_secs(60));
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(a.record(), WRITES, "a write was lost or repeated");
    assert!(
        !a.dir.path().join("journal.db").exists() && !b.dir.path().join("journal.db").exists(),
        "a journal file was written"
    );
}

/// Python that makes the three writes, as the durable guest does.
const CODE: &str = "out = []\nfor i in range(3):\n    out.append(tools.call('w', f'tool_{i}', {'text': f'write {i}'}))\nreturn {'results': out}\n";

/// Code mode's runs are journaled as policy runs are: `weft_run_code`
/// returns its run id, `weft runs show` lists the code's calls under the
/// spec `code:python`. A serve stopped after the 2nd write's result and
/// started again with `resume = true` finishes the code from the journal
/// (the interpreter replays the first two writes): each write once, the
/// uninterrupted run's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_mode_run_is_journaled_and_resumed_after_a_crash() {
    let interp = crate::support::code::interpreters("python");
    let s = Setup::with_settings(
        "journal = \"journal.db\"\nresume = true\n",
        "[code]\nenabled = true\nlanguages = [\"python\"]\ngrants = [\"w.*\"]\n",
    );
    let serve_code = |crash: Option<&str>| {
        let mut cmd = crate::support::code::weft_code(&interp);
        crate::support::isolate(&mut cmd);
        cmd.arg("--config").arg(&s.config);
        if let Some(at) = crash {
            cmd.env("WEFT_TEST_CRASH_AT", at);
        }
        serve_weft_http(&mut cmd)
    };
    let args = json!({"language": "python", "code": CODE});
    let expected = json!({"results": ["tool_0: write 0", "tool_1: write 1", "tool_2: write 2"]});

    // Uninterrupted: the run id comes back, and the journal has the calls.
    let (served, base) = serve_code(None);
    let client = connect(&base).await;
    let done = call(&client, "weft_run_code", args.clone()).await.unwrap();
    assert_ne!(done.is_error, Some(true), "{done:?}");
    assert_eq!(done.structured_content, Some(expected.clone()), "{done:?}");
    let id = run_id(&done);
    assert_eq!(
        shown_calls(&s, &id),
        [
            "tool_0 write 0 -> tool_0: write 0",
            "tool_1 write 1 -> tool_1: write 1",
            "tool_2 write 2 -> tool_2: write 2"
        ]
    );
    let shown = output_json(&s.weft(&["runs", "show", &id, "--json"]));
    assert_eq!(
        (&shown["status"], &shown["policy"], &shown["spec"]),
        (&json!("ok"), &json!("code (python)"), &json!("code:python")),
        "{shown}"
    );
    client.cancel().await.ok();
    drop(served);
    assert_eq!(s.record(), WRITES);

    // Stopped after the 2nd write's result, then resumed on start.
    // Emptied, not removed: the server's sandbox opens the file itself.
    std::fs::write(s.dir.path().join("record.txt"), "").unwrap();
    let (mut served, base) = serve_code(Some("after-result:2"));
    let client = connect(&base).await;
    let params = CallToolRequestParams::new("weft_run_code".to_string())
        .with_arguments(args.as_object().cloned().unwrap());
    let pending = tokio::spawn(async move {
        let _ = client.call_tool(params).await;
    });
    let status =
        tokio::task::spawn_blocking(move || wait_child(&mut served.0, Duration::from_secs(120)))
            .await
            .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
    pending.abort();
    assert_eq!(s.record(), WRITES[..2]);
    let out = s.weft(&["runs", "list", "--json", "--status", "interrupted"]);
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let (_again, _) = serve_code(None);
    let run = ended(&s, &id, Duration::from_secs(120));
    assert_eq!(run["status"], "ok", "{run}");
    let output: Value = serde_json::from_str(run["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, expected);
    assert_eq!(s.record(), WRITES, "a write was lost or repeated");
}
