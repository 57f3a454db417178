//! The example policies in plugins/, each run against real servers, and
//! `weft run` from the command line.

use crate::support::*;
use serde_json::json;

/// A config with git, files, time and memory, and every example policy.
pub(crate) fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git_repo(&repo);
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &git_time_memory_entries(dir.path(), &repo);
    text += &npm_entry(
        "files",
        "server-filesystem",
        &[&dir.path().display().to_string()],
    );
    // The folder holds weft.toml, which no server may write: the
    // pipeline's changelog goes to a folder beside it.
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    text += &sandbox_read(&[dir.path()]);
    text += &sandbox_write(&[&dir.path().join("out")]);
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let policies = [
        ("template", "weft-policy-template", r#"["everything.echo"]"#),
        (
            "fanout",
            "weft-policy-fanout",
            r#"["git.git_status", "git.git_log", "time.*", "memory.read_graph"]"#,
        ),
        (
            "pipeline",
            "weft-policy-pipeline",
            r#"["git.git_log", "memory.*", "files.write_file"]"#,
        ),
        ("retry", "weft-policy-retry", r#"["time.convert_time"]"#),
        (
            "standup",
            "weft-policy-standup",
            r#"["git.git_log", "files.list_directory", "time.get_current_time", "memory.create_entities"]"#,
        ),
    ];
    for (name, krate, grants) in policies {
        text += &format!(
            "[policies.{name}]\npath = {}\ndescription = \"the {name} example\"\ngrants = {grants}\ntimeout = \"60s\"\n",
            q(guest_wasm(krate).display().to_string())
        );
    }
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    (dir, cfg, repo)
}

pub(crate) fn run(
    cfg: &std::path::Path,
    policy: &str,
    input: serde_json::Value,
) -> (i32, serde_json::Value, String) {
    run_granted(cfg, policy.as_ref(), &[], input, COMMAND_DEADLINE)
}

/// `weft run POLICY --json` (a name or a .wasm path), with `--grant`s,
/// killed and failed if it takes longer than `within`.
pub(crate) fn run_granted(
    cfg: &std::path::Path,
    policy: &std::ffi::OsStr,
    grants: &[&str],
    input: serde_json::Value,
    within: std::time::Duration,
) -> (i32, serde_json::Value, String) {
    let mut cmd = weft();
    cmd.arg("-c").arg(cfg).arg("run").arg(policy);
    for g in grants {
        cmd.args(["--grant", g]);
    }
    let out = cmd
        .args(["--json", "--input", &input.to_string()])
        .output_within(within)
        .expect("weft runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json must print a report ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

#[test]
fn fan_out_fan_in_across_servers() {
    let (_dir, cfg, repo) = setup();
    let (code, report, err) = run(
        &cfg,
        "fanout",
        json!({"repo": repo, "timezones": ["UTC", "Asia/Tokyo", "Europe/Paris"]}),
    );
    assert_eq!(code, 0, "{report} {err}");
    let out = &report["output"];
    assert_eq!(out["times"].as_object().unwrap().len(), 3, "{out}");
    assert!(
        out["git.git_log"]
            .as_str()
            .unwrap_or("")
            .contains("fix typo in notes"),
        "{out}"
    );
    assert!(out["memory.read_graph"].is_object(), "{out}");
    assert_eq!(out["failures"], json!([]));
    // The report lists every call, by server and tool, with its time.
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 6);
    assert!(
        calls
            .iter()
            .all(|c| c["ok"] == true && c["ms"].as_f64().is_some())
    );
    assert!(report["fuel_used"].as_u64().unwrap() > 0);
}

#[test]
fn pipeline_feeds_each_step_into_the_next() {
    let (dir, cfg, repo) = setup();
    let changelog = dir.path().join("out/CHANGES.md");
    let (code, report, err) = run(
        &cfg,
        "pipeline",
        json!({"repo": repo, "changelog": changelog, "max": 3}),
    );
    assert_eq!(code, 0, "{report} {err}");
    assert_eq!(report["output"]["commits"], 3);
    assert_eq!(report["output"]["entities_found"], 3);
    let text = std::fs::read_to_string(&changelog)
        .expect("the pipeline wrote the changelog through server-filesystem");
    assert!(
        text.contains("fix typo in notes") && text.contains("first commit"),
        "{text}"
    );
    let tools: Vec<&str> = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["git_log", "create_entities", "write_file", "search_nodes"]
    );
}

#[test]
fn retry_loop_gives_up_cleanly_with_a_partial_result() {
    let (_dir, cfg, _repo) = setup();
    let items = json!([
        {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
        {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Mars/Olympus_Mons"},
        {"source_timezone": "Europe/Paris", "time": "08:15", "target_timezone": "America/New_York"}
    ]);
    let (code, report, err) = run(
        &cfg,
        "retry",
        json!({"server": "time", "tool": "convert_time", "attempts": 3, "items": items}),
    );
    assert_eq!(
        code, 0,
        "a partial result is still a result: {report} {err}"
    );
    let out = &report["output"];
    assert_eq!(out["partial"], true);
    assert_eq!(out["done"].as_array().unwrap().len(), 2);
    let failed = &out["failed"][0];
    assert_eq!(failed["item"], 1);
    assert_eq!(failed["kind"], "tool-error");
    assert_eq!(failed["attempts"], 3);
    // 1 + 3 + 1 calls reached the server; the retries were logged.
    assert_eq!(report["calls"].as_array().unwrap().len(), 5);
    assert_eq!(
        report["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["level"] == "warn")
            .count(),
        3
    );
}

#[test]
fn daily_standup_report_is_built_and_stored() {
    let (dir, cfg, repo) = setup();
    let (code, report, err) = run(
        &cfg,
        "standup",
        json!({"repo": repo, "dir": dir.path(), "timezone": "UTC"}),
    );
    assert_eq!(code, 0, "{report} {err}");
    let out = &report["output"];
    let commits: Vec<&str> = out["commits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(commits, ["fix typo in notes", "add notes", "first commit"]);
    assert!(
        out["report"].as_str().unwrap().starts_with("Stand-up 20"),
        "{out}"
    );
    // The report really is in server-memory now: read it back through weft.
    let stored = out["stored_as"].as_str().unwrap();
    let got = weft()
        .arg("-c")
        .arg(&cfg)
        .args([
            "call",
            "memory",
            "open_nodes",
            &json!({"names": [stored]}).to_string(),
        ])
        .output_timed()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&got.stdout).contains("Yesterday's commits"),
        "{}",
        String::from_utf8_lossy(&got.stdout)
    );
}

#[test]
fn weft_run_reports_limits_and_errors_in_one_line() {
    let (_dir, cfg, _repo) = setup();
    // The template policy, with its output printed plainly.
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["run", "template", "--input", r#"{"message": "hi"}"#])
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["echo"], "Echo: hi");
    assert_eq!(
        value["granted"],
        json!(["everything.echo"]),
        "list-tools shows only granted tools"
    );

    // A limit hit: exit 1 and one line that names the limit.
    let hostile = guest_wasm("weft-hostile-guest");
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .arg("run")
        .arg(&hostile)
        .args([
            "--input",
            r#"{"attack": "spin"}"#,
            "--fuel",
            "unlimited",
            "--timeout",
            "300ms",
            "--grant",
            "everything.echo",
        ])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("time limit") && stderr.contains("300 ms"),
        "{stderr}"
    );

    // Usage errors: unknown policy, bad input, bad limits.
    for args in [
        vec!["run", "templat"],
        vec!["run", "template", "--input", "{oops"],
        vec!["run", "template", "--fuel", "lots"],
        vec!["run", "template", "--memory", "big"],
    ] {
        let out = weft()
            .arg("-c")
            .arg(&cfg)
            .args(&args)
            .output_timed()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["run", "templat"])
        .output_timed()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"template\""));
}

