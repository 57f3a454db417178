//! The relay matrix: what a server asks on a tool call's own stream
//! (sampling, elicitation in form and URL modes, roots, progress, a log
//! message) reaches a Python-SDK agent, for servers on every maintained SDK,
//! in both protocol eras, directly and through `weft serve --http`.
//!
//! Servers (ours, `tests/fixtures/relay-matrix/`, each with the same six
//! tools, each in its SDK's own idiom): the TypeScript SDK 1.29.0 (the
//! conformance suite's reference server's pin), 1.32.2 (newest 1.x) and
//! 2.x over streamable HTTP; the Python SDK's FastMCP (mcp 1.x, a venv of
//! its own) and MCPServer (mcp 2.x), each over stdio and over streamable
//! HTTP; rmcp over stdio; and the two dual-era stdio servers again with
//! `era = "handshake"` in weft's entry. Agent:
//! `tests/clients/relay_agent.py` (mcp 2.x), in `legacy` mode (the
//! 2025-11-25 handshake) and in `2026-07-28` mode.
//!
//! Every cell (server, era, tool) is run directly against the server and
//! through one weft per server (`names = "none"`), and its outcome on both
//! sides must be the one in [`EXPECTED`], where every failure names its
//! reason: a regression fails the test, and so does an unexpected fix. The
//! cells are written to `target/relay-matrix/results.json`, and the README's
//! relay-matrix section must be what `.ci/relay_matrix_readme.py` renders
//! from them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// The six tools, as the README's columns name them.
const TOOLS: [(&str, &str); 6] = [
    ("ask_sampling", "sampling"),
    ("ask_form", "elicitation (form)"),
    ("ask_url", "elicitation (URL)"),
    ("ask_roots", "roots"),
    ("count_progress", "progress"),
    ("say_log", "log message"),
];

/// The agent's connect modes, and the era each stands for in the README.
const LEGACY: &str = "legacy";
const MODERN: &str = "2026-07-28";
const MODES: [(&str, &str); 2] = [(LEGACY, "2025-11-25"), (MODERN, "2026-07-28")];

const TS_1_29: &str = "ts-1.29";
const TS_1_32: &str = "ts-1.32";
const TS_2: &str = "ts-2";
const PY_1: &str = "python-1";
const PY_2: &str = "python-2";
const PY_1_HTTP: &str = "python-1-http";
const PY_2_HTTP: &str = "python-2-http";
const RMCP: &str = "rmcp";
const PY_2_HANDSHAKE: &str = "python-2-handshake";
const RMCP_HANDSHAKE: &str = "rmcp-handshake";

/// The servers, in the README's order: (key, label).
const SERVERS: [(&str, &str); 10] = [
    (TS_1_29, "TypeScript SDK 1.29.0, HTTP"),
    (TS_1_32, "TypeScript SDK 1.32.2, HTTP"),
    (
        TS_2,
        "TypeScript SDK 2.x (`@modelcontextprotocol/server` 2.4.0, `/node` 2.1.2), HTTP",
    ),
    (PY_1, "Python SDK 1.30.0 (FastMCP), stdio"),
    (PY_2, "Python SDK 2.3.0 (MCPServer), stdio"),
    (PY_1_HTTP, "Python SDK 1.30.0 (FastMCP), HTTP"),
    (PY_2_HTTP, "Python SDK 2.3.0 (MCPServer), HTTP"),
    (RMCP, "rmcp 3.9, stdio"),
    (
        PY_2_HANDSHAKE,
        "Python SDK 2.3.0 (MCPServer), stdio, `era = \"handshake\"` in weft",
    ),
    (
        RMCP_HANDSHAKE,
        "rmcp 3.9, stdio, `era = \"handshake\"` in weft",
    ),
];

/// One side's expected outcome of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Pass,
    /// Fails, for this reason.
    Fail(&'static str),
}
use Cell::{Fail, Pass};

