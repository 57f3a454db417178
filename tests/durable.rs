//! Durable runs: `weft run` journals every host call; `weft runs resume`
//! continues a run killed at any point of a call without sending a write
//! twice, or stops `in-doubt` naming the one call whose fate is unknown.
//!
//! The writes go to weft-faulty-server (`tool_0` … `tool_2`, neither
//! read-only nor idempotent), which appends every call it receives to a
//! record file: the server's own count of side effects. weft is stopped at
//! each point of a call by its test hook `WEFT_TEST_CRASH_AT=POINT:N`,
//! which aborts the process there (no clean-up, as `kill -9`).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Output;

use crate::support::*;
use serde_json::{Value, json};

/// A test's folder: a config whose server `w` records every call in
/// `record.txt`, and whose journal is `journal.db` beside it.
pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    wasm: PathBuf,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        Setup::with_settings("journal = \"journal.db\"\n", extra)
    }

    /// A setup whose `[settings]` hold `settings` (where the journal is).
    pub(crate) fn with_settings(settings: &str, extra: &str) -> Setup {
        let dir = temp_dir();
        let record = dir.path().join("record.txt");
        let mut text = format!("[settings]\n{settings}");
        text += &command_entry(
            "w",
            &target_bin("weft-faulty-server"),
            &[
                "--tools",
                "3",
                "--name",
                "w",
                "--record",
                &record.display().to_string(),
            ],
        );
        text += extra;
        let config = dir.path().join("weft.toml");
        std::fs::write(&config, text).unwrap();
        // The policy is run by path from the test's own copy, which a test
        // may replace.
        let wasm = dir.path().join("durable.wasm");
        std::fs::copy(guest_wasm("weft-durable-guest"), &wasm).unwrap();
        Setup { dir, config, wasm }
    }

    pub(crate) fn weft(&self, args: &[&str]) -> Output {
        weft()
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// `weft run` of the test policy; `crash` arms the test hook.
    pub(crate) fn run(&self, input: &Value, crash: Option<&str>) -> Output {
        let mut cmd = weft();
        cmd.arg("--config")
            .arg(&self.config)
            .arg("run")
            .arg(&self.wasm)
            .args(["--input", &input.to_string()]);
        if let Some(at) = crash {
            cmd.env("WEFT_TEST_CRASH_AT", at);
        }
        cmd.output().unwrap()
    }

    /// The calls the server received, as `tool text` lines.
    pub(crate) fn record(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("record.txt"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ' ');
                let (_, tool, args) = (parts.next()?, parts.next()?, parts.next()?);
                let args: Value = serde_json::from_str(args).ok()?;
                Some(format!("{tool} {}", args["text"].as_str()?))
            })
            .collect()
    }

    /// The one run in the journal, as `weft runs list --json` shows it.
    pub(crate) fn only_run(&self) -> Value {
        let out = self.weft(&["runs", "list", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    }

    /// The first run `weft runs list --json` shows that `keep` accepts.
    fn only_run_where(&self, keep: impl Fn(&Value) -> bool) -> Option<Value> {
        let out = self.weft(&["runs", "list", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        runs.into_iter().find(|r| keep(r))
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.db")
    }
}

/// Runs one SQL statement on a journal with Python's own SQLite.
pub(crate) fn sqlite(db: &std::path::Path, sql: &str) {
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2]).fetchall()\nc.commit()\nc.close()\n";
    let out = std::process::Command::new(venv_bin("python"))
        .args(["-c", script])
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn output_json(out: &Output) -> Value {
    assert!(out.status.success(), "weft failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Asserts that weft was stopped by its crash hook.
pub(crate) fn crashed(out: &Output, at: &str) {
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "weft was not aborted at {at}: {:?} {}",
        out.status,
        stderr(out)
    );
}

pub(crate) const WRITES: [&str; 3] = ["tool_0 write 0", "tool_1 write 1", "tool_2 write 2"];

pub(crate) fn input() -> Value {
    json!({"server": "w", "writes": 3})
}

/// The uninterrupted run's output: what every resumed run must print.
pub(crate) fn uninterrupted() -> Value {
    let s = Setup::new("");
    let out = output_json(&s.run(&input(), None));
    assert_eq!(s.record(), WRITES);
    assert_eq!(s.only_run()["status"], "ok");
    out
}

/// Killed before the 2nd write's intent, or after its result: the resume
/// replays what was done, sends the rest, and each write happens once.
#[test]
fn a_run_killed_before_an_intent_or_after_a_result_resumes_with_each_write_once() {
    let expected = uninterrupted();
    for (at, done_before) in [("before-intent:2", 1), ("after-result:2", 2)] {
        let s = Setup::new("");
        crashed(&s.run(&input(), Some(at)), at);
        assert_eq!(s.record(), WRITES[..done_before], "{at}");
        let run = s.only_run();
        assert_eq!(run["status"], "interrupted", "{at}");
        let id = run["id"].as_str().unwrap();
        let resumed = output_json(&s.weft(&["runs", "resume", id]));
        assert_eq!(resumed, expected, "{at}: resumed output differs");
        assert_eq!(s.record(), WRITES, "{at}: a write was lost or repeated");
        assert_eq!(s.only_run()["status"], "ok");
        // A finished run is not resumed again.
        let again = s.weft(&["runs", "resume", id]);
        assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
        assert!(stderr(&again).contains("already finished (ok)"));
        assert_eq!(s.record(), WRITES);
    }
}

/// Killed after the intent, before sending: the write never happened, but
/// weft cannot know that; the resume stops in doubt naming the call, and
/// continues once it is settled as not done.
#[test]
fn a_call_whose_intent_was_stored_stops_the_resume_in_doubt_until_settled_not_done() {
    let expected = uninterrupted();
    let s = Setup::new("");
    crashed(&s.run(&input(), Some("after-intent:2")), "after-intent");
    assert_eq!(s.record(), WRITES[..1]);
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let stopped = s.weft(&["runs", "resume", &id]);
    assert_eq!(stopped.status.code(), Some(1));
    let message = stderr(&stopped);
    assert!(
        message.contains("is in doubt: call #")
            && message.contains(r#"(w.tool_1 {"text":"write 1"})"#)
            && message.contains("--assume not-done"),
        "{message}"
    );
    assert_eq!(s.record(), WRITES[..1], "the call in doubt was sent");
    assert_eq!(s.only_run()["status"], "in-doubt");
    let show = s.weft(&["runs", "show", &id]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("IN DOUBT"),
        "{show:?}"
    );
    let settled = s.weft(&["runs", "resolve", &id, "--assume", "not-done"]);
    assert!(settled.status.success(), "{}", stderr(&settled));
    let resumed = output_json(&s.weft(&["runs", "resume", &id]));
    assert_eq!(resumed, expected);
    assert_eq!(s.record(), WRITES);
}

/// Killed after the write was answered, before its result was stored: the
/// resume stops in doubt and never sends it again; settled as done with a
/// result, the run continues with that result.
#[test]
fn a_call_sent_without_a_stored_result_is_never_sent_twice() {
    let s = Setup::new("");
    crashed(&s.run(&input(), Some("after-send:2")), "after-send");
    assert_eq!(s.record(), WRITES[..2]);
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let stopped = s.weft(&["runs", "resume", &id]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        stderr(&stopped).contains(r#"(w.tool_1 {"text":"write 1"}) was sent or about to be"#),
        "{}",
        stderr(&stopped)
    );
    assert_eq!(s.record(), WRITES[..2]);
    // --assume done needs the result.
    let refused = s.weft(&["runs", "resolve", &id, "--assume", "done"]);
    assert_eq!(refused.status.code(), Some(2));
    let result = r#"{"content":[{"type":"text","text":"settled by hand"}]}"#;
    let settled = s.weft(&[
        "runs", "resolve", &id, "--assume", "done", "--result", result,
    ]);
    assert!(settled.status.success(), "{}", stderr(&settled));
    let resumed = output_json(&s.weft(&["runs", "resume", &id]));
    assert_eq!(
        resumed,
        json!({"results": ["tool_0: write 0", "settled by hand", "tool_2: write 2"]})
    );
    assert_eq!(s.record(), WRITES, "a write happened twice or not at all");
}

/// Python for `weft exec` that makes the durable guest's three writes.
const EXEC_CODE: &str = "out = []\nfor i in range(3):\n    out.append(tools.call('w', f'tool_{i}', {'text': f'write {i}'}))\nreturn {'results': out}\n";

/// `weft exec` journals its run as `weft run` does, under the spec
/// `code:python`: killed after the 2nd write's result, `weft runs resume`
/// loads the interpreter again, replays the first two writes from the
/// journal and sends the third: each write once, the uninterrupted
/// output. With `--no-journal`, nothing is journaled.
#[test]
fn a_weft_exec_run_is_journaled_and_resumed_with_each_write_once() {
    let interp = crate::support::code::interpreters("python");
    let s = Setup::new("");
    let code = s.dir.path().join("writes.py");
    std::fs::write(&code, EXEC_CODE).unwrap();
    let exec = |crash: Option<&str>, extra: &[&str]| {
        let mut cmd = crate::support::code::weft_code(&interp);
        crate::support::isolate(&mut cmd);
        cmd.arg("--config")
            .arg(&s.config)
            .arg("exec")
            .arg(&code)
            .args(["--grant", "w.*"])
            .args(extra);
        if let Some(at) = crash {
            cmd.env("WEFT_TEST_CRASH_AT", at);
        }
        cmd.output().unwrap()
    };
    let resume = |id: &str| {
        let mut cmd = crate::support::code::weft_code(&interp);
        crate::support::isolate(&mut cmd);
        cmd.arg("--config")
            .arg(&s.config)
            .args(["runs", "resume", id])
            .output()
            .unwrap()
    };
    let expected = json!({"results": ["tool_0: write 0", "tool_1: write 1", "tool_2: write 2"]});

    let plain = output_json(&exec(None, &["--no-journal"]));
    assert_eq!(plain, expected);
    assert_eq!(s.record(), WRITES);
    let listed = s.weft(&["runs", "list", "--json"]);
    let runs: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap_or_default();
    assert!(runs.is_empty(), "--no-journal journaled: {runs:?}");
    // Emptied, not removed: the server's sandbox opens the file itself.
    std::fs::write(s.dir.path().join("record.txt"), "").unwrap();

    crashed(&exec(Some("after-result:2"), &[]), "after-result");
    assert_eq!(s.record(), WRITES[..2]);
    let run = s.only_run();
    assert_eq!(
        (&run["status"], &run["spec"]),
        (&json!("interrupted"), &json!("code:python")),
        "{run}"
    );
    let id = run["id"].as_str().unwrap().to_string();
    let resumed = output_json(&resume(&id));
    assert_eq!(resumed, expected);
    assert_eq!(s.record(), WRITES, "a write was lost or repeated");
    assert_eq!(s.only_run()["status"], "ok");
}

/// `journal = false` in `[settings]`: `weft run` runs without a journal,
/// as with `--no-journal`, rather than failing.
#[test]
fn journal_false_runs_without_a_journal() {
    let s = Setup::with_settings("journal = false\n", "");
    let out = output_json(&s.run(&input(), None));
    assert_eq!(
        out,
        json!({"results": ["tool_0: write 0", "tool_1: write 1", "tool_2: write 2"]})
    );
    assert_eq!(s.record(), WRITES);
    assert!(!s.journal().exists());
}

/// `weft run --tenant T` runs the policy as tenant T: a policy outside
/// its `policies` is refused before anything runs, a call outside its
/// view is denied before the server sees it, and the journal keeps the
/// tenant, so `weft runs resume` goes on as T (the resumed part cannot
/// reach what T's view hides, as the first part could not). An unknown
/// tenant is a usage error naming the closest.
#[test]
fn weft_run_as_a_tenant_keeps_to_its_policies_and_view_through_a_resume() {
    let s = Setup::new(
        "[policies.writes]\npath = \"durable.wasm\"\ngrants = [\"w.*\"]\n\
         [tenants.narrow]\ninclude = [\"w.tool_0\"]\npolicies = [\"writes\"]\n\
         [tenants.other]\ninclude = [\"w.*\"]\npolicies = [\"triage\"]\n",
    );
    let run_as = |tenant: &str, writes: u32, crash: Option<&str>| {
        let mut cmd = weft();
        cmd.arg("--config").arg(&s.config).args([
            "run",
            "writes",
            "--tenant",
            tenant,
            "--input",
            &json!({"server": "w", "writes": writes}).to_string(),
        ]);
        if let Some(at) = crash {
            cmd.env("WEFT_TEST_CRASH_AT", at);
        }
        cmd.output().unwrap()
    };

    let refused = run_as("other", 1, None);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(r#"tenant "other" may not run the policy "writes""#),
        "{}",
        stderr(&refused)
    );
    assert!(s.record().is_empty(), "{:?}", s.record());

    let typo = run_as("narow", 1, None);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        stderr(&typo).contains(r#"no tenant named "narow" in the config; did you mean "narrow"?"#),
        "{}",
        stderr(&typo)
    );

    let allowed = output_json(&run_as("narrow", 1, None));
    assert_eq!(allowed, json!({"results": ["tool_0: write 0"]}));
    assert_eq!(s.record(), WRITES[..1]);
    // Emptied, not removed: the server's sandbox opens the file itself.
    std::fs::write(s.dir.path().join("record.txt"), "").unwrap();

    // Stopped after tool_0, which narrow may call; the resume's tool_1 is
    // outside its view.
    crashed(&run_as("narrow", 2, Some("after-result:1")), "after-result");
    let run = s
        .only_run_where(|r| r["status"] == "interrupted")
        .unwrap_or_else(|| panic!("no interrupted run"));
    assert_eq!(run["options"]["tenant"], "narrow", "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let resumed = s.weft(&["runs", "resume", &id]);
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    // Outside the tenant's view, a tool is one that does not exist.
    assert!(
        stderr(&resumed).contains(r#"tool "tool_1" does not exist on this server"#),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(
        s.record(),
        WRITES[..1],
        "the resume ran past the tenant's view"
    );
}

/// A call safe to repeat (`tool_0`, listed in `idempotent_tools`) goes
/// out without waiting for its rows, but they are stored, in order,
/// before the next call that is not safe to repeat goes out: stopped
/// after `tool_1`'s intent, the journal holds `tool_0` with its result,
/// and the resume replays it rather than sending it again.
#[test]
fn a_repeatable_calls_rows_are_stored_before_the_next_side_effect() {
    let expected = uninterrupted();
    let s = Setup::new("idempotent_tools = [\"tool_0\"]\n");
    crashed(&s.run(&input(), Some("after-intent:2")), "after-intent");
    assert_eq!(s.record(), WRITES[..1]);
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let shown = output_json(&s.weft(&["runs", "show", &id, "--json"]));
    let calls: Vec<(Value, Value)> = shown["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {shown}"))
        .iter()
        .filter(|e| e["kind"] == "call")
        .map(|e| (e["request"].clone(), e["result"].clone()))
        .collect();
    assert_eq!(calls.len(), 2, "{shown}");
    assert!(
        calls[0].0.to_string().contains("tool_0")
            && calls[0].1.to_string().contains("tool_0: write 0"),
        "tool_0's rows were not stored: {calls:?}"
    );
    assert_eq!(calls[1].1, Value::Null, "{calls:?}");
    let settled = s.weft(&["runs", "resolve", &id, "--assume", "not-done"]);
    assert!(settled.status.success(), "{}", stderr(&settled));
    let resumed = output_json(&s.weft(&["runs", "resume", &id]));
    assert_eq!(resumed, expected);
    assert_eq!(s.record(), WRITES, "tool_0 was sent again");
}

/// A tool listed in `idempotent_tools` is sent again when in doubt, with
/// no one asked.
#[test]
fn an_idempotent_tool_in_doubt_is_sent_again() {
    let s = Setup::new("idempotent_tools = [\"tool_1\"]\n");
    crashed(&s.run(&input(), Some("after-send:2")), "after-send");
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let resumed = output_json(&s.weft(&["runs", "resume", &id]));
    assert_eq!(
        resumed,
        json!({"results": ["tool_0: write 0", "tool_1: write 1", "tool_2: write 2"]})
    );
    assert_eq!(
        s.record(),
        [
            "tool_0 write 0",
            "tool_1 write 1",
            "tool_1 write 1",
            "tool_2 write 2"
        ]
    );
}

/// The guest reads the wall clock and a random-seeded order, branches on
/// the clock and writes both: the resumed run sees the same readings.
#[test]
fn a_replay_reads_the_recorded_clock_and_random() {
    let s = Setup::new("");
    let input = json!({"server": "w", "writes": 3, "stamp": true});
    crashed(&s.run(&input, Some("after-result:2")), "after-result");
    let before = s.record();
    assert_eq!(before.len(), 2);
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    let out = output_json(&s.weft(&["runs", "resume", &id]));
    let tag = format!(
        "{} {} {}",
        out["branch"].as_str().unwrap(),
        out["stamp"].as_str().unwrap(),
        out["order"].as_str().unwrap()
    );
    let nanos: u128 = out["stamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        out["branch"],
        if nanos.is_multiple_of(2) {
            "even"
        } else {
            "odd"
        }
    );
    // The writes made before the crash carry the readings the resumed run
    // returns, and the write made after it too.
    assert_eq!(
        s.record(),
        [0, 1, 2].map(|i| format!("tool_{i} write {i} {tag}"))
    );
}

/// A run resumes only against the component it started with.
#[test]
fn a_changed_component_is_refused() {
    let s = Setup::new("");
    crashed(&s.run(&input(), Some("after-result:1")), "after-result");
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    std::fs::copy(guest_wasm("weft-timer-guest"), &s.wasm).unwrap();
    let out = s.weft(&["runs", "resume", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "refusing to resume run {id}: its component {} has changed since the run started",
            s.wasm.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.record(), WRITES[..1]);
}

/// A journal that says the run made another call than it makes now stops
/// the resume as nondeterministic, showing both.
#[test]
fn a_replay_that_differs_from_the_journal_stops_as_nondeterministic() {
    let s = Setup::new("");
    crashed(&s.run(&input(), Some("before-intent:3")), "before-intent");
    let id = s.only_run()["id"].as_str().unwrap().to_string();
    // Rewrite the second call's arguments in the journal.
    sqlite(
        &s.journal(),
        "UPDATE events SET request = replace(request, 'write 1', 'write one') WHERE kind = 'call'",
    );
    let out = s.weft(&["runs", "resume", &id]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains(r#"the journal has call {"server":"w","tool":"tool_1","args":"{\"text\":\"write one\"}"} but the run now makes call {"server":"w","tool":"tool_1","args":"{\"text\":\"write 1\"}"}"#),
        "{message}"
    );
    assert_eq!(s.only_run()["status"], "nondeterministic");
    assert_eq!(s.record(), WRITES[..2], "a diverged replay sent a call");
}

/// A journal file that is not one, or is cut short, is named in a clear
/// error; weft does not panic.
#[test]
fn a_corrupt_or_truncated_journal_is_named_in_the_error() {
    let s = Setup::new("");
    output_json(&s.run(&input(), None));
    // Cut short: everything moved from the write-ahead log into the file
    // (with Python's own SQLite), then the first 1000 bytes of it kept.
    sqlite(&s.journal(), "PRAGMA wal_checkpoint(TRUNCATE)");
    let bytes = std::fs::read(s.journal()).unwrap();
    assert!(bytes.len() > 4096, "the journal holds no pages");
    for (what, content) in [
        ("truncated", bytes[..1000.min(bytes.len())].to_vec()),
        (
            "garbage",
            b"this is not a database, not at all; ".repeat(200),
        ),
    ] {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", s.journal().display()));
        }
        std::fs::write(s.journal(), &content).unwrap();
        for args in [
            vec!["runs", "list"],
            vec![
                "run",
                s.wasm.to_str().unwrap(),
                "--input",
                r#"{"server":"w","writes":1}"#,
            ],
        ] {
            let out = s.weft(&args);
            let message = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{what} {args:?}: {message}");
            assert!(
                message.contains(&s.journal().display().to_string()),
                "{what} {args:?}: {message}"
            );
            assert!(!message.contains("panicked"), "{message}");
        }
        assert_eq!(
            s.record(),
            WRITES[..3],
            "{what}: a run went ahead without its journal"
        );
    }
}