/// `call_all` really runs its calls at once: three calls of a tool that
/// sleeps 500 ms finish within one second, and the server saw all three in
/// progress together.
#[test]
fn call_all_runs_its_calls_concurrently() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let text = command_entry(
        "fixture",
        &target_bin("weft-faulty-server"),
        &["--record", &record.display().to_string()],
    );
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let calls: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|tag| json!({"server": "fixture", "tool": "slow", "args": {"ms": 500, "tag": tag}}))
        .collect();
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .arg("run")
        .arg(guest_wasm("weft-hostile-guest"))
        .args(["--grant", "fixture.slow", "--json", "--input"])
        .arg(json!({"attack": "fanout", "calls": calls}).to_string())
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json must print a report ({e}): {stderr}"));
    let results = report["output"].as_array().expect("one result per call");
    assert_eq!(results.len(), 3, "{report}");
    for r in results {
        assert_eq!(r["ok"], true, "{report}");
        assert_eq!(r["text"], "slept 500 ms", "{report}");
    }
    let ms: Vec<f64> = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ms"].as_f64().expect("ms"))
        .collect();
    assert_eq!(ms.len(), 3, "{report}");
    assert!(
        ms.iter().all(|m| *m >= 500.0),
        "each call took its 500 ms: {ms:?}"
    );

    // What the server saw: when each call started and ended (µs).
    let times = |what: &str| -> Vec<u64> {
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(what))
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l.splitn(3, ' ').nth(2).unwrap_or_default()).unwrap();
                v["at_us"].as_u64().expect("at_us")
            })
            .collect()
    };
    let (starts, ends) = (times("slow:start"), times("slow:end"));
    assert_eq!((starts.len(), ends.len()), (3, 3));
    let last_start = *starts.iter().max().unwrap();
    let first_end = *ends.iter().min().unwrap();
    assert!(
        last_start < first_end,
        "all three calls were in progress together: starts {starts:?}, ends {ends:?}"
    );
    // Sequential calls would take 1.5 s; the margin for a loaded machine is
    // the other 0.5 s.
    let span_ms = (ends.iter().max().unwrap() - starts.iter().min().unwrap()) as f64 / 1000.0;
    assert!(span_ms < 1000.0, "the three calls took {span_ms} ms");
}

