//! Durable runs with the journal in PostgreSQL (`settings.state`): the
//! kill points of `durable` against a real server, `weft runs` reading
//! the database from another process, a second weft taking a run over
//! once the dead owner's lease expires, and the errors of a database that
//! cannot be used.
//!
//! Each test starts its own PostgreSQL (the harness's, on a unix socket)
//! and gives each setup a database of its own. The writes go to
//! weft-faulty-server, whose record file is the count of side effects.

use std::time::Instant;

use serde_json::{Value, json};

use crate::durable::{Setup, WRITES, crashed, input, output_json, stderr, uninterrupted};
use crate::support::*;

/// A setup whose journal is database `db` on `pg` (no journal file), with
/// `more` settings.
fn on(pg: &Postgres, db: &str, more: &str) -> Setup {
    let url = pg.database(db);
    Setup::with_settings(&format!("state = {}\n{more}", q(url)), "")
}

/// A second weft process's view of a setup's database: its own folder and
/// config, the same `settings.state`.
fn replica(of: &Setup) -> Setup {
    let text = std::fs::read_to_string(&of.config).unwrap();
    let state = text
        .lines()
        .find(|l| l.starts_with("state = "))
        .unwrap()
        .to_string();
    let more: String = text
        .lines()
        .filter(|l| l.starts_with("lease = "))
        .map(|l| format!("{l}\n"))
        .collect();
    // The same server `w`, recording into the first setup's file.
    let record = of.dir.path().join("record.txt").display().to_string();
    let other = Setup::with_settings(&format!("{state}\n{more}"), "");
    let config = std::fs::read_to_string(&other.config).unwrap().replace(
        &other.dir.path().join("record.txt").display().to_string(),
        &record,
    );
    std::fs::write(&other.config, config).unwrap();
    other
}

