//! The official conformance suite's client scenarios against weft's
//! upstream layer: the suite (0.2.0-alpha.12) starts each scenario's
//! server and runs `examples/conformance_client.rs` on its URL, which
//! connects weft to it as its only upstream, lists its tools and calls
//! each once. Each scenario's checks are counted exactly: a scenario that
//! passes here and stops passing fails this test.
//!
//! Covered so far: `initialize` (the handshake; the scenario's server
//! answers weft's `server/discover` probe with an empty result, so weft
//! must fall back to the handshake), `tools_call` and `sse-retry` (the
//! event stream resumed after the server's `retry`, with `Last-Event-ID`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

/// Each scenario and its checks: (succeeded, failed).
const EXPECTED: &[(&str, usize, usize)] = &[
    ("initialize", 1, 0),
    ("tools_call", 2, 0),
    ("sse-retry", 3, 0),
];

fn client_bin() -> PathBuf {
    let weft = target_bin("weft");
    let bin = weft
        .parent()
        .expect("the target folder")
        .join("examples/conformance_client");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --examples`",
        bin.display()
    );
    bin
}

/// Runs one client scenario; returns its checks' statuses.
fn run(scenario: &str, out: &Path) -> Vec<(String, String)> {
    let entry = tools().join("npm/node_modules/conformance-alpha/dist/index.js");
    assert!(
        entry.exists(),
        "the conformance suite is missing at {}: run `bash .ci/setup-tools`",
        entry.display()
    );
    let mut cmd = Command::new(node22());
    cmd.arg(&entry)
        .args(["client", "--scenario", scenario, "--command"])
        .arg(client_bin())
        .arg("-o")
        .arg(out)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    isolate(&mut cmd);
    let ran = cmd.output_timed().expect("run the conformance suite");
    let dir = std::fs::read_dir(out)
        .expect("the suite's output folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{scenario}-")))
        })
        .unwrap_or_else(|| {
            panic!(
                "{scenario}: the suite saved no results:\n{}\n{}",
                String::from_utf8_lossy(&ran.stdout),
                String::from_utf8_lossy(&ran.stderr)
            )
        });
    let text = std::fs::read_to_string(dir.join("checks.json")).expect("checks.json");
    let checks: Vec<Value> = serde_json::from_str(&text).expect("checks.json is JSON");
    checks
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .filter(|(_, status)| status == "SUCCESS" || status == "FAILURE")
        .collect()
}

#[test]
fn the_suites_client_scenarios_pass_against_weft_as_a_client() {
    let dir = temp_dir();
    let mut report = Vec::new();
    for (scenario, passed, failed) in EXPECTED {
        let checks = run(scenario, &dir.path().join(scenario));
        let ok = checks.iter().filter(|(_, s)| s == "SUCCESS").count();
        let bad = checks.iter().filter(|(_, s)| s == "FAILURE").count();
        if (ok, bad) != (*passed, *failed) {
            report.push(format!(
                "{scenario}: {ok} passed, {bad} failed; expected {passed} and {failed}: {checks:?}"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
