//! A server whose `command` is not on PATH (issue 27, "the first hour"):
//! the error says which PATH was searched and what to install, wherever a
//! server's start error shows (`weft check`, `weft status`, and the warning
//! `weft tools` and `weft serve` print for a server that did not start).

use crate::support::*;

/// Writes a config with a server that runs `command`, and a weft command
/// whose PATH is one empty directory.
fn setup(
    command: &str,
) -> (
    tempfile::TempDir,
    String,
    impl Fn() -> std::process::Command,
) {
    let dir = temp_dir();
    let bin = dir.path().join("empty-bin");
    std::fs::create_dir(&bin).unwrap();
    let config = dir.path().join("weft.toml");
    std::fs::write(
        &config,
        format!("[servers.srv]\ncommand = {}\n", q(command)),
    )
    .unwrap();
    let path = bin.display().to_string();
    let make = move || {
        let mut cmd = weft();
        cmd.arg("--config").arg(&config).env("PATH", &bin);
        cmd
    };
    (dir, path, make)
}

/// Asserts that `output` has the line `line`.
fn assert_line(output: &[u8], line: &str) {
    let text = String::from_utf8_lossy(output);
    assert!(
        text.lines().any(|l| l == line),
        "no line {line:?} in:\n{text}"
    );
}

#[test]
fn an_unknown_command_names_the_path_searched() {
    let (_dir, path, weft) = setup("weft-no-such-command");
    let expected = format!(
        "command \"weft-no-such-command\" was not found on PATH ({path}); install it or add its \
         directory to PATH, or give an absolute path"
    );
    let out = weft().arg("check").output_timed().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_line(&out.stdout, &format!("✗ srv          {expected}"));
    let out = weft().args(["status", "--json"]).output_timed().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["servers"][0]["error"]["reason"], expected.as_str());
    // The table cuts the error; the whole of it follows the table.
    let out = weft().arg("status").output_timed().unwrap();
    assert_line(&out.stdout, &format!("✗ srv: {expected}"));
}

#[test]
fn npx_without_node_says_to_install_node() {
    let (_dir, path, weft) = setup("npx");
    let expected = format!(
        "command \"npx\" was not found on PATH ({path}); install Node.js for npx, or give an \
         absolute path"
    );
    let out = weft().arg("check").output_timed().unwrap();
    assert_line(&out.stdout, &format!("✗ srv          {expected}"));
    // `weft tools` (and `weft serve`) warn with the same reason.
    let out = weft().arg("tools").output_timed().unwrap();
    assert_line(
        &out.stderr,
        &format!("weft: warning: server srv is unavailable: {expected}"),
    );
}
