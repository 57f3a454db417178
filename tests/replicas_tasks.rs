//! Tasks behind a load balancer (issue 60): a task lives on one replica
//! (a run taken as a task, with its questions and progress; or a task a
//! stdio upstream of that replica made), and a request about it that
//! reaches another replica is passed on to that one. Each test sends the
//! requests straight to every replica in turn, so each replica but the
//! one holding the task passes one on, and counts what was passed on; the
//! answers are the holder's. Another tenant naming the task gets the
//! unknown-task answer everywhere, and nothing is passed on for it.

use serde_json::json;

use crate::replicas::{Fleet, stream_of};
use crate::support::edge::Raw;
use crate::support::tasks::{self, Caps};
use crate::support::*;

/// What each replica's `/metrics` counts of task requests passed on.
const FORWARDED: &str = r#"weft_mcp_posts_total{path="forwarded"}"#;

/// A 2026-07-28 agent of `key` that takes tasks, straight to `base`.
fn agent(base: &str, key: &str) -> Raw {
    Raw::keyed(&reqwest::Client::new(), base, "2026-07-28", key)
}

/// The replica (its index) whose row holds tenant a's task `id`.
fn holder(fleet: &Fleet, id: &str) -> usize {
    let url = fleet.pg.url_of("fleet");
    let at = fleet.pg.scalar_in(
        &url,
        &format!("select replica from weft_task_homes where tenant = 'a' and id = '{id}'"),
    );
    fleet
        .replicas
        .iter()
        .position(|r| r.base == at)
        .unwrap_or_else(|| panic!("task {id} is held at {at:?}, no replica of the fleet"))
}

