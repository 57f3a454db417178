//! Approvals (issue 59): a call a rule covers waits until the person
//! behind the agent approves it, asked through elicitation in the agent's
//! era. The server is a Python SDK server that records every call it
//! gets (`tests/fixtures/python/shifting_server.py`), so each test reads
//! from the server itself whether the call happened. The agents: the
//! Python SDK's, in the handshake era over stdio (one connection for the
//! session) and in 2026-07-28 over HTTP (stateless, the answer carried by
//! the retry), and the TypeScript SDK's.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::recorded::{audit_records, on_route, recorded, shifting_entry};
use crate::support::*;

/// A config in `dir` with the recording server `shift` (one tool,
/// `lookup`), and `settings` under [settings].
struct Rig {
    dir: PathBuf,
    config: PathBuf,
    record: PathBuf,
}

impl Rig {
    fn new(dir: &Path, settings: &str) -> Rig {
        let tools = dir.join("tools.json");
        let record = dir.join("calls.log");
        std::fs::write(&tools, r#"{"lookup": "Looks up a word."}"#).expect("write tools");
        let text = format!(
            "[settings]\n{settings}\n{}",
            shifting_entry("shift", &tools, &record)
        );
        let config = dir.join("weft.toml");
        std::fs::write(&config, text).expect("write config");
        Rig {
            dir: dir.to_path_buf(),
            config,
            record,
        }
    }

    /// How many calls reached the server.
    fn calls(&self) -> usize {
        recorded(&self.record).len()
    }

    /// `weft serve` on stdio, as an argv for the agents.
    fn stdio(&self) -> Vec<String> {
        vec![
            target_bin("weft").display().to_string(),
            "--config".into(),
            self.config.display().to_string(),
            "serve".into(),
        ]
    }

    /// The Python SDK agent in the handshake era over stdio, calling
    /// `shift__lookup`; `agent` is what it answers (see agent.py), or
    /// null for an agent without elicitation.
    fn legacy(&self, agent: Value) -> Value {
        let argv = json!(self.stdio()).to_string();
        crate::serve::agent(&argv, "legacy", "sequence", with_call(agent))
    }

    /// The agent in `era`: [`Rig::legacy`] or [`Rig::modern`].
    fn agent(&self, era: &str, agent: Value) -> Value {
        if era == "legacy" {
            self.legacy(agent)
        } else {
            self.modern(agent)
        }
    }

    /// The same agent in 2026-07-28 over `weft serve --http`.
    fn modern(&self, agent: Value) -> Value {
        let mut cmd = weft();
        cmd.arg("--config").arg(&self.config).current_dir(&self.dir);
        let (mut served, base) = serve_weft_http(&mut cmd);
        let seen = crate::serve::agent(
            &format!("{base}/mcp"),
            "2026-07-28",
            "sequence",
            with_call(agent),
        );
        // Stopped as a service manager would, so its audit is on disk.
        served.terminate();
        seen
    }
}

/// The agent's arguments with one call of `shift__lookup` added.
fn with_call(mut agent: Value) -> Value {
    if agent.is_null() {
        agent = json!({});
    }
    agent["calls"] = json!([{"tool": "shift__lookup", "args": {"word": "otter", "api_key": "sk-test-0123456789"}}]);
    agent
}

const RULE: &str = "approval = [\"shift.lookup\"]";

/// The one call's text, after checking its error flag.
fn outcome(seen: &Value, error: bool) -> String {
    let call = &seen["calls"][0];
    assert_eq!(call["error"], error, "{seen}");
    call["text"].as_str().unwrap_or_default().to_string()
}

/// The question names the tool and the server, shows the arguments, and
/// masks the one that looks like a credential.
fn check_question(seen: &Value) {
    let asked = seen["asked"].as_array().expect("the questions asked");
    assert_eq!(asked.len(), 1, "one question: {seen}");
    let q = asked[0].as_str().unwrap_or_default();
    assert!(
        q.contains("the tool \"lookup\" on the server \"shift\""),
        "{q}"
    );
    assert!(q.contains("\"word\": \"otter\""), "{q}");
    assert!(
        q.contains("\"api_key\": \"[REDACTED]\"") && !q.contains("sk-test"),
        "{q}"
    );
}

#[test]
fn an_approved_call_happens_once_in_both_eras() {
    for era in ["legacy", "2026-07-28"] {
        let dir = temp_dir();
        let audit = dir.path().join("audit.jsonl");
        let rig = Rig::new(
            dir.path(),
            &format!("{RULE}\naudit = {}", q(audit.display().to_string())),
        );
        let answer = json!({"approval": "approve"});
        let seen = rig.agent(era, answer);
        assert_eq!(outcome(&seen, false), "found otter", "{era}");
        check_question(&seen);
        assert_eq!(rig.calls(), 1, "{era}: the server got the call once");

        // The audit has the answer, the rule that asked, and the call.
        let records = audit_records(&audit);
        let approvals = on_route(&records, "approval");
        assert_eq!(approvals.len(), 1, "{era}: {records:?}");
        assert_eq!(approvals[0]["outcome"], "approved");
        assert_eq!(approvals[0]["server"], "shift");
        assert_eq!(approvals[0]["tool"], "lookup");
        assert_eq!(approvals[0]["target"], "settings.approval");
        let calls = on_route(&records, "tool-call");
        assert_eq!(calls.len(), 1, "{era}: {records:?}");
        assert_eq!(calls[0]["outcome"], "ok");
    }
}

#[test]
fn a_declined_or_dismissed_call_never_reaches_the_server() {
    for (era, answer, said) in [
        ("legacy", "decline", "the person declined the call"),
        ("2026-07-28", "decline", "the person declined the call"),
        (
            "legacy",
            "cancel",
            "the person dismissed the question without approving the call",
        ),
    ] {
        let dir = temp_dir();
        let rig = Rig::new(dir.path(), RULE);
        let agent = json!({"approval": answer});
        let seen = rig.agent(era, agent);
        assert_eq!(
            outcome(&seen, true),
            format!("[declined] shift/lookup: {said}"),
            "{era} {answer}"
        );
        check_question(&seen);
        assert_eq!(
            rig.calls(),
            0,
            "{era} {answer}: the server never saw the call"
        );
    }
}

#[test]
fn no_answer_in_time_declines_in_both_eras() {
    for era in ["legacy", "2026-07-28"] {
        let dir = temp_dir();
        let rig = Rig::new(dir.path(), &format!("{RULE}\napproval_timeout = \"1s\""));
        // The person approves, three seconds late.
        let agent = json!({"approval": "late", "late_s": 3});
        let seen = rig.agent(era, agent);
        assert_eq!(
            outcome(&seen, true),
            "[declined] shift/lookup: nobody answered the approval within 1s (settings.approval_timeout)",
            "{era}"
        );
        assert_eq!(rig.calls(), 0, "{era}: a late yes does not count");
    }
}

#[test]
fn an_agent_without_elicitation_is_told_at_once() {
    for era in ["legacy", "2026-07-28"] {
        let dir = temp_dir();
        let rig = Rig::new(dir.path(), RULE);
        let seen = rig.agent(era, Value::Null);
        assert_eq!(
            outcome(&seen, true),
            "[declined] shift/lookup: this call needs a person's approval (settings.approval), and the agent connected to weft did not declare the elicitation capability, so weft cannot ask; use a client that supports elicitation, or take the tool out of settings.approval",
            "{era}"
        );
        assert_eq!(rig.calls(), 0, "{era}");
    }
}

#[test]
fn calls_no_rule_covers_are_not_asked_about() {
    let dir = temp_dir();
    let rig = Rig::new(dir.path(), "approval = [\"shift.define\", \"other.*\"]");
    let seen = rig.legacy(json!({"approval": "decline"}));
    assert_eq!(outcome(&seen, false), "found otter");
    assert_eq!(seen["asked"], json!([]), "{seen}");
    assert_eq!(rig.calls(), 1);
}

/// The TypeScript SDK's client (1.x, handshake era, stdio) approves one
/// call and declines the next.
#[test]
fn the_typescript_sdk_client_approves_and_declines() {
    let dir = temp_dir();
    let rig = Rig::new(dir.path(), "");
    // The rule on the server entry this time: every tool of `shift`.
    let text = std::fs::read_to_string(&rig.config).expect("config");
    let text = text.replacen("[servers.shift]\n", "[servers.shift]\napproval = true\n", 1);
    std::fs::write(&rig.config, text).expect("write config");
    let modules = tools().join("npm/node_modules");
    let script = repo_root().join("tests/clients/approval_agent.mjs");
    for (answer, calls, error) in [("approve", 1, false), ("decline", 1, true)] {
        let mut cmd = std::process::Command::new(node22());
        cmd.arg(&script)
            .arg(&modules)
            .args([answer, "shift__lookup", r#"{"word": "heron"}"#])
            .args(rig.stdio())
            .stdin(std::process::Stdio::null());
        isolate(&mut cmd);
        let seen = json_of_run(&mut cmd, "the TypeScript SDK agent");
        assert_eq!(seen["error"], error, "{answer}: {seen}");
        let asked = seen["asked"].as_array().expect("asked");
        assert_eq!(asked.len(), 1, "{seen}");
        assert!(
            asked[0]
                .as_str()
                .unwrap_or_default()
                .contains("the tool \"lookup\" on the server \"shift\""),
            "{seen}"
        );
        if error {
            assert_eq!(
                seen["text"],
                "[declined] shift/lookup: the person declined the call"
            );
        } else {
            assert_eq!(seen["text"], "found heron");
        }
        assert_eq!(rig.calls(), calls, "{answer}");
    }
}