const HANDSHAKE_ONLY: &str = "the server speaks only the handshake era, so a 2026-07-28 agent \
    cannot reach it on its own; through weft it can, as weft speaks 2026-07-28 for the server";
const NO_PUSH_2026: &str = "a 2026-07-28 request has no channel for the server's own requests: \
    the SDK refuses the push-style request (the era asks with an input-required result instead)";
const STDIO_MODERN_UPSTREAM: &str = "weft speaks 2026-07-28 to a dual-era stdio server by \
    default, and a stdio process speaks one era for its life (an HTTP server gets a handshake \
    session beside it for handshake-era agents), so the server's SDK refuses its push-style \
    request; with `era = \"handshake\"` in its entry it is asked (the rows below)";

/// Every cell's outcome: (server, mode, directly, through weft), the arrays
/// in the order of [`TOOLS`].
const EXPECTED: [(&str, &str, [Cell; 6], [Cell; 6]); 20] = [
    (TS_1_29, LEGACY, [Pass; 6], [Pass; 6]),
    (TS_1_29, MODERN, [Fail(HANDSHAKE_ONLY); 6], [Pass; 6]),
    (TS_1_32, LEGACY, [Pass; 6], [Pass; 6]),
    (TS_1_32, MODERN, [Fail(HANDSHAKE_ONLY); 6], [Pass; 6]),
    (TS_2, LEGACY, [Pass; 6], [Pass; 6]),
    (TS_2, MODERN, ASKS_REFUSED, ASKS_REFUSED),
    (PY_1, LEGACY, [Pass; 6], [Pass; 6]),
    (PY_1, MODERN, [Fail(HANDSHAKE_ONLY); 6], [Pass; 6]),
    (PY_2, LEGACY, [Pass; 6], STDIO_LEGACY),
    (PY_2, MODERN, ASKS_REFUSED, ASKS_REFUSED),
    (PY_1_HTTP, LEGACY, [Pass; 6], [Pass; 6]),
    (PY_1_HTTP, MODERN, [Fail(HANDSHAKE_ONLY); 6], [Pass; 6]),
    (PY_2_HTTP, LEGACY, [Pass; 6], [Pass; 6]),
    (PY_2_HTTP, MODERN, ASKS_REFUSED, ASKS_REFUSED),
    (RMCP, LEGACY, [Pass; 6], STDIO_LEGACY),
    (RMCP, MODERN, ASKS_REFUSED, ASKS_REFUSED),
    // Pinned to the handshake era, weft asks a 2026-07-28 agent for it.
    (PY_2_HANDSHAKE, LEGACY, [Pass; 6], [Pass; 6]),
    (PY_2_HANDSHAKE, MODERN, ASKS_REFUSED, [Pass; 6]),
    (RMCP_HANDSHAKE, LEGACY, [Pass; 6], [Pass; 6]),
    (RMCP_HANDSHAKE, MODERN, ASKS_REFUSED, [Pass; 6]),
];

/// A dual-era server under a 2026-07-28 request: the four requests are
/// refused, progress and the log message arrive.
const ASKS_REFUSED: [Cell; 6] = [
    Fail(NO_PUSH_2026),
    Fail(NO_PUSH_2026),
    Fail(NO_PUSH_2026),
    Fail(NO_PUSH_2026),
    Pass,
    Pass,
];
/// A dual-era stdio server under a handshake-era agent, through weft.
const STDIO_LEGACY: [Cell; 6] = [
    Fail(STDIO_MODERN_UPSTREAM),
    Fail(STDIO_MODERN_UPSTREAM),
    Fail(STDIO_MODERN_UPSTREAM),
    Fail(STDIO_MODERN_UPSTREAM),
    Pass,
    Pass,
];

/// What the agent answers (see `relay_agent.py`), so what each tool
/// returns when its request reached the agent.
fn wanted_text(tool: &str) -> &'static str {
    match tool {
        "ask_sampling" => "sampled by the relay agent",
        "ask_form" => "accept: teal",
        "ask_url" => "accept",
        "ask_roots" => "file:///relay/one file:///relay/two",
        "count_progress" => "counted 3",
        _ => "logged",
    }
}

