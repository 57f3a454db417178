//! Durable runs at the sandbox boundary (issue 53, findings 6 and 7).
//!
//! - An adapter that makes HTTP requests (`egress`) cannot be `durable`:
//!   its requests are not journaled, so a resume would send again one that
//!   was already answered. The combination is refused when the config
//!   loads, for `builtin:openapi` as for any other adapter, against a real
//!   local HTTP service that counts what it receives.
//! - Who holds a run in a journal file is a lease (a holder id per process
//!   start, and an expiry the holder renews), not a process id: a run whose
//!   recorded pid names a live process again (weft is pid 1 in every
//!   container it starts in) is resumed, one held by a process in another
//!   container (whose pids this one cannot see) is resumed once its lease
//!   lapses (by `weft runs resume`, and by a `weft serve` sharing the file
//!   with `resume = true`), and a live holder's renewed lease keeps a
//!   second process out. A process whose run was taken over cannot write
//!   to it. A journal file of an older weft (schema 1) is migrated and
//!   resumed.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::durable::{Setup, WRITES, crashed, input, output_json, stderr, uninterrupted};
use crate::support::echo_http::EchoHttp;
use crate::support::*;

// ---------------------------------------------------------------------
// Finding 6: durable adapters with egress.

/// What weft says of `durable = true` beside `egress`.
const DURABLE_EGRESS: &str = "cannot be combined with `egress`: weft does not journal an adapter's HTTP requests, so resuming a call cut short would send again a request that may already have been answered";

/// An OpenAPI document with one operation, `POST /api/charge`.
fn charge_api() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "payments", "version": "1"},
        "paths": {"/api/charge": {"post": {
            "operationId": "charge",
            "summary": "Charge a card",
            "responses": {"200": {"description": "charged"}}
        }}}
    })
}

/// A config whose server `pay` is `component` with `egress` to the
/// service on `port`, `durable` when asked; the `durable` key is on line
/// 8.
fn egress_config(component: &str, port: u16, durable: bool, config: &str) -> String {
    format!(
        "[settings]\njournal = \"journal.db\"\nresume = true\n\n[servers.pay]\ncomponent = {}\negress = [\"http://127.0.0.1:{port}/api/*\"]\n{}{config}",
        q(component),
        if durable { "durable = true\n" } else { "" },
    )
}

/// The `builtin:openapi` adapter on the service, and the egress test
/// adapter (`tests/guests/egress`, copied into `dir`), each as `pay`:
/// (the component, the config's text).
fn egress_adapters(dir: &std::path::Path, port: u16, durable: bool) -> Vec<(String, String)> {
    std::fs::copy(guest_wasm("weft-egress-guest"), dir.join("egress.wasm")).unwrap();
    let openapi = format!(
        "[servers.pay.config]\nspec = '''{}'''\nbase_url = \"http://127.0.0.1:{port}\"\n",
        charge_api()
    );
    vec![
        (
            "builtin:openapi".into(),
            egress_config("builtin:openapi", port, durable, &openapi),
        ),
        (
            "egress.wasm".into(),
            egress_config("egress.wasm", port, durable, ""),
        ),
    ]
}

/// `weft ARGS…` with the config `path`, under a deadline.
fn weft_with(path: &std::path::Path, args: &[&str], within: Duration) -> Output {
    weft()
        .arg("--config")
        .arg(path)
        .args(args)
        .output_within(within)
        .expect("weft runs")
}

/// `durable = true` beside `egress` is refused when the config loads, by
/// `weft check` and by `weft serve` (which exits before serving), naming
/// the key: for `builtin:openapi`, whose every call is an HTTP request,
/// and for an adapter of one's own. The service receives nothing. Without
/// `durable` the same entries load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_adapter_with_egress_is_refused_when_the_config_loads() {
    let service = EchoHttp::start().await;
    let dir = temp_dir();
    let path = dir.path().join("weft.toml");
    for (component, text) in egress_adapters(dir.path(), service.port, true) {
        std::fs::write(&path, &text).unwrap();
        let hint = if component == "builtin:openapi" {
            "builtin:openapi answers every call with an HTTP request, so it cannot be durable: remove `durable = true`"
        } else {
            "remove `durable = true` (a call cut short is then not resumed), or make the requests in an MCP server that the adapter calls through `grants`: those calls are journaled"
        };
        let expected = format!(
            "{}:8:1: servers.pay.durable: {DURABLE_EGRESS}\n  hint: {hint}",
            path.display()
        );
        for args in [&["check"][..], &["serve", "--http", "127.0.0.1:0"]] {
            let out = weft_with(&path, args, Duration::from_secs(60));
            assert_eq!(
                (out.status.code(), stderr(&out).contains(&expected)),
                (Some(2), true),
                "{component}: weft {args:?} loaded a durable adapter with egress:\n{}",
                stderr(&out)
            );
        }
    }
    for (component, text) in egress_adapters(dir.path(), service.port, false) {
        std::fs::write(&path, &text).unwrap();
        let out = weft_with(&path, &["check"], Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(0), "{component}: {}", stderr(&out));
    }
    assert_eq!(service.seen(), Vec::<Value>::new());
}