/// A policy's grants are checked against the server a `@domain` call
/// actually goes to: granted the domain and only `alpha` by name, the call
/// goes to `alpha`, although `beta` has the higher priority.
#[test]
fn a_domain_call_goes_only_to_a_server_the_grants_allow() {
    let dir = temp_dir();
    let fixture = target_bin("weft-faulty-server");
    let mut text = command_entry("alpha", &fixture, &["--name", "alpha"]);
    text += "domains = [\"echoes\"]\n";
    text += &command_entry("beta", &fixture, &["--name", "beta"]);
    text += "domains = [\"echoes\"]\npriority = 10\n";
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let run_with = |grants: &[&str]| -> serde_json::Value {
        let mut cmd = weft();
        cmd.arg("-c")
            .arg(&cfg)
            .arg("run")
            .arg(guest_wasm("weft-hostile-guest"));
        for g in grants {
            cmd.args(["--grant", g]);
        }
        let input = json!({"attack": "script", "calls": [{"server": "@echoes", "tool": "whoami"}]});
        let out = cmd
            .args(["--json", "--input", &input.to_string()])
            .output_timed()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("--json must print a report ({e}): {stderr}"));
        report["output"][0].clone()
    };
    // With every server granted, the domain's best server answers.
    let step = run_with(&["@echoes.whoami", "*.whoami"]);
    assert_eq!(
        (&step["ok"], &step["text"]),
        (&json!(true), &json!("beta")),
        "{step}"
    );
    // Granted alpha only: alpha answers, beta never does.
    let step = run_with(&["@echoes.whoami", "alpha.whoami"]);
    assert_eq!(
        (&step["ok"], &step["text"]),
        (&json!(true), &json!("alpha")),
        "{step}"
    );
    // Granted the domain alone: no member is granted.
    let step = run_with(&["@echoes.whoami"]);
    assert_eq!(step["ok"], false, "{step}");
    assert_eq!(step["kind"], "not-found", "{step}");
}
