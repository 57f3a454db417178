//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server mode), in absolute numbers, against three server implementations:
//!
//! - our rmcp fixture (`tests/fixtures/conformance-server`);
//! - our server on the official TypeScript SDK
//!   (`tests/fixtures/ts-conformance-server`), an old-era (handshake) server
//!   as most MCP servers are today;
//! - the same server on the TypeScript SDK 1.29.0 with `--dual-era`: our
//!   stand-in for the suite's own reference server (which CI cannot fetch),
//!   built the same way. Handshake-era requests get SDK sessions; stateless
//!   2026-07-28 requests are answered without one, through an in-memory SDK
//!   client that refuses sampling and elicitation. weft meets it in the
//!   2026-07-28 era, so its handshake-era runs show whether a handshake-era
//!   agent's tool calls still reach it in the agent's era, where the
//!   server's sampling and elicitation reach the agent;
//!
//! each run directly and through `weft serve --http` in no-prefix mode with
//! that server as its only upstream (the rmcp fixture over stdio, the
//! TypeScript ones over streamable HTTP).
//!
//! Suites: 0.1.16, and 0.2.0-alpha.12 with `--requirements 2025-11-25` and
//! `--requirements 2026-07-28`. The scenario and check counts of every run
//! are asserted exactly ([`EXPECTED`]). Through weft, every check comes out
//! as it does directly except for the named differences in
//! [`EXPECTED_DIFFERENCES`], each with its reason; in the runs where the
//! server alone does not (fully) speak the era the suite asks for (both
//! TypeScript servers under 2026-07-28), weft speaks it for the server, and
//! the runs are compared scenario by scenario ([`BY_SCENARIO`]): no scenario
//! that passes directly may fail through weft.
//!
//! The parsing of the suite's output and the comparison are in
//! `conformance/compare.rs`.
//!
//! The counts are written to `target/conformance/results.json`, and the
//! README's conformance section must be what `.ci/conformance_readme.py`
//! renders from them.

mod compare;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;
use compare::{ByScenario, Counts, Difference, Outcome, compare, parse_checks, parse_summary};

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
const DUAL: &str = "typescript-1.29-dual-era";
const SERVERS: [&str; 3] = [RMCP, TS, DUAL];

/// The measured numbers: (server, suite, directly, through weft).
const EXPECTED: [(&str, &str, Counts, Counts); 9] = [
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
    (
        DUAL,
        "0.1.16",
        Counts(30, 30, 40, 40),
        Counts(30, 30, 40, 40),
    ),
    (
        DUAL,
        "2025-11-25",
        Counts(33, 33, 84, 84),
        Counts(33, 33, 83, 83),
    ),
    (
        DUAL,
        "2026-07-28",
        Counts(28, 50, 123, 177),
        Counts(30, 50, 140, 182),
    ),
];

const SSE_POLLING: &str = "informational instead of passed: weft does not close an agent's \
    stream in the middle of a call, so the suite's probe finds no stream to resume";
const PLAIN_JSON: &str = "informational instead of passed: a 2026-07-28 tool call that streams \
    nothing gets a plain JSON answer from weft, not a stream";
const NO_LIST_CHANGED: &str = "a SHOULD-level warning that no list_changed arrived: the fixture \
    announces a change without changing its lists, and weft tells agents only when the list \
    they see actually changed";

const DUAL_BETTER: &str = "The server's stateless path checks the protocol version and `_meta` \
    but not the SEP-2243 headers (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`); weft speaks \
    2026-07-28 to the agent itself, and checks them.";

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
        server: DUAL,
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

/// Runs where the server alone does not (fully) speak the era the suite
/// asks for, and weft does: compared scenario by scenario.
const BY_SCENARIO: &[ByScenario] = &[
    ByScenario {
        server: TS,
        suite: "2026-07-28",
        reason: "The server speaks only the handshake era; weft speaks 2026-07-28 to the agent for it.",
    },
    ByScenario {
        server: DUAL,
        suite: "2026-07-28",
        reason: DUAL_BETTER,
    },
];

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

/// The TypeScript SDK server over HTTP: the handshake-era one on the
/// newest SDK 1.x.
fn start_ts_server() -> (Background, String) {
    start_ts_server_with("@modelcontextprotocol/sdk", &[])
}

/// The TypeScript SDK server over HTTP, on the SDK package `sdk` (a
/// directory under the npm tools' node_modules), with `args`.
fn start_ts_server_with(sdk: &str, args: &[&str]) -> (Background, String) {
    let script = repo_root().join("tests/fixtures/ts-conformance-server/server.mjs");
    let modules = tools().join("npm/node_modules");
    assert!(
        modules.join(sdk).join("package.json").exists(),
        "the TypeScript SDK {sdk} is missing under {}: run `bash .ci/setup-tools`",
        modules.display()
    );
    let mut cmd = Command::new(node22());
    cmd.arg(&script)
        .args(["--port", "0", "--modules"])
        .arg(&modules)
        .args(["--sdk", sdk])
        .args(args)
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
        TS => "TypeScript SDK server",
        _ => "TypeScript SDK 1.29 dual-era server (stand-in for the suite's reference server)",
    }
}

fn counts_json(c: Counts) -> Value {
    json!({ "scenarios_passed": c.0, "scenarios": c.1, "checks_passed": c.2, "checks": c.3 })
}

/// Writes the counts for `.ci/conformance_readme.py`.
fn write_results(measured: &[(&str, &Suite, Counts, Counts)]) -> PathBuf {
    let mut servers = Vec::new();
    for server in SERVERS {
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
        if let Some(b) = BY_SCENARIO.iter().find(|b| b.server == server) {
            entry["why_better"] = json!(b.reason);
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
    for server in SERVERS {
        let (_server, direct_url) = match server {
            RMCP => start_rmcp_fixture(),
            TS => start_ts_server(),
            _ => start_ts_server_with("sdk-1-29", &["--dual-era"]),
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
            let (direct_dir, weft_dir) = (out("direct"), out("weft"));
            let direct = run_suite(suite, &direct_url, &direct_dir);
            let through = run_suite(suite, &weft_url, &weft_dir);
            let (d, w) = (direct.counts(), through.counts());
            println!("{server} {}: directly {d:?}, through weft {w:?}", suite.key);
            measured.push((server, suite, d, w));
            match EXPECTED
                .iter()
                .find(|(s, k, ..)| *s == server && *k == suite.key)
            {
                Some((.., want_d, want_w)) if (*want_d, *want_w) == (d, w) => {}
                Some((.., want_d, want_w)) => problems.push(format!(
                    "{server} {}: measured directly {d:?}, through weft {w:?}; expected {want_d:?}, {want_w:?}\n  failing directly: {:?}\n  failing through weft: {:?}\n  why, through weft: {:?}",
                    suite.key,
                    direct.failed,
                    through.failed,
                    through
                        .failed
                        .difference(&direct.failed)
                        .flat_map(|s| through.failures(&weft_dir, s))
                        .collect::<Vec<_>>()
                )),
                None => problems.push(format!("{server} {}: no expected counts", suite.key)),
            }
            problems.extend(compare(
                (server, suite.key),
                (&direct, &through),
                EXPECTED_DIFFERENCES,
                BY_SCENARIO,
            ));
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