// ---------------------------------------------------------------------
// Finding 7: who holds a run in a journal file.

/// Runs SQL on a journal with Python's own SQLite; returns the rows of
/// the last statement, each as a JSON list.
fn sql(db: &std::path::Path, statements: &[&str]) -> Vec<Value> {
    let script = "import json, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nrows = []\nfor s in sys.argv[2:]:\n    rows = c.execute(s).fetchall()\nc.commit()\nc.close()\nprint(json.dumps(rows))\n";
    let out = Command::new(venv_bin("python"))
        .args(["-c", script])
        .arg(db)
        .args(statements)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{statements:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

/// Microseconds since the Unix epoch, now.
fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A test folder with a run of the durable test policy killed after its
/// first write's result (its first write made, two to go): (setup, run id).
fn interrupted_run(settings: &str) -> (Setup, String) {
    let s = Setup::with_settings(settings, "");
    let out = s.run(&input(), Some("after-result:1"));
    crashed(&out, "after-result:1");
    assert_eq!(s.record(), WRITES[..1]);
    let run = s.only_run();
    assert_eq!(run["status"], "interrupted", "{run}");
    (s, run["id"].as_str().unwrap().to_string())
}

fn journal(s: &Setup) -> std::path::PathBuf {
    s.dir.path().join("journal.db")
}

/// `weft runs resume ID` of `s`, from a process whose pid the test knows
/// before it reads the journal: a shell that waits for a line, then execs
/// weft (keeping its pid). `before` runs with that pid first.
fn resume_as_known_pid(s: &Setup, id: &str, before: impl FnOnce(u32)) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "read _ && exec \"$0\" \"$@\""])
        .arg(target_bin("weft"))
        .arg("--config")
        .arg(&s.config)
        .args(["runs", "resume", id])
        .env_remove("WEFT_CONFIG")
        .env_remove("WEFT_SECRETS")
        .env_remove("WEFT_KEY")
        .env("WEFT_LOG", "error")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolate(&mut cmd);
    let mut child = cmd.spawn().expect("sh runs");
    before(child.id());
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(b"go\n")
        .expect("tell the shell to go on");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(COMMAND_DEADLINE)
        .expect("weft runs resume ends")
        .expect("weft runs resume ran")
}

/// A run killed in a process whose pid now names a live process again,
/// as when weft is pid 1 of every container it starts in: the live pid 1
/// (not weft), and the very pid of the weft that resumes the run (a
/// restart that reused it). Either way the run is interrupted, not held:
/// `weft runs resume` finishes it, each write sent once.
#[test]
fn a_run_whose_recorded_pid_is_alive_again_is_resumed() {
    let expected = uninterrupted();
    // The recorded pid is 1: a live process, and not the run's.
    let (s, id) = interrupted_run("journal = \"journal.db\"\n");
    sql(&journal(&s), &["UPDATE runs SET pid = 1"]);
    assert_eq!(s.only_run()["status"], "interrupted");
    let out = s.weft(&["runs", "resume", &id]);
    assert_eq!(output_json(&out), expected, "pid 1");
    assert_eq!(s.record(), WRITES, "pid 1: a write was repeated");

    // The recorded pid is the resuming weft's own.
    let (s, id) = interrupted_run("journal = \"journal.db\"\n");
    let out = resume_as_known_pid(&s, &id, |pid| {
        sql(&journal(&s), &[&format!("UPDATE runs SET pid = {pid}")]);
    });
    assert_eq!(output_json(&out), expected, "the resumer's own pid");
    assert_eq!(s.record(), WRITES, "own pid: a write was repeated");
}

/// What `weft runs resume` says of a run whose lease `holder` holds.
fn still_running(id: &str, holder: &str) -> (String, String) {
    (
        format!("weft: run {id} is still running in {holder} (its lease expires at "),
        " UTC); it is taken over once that lease expires: `weft runs resume --wait` waits for that\n"
            .to_string(),
    )
}

