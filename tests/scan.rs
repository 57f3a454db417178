//! weft's scanner of tool definitions (issue 59, poisoned descriptions),
//! against a Python SDK server whose tools carry each kind of hidden
//! instruction (`tests/fixtures/python/poisoned_server.py`) and against
//! the real servers of the tests, none of whose tools may be flagged.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// Each poisoned tool and the rules that must flag it, exactly.
const EXPECTED: [(&str, &[&str]); 8] = [
    ("bidi", &["bidi-controls"]),
    ("credential", &["credential-paths"]),
    ("directive", &["model-directives"]),
    ("ledger_transfer", &["claims-server"]),
    ("oversized", &["oversized"]),
    ("schema_poisoned", &["model-directives"]),
    ("tagged", &["unicode-tags"]),
    ("zero_width", &["zero-width"]),
];

fn config(dir: &Path, scan: &str) -> PathBuf {
    let server = repo_root().join("tests/fixtures/python/poisoned_server.py");
    // `ledger` is there to be shadowed: one of `p`'s tools claims its name.
    let text = format!(
        "[settings]\nscan = \"{scan}\"\n{}{}",
        command_entry("p", &venv_bin("python"), &[&server.display().to_string()]),
        command_entry("ledger", &venv_bin("mcp-server-time"), &[]),
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `weft check --json`'s flagged tools: tool → its rules, sorted.
fn flagged(path: &Path) -> Vec<(String, Vec<String>, bool)> {
    let out = weft()
        .args(["check", "--json", "--config"])
        .arg(path)
        .output_timed()
        .expect("run weft check");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    let mut found: Vec<(String, Vec<String>, bool)> = report["flagged"]
        .as_array()
        .expect("a flagged list")
        .iter()
        .map(|f| {
            let rules = f["findings"]
                .as_array()
                .map(|x| {
                    x.iter()
                        .filter_map(|r| r["rule"].as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            (
                format!(
                    "{}.{}",
                    f["server"].as_str().unwrap_or(""),
                    f["tool"].as_str().unwrap_or("")
                ),
                rules,
                f["quarantined"] == true,
            )
        })
        .collect();
    found.sort();
    found
}

fn expected(server: &str, quarantined: bool) -> Vec<(String, Vec<String>, bool)> {
    EXPECTED
        .iter()
        .map(|(t, rules)| {
            (
                format!("{server}.{t}"),
                rules.iter().map(|r| r.to_string()).collect(),
                quarantined,
            )
        })
        .collect()
}

#[test]
fn each_kind_of_hidden_instruction_is_flagged_exactly() {
    let dir = temp_dir();
    assert_eq!(flagged(&config(dir.path(), "warn")), expected("p", false));
    assert_eq!(flagged(&config(dir.path(), "strict")), expected("p", true));
    assert_eq!(flagged(&config(dir.path(), "off")), Vec::new());
}

/// What the Python SDK agent sees through `weft serve` (stdio, handshake
/// era): under `warn`, every tool, invisible characters stripped; under
/// `strict`, only the clean tool, and a call of a quarantined one is
/// refused before it reaches the server.
#[test]
fn agents_see_stripped_or_no_flagged_tools() {
    let dir = temp_dir();
    let argv = |path: &Path| {
        json!([
            target_bin("weft").display().to_string(),
            "--config",
            path.display().to_string(),
            "serve"
        ])
        .to_string()
    };
    let calls = json!({"calls": [
        {"tool": "p__clean", "args": {"a": 1, "b": 2}},
        {"tool": "p__directive", "args": {"a": 1, "b": 2}},
    ]});
    let warn = crate::serve::agent(
        &argv(&config(dir.path(), "warn")),
        "legacy",
        "sequence",
        calls.clone(),
    );
    let tools = warn["tools"].as_object().expect("tools");
    assert_eq!(tools.keys().filter(|k| k.starts_with("p__")).count(), 9);
    assert_eq!(tools["p__tagged"]["description"], "Adds two numbers.");
    assert_eq!(tools["p__zero_width"]["description"], "Adds two numbers.");
    assert_eq!(
        tools["p__bidi"]["description"],
        "Adds two numbers. esrever ni txet"
    );
    assert_eq!(warn["calls"][1]["text"], "ran directive", "{warn}");

    let strict = crate::serve::agent(
        &argv(&config(dir.path(), "strict")),
        "legacy",
        "sequence",
        calls,
    );
    let names: Vec<&String> = strict["tools"]
        .as_object()
        .expect("tools")
        .keys()
        .filter(|k| k.starts_with("p__"))
        .collect();
    assert_eq!(names, ["p__clean"]);
    assert_eq!(strict["calls"][0]["text"], "ran clean");
    let refused = &strict["calls"][1];
    assert_eq!(refused["error"], true, "{strict}");
    let text = refused["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("tool \"directive\" is quarantined: weft's scanner flagged its definition (model-directives)"),
        "{text}"
    );
}

/// No tool of the real servers the tests use is flagged.
#[test]
fn no_tool_of_the_real_servers_is_flagged() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git_repo(&repo);
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry(
        "filesystem",
        "server-filesystem",
        &[&data.display().to_string()],
    );
    text += &sandbox_write(&[&data]);
    text += &git_time_memory_entries(dir.path(), &repo);
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    let out = weft()
        .args(["check", "--json", "--config"])
        .arg(&path)
        .output_timed()
        .expect("run weft check");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let up: Vec<&str> = report["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter(|s| s["state"]["state"] == "up" || s["state"] == "up")
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(up.len(), 5, "{report}");
    assert!(report["tools"].as_u64().is_some_and(|n| n > 30), "{report}");
    assert_eq!(report["flagged"], json!([]), "{report}");
}

/// The metrics count each server's flagged and quarantined tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_count_flagged_and_quarantined_tools() {
    let dir = temp_dir();
    for (scan, flagged, quarantined) in [("strict", 0, 8), ("warn", 8, 0)] {
        let hub = start_hub_in(dir.path(), &config(dir.path(), scan)).await;
        let text = hub.metrics_text();
        for (state, n) in [("flagged", flagged), ("quarantined", quarantined)] {
            let line = format!("weft_tools_flagged{{server=\"p\",state=\"{state}\"}} {n}");
            assert!(
                text.lines().any(|l| l == line),
                "{scan}: no {line:?} in:\n{text}"
            );
        }
        hub.shutdown().await;
    }
}
