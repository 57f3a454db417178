//! Policies in JavaScript: the ports of the example policies
//! (plugins/*-js), built with `weft build` and run with `weft run` against
//! the same real servers as the Rust originals, must produce the same
//! output; and `weft build` without its toolchain says how to install it.

use crate::policies::{run, setup};
use crate::support::js::js_component;
use crate::support::*;
use serde_json::{Value, json};

/// Adds `[policies.NAME]` for the JavaScript policy in `dir` to the config,
/// its compiled artifact seeded into the cache `weft run` reads (this
/// test's own; see `support::seed`): the compile of 12 MB of SpiderMonkey
/// can take longer on a busy machine than a test gives one `weft run`.
fn add_js_policy(cfg: &std::path::Path, name: &str, dir: &str, grants: &str) {
    let wasm = js_component(dir);
    crate::support::seed::seed(&wasm, &crate::support::seed::home_cache());
    let mut text = std::fs::read_to_string(cfg).unwrap();
    text += &format!(
        "[policies.{name}]\npath = {}\ngrants = {grants}\ntimeout = \"60s\"\n",
        q(wasm.display().to_string())
    );
    std::fs::write(cfg, text).unwrap();
}

/// (server, tool, ok) of every call a report lists, sorted: `call_all`
/// reports its calls in the order they finish.
fn calls(report: &Value) -> Vec<(String, String, bool)> {
    let mut calls: Vec<_> = report["calls"]
        .as_array()
        .expect("the report lists calls")
        .iter()
        .map(|c| {
            (
                c["server"].as_str().unwrap().to_string(),
                c["tool"].as_str().unwrap().to_string(),
                c["ok"] == true,
            )
        })
        .collect();
    calls.sort();
    calls
}

/// (level, message) of every log line of a report.
fn logs(report: &Value) -> Vec<(String, String)> {
    report["logs"]
        .as_array()
        .expect("the report has logs")
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_string(),
                l["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn fanout_in_javascript_gives_the_rust_originals_output() {
    let (_dir, cfg, repo) = setup();
    add_js_policy(
        &cfg,
        "fanout-js",
        "plugins/fanout-js",
        r#"["git.git_status", "git.git_log", "time.*", "memory.read_graph"]"#,
    );
    let input = json!({"repo": repo, "timezones": ["UTC", "Asia/Tokyo", "Europe/Paris"]});
    let (code, rust, err) = run(&cfg, "fanout", input.clone());
    assert_eq!(code, 0, "{rust} {err}");
    let (code, js, err) = run(&cfg, "fanout-js", input);
    assert_eq!(code, 0, "{js} {err}");
    // The only field that differs between two runs is the current time
    // in each zone (the two runs are seconds apart): each must be a
    // date-time, and is then set aside.
    let normalise = |report: &Value| {
        let mut out = report["output"].clone();
        let times = out["times"].as_object_mut().expect("times");
        assert_eq!(times.len(), 3, "{report}");
        for (zone, t) in times.iter_mut() {
            let text = t.as_str().unwrap_or_else(|| panic!("{zone}: {t}"));
            assert!(
                text.starts_with("20") && text.contains('T'),
                "{zone}: {text}"
            );
            *t = json!("<now>");
        }
        out
    };
    let (rust_out, js_out) = (normalise(&rust), normalise(&js));
    assert!(
        rust_out["git.git_log"]
            .as_str()
            .unwrap_or("")
            .contains("fix typo in notes"),
        "{rust_out}"
    );
    assert_eq!(js_out, rust_out);
    assert_eq!(calls(&js), calls(&rust));
    assert_eq!(calls(&js).len(), 6);
}

/// From an empty folder: `weft new --lang js`, then `weft build` (once
/// per source), then the component runs against server-everything.
#[test]
fn new_then_build_then_run_a_js_policy() {
    let dir = temp_dir();
    let out = weft()
        .current_dir(dir.path())
        .args(["new", "--lang", "js", "hello"])
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    let folder = dir.path().join("hello");
    assert!(folder.join("policy.js").is_file());
    assert!(folder.join("README.md").is_file());

    let cfg = dir.path().join("weft.toml");
    std::fs::write(
        &cfg,
        npm_entry("everything", "server-everything", &["stdio"]),
    )
    .unwrap();
    add_js_policy(
        &cfg,
        "hello",
        folder.to_str().unwrap(),
        r#"["everything.echo"]"#,
    );
    let (code, report, err) = run(&cfg, "hello", json!({"message": "hi"}));
    assert_eq!(code, 0, "{report} {err}");
    assert_eq!(
        report["output"],
        json!({"echo": "Echo: hi", "granted": ["everything.echo"]})
    );
}

#[test]
fn standup_in_javascript_gives_the_rust_originals_output() {
    let (_dir, cfg, repo) = setup();
    add_js_policy(
        &cfg,
        "standup-js",
        "plugins/standup-js",
        r#"["git.git_log", "files.list_directory", "time.get_current_time", "memory.create_entities"]"#,
    );
    // The project folder is the repository: nothing in it changes between
    // the runs (server-memory's file, which the first run creates, is
    // outside it), so the outputs are equal as they are.
    let input = json!({"repo": repo, "dir": repo, "timezone": "UTC"});
    let (code, rust, err) = run(&cfg, "standup", input.clone());
    assert_eq!(code, 0, "{rust} {err}");
    let (code, js, err) = run(&cfg, "standup-js", input);
    assert_eq!(code, 0, "{js} {err}");
    assert_eq!(
        rust["output"]["commits"],
        json!(["fix typo in notes", "add notes", "first commit"])
    );
    assert_eq!(rust["output"]["files"], 1, "{rust}");
    assert_eq!(js["output"], rust["output"]);
    assert_eq!(calls(&js), calls(&rust));
    assert_eq!(logs(&js), logs(&rust));
}

/// `weft build DIR -o DIR/policy.wasm`, which must fail with exit code 1
/// and write nothing: its stderr.
fn failed_build(mut cmd: std::process::Command, dir: &std::path::Path) -> String {
    let out = cmd
        .arg("build")
        .arg(dir)
        .arg("-o")
        .arg(dir.join("policy.wasm"))
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!dir.join("policy.wasm").exists());
    stderr
}