/// `HH:MM:SS.mmm` of a time in µs since the epoch, UTC, as weft shows a
/// lease's expiry.
fn clock_time(us: i64) -> String {
    let (secs, ms) = (
        us.div_euclid(1_000_000),
        us.div_euclid(1_000).rem_euclid(1_000),
    );
    let day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// Asserts that `out` is a refusal to resume run `id`, held by `holder`
/// until `expiry` (µs since the epoch) when the test knows it exactly
/// (a live holder renews it meanwhile).
fn refused_as_held(out: &Output, id: &str, holder: &str, expiry: Option<i64>) {
    let (head, tail) = still_running(id, holder);
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    match expiry {
        Some(us) => assert_eq!(text, format!("{head}{}{tail}", clock_time(us))),
        None => assert!(
            text.starts_with(&head)
                && text.ends_with(&tail)
                && text.len() == head.len() + "HH:MM:SS.mmm".len() + tail.len(),
            "expected {head}HH:MM:SS.mmm{tail}, got {text}"
        ),
    }
}

/// A run recorded by a weft in another container sharing the journal
/// file: same pid as ours could be, but another pid namespace, so only its
/// lease tells whether it lives. While the lease runs, `weft runs resume`
/// refuses, naming the holder and when its lease expires, and `weft runs
/// list` shows the run running; once it has lapsed the run is
/// interrupted and resumes, each write sent once.
#[test]
fn a_run_held_in_another_container_is_resumed_once_its_lease_lapses() {
    let expected = uninterrupted();
    let (s, id) = interrupted_run("journal = \"journal.db\"\n");
    let holder = "box-a:1:7f3e09c2a1b4";
    let until = now_us() + 600_000_000;
    sql(
        &journal(&s),
        &[&format!(
            "UPDATE runs SET pid = 1, holder = '{holder}', holder_process = 'another-boot/pid:[1]/1/42', lease_until = {until}"
        )],
    );
    let run = s.only_run();
    assert_eq!(
        (&run["status"], &run["lease"]),
        (
            &json!("running"),
            &json!({"owner": holder, "expires_at": until, "live": true})
        ),
        "{run}"
    );
    refused_as_held(&s.weft(&["runs", "resume", &id]), &id, holder, Some(until));
    assert_eq!(s.record(), WRITES[..1]);

    let lapsed = now_us() - 1_000;
    sql(
        &journal(&s),
        &[&format!("UPDATE runs SET lease_until = {lapsed}")],
    );
    assert_eq!(s.only_run()["status"], "interrupted");
    let out = s.weft(&["runs", "resume", &id]);
    assert_eq!(output_json(&out), expected);
    assert_eq!(s.record(), WRITES, "a write was repeated");
}

/// The durable test adapter `a` (its `call` tool makes one nested call),
/// allowed to call `w`.
const ADAPTER: &str =
    "[servers.a]\ncomponent = \"adapter.wasm\"\ngrants = [\"w.*\"]\ndurable = true\n";

/// A live run's holder renews its lease (`lease = "3s"`), so a second
/// process does not take the run: not while the holder is a live process
/// it can see, nor once it looks like one in another container (whose
/// lease is all it has to go by), long after an unrenewed lease would have
/// lapsed. When the holder is killed, the lease lapses and `weft runs
/// resume --wait` goes on with the run (which stops in doubt: its nested
/// call was sent and never answered).
#[test]
fn a_live_runs_renewed_lease_keeps_a_second_process_out() {
    let s = Setup::with_settings("journal = \"journal.db\"\nlease = \"3s\"\n", ADAPTER);
    std::fs::copy(
        guest_wasm("weft-adapter-guest"),
        s.dir.path().join("adapter.wasm"),
    )
    .unwrap();
    let args = json!({"server": "w", "tool": "hang", "args": {}}).to_string();
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(&s.config)
        .args(["call", "a", "call", &args]);
    let mut holder = Background::spawn(&mut cmd);
    let db = journal(&s);
    let record = s.dir.path().join("record.txt");
    wait_until(Duration::from_secs(60), "the nested call reaches w", || {
        std::fs::read_to_string(&record).is_ok_and(|r| r.contains(" hang "))
    });
    let run = s.only_run();
    let id = run["id"].as_str().unwrap().to_string();
    let owner = run["lease"]["owner"].as_str().unwrap().to_string();
    assert!(
        owner.contains(&format!(":{}:", holder.0.id())),
        "the holder id names its process: {run}"
    );
    // A live process this one can see.
    refused_as_held(&s.weft(&["runs", "resume", &id]), &id, &owner, None);

    // The same holder, as seen from another container: only its lease.
    let expiry = |db: &std::path::Path| {
        sql(db, &["SELECT lease_until FROM runs"])[0][0]
            .as_i64()
            .expect("a lease")
    };
    sql(
        &db,
        &["UPDATE runs SET holder_process = 'another-boot/pid:[1]/1/42'"],
    );
    let first = expiry(&db);
    wait_until(
        Duration::from_secs(30),
        "the lease is renewed past its first expiry",
        || now_us() > first && expiry(&db) > now_us(),
    );
    refused_as_held(&s.weft(&["runs", "resume", &id]), &id, &owner, None);

    // Killed: its lease lapses, and a second process takes the run over.
    let _ = holder.0.kill();
    let _ = holder.0.wait();
    let out = weft()
        .arg("--config")
        .arg(&s.config)
        .args(["runs", "resume", "--wait", &id])
        .output_timed()
        .expect("weft runs");
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(1),
            format!(
                "weft: run {id} is in doubt: call #0 (w.hang {{}}) was sent or about to be, and its result was never recorded; settle it with `weft runs resolve {id} --assume done --result JSON` (it happened) or `--assume not-done` (it did not), then resume\n"
            )
        )
    );
}

