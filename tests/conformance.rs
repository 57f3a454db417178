//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server mode) run twice: directly against our fixture server, and against
//! `weft serve --http` in no-prefix mode with that fixture as its only
//! upstream. Every scenario that passes directly must pass through weft.
//!
//! Suites: 0.1.16 (2025-06-18 and 2025-11-25), and 0.2.0-alpha.12 with
//! `--requirements 2025-11-25` and `--requirements 2026-07-28`. The pass
//! counts are printed (run with `--nocapture` to see them).

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// One suite run's result, per scenario.
#[derive(Debug, Default)]
struct Outcome {
    passed: BTreeSet<String>,
    failed: BTreeSet<String>,
    checks_passed: u64,
    checks_failed: u64,
}

/// Reads the suite's summary lines: `✓ name: 2 passed, 0 failed`.
fn parse(stdout: &str) -> Outcome {
    let mut out = Outcome::default();
    for line in stdout.lines() {
        let line = line.trim();
        let (ok, rest) = if let Some(r) = line.strip_prefix("✓ ") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("✗ ") {
            (false, r)
        } else {
            continue;
        };
        let Some((name, counts)) = rest.split_once(": ") else {
            continue;
        };
        let nums: Vec<u64> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [p, f, ..] = nums[..] {
            out.checks_passed += p;
            out.checks_failed += f;
        }
        if ok {
            out.passed.insert(name.to_string());
        } else {
            out.failed.insert(name.to_string());
        }
    }
    out
}

fn run_suite(package: &str, extra: &[&str], url: &str, out_dir: &Path) -> Outcome {
    let entry = tools()
        .join("npm/node_modules")
        .join(package)
        .join("dist/index.js");
    assert!(
        entry.exists(),
        "the conformance suite is missing at {}: run `bash .ci/setup-tools`",
        entry.display()
    );
    let out = Command::new(node22())
        .arg(&entry)
        .args(["server", "--url", url, "-o"])
        .arg(out_dir)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let outcome = parse(&stdout);
    assert!(
        !outcome.passed.is_empty() || !outcome.failed.is_empty(),
        "the suite printed no scenario results:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    outcome
}

/// The fixture server over HTTP; returns it and its URL.
fn start_fixture() -> (Background, String) {
    let mut cmd = Command::new(target_bin("weft-conformance-server"));
    cmd.args(["--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut proc = Background::spawn(&mut cmd);
    let url = first_url(proc.0.stdout.take().expect("stdout"));
    (proc, url)
}

/// weft in no-prefix mode in front of the fixture (over stdio).
fn start_weft(dir: &Path) -> (Background, String) {
    let config = dir.join("weft.toml");
    let text = format!(
        "[settings]\nnames = \"none\"\nstartup_timeout = \"60s\"\n{}",
        command_entry(
            "conformance",
            &target_bin("weft-conformance-server"),
            &["--stdio"]
        )
    );
    std::fs::write(&config, text).expect("write config");
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(&config)
        .args(["serve", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut proc = Background::spawn(&mut cmd);
    let url = first_url(proc.0.stdout.take().expect("stdout"));
    (proc, url)
}

fn first_url(stdout: std::process::ChildStdout) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = tx.send(url.to_string());
                return;
            }
            line.clear();
        }
    });
    rx.recv_timeout(Duration::from_secs(90))
        .expect("the server printed no URL")
}

#[test]
fn every_scenario_that_passes_directly_passes_through_weft() {
    let dir = temp_dir();
    let (_fixture, fixture_url) = start_fixture();
    let (_weft, weft_url) = start_weft(dir.path());
    let suites: [(&str, &str, &[&str]); 3] = [
        ("0.1.16", "conformance-stable", &[]),
        (
            "0.2.0-alpha.12 --requirements 2025-11-25",
            "conformance-alpha",
            &["--requirements", "2025-11-25"],
        ),
        (
            "0.2.0-alpha.12 --requirements 2026-07-28",
            "conformance-alpha",
            &["--requirements", "2026-07-28"],
        ),
    ];
    let mut problems = Vec::new();
    for (i, (label, package, extra)) in suites.iter().enumerate() {
        let direct = run_suite(
            package,
            extra,
            &fixture_url,
            &dir.path().join(format!("d{i}")),
        );
        let through = run_suite(package, extra, &weft_url, &dir.path().join(format!("w{i}")));
        println!(
            "{label}: fixture directly {} scenarios pass, {} fail ({} / {} checks); through weft {} pass, {} fail ({} / {} checks)",
            direct.passed.len(),
            direct.failed.len(),
            direct.checks_passed,
            direct.checks_passed + direct.checks_failed,
            through.passed.len(),
            through.failed.len(),
            through.checks_passed,
            through.checks_passed + through.checks_failed,
        );
        let lost: Vec<&String> = direct.passed.difference(&through.passed).collect();
        if !lost.is_empty() {
            problems.push(format!(
                "{label}: pass directly but fail through weft: {lost:?}"
            ));
        }
        assert!(
            direct.passed.len() >= 10,
            "{label}: the fixture itself passes too little ({:?}); is it built right?",
            direct.passed
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
