//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server mode), in absolute numbers, against two server implementations:
//!
//! - our rmcp fixture (`tests/fixtures/conformance-server`), and
//! - our server on the official TypeScript SDK
//!   (`tests/fixtures/ts-conformance-server`), an old-era (handshake) server
//!   as most MCP servers are today;
//!
//! each run directly and through `weft serve --http` in no-prefix mode with
//! that server as its only upstream (the rmcp fixture over stdio, the
//! TypeScript one over streamable HTTP).
//!
//! Suites: 0.1.16, and 0.2.0-alpha.12 with `--requirements 2025-11-25` and
//! `--requirements 2026-07-28`. The scenario and check counts of every run
//! are asserted exactly ([`EXPECTED`]). Through weft, every check comes out
//! as it does directly except for the named differences in
//! [`EXPECTED_DIFFERENCES`], each with its reason; in the one run where the
//! server alone cannot speak the era the suite asks for (the TypeScript
//! server under 2026-07-28), weft speaks it for the server, so checks may
//! only go from failing to passing there.
//!
//! The counts are written to `target/conformance/results.json`, and the
//! README's conformance section must be what `.ci/conformance_readme.py`
//! renders from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// One suite run of the official suite.
struct Suite {
    key: &'static str,
    label: &'static str,
    package: &'static str,
    args: &'static [&'static str],
}

const SUITES: [Suite; 3] = [
    Suite {
        key: "0.1.16",
        label: "0.1.16",
        package: "conformance-stable",
        args: &[],
    },
    Suite {
        key: "2025-11-25",
        label: "0.2.0-alpha.12 `--requirements 2025-11-25`",
        package: "conformance-alpha",
        args: &["--requirements", "2025-11-25"],
    },
    Suite {
        key: "2026-07-28",
        label: "0.2.0-alpha.12 `--requirements 2026-07-28`",
        package: "conformance-alpha",
        args: &["--requirements", "2026-07-28"],
    },
];

const RMCP: &str = "rmcp";
const TS: &str = "typescript";

/// Scenarios passed, scenarios run, checks passed, checks counted (passed
/// plus failed, as the suite's summary counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts(u64, u64, u64, u64);

/// The measured numbers: (server, suite, directly, through weft).
const EXPECTED: [(&str, &str, Counts, Counts); 6] = [
    (
        RMCP,
        "0.1.16",
        Counts(30, 30, 40, 40),
        Counts(30, 30, 40, 40),
    ),
    (
        RMCP,
        "2025-11-25",
        Counts(33, 33, 84, 84),
        Counts(33, 33, 83, 83),
    ),
    (
        RMCP,
        "2026-07-28",
        Counts(50, 50, 197, 197),
        Counts(50, 50, 194, 194),
    ),
    (TS, "0.1.16", Counts(30, 30, 40, 40), Counts(30, 30, 40, 40)),
    (
        TS,
        "2025-11-25",
        Counts(33, 33, 84, 84),
        Counts(33, 33, 83, 83),
    ),
    (
        TS,
        "2026-07-28",
        Counts(2, 50, 11, 157),
        Counts(30, 50, 140, 182),
    ),
];

/// A check that comes out differently through weft, and why.
struct Difference {
    server: &'static str,
    suite: &'static str,
    scenario: &'static str,
    check: &'static str,
    reason: &'static str,
}

const SSE_POLLING: &str = "informational instead of passed: weft does not close an agent's \
    stream in the middle of a call, so the suite's probe finds no stream to resume";
const PLAIN_JSON: &str = "informational instead of passed: a 2026-07-28 tool call that streams \
    nothing gets a plain JSON answer from weft, not a stream";
const NO_LIST_CHANGED: &str = "a SHOULD-level warning that no list_changed arrived: the fixture \
    announces a change without changing its lists, and weft tells agents only when the list \
    they see actually changed";

/// Check-level differences through weft. Checks that only record wire
/// traffic (`INFO` on both sides, such as `incoming-sse-event`) are not
/// compared: their number follows the probes.
const EXPECTED_DIFFERENCES: &[Difference] = &[
    Difference {
        server: RMCP,
        suite: "2025-11-25",
        scenario: "server-sse-polling",
        check: "server-sse-disconnect-resume",
        reason: SSE_POLLING,
    },
    Difference {
        server: TS,
        suite: "2025-11-25",
        scenario: "server-sse-polling",
        check: "server-sse-disconnect-resume",
        reason: SSE_POLLING,
    },
    Difference {
        server: RMCP,
        suite: "2026-07-28",
        scenario: "server-sse-multiple-streams",
        check: "server-sse-streams-functional",
        reason: PLAIN_JSON,
    },
    Difference {
        server: RMCP,
        suite: "2026-07-28",
        scenario: "server-stateless",
        check: "sep-2575-server-sends-tools-list-changed-on-subscription",
        reason: NO_LIST_CHANGED,
    },
    Difference {
        server: RMCP,
        suite: "2026-07-28",
        scenario: "server-stateless",
        check: "sep-2575-server-sends-prompts-list-changed-on-subscription",
        reason: NO_LIST_CHANGED,
    },
];