/// A `tools/call` with `params` that the agent `raw` is handed as a
/// task: the task's id.
async fn start_task(raw: &mut Raw, caps: Caps, params: serde_json::Value) -> String {
    let made = tasks::request(raw, caps, "tools/call", params).await;
    assert_eq!(made["result"]["resultType"], "task", "{made}");
    made["result"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_string()
}

/// Tenant b names `id` on every replica: each answers as for an id that
/// never existed.
async fn unknown_to_b(fleet: &Fleet, caps: Caps, id: &str) {
    for replica in &fleet.replicas {
        let mut b = agent(&replica.base, &fleet.b);
        let theirs = tasks::request(&mut b, caps, "tasks/get", json!({"taskId": id})).await;
        assert_eq!(
            theirs["error"]["message"],
            json!(format!("unknown task {id:?}")),
            "{}: {theirs}",
            replica.base
        );
    }
}

/// A task of the conformance fixture (over stdio: each replica runs its
/// own) is polled on all three replicas: each answers `working`, two by
/// passing the request on; `tasks/cancel` on a replica that does not hold
/// it cancels it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_task_is_answered_by_every_replica() {
    let server = target_bin("weft-conformance-server");
    let conf = command_entry("conf", &server, &["--stdio"]);
    let fleet = Fleet::custom(None, &conf, r#""conf.*""#, "");
    let http = reqwest::Client::new();
    let mut a = agent(&fleet.lb.base, &fleet.a);
    let id = start_task(
        &mut a,
        Caps::Tasks,
        json!({"name": "conf__slow_compute", "arguments": {"seconds": 60, "label": "a's"}}),
    )
    .await;
    let home = holder(&fleet, &id);

    for replica in &fleet.replicas {
        let mut a = agent(&replica.base, &fleet.a);
        let got = tasks::request(&mut a, Caps::Tasks, "tasks/get", json!({"taskId": id})).await;
        assert_eq!(
            got["result"]["status"], "working",
            "{}: {got}",
            replica.base
        );
        assert_eq!(got["result"]["taskId"], json!(id), "{got}");
    }
    let mut passed = vec![1; 3];
    passed[home] = 0;
    assert_eq!(fleet.each(&http, FORWARDED).await, passed);

    unknown_to_b(&fleet, Caps::Tasks, &id).await;
    assert_eq!(
        fleet.each(&http, FORWARDED).await,
        passed,
        "b's polls went nowhere"
    );

    let other = (home + 1) % 3;
    let mut a = agent(&fleet.replicas[other].base, &fleet.a);
    let cancelled =
        tasks::request(&mut a, Caps::Tasks, "tasks/cancel", json!({"taskId": id})).await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let got = tasks::request(&mut a, Caps::Tasks, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
}

/// A code run that asks for approval is a task in `input_required` on
/// every replica, with the same question; the answer sent to a replica
/// that does not hold it reaches the run, which completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_question_is_shown_and_answered_on_every_replica() {
    let everything = npm_entry("everything", "server-everything", &["stdio"]);
    let fleet = Fleet::custom(
        Some(crate::support::code::interpreters("python")),
        &everything,
        r#""everything.*""#,
        "approval = [\"everything.get-sum\"]\n",
    );
    let code = "s = tools.call('everything', 'get-sum', {'a': 2, 'b': 3})\nreturn {'sum': s}";
    let mut a = agent(&fleet.lb.base, &fleet.a);
    let id = start_task(
        &mut a,
        Caps::Elicitation,
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": code}}),
    )
    .await;
    let home = holder(&fleet, &id);

    for replica in &fleet.replicas {
        let mut a = agent(&replica.base, &fleet.a);
        let got = tasks::poll_until(&mut a, Caps::Elicitation, &id, |got| {
            got["result"]["status"] != "working"
        })
        .await;
        assert_eq!(
            got["result"]["status"], "input_required",
            "{}: {got}",
            replica.base
        );
        let asked = got["result"]["inputRequests"]["weft-0"]["params"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(asked.contains("\"get-sum\""), "{}: {got}", replica.base);
    }
    unknown_to_b(&fleet, Caps::Elicitation, &id).await;

    let other = (home + 2) % 3;
    let mut a = agent(&fleet.replicas[other].base, &fleet.a);
    let yes = json!({"weft-0": {"action": "accept", "content": {"approve": true}}});
    let updated = tasks::request(
        &mut a,
        Caps::Elicitation,
        "tasks/update",
        json!({"taskId": id, "inputResponses": yes}),
    )
    .await;
    assert!(updated.get("error").is_none(), "{updated}");
    let done = tasks::settled(&mut a, Caps::Elicitation, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    let sum = &done["result"]["result"]["structuredContent"]["sum"];
    assert!(
        sum.to_string().contains("The sum of 2 and 3 is 5"),
        "{done}"
    );
}

/// Code that reports progress in three steps, a second apart (each step
/// a one-second long-running operation of server-everything's).
const STEPS: &str = "from weft_guest import progress\nfor i in range(1, 4):\n    tools.call('everything', 'trigger-long-running-operation', {'duration': 1, 'steps': 1})\n    progress(i, 3, 'step %d' % i)\nreturn {'steps': 3}";

/// A handshake-era agent's stream is open on one replica; its call
/// through another becomes a task after a second, and the run's later
/// progress, under the call's token, reaches the stream. A 2026-07-28
/// agent, which has no stream, reads the progress in `tasks/get` on any
/// replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tasks_progress_reaches_the_agent_on_any_replica() {
    let everything = npm_entry("everything", "server-everything", &["stdio"]);
    let fleet = Fleet::custom(
        Some(crate::support::code::interpreters("python")),
        &everything,
        r#""everything.*""#,
        "",
    );
    let http = reqwest::Client::new();
    let (one, two) = (&fleet.replicas[0].base, &fleet.replicas[1].base);
    let id = open_taking_tasks(&http, one, &fleet.a).await;
    let mut stream = stream_of(&http, one, &fleet.a, &id).await;

    let mut raw = Raw::keyed(&http, two, "2025-11-25", &fleet.a);
    raw.session = Some(id.clone());
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "weft_run_code",
        "arguments": {"language": "python", "code": STEPS},
        "_meta": {"progressToken": "steps-7"}}});
    let answer = raw.post(&call, &[]).await;
    let made = answer.message(7);
    assert_eq!(made["result"]["resultType"], "task", "{made}");

    // The third step comes after the call became a task.
    let want = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
        "progressToken": "steps-7", "progress": 3.0, "total": 3.0, "message": "step 3"}});
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let arrived = |seen: &str| {
        seen.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .any(|d| serde_json::from_str::<serde_json::Value>(d).ok().as_ref() == Some(&want))
    };
    while !arrived(&seen) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("no progress on replica one's stream ({other:?}); read:\n{seen}"),
        }
    }

    // Without a stream: the last progress is the task's status message.
    let mut modern = agent(&fleet.lb.base, &fleet.a);
    let task = start_task(
        &mut modern,
        Caps::Tasks,
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": STEPS}}),
    )
    .await;
    let mut messages: Vec<String> = Vec::new();
    let done = tasks::poll_until(&mut modern, Caps::Tasks, &task, |got| {
        if let Some(m) = got["result"]["statusMessage"].as_str() {
            messages.push(m.to_string());
        }
        got["result"]["status"] == "completed"
    })
    .await;
    assert_eq!(
        done["result"]["result"]["structuredContent"],
        json!({"steps": 3}),
        "{done}"
    );
    assert!(
        messages.iter().any(|m| m == "progress 2 of 3: step 2"),
        "{messages:?}"
    );
}

