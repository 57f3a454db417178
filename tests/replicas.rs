//! Many replicas behind one load balancer (issue 60): three `weft serve
//! --http` on one PostgreSQL (`settings.state`), behind HAProxy in round
//! robin with no stickiness. A handshake-era session opened on one replica
//! is served by all three: the Python SDK's agent and the TypeScript SDK's
//! client each make 50 calls in one session, every one succeeds, and each
//! replica's metrics show its share. A session stays its tenant's on every
//! replica, its `DELETE` on any replica ends it, and a key removed with
//! `weft keys rm` is refused by all three.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::balancer::Balancer;
use crate::support::edge::{Raw, Served, add_key, write_config};
use crate::support::*;

/// Calls each client makes in its one session.
const CALLS: usize = 50;

/// Three replicas of one config on one database, and HAProxy before them.
pub(crate) struct Fleet {
    pub(crate) pg: Postgres,
    dir: tempfile::TempDir,
    config: PathBuf,
    /// Code mode's interpreters, when tenant a has code mode.
    interp: Option<PathBuf>,
    pub(crate) replicas: Vec<Served>,
    pub(crate) lb: Balancer,
    /// Tenant a's key, tenant b's, and the admin tenant's (for /metrics).
    pub(crate) a: String,
    pub(crate) b: String,
    admin: String,
}

impl Fleet {
    fn start() -> Fleet {
        Fleet::with(None)
    }