/// Whether the agent's records of a tool's calls show it working end to
/// end, every time: the right text, no error, and the request, progress or
/// log message seen by the agent exactly once, before the result.
fn passed(tool: &str, records: &Value) -> bool {
    records
        .as_array()
        .is_some_and(|all| all.len() == calls(tool) && all.iter().all(|r| passed_once(tool, r)))
}

fn passed_once(tool: &str, r: &Value) -> bool {
    let asked: &[&str] = match tool {
        "ask_sampling" => &["sampling"],
        "ask_form" => &["elicitation/form"],
        "ask_url" => &["elicitation/url"],
        "ask_roots" => &["roots"],
        _ => &[],
    };
    let progress: &[f64] = if tool == "count_progress" {
        &[1.0, 2.0, 3.0]
    } else {
        &[]
    };
    let logs: &[&str] = if tool == "say_log" {
        &["relay log line"]
    } else {
        &[]
    };
    r["raised"].is_null()
        && r["is_error"] == json!(false)
        && r["text"] == json!(wanted_text(tool))
        && r["asked"] == json!(asked)
        && r["progress"] == json!(progress)
        && r["logs"] == json!(logs)
}

/// Whether a failed cell's records show the failure its reason names:
/// the server could not even be reached (every call raised), or the
/// server's request never reached the agent and the call failed.
fn failed_as(reason: &str, records: &Value) -> bool {
    let all = records.as_array().map(Vec::as_slice).unwrap_or_default();
    let never_asked = |r: &Value| r["asked"] == json!([]);
    let failed = |r: &Value| !r["raised"].is_null() || r["is_error"] == json!(true);
    !all.is_empty()
        && all.iter().all(|r| match reason {
            HANDSHAKE_ONLY => !r["raised"].is_null(),
            _ => never_asked(r) && failed(r),
        })
}

/// A started server: its processes, how the agent reaches it directly
/// (a URL, or a JSON argv to spawn), and weft's config entry for it.
struct Started {
    _processes: Vec<Background>,
    direct: String,
    entry: String,
}

/// The first `http://` URL a child prints on stdout.
fn url_of(process: &mut Background) -> String {
    let stdout = process.0.stdout.take().expect("stdout is piped");
    let line = first_line(stdout, Duration::from_secs(60));
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the server printed no URL: {line:?}"))
        .to_string()
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/relay-matrix").join(name)
}

fn node_modules() -> PathBuf {
    tools().join("npm/node_modules")
}

/// A Node server of the matrix, over streamable HTTP.
fn http_server(script: &str, args: &[&Path]) -> Started {
    let mut cmd = Command::new(node22());
    cmd.arg(fixture(script))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut process = Background::spawn(&mut cmd);
    let url = url_of(&mut process);
    Started {
        entry: format!("[servers.relay]\nurl = {}\n", q(&url)),
        direct: url,
        _processes: vec![process],
    }
}