/// An `initialize` through `base` declaring the tasks extension: the
/// session id.
async fn open_taking_tasks(http: &reqwest::Client, base: &str, key: &str) -> String {
    let raw = Raw::keyed(http, base, "2025-11-25", key);
    let hello = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        "clientInfo": {"name": "weft-replica-test", "version": "1"}}});
    let answer = raw.post(&hello, &[]).await;
    assert_eq!(answer.status, 200, "initialize: {}", answer.body);
    let id = answer
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_string();
    let mut raw = raw;
    raw.session = Some(id.clone());
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(raw.post(&done, &[]).await.status, 202);
    id
}

/// The replica holding a run's task is killed: the others answer for the
/// run from the shared journal (it is still `working` there), at once,
/// with no error; an upstream's task died with its replica and is unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_replica_died_is_answered_where_asked() {
    let everything = npm_entry("everything", "server-everything", &["stdio"]);
    let server = target_bin("weft-conformance-server");
    let servers = everything + &command_entry("conf", &server, &["--stdio"]);
    let mut fleet = Fleet::custom(
        Some(crate::support::code::interpreters("python")),
        &servers,
        r#""everything.*", "conf.*""#,
        "",
    );
    let code = "tools.call('everything', 'trigger-long-running-operation', {'duration': 30, 'steps': 3})\nreturn {'done': True}";
    // Both straight to replica one, to kill it once.
    let mut a = agent(&fleet.replicas[0].base, &fleet.a);
    let run = start_task(
        &mut a,
        Caps::Tasks,
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": code}}),
    )
    .await;
    let upstream = start_task(
        &mut a,
        Caps::Tasks,
        json!({"name": "conf__slow_compute", "arguments": {"seconds": 60, "label": "a's"}}),
    )
    .await;
    let home = holder(&fleet, &run);
    assert_eq!((home, holder(&fleet, &upstream)), (0, 0));
    fleet.replicas[home]
        ._proc
        .0
        .kill()
        .expect("kill -9 the replica");
    let _ = fleet.replicas[home]._proc.0.wait();

    for replica in fleet
        .replicas
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != home)
    {
        let mut a = agent(&replica.1.base, &fleet.a);
        let got = tasks::request(&mut a, Caps::Tasks, "tasks/get", json!({"taskId": run})).await;
        assert_eq!(
            got["result"]["status"], "working",
            "{}: {got}",
            replica.1.base
        );
        let gone = tasks::request(
            &mut a,
            Caps::Tasks,
            "tasks/get",
            json!({"taskId": upstream}),
        )
        .await;
        assert_eq!(
            gone["error"]["message"],
            json!(format!("unknown task {upstream:?}")),
            "{gone}"
        );
    }
}

/// `--advertise` (or `WEFT_ADVERTISE`) takes only a plain `http` or
/// `https` URL with a host; anything else stops `weft serve` at once with
/// what to write instead.
#[test]
fn only_a_plain_url_is_advertised() {
    let dir = temp_dir();
    let config = crate::support::edge::write_config(dir.path(), "");
    for bad in [
        "10.0.0.5:8080",
        "ftp://10.0.0.5",
        "http://u:p@10.0.0.5",
        "http://10.0.0.5/mcp",
    ] {
        for by_env in [false, true] {
            let mut cmd = weft();
            cmd.arg("--config")
                .arg(&config)
                .args(["serve", "--http", "127.0.0.1:0"]);
            if by_env {
                cmd.env("WEFT_ADVERTISE", bad);
            } else {
                cmd.args(["--advertise", bad]);
            }
            let out = cmd.output_timed().expect("run weft serve");
            assert_eq!(out.status.code(), Some(2), "{bad}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.trim(),
                format!(
                    "weft: --advertise: {bad:?} is not an http:// or https:// URL with a host (e.g. http://10.0.0.5:8080)"
                ),
                "{bad}"
            );
        }
    }
}