    /// With `interp` (code mode's interpreters), tenant a has code mode.
    fn with(interp: Option<PathBuf>) -> Fleet {
        let everything = npm_entry("everything", "server-everything", &["stdio"]);
        Fleet::custom(interp, &everything, r#""everything.*""#, "")
    }

    /// Replicas of a config with `servers` (entries), which every tenant
    /// includes as `include` (a TOML list's items); `tenant_a` is more of
    /// tenant a's lines. With `interp`, tenant a has code mode.
    pub(crate) fn custom(
        interp: Option<PathBuf>,
        servers: &str,
        include: &str,
        tenant_a: &str,
    ) -> Fleet {
        let pg = Postgres::start();
        let url = pg.database("fleet");
        let dir = temp_dir();
        let code = if interp.is_some() {
            format!("[tenants.a.code]\nenabled = true\ngrants = [{include}]\n")
        } else {
            String::new()
        };
        let text = format!(
            "[settings]\nstate = {}\nstartup_timeout = \"60s\"\n\n{servers}\n[tenants.a]\ninclude = [{include}]\n{tenant_a}{code}[tenants.b]\ninclude = [{include}]\n[tenants.ops]\nadmin = true\ninclude = [{include}]\n",
            q(&url),
        );
        let config = write_config(dir.path(), &text);
        let (a, b, admin) = (
            add_key(&config, "a"),
            add_key(&config, "b"),
            add_key(&config, "ops"),
        );
        let replicas: Vec<Served> = (0..3)
            .map(|_| replica(&config, 0, interp.as_deref()))
            .collect();
        let bases: Vec<&str> = replicas.iter().map(|r| r.base.as_str()).collect();
        let lb = Balancer::haproxy(dir.path(), &bases);
        Fleet {
            pg,
            dir,
            config,
            interp,
            replicas,
            lb,
            a,
            b,
            admin,
        }
    }

    /// One counter of each replica's `/metrics`: the sum of the lines that
    /// start with `prefix` (a metric name and, if any, some labels).
    pub(crate) async fn each(&self, http: &reqwest::Client, prefix: &str) -> Vec<u64> {
        let mut counts = Vec::new();
        for replica in &self.replicas {
            let text = http
                .get(format!("{}/metrics", replica.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .expect("/metrics answers")
                .text()
                .await
                .expect("a body");
            counts.push(
                text.lines()
                    .filter(|l| l.starts_with(prefix))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>() as u64,
            );
        }
        counts
    }

    /// Tenant a's echo calls that succeeded, per replica.
    async fn echoes(&self, http: &reqwest::Client) -> Vec<u64> {
        self.each(
            http,
            r#"weft_calls_total{tenant="a",server="everything",tool="echo",outcome="ok"}"#,
        )
        .await
    }
}

/// `CALLS` echo calls, `{"message": "I"}` for I in 0..CALLS.
fn echo_calls() -> Value {
    (0..CALLS)
        .map(|i| json!({"tool": "everything__echo", "args": {"message": i.to_string()}}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_is_served_by_every_replica() {
    let fleet = Fleet::start();
    let http = reqwest::Client::new();
    let mcp = format!("{}/mcp", fleet.lb.base);

    // The Python SDK's agent, handshake era, one session kept alive.
    let seen = crate::serve::agent(
        &mcp,
        "legacy",
        "sequence",
        json!({"key": fleet.a, "calls": echo_calls()}),
    );
    let calls = seen["calls"].as_array().expect("the calls");
    assert_eq!(calls.len(), CALLS, "{seen}");
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(call["error"], false, "call {i}: {call}");
        assert_eq!(call["text"], format!("Echo: {i}"), "call {i}: {call}");
    }
    let after_python = fleet.echoes(&http).await;
    assert_eq!(
        after_python.iter().sum::<u64>(),
        CALLS as u64,
        "{after_python:?}"
    );
    assert!(
        after_python.iter().all(|n| *n > 0),
        "every replica served some of the session's calls: {after_python:?}"
    );

    // The TypeScript SDK's client: its session id never changes.
    let ts = ts_calls(&mcp, &fleet.a, CALLS);
    assert_eq!(ts["errors"], json!([]), "{ts}");
    assert_eq!(ts["ok"], CALLS, "{ts}");
    assert_eq!(ts["texts"][49], "Echo: 49", "{ts}");
    assert!(ts["session"].is_string(), "{ts}");
    assert_eq!(ts["session"], ts["after"], "{ts}");

    let after_ts = fleet.echoes(&http).await;
    let added: Vec<u64> = after_ts
        .iter()
        .zip(&after_python)
        .map(|(now, before)| now - before)
        .collect();
    assert_eq!(added.iter().sum::<u64>(), CALLS as u64, "{added:?}");
    assert!(added.iter().all(|n| *n > 0), "{added:?}");
    // Each session was opened on one replica and restored once on each of
    // the other two.
    let restored = fleet.each(&http, "weft_sessions_restored_total").await;
    assert_eq!(restored.iter().sum::<u64>(), 4, "{restored:?}");
}

/// The TypeScript SDK's client making `n` echo calls in one session
/// through `mcp` (tests/clients/session_calls.mjs): what it printed.
fn ts_calls(mcp: &str, key: &str, n: usize) -> Value {
    let script = repo_root().join("tests/clients/session_calls.mjs");
    let mut cmd = std::process::Command::new(node22());
    cmd.arg(&script)
        .arg(tools().join("npm/node_modules"))
        .args([mcp, key, "everything__echo", &n.to_string()])
        .stdin(std::process::Stdio::null());
    isolate(&mut cmd);
    json_of_run(&mut cmd, "the TypeScript SDK client")
}

/// nginx from `deploy/nginx.conf` in front of the same replicas: the
/// TypeScript SDK's client's session is served by all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_serves_one_session_from_every_replica() {
    let fleet = Fleet::start();
    let http = reqwest::Client::new();
    let bases: Vec<&str> = fleet.replicas.iter().map(|r| r.base.as_str()).collect();
    let nginx = Balancer::nginx(fleet.dir.path(), &bases);
    let ts = ts_calls(&format!("{}/mcp", nginx.base), &fleet.a, 30);
    assert_eq!(ts["errors"], json!([]), "{ts}");
    assert_eq!(ts["ok"], 30, "{ts}");
    assert_eq!(ts["session"], ts["after"], "{ts}");
    let served = fleet.echoes(&http).await;
    assert_eq!(served.iter().sum::<u64>(), 30, "{served:?}");
    assert!(served.iter().all(|n| *n > 0), "{served:?}");
}

/// An `initialize` through replica `on` with `key`: the session id.
pub(crate) async fn open(http: &reqwest::Client, base: &str, key: &str) -> String {
    let mut raw = Raw::keyed(http, base, "2025-11-25", key);
    raw.open().await;
    raw.session.expect("a session id")
}

/// A `tools/list` in session `id` through `base` with `key`: the status.
async fn list_in(http: &reqwest::Client, base: &str, key: &str, id: &str) -> u16 {
    let mut raw = Raw::keyed(http, base, "2025-11-25", key);
    raw.session = Some(id.to_string());
    raw.request("tools/list", json!({})).await.1.status
}

/// A `DELETE /mcp` of session `id` through `base` with `key`: the status.
async fn delete(http: &reqwest::Client, base: &str, key: &str, id: &str) -> u16 {
    http.delete(format!("{base}/mcp"))
        .bearer_auth(key)
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("weft answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_its_tenants_on_every_replica_and_ends_on_any() {
    let fleet = Fleet::start();
    let http = reqwest::Client::new();
    let [one, two, three] = [0, 1, 2].map(|i| fleet.replicas[i].base.clone());
    let id = open(&http, &one, &fleet.a).await;

    // Another tenant naming it on a replica that does not know it finds
    // no session, as on the replica that made it, and its probes leave the
    // row as it was (its expiry not pushed back).
    let url = fleet.pg.url_of("fleet");
    let expiry = || {
        fleet.pg.scalar_in(
            &url,
            &format!("select expires_at from weft_sessions where id = '{id}'"),
        )
    };
    let before = expiry();
    assert_eq!(list_in(&http, &two, &fleet.b, &id).await, 404);
    assert_eq!(list_in(&http, &one, &fleet.b, &id).await, 404);
    assert_eq!(expiry(), before);
    // Its own tenant is served there.
    assert_eq!(list_in(&http, &two, &fleet.a, &id).await, 200);
    // A made-up id is unknown everywhere, whatever it holds.
    for made_up in [
        "not-a-session".to_string(),
        "x".repeat(4096),
        format!("{id}'; DELETE FROM weft_sessions; --"),
        format!("{id}x"),
        id.to_uppercase(),
    ] {
        assert_eq!(
            list_in(&http, &three, &fleet.a, &made_up).await,
            404,
            "{made_up:.40}"
        );
    }
    assert_eq!(list_in(&http, &three, &fleet.a, &id).await, 200);

    // Ended through a replica that had not served it: it ends on the
    // replicas that hold it too (told through the database), and none
    // takes it up again.
    assert_eq!(delete(&http, &three, &fleet.a, &id).await, 204);
    assert_eq!(list_in(&http, &three, &fleet.a, &id).await, 404);
    until_every(&fleet, &http, &fleet.a, &id, 404).await;
    assert_eq!(delete(&http, &three, &fleet.a, &id).await, 404);
}

/// `weft keys list --json`'s id of the only key of `tenant`.
fn key_id(config: &Path, tenant: &str) -> String {
    let list = crate::support::keys::key_list(config);
    let ids: Vec<&str> = list
        .iter()
        .filter(|k| k["tenant"] == tenant)
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{list:?}");
    ids[0].to_string()
}

/// Polls each replica until `status` of `list_in` is `want` (each replica
/// looks at the key file once a second).
async fn until_every(fleet: &Fleet, http: &reqwest::Client, key: &str, id: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for replica in &fleet.replicas {
        loop {
            let status = list_in(http, &replica.base, key, id).await;
            if status == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still answers {status}, not {want}",
                replica.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A key removed with `weft keys rm` is refused by every replica, and the
/// sessions it opened end on every replica: the tenant's other key
/// naming one finds no session anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_key_is_refused_and_its_sessions_end_on_every_replica() {
    let fleet = Fleet::start();
    let http = reqwest::Client::new();
    let first = key_id(&fleet.config, "b");
    let other = add_key(&fleet.config, "b");
    let id = open(&http, &fleet.lb.base, &fleet.b).await;
    // Every replica knows the session, and the tenant's other key.
    for replica in &fleet.replicas {
        assert_eq!(list_in(&http, &replica.base, &fleet.b, &id).await, 200);
    }
    until_every(&fleet, &http, &other, &id, 200).await;

    crate::support::keys::remove_key(&fleet.config, &first);
    until_every(&fleet, &http, &fleet.b, &id, 401).await;
    until_every(&fleet, &http, &other, &id, 404).await;
    // The other key opens sessions as before, and tenant a is untouched.
    let again = open(&http, &fleet.lb.base, &other).await;
    assert_eq!(list_in(&http, &fleet.lb.base, &other, &again).await, 200);
    let a = open(&http, &fleet.lb.base, &fleet.a).await;
    assert_eq!(list_in(&http, &fleet.lb.base, &fleet.a, &a).await, 200);
}

/// A POST in session `id` through `base` with `key`: the JSON-RPC answer.
pub(crate) async fn post_in(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    method: &str,
    params: Value,
) -> Value {
    let mut raw = Raw::keyed(http, base, "2025-11-25", key);
    raw.session = Some(id.to_string());
    let (rpc, answer) = raw.request(method, params).await;
    assert_eq!(answer.status, 200, "{method}: {}", answer.body);
    answer.message(rpc)
}

/// Session `id`'s stream (its `GET`) on `base`, open.
pub(crate) async fn stream_of(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
) -> reqwest::Response {
    let stream = http
        .get(format!("{base}/mcp"))
        .bearer_auth(key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("the GET stream opens");
    assert_eq!(stream.status(), 200);
    stream
}

/// The agent's stream (its GET) is open on replica one; it subscribes to
/// a resource through replica two, whose own server-everything then
/// sends the updates: they reach the stream on replica one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_update_reaches_the_agents_stream_on_another_replica() {
    let fleet = Fleet::start();
    let http = reqwest::Client::new();
    let (one, two) = (&fleet.replicas[0].base, &fleet.replicas[1].base);
    let key = &fleet.a;
    let id = open(&http, one, key).await;
    let mut stream = stream_of(&http, one, key, &id).await;

    let uri = "everything+demo://resource/static/document/architecture.md";
    let subscribed = post_in(
        &http,
        two,
        key,
        &id,
        "resources/subscribe",
        json!({"uri": uri}),
    )
    .await;
    assert!(subscribed.get("error").is_none(), "{subscribed}");
    let toggled = post_in(
        &http,
        two,
        key,
        &id,
        "tools/call",
        json!({"name": "everything__toggle-subscriber-updates", "arguments": {}}),
    )
    .await;
    let said = toggled["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        said.starts_with("Started simulated resource updated notifications"),
        "{toggled}"
    );

    // server-everything sends its updates every few seconds.
    let want = format!(r#""uri":"{uri}""#);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(seen.contains("notifications/resources/updated") && seen.contains(&want)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("no update on replica one's stream ({other:?}); read:\n{seen}"),
        }
    }
}

/// A replica: `weft serve --http` of `config` on `port` (0: any; the same
/// one again for a replica restarted where the load balancer expects it),
/// with code mode's interpreters at `interp` if given.
fn replica(config: &Path, port: u16, interp: Option<&Path>) -> Served {
    let cmd = match interp {
        Some(dir) => crate::support::code::weft_code(dir),
        None => weft(),
    };
    crate::support::edge::serve_with(cmd, config, &format!("127.0.0.1:{port}"), &[])
}

/// What one call through the load balancer came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The echo came back.
    Ok,
    /// The session was not found (404): the session was lost.
    Lost,
    /// No answer within the client's timeout.
    Hung,
    /// Another error, as the client saw it (a 502 from the load balancer
    /// for a call in flight on the killed replica, a reset connection).
    Failed(String),
}

/// One echo call in session `id`.
async fn echo_in(http: &reqwest::Client, base: &str, key: &str, id: &str, n: usize) -> Outcome {
    let body = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
        "params": {"name": "everything__echo", "arguments": {"message": n.to_string()}}});
    let sent = http
        .post(format!("{base}/mcp"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Outcome::Hung,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let status = response.status().as_u16();
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) if e.is_timeout() => return Outcome::Hung,
        Err(e) => return Outcome::Failed(format!("{status}: {e}")),
    };
    match status {
        200 if text.contains(&format!("Echo: {n}")) => Outcome::Ok,
        404 => Outcome::Lost,
        _ => Outcome::Failed(format!("{status}: {text}")),
    }
}

/// Sixteen sessions call through HAProxy at once while a replica is
/// killed with `kill -9` every 10 s and restarted on its port. No session
/// is lost (no 404, no new `initialize`), no call hangs, and the calls
/// that fail are at most those in flight on the killed replicas; each
/// session's last call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_outlive_a_replica_killed_every_ten_seconds() {
    const SESSIONS: usize = 16;
    const KILLS: usize = 3;
    let mut fleet = Fleet::start();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let lb = fleet.lb.base.clone();
    let mut ids = Vec::new();
    for _ in 0..SESSIONS {
        ids.push(open(&http, &lb, &fleet.a).await);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for id in ids {
        let (http, lb, key, stop) = (http.clone(), lb.clone(), fleet.a.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                outcomes.push(echo_in(&http, &lb, &key, &id, n).await);
                n += 1;
            }
            // One more after the last restart: the session goes on.
            let last = echo_in(&http, &lb, &key, &id, n).await;
            (outcomes, last)
        }));
    }
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(if kill == 0 { 3 } else { 10 })).await;
        let i = kill % fleet.replicas.len();
        let port = fleet.replicas[i].port;
        fleet.replicas[i]._proc.0.kill().expect("kill -9 a replica");
        let _ = fleet.replicas[i]._proc.0.wait();
        let (config, interp) = (fleet.config.clone(), fleet.interp.clone());
        fleet.replicas[i] =
            tokio::task::spawn_blocking(move || replica(&config, port, interp.as_deref()))
                .await
                .expect("the replica restarts");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed, mut lost, mut hung) = (0, Vec::new(), 0, 0);
    for worker in workers {
        let (outcomes, last) = worker.await.expect("a worker");
        assert_eq!(last, Outcome::Ok, "the session's last call");
        for outcome in outcomes {
            match outcome {
                Outcome::Ok => ok += 1,
                Outcome::Lost => lost += 1,
                Outcome::Hung => hung += 1,
                Outcome::Failed(why) => failed.push(why),
            }
        }
    }
    println!(
        "{SESSIONS} sessions, {KILLS} kills: {ok} calls ok, {} failed, {lost} lost sessions, {hung} hung; failures such as {:?}",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(lost, 0, "no session was lost");
    assert_eq!(hung, 0, "no call hung");
    assert!(
        failed.len() <= SESSIONS * KILLS,
        "more failures than calls in flight on the killed replicas: {failed:?}"
    );
    assert!(ok > SESSIONS * 10, "{ok} calls ok");
}