/// Runs where the server alone does not speak the era the suite asks for,
/// and weft does: (server, suite). Checks may only improve through weft.
const WEFT_SPEAKS_FOR_THE_SERVER: &[(&str, &str)] = &[(TS, "2026-07-28")];

/// One run's outcome.
#[derive(Debug, Default)]
struct Outcome {
    passed: BTreeSet<String>,
    failed: BTreeSet<String>,
    checks_passed: u64,
    checks_failed: u64,
    /// Every check's status, by (scenario, check id), from `checks.json`.
    checks: BTreeMap<(String, String), Vec<String>>,
}

impl Outcome {
    fn counts(&self) -> Counts {
        Counts(
            self.passed.len() as u64,
            (self.passed.len() + self.failed.len()) as u64,
            self.checks_passed,
            self.checks_passed + self.checks_failed,
        )
    }
}

/// Reads the suite's summary lines: `✓ name: 2 passed, 0 failed`.
fn parse_summary(stdout: &str, out: &mut Outcome) {
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
}

/// Reads `server-<scenario>-<timestamp>/checks.json` under `dir`.
fn parse_checks(dir: &Path, out: &mut Outcome) {
    // The timestamp: `-2026-11-23T10-53-45-500Z`.
    const STAMP: usize = 25;
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read the suite's output {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(scenario) = name
            .strip_prefix("server-")
            .filter(|s| s.len() > STAMP)
            .map(|s| s[..s.len() - STAMP].to_string())
        else {
            continue;
        };
        let path = entry.path().join("checks.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let checks: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a JSON list: {e}", path.display()));
        for check in checks {
            let id = check["id"].as_str().unwrap_or("?").to_string();
            let status = check["status"].as_str().unwrap_or("?").to_string();
            out.checks
                .entry((scenario.clone(), id))
                .or_default()
                .push(status);
        }
    }
    for statuses in out.checks.values_mut() {
        statuses.sort();
    }
}