/// The columns a journal file of schema 1 (weft before leases) has in
/// `runs`.
const V1_COLUMNS: [&str; 13] = [
    "id",
    "policy",
    "spec",
    "digest",
    "input",
    "options",
    "seed",
    "status",
    "pid",
    "started_at",
    "updated_at",
    "output",
    "error",
];

/// The `runs` table of schema 1, as `runs_v1`.
const V1_RUNS: &str = "CREATE TABLE runs_v1 (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    spec TEXT NOT NULL,
    digest TEXT NOT NULL,
    input TEXT NOT NULL,
    options TEXT NOT NULL,
    seed TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    output TEXT,
    error TEXT
)";

/// A journal file an older weft wrote (schema 1: no lease columns), with
/// a run it left interrupted: this weft lists it as interrupted, migrates
/// the file to schema 2 and resumes the run, each write sent once.
#[test]
fn a_journal_file_of_an_older_weft_is_migrated_and_its_run_resumed() {
    let expected = uninterrupted();
    let (s, id) = interrupted_run("journal = \"journal.db\"\n");
    let db = journal(&s);
    // Back to schema 1, as the older weft left it: its `runs` table, the
    // run's row copied over.
    let copy = format!(
        "INSERT INTO runs_v1 SELECT {} FROM runs",
        V1_COLUMNS.join(", ")
    );
    sql(
        &db,
        &[
            V1_RUNS,
            &copy,
            "DROP TABLE runs",
            "ALTER TABLE runs_v1 RENAME TO runs",
            "CREATE INDEX runs_by_time ON runs (started_at)",
            "UPDATE meta SET value = '1' WHERE key = 'schema'",
        ],
    );
    let columns = |db: &std::path::Path| -> Vec<String> {
        sql(db, &["SELECT name FROM pragma_table_info('runs')"])
            .iter()
            .map(|r| r[0].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(columns(&db), V1_COLUMNS);
    let run = s.only_run();
    assert_eq!(run["status"], "interrupted", "{run}");
    let out = s.weft(&["runs", "resume", &id]);
    assert_eq!(output_json(&out), expected);
    assert_eq!(s.record(), WRITES, "a write was repeated");
    assert_eq!(
        sql(&db, &["SELECT value FROM meta WHERE key = 'schema'"]),
        [json!(["2"])]
    );
    let mut now = V1_COLUMNS.map(String::from).to_vec();
    now.extend(["holder", "holder_process", "lease_until"].map(String::from));
    assert_eq!(columns(&db), now);
}

/// A process whose run another took over (the row names another holder:
/// it was paused past its lease) cannot write to the run any more: its
/// next intent is refused, not stored, and so its call is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_lost_a_runs_lease_cannot_write_to_it() {
    use weft::journal::{
        self, Backend, CallRequest, Durability, Recorder, RunRecord, Sqlite, Step,
    };
    let dir = temp_dir();
    let db = dir.path().join("journal.db");
    let opened = db.clone();
    let backend: std::sync::Arc<dyn Backend> = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || Sqlite::open(&opened, Durability::Normal))
            .await
            .unwrap()
            .unwrap(),
    );
    let wasm = weft::sandbox::Wasm::new(std::fs::read(guest_wasm("weft-durable-guest")).unwrap());
    let record = RunRecord::start(
        "durable",
        "durable",
        wasm.digest(),
        "{}",
        Default::default(),
    )
    .unwrap();
    let recorder = Recorder::new(backend.clone(), &record);
    recorder.create(record.clone()).await.unwrap();
    let call = |n: u32| CallRequest {
        server: "w".into(),
        tool: "tool_0".into(),
        args: format!(r#"{{"text":"write {n}"}}"#),
    };
    let Step::Live { intent, .. } = recorder.begin_call(&call(0), journal::Store::Waited) else {
        panic!("a new run replays nothing")
    };
    journal::wait(intent.unwrap()).await.unwrap();
    let db_ = db.clone();
    tokio::task::spawn_blocking(move || {
        sql(
            &db_,
            &["UPDATE runs SET holder = 'other:1:x', holder_process = NULL"],
        )
    })
    .await
    .unwrap();
    let Step::Live { intent, .. } = recorder.begin_call(&call(1), journal::Store::Waited) else {
        panic!("a new run replays nothing")
    };
    let refused = journal::wait(intent.unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        refused,
        format!(
            "the journal {} failed: this process no longer holds run {}'s lease (another process took it over); the write was refused",
            db.display(),
            record.id
        )
    );
    let id = record.id.clone();
    let events = tokio::task::spawn_blocking(move || backend.events(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.request.clone()).collect::<Vec<_>>(),
        [call(0).to_json()],
        "the refused intent was stored"
    );
}