/// The Python server over streamable HTTP: its URL is on the line of
/// uvicorn's that says where it runs.
fn python_http_server(python: PathBuf) -> Started {
    let mut cmd = Command::new(python);
    cmd.arg(fixture("py_server.py"))
        .arg("--http")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut process = Background::spawn(&mut cmd);
    let stderr = process.0.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(at) = line.find("Uvicorn running on http://") {
                let url = line[at + "Uvicorn running on ".len()..]
                    .split_whitespace()
                    .next()
                    .map(|base| format!("{base}/mcp"));
                if let (Some(tx), Some(url)) = (tx.take(), url) {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the Python server says where it runs within 60 s");
    Started {
        entry: format!("[servers.relay]\nurl = {}\n", q(&url)),
        direct: url,
        _processes: vec![process],
    }
}

/// A stdio server of the matrix: spawned by the agent directly, by weft
/// through it.
fn stdio_server(argv: &[PathBuf]) -> Started {
    let argv: Vec<String> = argv.iter().map(|a| a.display().to_string()).collect();
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    Started {
        entry: command_entry("relay", Path::new(&argv[0]), &args),
        direct: json!(argv).to_string(),
        _processes: vec![],
    }
}

/// The Python of the venv with the Python SDK 1.x.
fn mcp1_python() -> PathBuf {
    let python = tools().join("venv-mcp1/bin/python");
    assert!(
        python.exists(),
        "the Python SDK 1.x venv is missing at {}: run `bash .ci/setup-tools`",
        python.display()
    );
    python
}

fn start(server: &str) -> Started {
    let modules = node_modules();
    let sdk = |package: &str| {
        let dir = modules.join(package);
        assert!(
            dir.join("package.json").exists(),
            "{package} is missing under {}: run `bash .ci/setup-tools`",
            modules.display()
        );
        dir
    };
    match server {
        TS_1_29 => http_server("ts1_server.mjs", &[Path::new("--sdk"), &sdk("sdk-1-29")]),
        TS_1_32 => http_server(
            "ts1_server.mjs",
            &[Path::new("--sdk"), &sdk("@modelcontextprotocol/sdk")],
        ),
        TS_2 => {
            sdk("@modelcontextprotocol/server");
            sdk("@modelcontextprotocol/node");
            http_server("ts2_server.mjs", &[Path::new("--modules"), &modules])
        }
        PY_1 => stdio_server(&[mcp1_python(), fixture("py_server.py")]),
        PY_2 => stdio_server(&[venv_bin("python"), fixture("py_server.py")]),
        PY_1_HTTP => python_http_server(mcp1_python()),
        PY_2_HTTP => python_http_server(venv_bin("python")),
        PY_2_HANDSHAKE => handshake(start(PY_2)),
        RMCP_HANDSHAKE => handshake(start(RMCP)),
        _ => stdio_server(&[target_bin("weft-relay-rmcp-server")]),
    }
}

/// The same server, with weft told to speak the handshake era to it.
fn handshake(mut started: Started) -> Started {
    started.entry.push_str("era = \"handshake\"\n");
    started
}

/// weft in no-prefix mode in front of one server; its /mcp URL.
fn start_weft(dir: &Path, entry: &str) -> (Background, String) {
    let config = dir.join("weft.toml");
    let text = format!("[settings]\nnames = \"none\"\nstartup_timeout = \"60s\"\n{entry}");
    std::fs::write(&config, text).expect("write config");
    let mut cmd = weft();
    cmd.arg("--config").arg(&config).stderr(Stdio::null());
    let (process, base) = serve_weft_http(&mut cmd);
    (process, format!("{base}/mcp"))
}

/// How many times in a row the agent calls a tool. A log message is
/// relayed apart from the result it precedes, so `say_log` is called
/// several times: a relay that can lose that race shows it.
fn calls(tool: &str) -> usize {
    if tool == "say_log" { 5 } else { 1 }
}

/// The agent's records of every tool, called one after the other.
fn run_agent(target: &str, mode: &str) -> Value {
    let tools: Vec<String> = TOOLS
        .iter()
        .map(|(t, _)| format!("{t}*{}", calls(t)))
        .collect();
    let out = Command::new(venv_bin("python"))
        .arg(repo_root().join("tests/clients/relay_agent.py"))
        .args([target, mode])
        .args(&tools)
        .stdin(Stdio::null())
        .output_timed()
        .expect("run the relay agent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "the relay agent ({target}, {mode}) printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// One measured cell: the agent's records, directly and through weft.
struct Measured {
    server: &'static str,
    mode: &'static str,
    tool: &'static str,
    direct: Value,
    weft: Value,
}

/// Starts `server` and its weft, then runs the agent in each mode, directly
/// and through weft, one run after the other: weft gives a server's log
/// message to one call of the tenant's, so two agents of one weft at a time
/// could see each other's.
fn measure(server: &'static str, dir: &Path) -> Vec<Measured> {
    let started = start(server);
    let weft_dir = dir.join(server);
    std::fs::create_dir_all(&weft_dir).expect("create weft dir");
    let (_weft, weft_url) = start_weft(&weft_dir, &started.entry);
    let mut cells = Vec::new();
    for (mode, _) in MODES {
        let direct = run_agent(&started.direct, mode);
        let weft = run_agent(&weft_url, mode);
        for (tool, _) in TOOLS {
            cells.push(Measured {
                server,
                mode,
                tool,
                direct: direct[tool].clone(),
                weft: weft[tool].clone(),
            });
        }
    }
    cells
}

fn expected(server: &str, mode: &str, tool: &str) -> (Cell, Cell) {
    let i = TOOLS
        .iter()
        .position(|(t, _)| *t == tool)
        .expect("a tool of the matrix");
    let row = EXPECTED
        .iter()
        .find(|(s, m, ..)| *s == server && *m == mode)
        .unwrap_or_else(|| panic!("no expected row for {server} {mode}"));
    (row.2[i], row.3[i])
}

fn side_json(cell: Cell) -> Value {
    match cell {
        Pass => json!({ "pass": true }),
        Fail(reason) => json!({ "pass": false, "reason": reason }),
    }
}

/// Writes the cells for `.ci/relay_matrix_readme.py`.
fn write_results(cells: &[Measured]) -> PathBuf {
    let rows: Vec<Value> = cells
        .iter()
        .map(|c| {
            let (direct, weft) = expected(c.server, c.mode, c.tool);
            json!({
                "server": c.server,
                "mode": c.mode,
                "tool": c.tool,
                "direct": side_json(direct),
                "weft": side_json(weft),
            })
        })
        .collect();
    let results = json!({
        "servers": SERVERS.iter().map(|(k, l)| json!({ "key": k, "label": l })).collect::<Vec<_>>(),
        "modes": MODES.iter().map(|(k, l)| json!({ "key": k, "label": l })).collect::<Vec<_>>(),
        "tools": TOOLS.iter().map(|(k, l)| json!({ "key": k, "label": l })).collect::<Vec<_>>(),
        "cells": rows,
    });
    let dir = repo_root().join("target/relay-matrix");
    std::fs::create_dir_all(&dir).expect("create target/relay-matrix");
    let path = dir.join("results.json");
    let text = serde_json::to_string_pretty(&results).expect("encode results") + "\n";
    std::fs::write(&path, text).expect("write results.json");
    path
}

#[test]
fn every_sdk_server_reaches_the_agent_directly_and_through_weft() {
    let dir = temp_dir();
    let cells: Vec<Measured> = std::thread::scope(|scope| {
        let runs: Vec<_> = SERVERS
            .iter()
            .map(|(server, _)| scope.spawn(|| measure(server, dir.path())))
            .collect();
        runs.into_iter()
            .flat_map(|run| run.join().expect("a server's runs"))
            .collect()
    });
    let mut problems = Vec::new();
    for c in &cells {
        let (want_direct, want_weft) = expected(c.server, c.mode, c.tool);
        for (side, record, want) in [
            ("directly", &c.direct, want_direct),
            ("through weft", &c.weft, want_weft),
        ] {
            let got = passed(c.tool, record);
            if let (false, Fail(reason)) = (got, want)
                && !failed_as(reason, record)
            {
                problems.push(format!(
                    "{} {} {} {side}: fails, but not as {reason:?} says; the agent saw {record}",
                    c.server, c.mode, c.tool,
                ));
            } else if got != (want == Pass) {
                problems.push(format!(
                    "{} {} {} {side}: {}, expected {want:?}; the agent saw {record}",
                    c.server,
                    c.mode,
                    c.tool,
                    if got { "passes" } else { "fails" },
                ));
            }
        }
    }
    let results = write_results(&cells);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let check = Command::new("python3")
        .arg(repo_root().join(".ci/relay_matrix_readme.py"))
        .args(["--check", "--results"])
        .arg(&results)
        .output_timed()
        .expect("run .ci/relay_matrix_readme.py");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