fn run_suite(suite: &Suite, url: &str, out_dir: &Path) -> Outcome {
    let entry = suite_entry(suite.package);
    let mut cmd = Command::new(node22());
    cmd.arg(&entry)
        .args(["server", "--url", url, "-o"])
        .arg(out_dir)
        .args(suite.args)
        .stdin(Stdio::null());
    let out = cmd.output_timed().expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut outcome = Outcome::default();
    parse_summary(&stdout, &mut outcome);
    assert!(
        !outcome.passed.is_empty() || !outcome.failed.is_empty(),
        "the suite printed no scenario results:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_checks(out_dir, &mut outcome);
    outcome
}

/// The first `http://` URL a child prints on stdout.
fn url_of(process: &mut Background) -> String {
    let stdout = process.0.stdout.take().expect("stdout is piped");
    let line = first_line(stdout, Duration::from_secs(90));
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the server printed no URL: {line:?}"))
        .to_string()
}

/// The rmcp fixture over HTTP.
fn start_rmcp_fixture() -> (Background, String) {
    let mut cmd = Command::new(target_bin("weft-conformance-server"));
    cmd.args(["--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut process = Background::spawn(&mut cmd);
    let url = url_of(&mut process);
    (process, url)
}

/// The TypeScript SDK server over HTTP.
fn start_ts_server() -> (Background, String) {
    let script = repo_root().join("tests/fixtures/ts-conformance-server/server.mjs");
    let modules = tools().join("npm/node_modules");
    assert!(
        modules
            .join("@modelcontextprotocol/sdk/package.json")
            .exists(),
        "the TypeScript SDK is missing under {}: run `bash .ci/setup-tools`",
        modules.display()
    );
    let mut cmd = Command::new(node22());
    cmd.arg(&script)
        .args(["--port", "0", "--modules"])
        .arg(&modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut process = Background::spawn(&mut cmd);
    let url = url_of(&mut process);
    (process, url)
}

/// weft in no-prefix mode in front of one server (`entry` is its config).
fn start_weft(dir: &Path, entry: &str) -> (Background, String) {
    let config = dir.join("weft.toml");
    let text = format!("[settings]\nnames = \"none\"\nstartup_timeout = \"60s\"\n{entry}");
    std::fs::write(&config, text).expect("write config");
    let mut cmd = weft();
    cmd.arg("--config").arg(&config);
    let (process, base) = serve_weft_http(&mut cmd);
    (process, format!("{base}/mcp"))
}

fn server_label(server: &str) -> &'static str {
    match server {
        RMCP => "rmcp fixture",
        _ => "TypeScript SDK server",
    }
}

/// The statuses of a check, for messages: `SUCCESS`, `SUCCESS x2`, `absent`.
fn statuses(s: Option<&Vec<String>>) -> String {
    match s {
        None => "absent".to_string(),
        Some(v) => {
            let mut counted: BTreeMap<&str, usize> = BTreeMap::new();
            for status in v {
                *counted.entry(status).or_default() += 1;
            }
            counted
                .iter()
                .map(|(s, n)| {
                    if *n == 1 {
                        s.to_string()
                    } else {
                        format!("{s} x{n}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" + ")
        }
    }
}

/// Compares one run's checks, directly and through weft, against the
/// expected differences; returns what is wrong.
fn compare(server: &str, suite: &Suite, direct: &Outcome, through: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    let here = |d: &&Difference| d.server == server && d.suite == suite.key;
    if WEFT_SPEAKS_FOR_THE_SERVER.contains(&(server, suite.key)) {
        let lost: Vec<&String> = direct.passed.difference(&through.passed).collect();
        if !lost.is_empty() {
            problems.push(format!(
                "{server} {}: pass directly but fail through weft: {lost:?}",
                suite.key
            ));
        }
        return problems;
    }
    let keys: BTreeSet<&(String, String)> =
        direct.checks.keys().chain(through.checks.keys()).collect();
    let mut seen = BTreeSet::new();
    for key in keys {
        let (a, b) = (direct.checks.get(key), through.checks.get(key));
        let traffic = |s: Option<&Vec<String>>| s.is_none_or(|v| v.iter().all(|s| s == "INFO"));
        if a == b || (traffic(a) && traffic(b)) {
            continue;
        }
        let (scenario, check) = key;
        let expected = EXPECTED_DIFFERENCES
            .iter()
            .filter(here)
            .find(|d| d.scenario == scenario && d.check == check);
        match expected {
            Some(d) => {
                seen.insert((d.scenario, d.check));
            }
            None => problems.push(format!(
                "{server} {}: {scenario} / {check}: directly {}, through weft {} (not an expected difference)",
                suite.key,
                statuses(a),
                statuses(b)
            )),
        }
    }
    for d in EXPECTED_DIFFERENCES.iter().filter(here) {
        if !seen.contains(&(d.scenario, d.check)) {
            problems.push(format!(
                "{server} {}: the expected difference {} / {} did not occur; remove it from EXPECTED_DIFFERENCES",
                suite.key, d.scenario, d.check
            ));
        }
    }
    problems
}

fn counts_json(c: Counts) -> Value {
    json!({ "scenarios_passed": c.0, "scenarios": c.1, "checks_passed": c.2, "checks": c.3 })
}

/// Writes the counts for `.ci/conformance_readme.py`.
fn write_results(measured: &[(&str, &Suite, Counts, Counts)]) -> PathBuf {
    let mut servers = Vec::new();
    for server in [RMCP, TS] {
        let runs: Vec<Value> = measured
            .iter()
            .filter(|(s, ..)| *s == server)
            .map(|(_, suite, direct, through)| {
                json!({
                    "key": suite.key,
                    "label": suite.label,
                    "direct": counts_json(*direct),
                    "weft": counts_json(*through),
                })
            })
            .collect();
        let mut entry = json!({
            "key": server,
            "label": server_label(server),
            "runs": runs,
        });
        if server == TS {
            entry["why_better"] = json!(
                "The server speaks only the handshake era; weft speaks 2026-07-28 to the agent for it."
            );
        }
        servers.push(entry);
    }
    let differences: Vec<Value> = EXPECTED_DIFFERENCES
        .iter()
        .map(|d| {
            json!({
                "server": format!("{} ({})", server_label(d.server), d.suite),
                "scenario": d.scenario,
                "check": d.check,
                "reason": d.reason,
            })
        })
        .collect();
    let results = json!({
        "suite_note": "`@modelcontextprotocol/conformance`, server mode",
        "servers": servers,
        "expected_differences": differences,
    });
    let dir = repo_root().join("target/conformance");
    std::fs::create_dir_all(&dir).expect("create target/conformance");
    let path = dir.join("results.json");
    let text = serde_json::to_string_pretty(&results).expect("encode results") + "\n";
    std::fs::write(&path, text).expect("write results.json");
    path
}

#[test]
fn conformance_in_absolute_numbers_directly_and_through_weft() {
    let dir = temp_dir();
    let mut measured: Vec<(&str, &Suite, Counts, Counts)> = Vec::new();
    let mut problems = Vec::new();
    for server in [RMCP, TS] {
        let (_server, direct_url) = match server {
            RMCP => start_rmcp_fixture(),
            _ => start_ts_server(),
        };
        let entry = match server {
            RMCP => command_entry(
                "conformance",
                &target_bin("weft-conformance-server"),
                &["--stdio"],
            ),
            _ => format!("[servers.conformance]\nurl = {}\n", q(&direct_url)),
        };
        let weft_dir = dir.path().join(format!("{server}-weft"));
        std::fs::create_dir_all(&weft_dir).expect("create weft dir");
        let (_weft, weft_url) = start_weft(&weft_dir, &entry);
        for suite in &SUITES {
            let out = |side: &str| dir.path().join(format!("{server}-{}-{side}", suite.key));
            let direct = run_suite(suite, &direct_url, &out("direct"));
            let through = run_suite(suite, &weft_url, &out("weft"));
            let (d, w) = (direct.counts(), through.counts());
            println!("{server} {}: directly {d:?}, through weft {w:?}", suite.key);
            measured.push((server, suite, d, w));
            match EXPECTED
                .iter()
                .find(|(s, k, ..)| *s == server && *k == suite.key)
            {
                Some((.., want_d, want_w)) if (*want_d, *want_w) == (d, w) => {}
                Some((.., want_d, want_w)) => problems.push(format!(
                    "{server} {}: measured directly {d:?}, through weft {w:?}; expected {want_d:?}, {want_w:?}\n  failing directly: {:?}\n  failing through weft: {:?}",
                    suite.key, direct.failed, through.failed
                )),
                None => problems.push(format!("{server} {}: no expected counts", suite.key)),
            }
            problems.extend(compare(server, suite, &direct, &through));
        }
    }
    let results = write_results(&measured);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    readme_matches("server", &results);
}

/// The installed suite `package`'s entry point (an install hint if it
/// is missing).
pub(crate) fn suite_entry(package: &str) -> PathBuf {
    let entry = tools()
        .join("npm/node_modules")
        .join(package)
        .join("dist/index.js");
    assert!(
        entry.exists(),
        "the conformance suite is missing at {}: run `bash .ci/setup-tools`",
        entry.display()
    );
    entry
}

/// Fails unless the README's `section` of conformance counts is what
/// `.ci/conformance_readme.py` makes of `results`.
pub(crate) fn readme_matches(section: &str, results: &Path) {
    let check = Command::new("python3")
        .arg(repo_root().join(".ci/conformance_readme.py"))
        .args(["--section", section, "--check", "--results"])
        .arg(results)
        .output_timed()
        .expect("run .ci/conformance_readme.py");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// A server's answer that is not valid streamable HTTP (one JSON body
/// holding a progress notification and the result) fails that one call;
/// the server stays up, is not restarted, and answers the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_answer_fails_that_call_and_keeps_the_server() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;

    let dir = temp_dir();
    let (_server, url) = start_ts_server();
    let entry = format!("[servers.ts]\nurl = {}\n", q(&url));
    let (_weft, weft_url) = start_weft(dir.path(), &entry);
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(weft_url.clone());
    let client = within("connect to weft", ().serve(transport))
        .await
        .expect("connect to weft");

    let bad = within(
        "the call with the unreadable answer",
        client.call_tool(CallToolRequestParams::new(
            "test_two_messages_in_one_json_body",
        )),
    )
    .await;
    // weft answers a failed upstream call as a tool error naming its kind.
    let bad = bad.expect("weft answers the call");
    assert_eq!(bad.is_error, Some(true), "{bad:?}");
    let kind = bad.meta.as_ref().and_then(|m| m.get("weft/errorKind"));
    assert_eq!(kind, Some(&json!("internal")), "{bad:?}");
    let message = text_of(&bad);
    assert!(
        message.starts_with(
            "[internal] ts/test_two_messages_in_one_json_body: the server's answer could not be read: "
        ),
        "{message}"
    );

    let good = within(
        "the next call",
        client.call_tool(CallToolRequestParams::new("test_simple_text")),
    )
    .await
    .expect("the next call succeeds");
    assert_eq!(
        text_of(&good),
        "This is a simple text response for testing."
    );

    let status_url = weft_url.replace("/mcp", "/status");
    let status: Value = within("GET /status", async {
        reqwest::get(&status_url).await?.json::<Value>().await
    })
    .await
    .expect("GET /status");
    let servers = status["servers"].as_array().expect("servers in /status");
    assert_eq!(servers.len(), 1, "{status}");
    assert_eq!(servers[0]["state"], "up", "{status}");
    assert_eq!(servers[0]["restarts"], 0, "{status}");
    let _ = within("close the client", client.cancel()).await;
}