/// Two containers sharing one journal file: a `weft serve` with `resume =
/// true` and `lease = "1s"` leaves alone a durable adapter call that a weft
/// in another container holds (killed after its nested write's result, its
/// lease still running for 10 s), looks again every second, and takes the
/// call over once that lease has lapsed: it finishes with the adapter's
/// answer, the nested write sent once.
#[test]
fn a_serve_takes_over_another_containers_run_once_its_lease_lapses() {
    let s = Setup::with_settings(
        "journal = \"journal.db\"\nlease = \"1s\"\nresume = true\n",
        ADAPTER,
    );
    std::fs::copy(
        guest_wasm("weft-adapter-guest"),
        s.dir.path().join("adapter.wasm"),
    )
    .unwrap();
    let args = json!({"server": "w", "tool": "tool_0", "args": {"text": "write 0"}});
    let out = weft()
        .arg("--config")
        .arg(&s.config)
        .args(["call", "a", "call", &args.to_string()])
        .env("WEFT_TEST_CRASH_AT", "after-result:1")
        .output_timed()
        .expect("weft runs");
    crashed(&out, "after-result:1");
    assert_eq!(s.record(), ["tool_0 write 0"]);
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let until = now_us() + 10_000_000;
    sql(
        &journal(&s),
        &[&format!(
            "UPDATE runs SET holder = 'box-a:1:7f3e09c2a1b4', holder_process = 'another-boot/pid:[1]/1/42', lease_until = {until}"
        )],
    );
    let mut cmd = weft();
    cmd.arg("--config").arg(&s.config);
    let (_served, _) = serve_weft_http(&mut cmd);
    assert!(
        now_us() < until,
        "weft serve took 10 s to start: the lease lapsed before it could look"
    );
    let mut run = Value::Null;
    wait_until(Duration::from_secs(60), &format!("run {id} ends"), || {
        let out = s.weft(&["runs", "show", &id, "--json"]);
        run = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        !matches!(run["status"].as_str(), Some("running" | "interrupted"))
    });
    let output: Value = serde_json::from_str(run["output"].as_str().unwrap_or("null")).unwrap();
    let answer: Value =
        serde_json::from_str(output["content"][0]["text"].as_str().unwrap_or("null")).unwrap();
    assert_eq!(
        (&run["status"], answer),
        (&json!("ok"), json!({"ok": true, "text": "tool_0: write 0"})),
        "{run}"
    );
    let taken_at = run["updated_at"].as_i64().expect("updated_at");
    assert!(
        taken_at > until,
        "the run was taken over at {taken_at}, before its lease lapsed at {until}"
    );
    assert_eq!(s.record(), ["tool_0 write 0"], "the write was repeated");
}
