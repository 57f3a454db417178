//! The command line against real servers: `tools`, `call`, `check` and
//! `status`, their output and their exit codes.

use serde_json::json;

use crate::support::*;

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = temp_dir();
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text += "[servers.broken]\ncommand = \"/nonexistent/server\"\n";
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn tools_lists_the_merged_catalog() {
    let (_dir, cfg) = setup();
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["tools", "--json"])
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("stdout is JSON only");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(
        names.contains(&"everything__echo") && names.contains(&"time__get_current_time"),
        "{names:?}"
    );
    assert!(tools.iter().all(|t| t["inputSchema"].is_object()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken") && stderr.contains("unavailable"),
        "the broken server is named: {stderr}"
    );

    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["tools", "--server", "time"])
        .output_timed()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("TOOL"), "{table}");
    assert!(
        table.contains("time__convert_time") && !table.contains("everything__"),
        "{table}"
    );

    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["tools", "--server", "tiem"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"time\""));
}

#[test]
fn call_prints_results_and_sets_exit_codes() {
    let (_dir, cfg) = setup();
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["call", "everything", "echo", r#"{"message": "hello"}"#])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Echo: hello");

    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args([
            "call",
            "time",
            "get_current_time",
            r#"{"timezone": "UTC"}"#,
            "--json",
        ])
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("UTC")
    );

    // A tool error exits 1 and says so.
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args([
            "call",
            "time",
            "get_current_time",
            r#"{"timezone": "Mars/Olympus"}"#,
        ])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tool-error"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bad arguments are a usage error, before anything starts.
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["call", "everything", "echo", "[1,2]"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a JSON object"));
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["call", "everything", "echo", "{nope"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A server that failed to start: exit 1, kind unavailable.
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["call", "broken", "anything"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unavailable"));
}

#[test]
fn check_and_status_report_every_server() {
    let (_dir, cfg) = setup();
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .arg("check")
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a broken server makes check fail"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}: {text}"))
            .to_string()
    };
    assert!(
        line("everything").starts_with('✓') && line("everything").contains("2025-11-25"),
        "{text}"
    );
    assert!(
        line("time").contains("2026-07-28") && line("time").contains("2 tools"),
        "{text}"
    );
    assert!(
        line("broken").starts_with('✗')
            && line("broken").contains(
                r#"command "/nonexistent/server" was not found (no such file); check the path"#
            ),
        "{text}"
    );

    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["status", "--json"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let servers = status["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    let time = servers.iter().find(|s| s["name"] == "time").unwrap();
    assert_eq!(time["state"], "up");
    assert_eq!(time["protocol"], "2026-07-28");
    let broken = servers.iter().find(|s| s["name"] == "broken").unwrap();
    assert_eq!(broken["state"], "failed");
}

/// `weft check` readies every configured policy as `weft run` would: a
/// component is compiled and cached (the next check and the first run
/// load it), and one that cannot run fails the check, saying why.
#[test]
fn check_readies_every_policy_and_fails_on_one_that_cannot_run() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "not a component").unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[policies.fanout]\npath = {}\n[policies.alien]\npath = {}\n[policies.notes]\npath = {}\n",
            q(guest_wasm("weft-policy-fanout").display().to_string()),
            q(guest_wasm("weft-alien-guest").display().to_string()),
            q(not_wasm.display().to_string()),
        ),
    )
    .unwrap();
    let line = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(2) == Some(name))
            .unwrap_or_else(|| panic!("no line for policy {name}: {text}"))
            .to_string()
    };
    let first = weft_with(&cfg, &["check"]);
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(first.status.code(), Some(1), "{text}");
    let fanout = line(&text, "fanout");
    assert!(
        fanout.starts_with("✓ policy fanout") && fanout.ends_with("s and cached"),
        "{text}"
    );
    assert!(
        line(&text, "alien").starts_with("✗ policy alien")
            && line(&text, "alien").contains(
                "the component imports `weft:mcp/vault@0.1.0`, which weft does not provide"
            ),
        "{text}"
    );
    assert!(
        line(&text, "notes").ends_with("not a WebAssembly file (no \\0asm header)"),
        "{text}"
    );

    let again = weft_with(&cfg, &["check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let policies = report["policies"].as_array().unwrap();
    let fanout = policies.iter().find(|p| p["name"] == "fanout").unwrap();
    assert_eq!(
        (fanout["ok"].clone(), fanout["origin"].clone()),
        (json!(true), json!("disk"))
    );
    let alien = policies.iter().find(|p| p["name"] == "alien").unwrap();
    assert_eq!(alien["ok"], false);
    assert!(
        alien["error"]
            .as_str()
            .unwrap()
            .contains("weft does not provide"),
        "{alien}"
    );
}

/// Arguments of the wrong type are refused before they go out, as
/// `invalid-args` with the JSON pointer of the bad value, printed once;
/// `validate_args = false` lets them through to the server.
#[test]
fn arguments_are_checked_against_the_tools_schema() {
    let (dir, cfg) = setup();
    let out = weft_with(&cfg, &["call", "everything", "echo", r#"{"message": 5}"#]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("weft: "))
            .collect::<Vec<_>>(),
        [
            r#"weft: everything/echo: invalid-args: the arguments do not fit the tool's inputSchema: at /message: 5 is not of type "string""#
        ],
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    // A tool's own error is printed once (its words, then the kind).
    let out = weft_with(
        &cfg,
        &[
            "call",
            "time",
            "get_current_time",
            r#"{"timezone": "Mars/Olympus"}"#,
        ],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(all.matches("Mars/Olympus").count(), 1, "{all}");
    assert!(
        all.contains("weft: time/get_current_time: tool-error (the tool's answer is above)"),
        "{all}"
    );

    // Switched off, the server sees the call and answers it itself.
    let off = dir.path().join("off.toml");
    std::fs::write(
        &off,
        npm_entry("everything", "server-everything", &["stdio"]) + "validate_args = false\n",
    )
    .unwrap();
    let out = weft_with(&off, &["call", "everything", "echo", r#"{"message": 5}"#]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("invalid-args"), "{stderr}");
}

/// `weft -c CONFIG ARGS…`, run to the end.
fn weft_with(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    weft()
        .arg("-c")
        .arg(config)
        .args(args)
        .output_timed()
        .unwrap()
}