#[test]
fn weft_build_without_the_javascript_toolchain_says_how_to_install_it() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("policy.js"),
        "export function run(input) { return input; }\n",
    )
    .unwrap();
    let mut cmd = weft();
    cmd.env_remove("WEFT_TOOLS")
        .env("WEFT_NO_INSTALL", "1")
        .env("WEFT_COMPONENTIZE_JS", dir.path().join("nothing-here"));
    let stderr = failed_build(cmd, dir.path());
    let home = test_home().join(".local/share/weft/componentize-js");
    assert!(
        stderr.contains("componentize-js 0.23.0) is not installed")
            && stderr.contains("(WEFT_NO_INSTALL is set, so weft does not install it)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "npm install --prefix {} --save-exact @bytecodealliance/componentize-js@0.23.0",
            home.display()
        )),
        "{stderr}"
    );
}

#[test]
fn weft_build_of_a_policy_without_run_fails_naming_it() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("policy.js"),
        "import { call } from \"weft-guest\";\nexport function go() { return call; }\n",
    )
    .unwrap();
    let stderr = failed_build(crate::support::js::weft_with_js(), dir.path());
    assert!(stderr.contains("\"run\" is not exported by"), "{stderr}");
}

#[test]
fn weft_build_takes_the_module_a_package_json_names() {
    let dir = temp_dir();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name": "p", "type": "module", "main": "src/main.js"}"#,
    )
    .unwrap();
    // No `run` in the module `main` names: the build fails naming that file.
    std::fs::write(
        dir.path().join("src/main.js"),
        "export function start() { return 1; }\n",
    )
    .unwrap();
    let stderr = failed_build(crate::support::js::weft_with_js(), dir.path());
    assert!(
        stderr.contains("\"run\" is not exported by") && stderr.contains("src/main.js"),
        "{stderr}"
    );
    // A `main` that names no file is refused before any build.
    std::fs::write(dir.path().join("package.json"), r#"{"main": "nowhere.js"}"#).unwrap();
    let stderr = failed_build(crate::support::js::weft_with_js(), dir.path());
    assert!(
        stderr.contains("names \"main\": \"nowhere.js\", which is not a file"),
        "{stderr}"
    );
}