/// A 2026-07-28 agent starts a long code run through HAProxy and polls
/// `tasks/get` through it: whichever replica each poll reaches answers
/// for the run, from the shared journal when another replica runs it,
/// until it completes with the run's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_answered_by_every_replica() {
    use crate::support::tasks::{self, Caps};
    let fleet = Fleet::with(Some(crate::support::code::interpreters("python")));
    let mut raw = Raw::keyed(
        &reqwest::Client::new(),
        &fleet.lb.base,
        "2026-07-28",
        &fleet.a,
    );
    let code = "tools.call('everything', 'trigger-long-running-operation', {'duration': 4, 'steps': 4})\nreturn {'done': input['n']}";
    let created = tasks::request(
        &mut raw,
        Caps::Tasks,
        "tools/call",
        json!({"name": "weft_run_code", "arguments": {"language": "python", "code": code, "input": {"n": 3}}}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_string();
    let mut polls = Vec::new();
    let done = loop {
        let got = tasks::request(&mut raw, Caps::Tasks, "tasks/get", json!({"taskId": id})).await;
        let status = got["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            matches!(status.as_str(), "working" | "completed"),
            "poll {}: {got}",
            polls.len()
        );
        polls.push(status.clone());
        if status == "completed" {
            break got;
        }
        assert!(polls.len() < 600, "still working after a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        polls.iter().filter(|s| *s == "working").count() >= 3,
        "every replica answered while it ran: {polls:?}"
    );
    assert_eq!(
        done["result"]["result"]["structuredContent"],
        json!({"done": 3}),
        "{done}"
    );
}

/// While the database refuses every connection, sessions go on where they
/// are known and a new one is served by the replica that opened it (but
/// taken up by no other); once it is back, a new session is served by
/// every replica again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_go_on_where_they_are_known_while_the_database_is_down() {
    let fleet = Fleet::start();
    let http = reqwest::Client::new();
    let [one, two, three] = [0, 1, 2].map(|i| fleet.replicas[i].base.clone());
    let known = open(&http, &one, &fleet.a).await;
    assert_eq!(list_in(&http, &two, &fleet.a, &known).await, 200);

    fleet.pg.sql("ALTER DATABASE fleet ALLOW_CONNECTIONS false");
    fleet.pg.sql(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = 'fleet' and pid <> pg_backend_pid()",
    );
    wait_until(
        Duration::from_secs(10),
        "the replicas' connections to end",
        || {
            fleet
                .pg
                .scalar("select count(*) from pg_stat_activity where datname = 'fleet'")
                == "0"
        },
    );
    assert_eq!(list_in(&http, &one, &fleet.a, &known).await, 200);
    assert_eq!(list_in(&http, &two, &fleet.a, &known).await, 200);
    let fresh = open(&http, &one, &fleet.a).await;
    assert_eq!(list_in(&http, &one, &fleet.a, &fresh).await, 200);
    assert_eq!(list_in(&http, &three, &fleet.a, &fresh).await, 404);

    fleet.pg.sql("ALTER DATABASE fleet ALLOW_CONNECTIONS true");
    // Each replica connects again within seconds of its next use.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let again = open(&http, &one, &fleet.a).await;
        if list_in(&http, &three, &fleet.a, &again).await == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the database is not used again");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
