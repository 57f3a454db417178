//! Code mode on a running `weft serve` and from `weft exec`, with the
//! official Python SDK as the agent: every run in the audit log with a
//! keyed hash of its code, hostile code contained on one long-lived
//! server, and the configured cap on the code's size.

use serde_json::{Value, json};

use crate::code_mode::{exec, serve_target};
use crate::support::code::{EXEC_DEADLINE, interpreters, weft_code};
use crate::support::recorded::{audit_records, on_route};
use crate::support::*;

/// Every code run is in the audit log with a keyed hash of its code: two
/// runs of the same code through `weft serve` (an agent's
/// `weft_run_code`, other inputs) and one through `weft exec` share the
/// code's hash and differ in the arguments' hash; other code has another
/// hash; the code itself is not in the log. `tools.search` finds the tool
/// a query names.
#[test]
fn every_code_run_is_audited_with_a_hash_of_its_code() {
    let interp = interpreters("python");
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\naudit = \"audit.jsonl\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let same = "found = [t['name'] for t in tools.search('echo back the input', 1)]\nreturn {'n': input['n'], 'found': found}";
    let other = "return 'other code'";
    let target = serve_target(&interp, &cfg);
    let runs = json!([
        {"language": "python", "code": same, "input": {"n": 1}},
        {"language": "python", "code": same, "input": {"n": 2}},
        {"language": "python", "code": other},
    ]);
    let out = crate::serve::agent(&target, "legacy", "code", json!({"runs": runs}));
    assert_eq!(
        out["runs"][0]["structured"],
        json!({"n": 1, "found": ["echo"]}),
        "{out}"
    );
    assert_eq!(out["runs"][2]["text"], "other code", "{out}");
    let (code, report, stderr) = exec(&interp, &cfg, "same.py", same, &["--input", r#"{"n": 3}"#]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["output"], json!({"n": 3, "found": ["echo"]}));

    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("the audit log");
    let records = audit_records(&dir.path().join("audit.jsonl"));
    let runs = on_route(&records, "policy-run");
    assert_eq!(runs.len(), 4, "{audit}");
    let targets: Vec<&Value> = runs.iter().map(|r| &r["target"]).collect();
    assert_eq!(
        targets,
        [
            "weft_run_code",
            "weft_run_code",
            "weft_run_code",
            "code (python)"
        ],
        "{audit}"
    );
    assert!(runs.iter().all(|r| r["outcome"] == "ok"), "{audit}");
    let code_hash = |i: usize| {
        runs[i]["code_hmac"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let args_hash = |i: usize| {
        runs[i]["args_hmac"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(code_hash(0).len(), 64, "{audit}");
    assert_eq!(code_hash(0), code_hash(1));
    assert_eq!(
        code_hash(0),
        code_hash(3),
        "weft exec hashes the code as weft serve does"
    );
    assert_ne!(code_hash(0), code_hash(2));
    assert_ne!(args_hash(0), args_hash(1));
    assert!(
        !audit.contains("tools.search") && !audit.contains("other code"),
        "{audit}"
    );
}

/// One long-lived `weft serve`, one agent session: code that spins, that
/// hoards memory, reaches for the host, floods calls or returns too much
/// fails alone, under the `[code.limits]` of the config, and the normal code sent after each on
/// the same server answers; each submission starts from a fresh instance
/// (a global the code set is not there for the next). In both eras.
#[test]
fn hostile_code_on_a_running_server_fails_alone_and_the_next_code_runs() {
    let interp = interpreters("python");
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    // 2G of fuel is about 0.4 s of Python here; the default 10G took 1.6 to
    // 1.9 s, too near the 2 s timeout to say which limit a spin hits.
    text += "[code]\nenabled = true\n[code.limits]\ntimeout = \"2s\"\nfuel = \"2G\"\nmemory = \"64MiB\"\nmax_calls = 5\nmax_output = \"4KiB\"\n";
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let target = serve_target(&interp, &cfg);
    let normal = json!({"language": "python",
        "code": "return {'seen': globals().get('LEFT'), 'echo': tools.everything.echo(message='after')}"});
    let hostile = [
        "global LEFT\nLEFT = 'over'\nwhile True:\n    pass",
        "hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 20))",
        "return open('/etc/passwd').read()",
        "while True:\n    tools.everything.echo(message='again')",
        "return 'x' * 100000",
    ];
    let mut runs = Vec::new();
    for code in hostile {
        runs.push(json!({"language": "python", "code": code}));
        runs.push(normal.clone());
    }
    for mode in ["legacy", "2026-07-28"] {
        let out = crate::serve::agent(&target, mode, "code", json!({"runs": runs}));
        let runs = out["runs"].as_array().unwrap();
        let errors: Vec<String> = runs
            .iter()
            .step_by(2)
            .map(|r| {
                assert_eq!(r["error"], true, "{mode}: {r}");
                r["text"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        // The limit is named, and who raises it where: the agent has no
        // flag of its own, so it is told the operator's key.
        assert!(
            errors[0].starts_with("code (python) hit a limit: fuel limit: the code used all ")
                && errors[0].ends_with(
                    " units of fuel (weft's operator sets this limit: `fuel` in [code.limits])"
                ),
            "{mode}: {}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("code (python) hit a limit: memory limit: the code tried to use ")
                && errors[1].ends_with(
                    "over the cap of 67108864 bytes (weft's operator sets this limit: `memory` in [code.limits])"
                ),
            "{mode}: {}",
            errors[1]
        );
        assert!(
            errors[2].contains(
                "open() is not available: code mode reaches the outside world only through `tools`"
            ),
            "{mode}: {}",
            errors[2]
        );
        assert_eq!(
            errors[3],
            "code (python) hit a limit: call limit: the code made more than 5 tool calls (weft's operator sets this limit: `max_calls` in [code.limits])",
            "{mode}"
        );
        assert!(
            errors[4].starts_with("code (python) hit a limit: output limit: the output is ")
                && errors[4].ends_with(
                    " bytes, over the cap of 4096 bytes (weft's operator sets this limit: `max_output` in [code.limits])"
                ),
            "{mode}: {}",
            errors[4]
        );
        for r in runs.iter().skip(1).step_by(2) {
            assert_eq!(r["error"], false, "{mode}: {r}");
            assert_eq!(
                r["structured"],
                json!({"seen": null, "echo": "Echo: after"}),
                "{mode}"
            );
        }
    }
}

/// `[code] max_code_bytes` from the config: `weft exec` of a longer file
/// is a usage error naming the key, and an agent's longer `weft_run_code`
/// is refused before anything runs; code within the cap runs, from stdin
/// (`weft exec -`) as from a file.
#[test]
fn the_configured_code_cap_holds_and_code_comes_from_stdin() {
    use std::io::Write;
    let interp = interpreters("python");
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += "[code]\nenabled = true\nmax_code_bytes = 64\n";
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let long = format!("return '{}'", "x".repeat(80));

    let (code, _, stderr) = {
        let file = dir.path().join("long.py");
        std::fs::write(&file, &long).unwrap();
        let out = weft_code(&interp)
            .arg("-c")
            .arg(&cfg)
            .arg("exec")
            .arg(&file)
            .output_within(EXEC_DEADLINE)
            .expect("weft exec runs");
        (
            out.status.code(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("long.py is over 64 bytes; code mode takes at most that much source ([code] max_code_bytes)"),
        "{stderr}"
    );

    let mut child = weft_code(&interp)
        .arg("-c")
        .arg(&cfg)
        .args(["exec", "--lang", "python", "-", "--input", r#"{"n": 2}"#])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("weft exec starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"return input['n'] * 21")
        .unwrap();
    let out = child.wait_with_output().expect("weft exec ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");

    let target = serve_target(&interp, &cfg);
    let runs = json!([
        {"language": "python", "code": long},
        {"language": "python", "code": "return 'short'"},
    ]);
    let out = crate::serve::agent(&target, "2026-07-28", "code", json!({"runs": runs}));
    assert_eq!(
        out["runs"][0]["rpc_error"], "weft_run_code: the code is 89 bytes; at most 64 are accepted",
        "{out}"
    );
    assert_eq!(out["runs"][1]["text"], "short", "{out}");
}

/// `expose = "code"` is the orchestrator mode: in both eras the agent
/// lists exactly `weft_search_tools` and `weft_run_code` (where `search`
/// lists `weft_call_tool` too) and reaches the servers through code. The
/// run report in `_meta["weft/run"]` carries the run's status, calls,
/// fuel, duration and captured output, and a failed run's exception.
#[test]
fn expose_code_lists_two_tools_and_each_run_reports_in_meta() {
    let interp = interpreters("python");
    interpreters("js");
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\nexpose = \"code\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &time_memory_entries(dir.path());
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, &text).unwrap();
    let runs = json!([
        {"language": "python", "code": "print('zones', len(input['zones']))\nreturn {z: tools.time.get_current_time(timezone=z)['timezone'] for z in input['zones']}", "input": {"zones": ["UTC", "Asia/Tokyo"]}},
        {"language": "javascript", "code": "console.log('echoing');\nreturn tools.everything.echo({message: 'via code'});"},
        {"language": "python", "code": "x = 1\nraise ValueError('boom')"},
    ]);
    for mode in ["legacy", "2026-07-28"] {
        let out = crate::serve::agent(
            &serve_target(&interp, &cfg),
            mode,
            "code",
            json!({"runs": runs}),
        );
        assert_eq!(
            out["tools"],
            json!(["weft_run_code", "weft_search_tools"]),
            "{mode}: {out}"
        );
        let python = &out["runs"][0];
        assert_eq!(
            python["structured"],
            json!({"UTC": "UTC", "Asia/Tokyo": "Asia/Tokyo"}),
            "{mode}: {python}"
        );
        let report = &python["report"];
        assert_eq!(report["status"], "ok", "{mode}: {report}");
        assert_eq!(report["policy"], "code (python)", "{mode}: {report}");
        assert_eq!(report["stdout"], "zones 2\n", "{mode}: {report}");
        let calls: Vec<&Value> = report["calls"].as_array().unwrap().iter().collect();
        assert_eq!(calls.len(), 2, "{mode}: {report}");
        assert!(
            calls.iter().all(|c| c["server"] == "time"
                && c["tool"] == "get_current_time"
                && c["ok"] == true
                && c["ms"].as_f64().is_some()),
            "{mode}: {report}"
        );
        assert!(report["fuel_used"].as_u64().unwrap_or(0) > 0, "{report}");
        assert!(
            report["duration_ms"].as_f64().unwrap_or(0.0) > 0.0,
            "{report}"
        );
        assert_eq!(report["logs"], json!([]), "{mode}: {report}");

        let js = &out["runs"][1];
        assert_eq!(js["text"], "Echo: via code", "{mode}: {js}");
        assert_eq!(js["report"]["stdout"], "echoing\n", "{mode}: {js}");
        assert_eq!(js["calls"], json!(["echo"]), "{mode}: {js}");

        let failed = &out["runs"][2];
        assert_eq!(failed["error"], true, "{mode}: {failed}");
        assert_eq!(failed["report"]["status"], "error", "{mode}: {failed}");
        assert_eq!(
            failed["report"]["error"], "ValueError: boom (line 2)",
            "{mode}: {failed}"
        );
    }

    // The search mode lists the call-by-name tool beside them.
    std::fs::write(
        &cfg,
        text.replace("expose = \"code\"", "expose = \"search\""),
    )
    .unwrap();
    let out = crate::serve::agent(
        &serve_target(&interp, &cfg),
        "legacy",
        "code",
        json!({"runs": []}),
    );
    assert_eq!(
        out["tools"],
        json!(["weft_call_tool", "weft_run_code", "weft_search_tools"]),
        "{out}"
    );
}