/// Each kill point with the journal in PostgreSQL: before the intent and
/// after the result the resume sends the rest and each write happens
/// once; after the intent or after the send the resume stops in doubt
/// naming the call and sends nothing, and once settled finishes with
/// each write once.
#[test]
fn kill_points_with_the_journal_in_postgres_never_repeat_a_write() {
    let expected = uninterrupted();
    let pg = Postgres::start();
    for (n, at) in [
        "before-intent:2",
        "after-intent:2",
        "after-send:2",
        "after-result:2",
    ]
    .into_iter()
    .enumerate()
    {
        // A dead process's runs are taken over when their lease expires.
        let s = on(&pg, &format!("kill_{n}"), "lease = \"1s\"\n");
        crashed(&s.run(&input(), Some(at)), at);
        assert!(
            !s.dir.path().join("journal.db").exists(),
            "{at}: a journal file was written"
        );
        let sent_before = if at == "after-send:2" || at == "after-result:2" {
            2
        } else {
            1
        };
        assert_eq!(s.record(), WRITES[..sent_before], "{at}");
        let id = s.only_run()["id"].as_str().unwrap().to_string();
        let resumed = s.weft(&["runs", "resume", &id, "--wait"]);
        match at {
            "before-intent:2" | "after-result:2" => {
                assert_eq!(output_json(&resumed), expected, "{at}");
            }
            _ => {
                assert_eq!(resumed.status.code(), Some(1), "{at}: {}", stderr(&resumed));
                assert!(
                    stderr(&resumed).contains(&format!("run {id} is in doubt: call #"))
                        && stderr(&resumed).contains(r#"(w.tool_1 {"text":"write 1"})"#),
                    "{at}: {}",
                    stderr(&resumed)
                );
                assert_eq!(
                    s.record(),
                    WRITES[..sent_before],
                    "{at}: the call in doubt was sent"
                );
                assert_eq!(s.only_run()["status"], "in-doubt", "{at}");
                let settle: &[&str] = if at == "after-intent:2" {
                    &["--assume", "not-done"]
                } else {
                    &[
                        "--assume",
                        "done",
                        "--result",
                        r#"{"content":[{"type":"text","text":"tool_1: write 1"}]}"#,
                    ]
                };
                let settled = s.weft(&[&["runs", "resolve", id.as_str()][..], settle].concat());
                assert!(settled.status.success(), "{at}: {}", stderr(&settled));
                let resumed = s.weft(&["runs", "resume", &id]);
                assert_eq!(output_json(&resumed), expected, "{at}");
            }
        }
        assert_eq!(s.record(), WRITES, "{at}: a write was lost or repeated");
        assert_eq!(s.only_run()["status"], "ok", "{at}");
    }
}

/// Another weft process with another config and folder, pointed at the
/// same database, lists and shows the runs the first one journaled.
#[test]
fn a_second_process_on_the_same_database_lists_and_shows_the_runs() {
    let pg = Postgres::start();
    let a = on(&pg, "shared", "");
    let out = output_json(&a.run(&input(), None));
    let id = a.only_run()["id"].as_str().unwrap().to_string();
    let b = replica(&a);
    let run = b.only_run();
    assert_eq!(run["id"], id.as_str());
    assert_eq!(run["status"], "ok");
    assert_eq!(
        run["output"]
            .as_str()
            .map(|o| serde_json::from_str::<Value>(o).unwrap()),
        Some(out)
    );
    let show = b.weft(&["runs", "show", &id, "--json"]);
    let shown = output_json(&show);
    let calls: Vec<&Value> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "call")
        .collect();
    assert_eq!(calls.len(), 3, "{shown}");
    assert!(calls.iter().all(|c| c["result"].is_string()), "{shown}");
    let text = b.weft(&["runs", "show", &id]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("tool_2"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

/// Two weft processes on one database, runs leased for 10 s: the owner is
/// killed after its 2nd write; while its lease is live the other refuses
/// to take the run, naming the owner; `resume --wait` takes it over once
/// the lease has expired and finishes it, and each write happened once.
#[test]
fn a_replica_takes_a_dead_owners_run_over_once_its_lease_expires() {
    let expected = uninterrupted();
    let pg = Postgres::start();
    // Long enough that the refusal below is always seen on a loaded
    // machine (2 s once ran out between listing the run and resuming it).
    let a = on(&pg, "replicas", "lease = \"10s\"\n");
    let crash = a.run(&input(), Some("after-result:2"));
    crashed(&crash, "after-result:2");
    let b = replica(&a);
    let run = b.only_run();
    let id = run["id"].as_str().unwrap().to_string();
    let lease = run["lease"].clone();
    let expires_at = lease["expires_at"].as_i64().unwrap();
    // The owner is the dead process (host:pid:random).
    let owner = lease["owner"].as_str().unwrap().to_string();
    assert_eq!(owner.split(':').count(), 3, "{lease}");
    assert_eq!(lease["live"], true, "{run}");
    assert_eq!(run["status"], "running", "{run}");
    let refused = b.weft(&["runs", "resume", &id]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "run {id} is still running in {owner} (its lease expires at"
        )) && stderr(&refused).contains("--wait"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(a.record(), WRITES[..2], "a refused takeover sent a write");
    let started = Instant::now();
    let taken = b.weft(&["runs", "resume", &id, "--wait"]);
    assert_eq!(output_json(&taken), expected);
    assert_eq!(a.record(), WRITES, "a write was lost or repeated");
    let done = a.only_run();
    assert_eq!(done["status"], "ok");
    assert!(
        done.get("lease").is_none(),
        "a finished run keeps a lease: {done}"
    );
    // It was taken only after the lease had expired.
    assert!(
        done["updated_at"].as_i64().unwrap() > expires_at,
        "finished at {} before the lease expired at {expires_at} ({:?} after the takeover began)",
        done["updated_at"],
        started.elapsed()
    );
}

/// A database that cannot be used says why and what to do, names the
/// database without its password, and never sends a write.
#[test]
fn an_unusable_database_is_a_clear_error_without_the_password() {
    let pg = Postgres::start();
    let url = pg.database("errors");
    // The password travels in a secret (the test server trusts every
    // local connection, so any password is accepted).
    let with_password = url.replacen("postgres@", "postgres:hunter2-s3cret@", 1);
    let missing_db = with_password.replacen("/errors?", "/nosuchdb?", 1);
    let unreachable = with_password.replacen("host=/", "host=/nonexistent/", 1);
    // A role that may not log in is refused as a bad password would be.
    pg.sql("create role locked_out nologin");
    let refused_user = with_password.replacen("postgres:", "locked_out:", 1);
    for (db_url, says) in [
        (
            missing_db.as_str(),
            "there is no database \"nosuchdb\" on the server; create it",
        ),
        (unreachable.as_str(), "cannot reach the server"),
        (
            refused_user.as_str(),
            "the server refused user \"locked_out\"",
        ),
    ] {
        let s = Setup::with_settings(
            "state = \"${secret:PG_URL}\"\nsecrets = \"secrets.toml\"\n",
            "",
        );
        write_secrets(s.dir.path(), "PG_URL", db_url);
        let mut cmd = weft();
        let out = cmd
            .env("WEFT_LOG", "debug")
            .arg("--config")
            .arg(&s.config)
            .arg("run")
            .arg(s.dir.path().join("durable.wasm"))
            .args(["--input", &input().to_string()])
            .output()
            .unwrap();
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(
            message.contains("the journal database postgres://"),
            "{message}"
        );
        assert!(
            !message.contains("hunter2-s3cret"),
            "the password was shown: {message}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2-s3cret"));
        assert!(
            s.record().is_empty(),
            "a run went ahead without its journal"
        );
    }
    // A schema newer than this weft knows is refused.
    let s = Setup::with_settings(&format!("state = {}\n", q(&url)), "");
    output_json(&s.run(&json!({"server": "w", "writes": 1}), None));
    pg.sql_in(
        &url,
        "insert into weft_schema_version (version) values (99)",
    );
    let out = s.weft(&["runs", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "its schema is version 99, newer than this weft knows ({}): upgrade weft",
            weft::journal::SCHEMA_VERSION
        )),
        "{}",
        stderr(&out)
    );
    // Not a postgres:// URL: a config error naming the setting.
    let s = Setup::with_settings("state = \"mysql://db/x\"\n", "");
    let out = s.weft(&["runs", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("settings.state")
            && stderr(&out).contains("is not a postgres:// URL"),
        "{}",
        stderr(&out)
    );
}

/// Every write of a run is fenced by its lease: once another process
/// holds the run (here the lease row is handed to another owner, as a
/// takeover does), an intent of the old owner is refused, so its call is
/// never sent, and its journal stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_lost_a_runs_lease_cannot_write_to_it() {
    use weft::journal::{self, CallRequest, Recorder, RunRecord, Step};
    let pg = Postgres::start();
    let url = pg.database("fenced");
    let opened = url.clone();
    let backend = tokio::task::spawn_blocking(move || {
        journal::open_shared(&opened, std::time::Duration::from_secs(30))
    })
    .await
    .unwrap()
    .unwrap();
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
    pg.sql_in(
        &url,
        &format!(
            "update weft_leases set owner = 'other:1:x' where run_id = '{}'",
            record.id
        ),
    );
    let Step::Live { intent, .. } = recorder.begin_call(&call(1), journal::Store::Waited) else {
        panic!("a new run replays nothing")
    };
    let refused = journal::wait(intent.unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(&format!(
            "this process no longer holds run {}'s lease (another process took it over); the write was refused",
            record.id
        )),
        "{refused}"
    );
    let id = record.id.clone();
    let events = tokio::task::spawn_blocking(move || backend.events(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 1, "the refused intent was stored: {events:?}");
}
