//! Python policies: `weft new` and `weft build`, and the Python ports of the
//! example policies, whose output must equal the Rust originals' against
//! the same real servers.

use crate::policies::{run, run_granted, setup};
use crate::support::python::{BUILD_DEADLINE, built_path, python_wasm, weft_build};
use crate::support::*;
use serde_json::{Value, json};

/// How long a Python policy's first run may take: it compiles an 18 MiB
/// component (over a minute in a debug build on a loaded machine).
const FIRST_RUN: std::time::Duration = BUILD_DEADLINE;

/// Runs the Rust example `policy` and its Python port (the folder
/// `plugins/<policy>-python`, with the same grants) on `input`; returns
/// both `weft run --json` reports, each run checked to succeed.
fn both(cfg: &std::path::Path, policy: &str, grants: &[&str], input: Value) -> (Value, Value) {
    let wasm = python_wasm(&format!("plugins/{policy}-python"));
    crate::support::seed::seed(&wasm, &crate::support::seed::home_cache());
    let (code, rust, err) = run(cfg, policy, input.clone());
    assert_eq!(code, 0, "{rust} {err}");
    let (code, python, err) = run_granted(cfg, wasm.as_os_str(), grants, input, FIRST_RUN);
    assert_eq!(code, 0, "{python} {err}");
    (rust, python)
}

#[test]
fn fanout_in_python_gives_the_rust_output() {
    let (_dir, cfg, repo) = setup();
    let input = json!({"repo": repo, "timezones": ["UTC", "Asia/Tokyo", "Europe/Paris"]});
    let grants = [
        "git.git_status",
        "git.git_log",
        "time.*",
        "memory.read_graph",
    ];
    let (rust, python) = both(&cfg, "fanout", &grants, input);
    // The times are the current time, read twice: only their zones and
    // their shape can agree.
    let normal = |report: &Value| {
        let mut out = report["output"].clone();
        for (zone, at) in out["times"].as_object_mut().expect("times").iter_mut() {
            let text = at.as_str().unwrap_or_else(|| panic!("{zone}: {at}"));
            assert!(
                text.len() >= 19 && text.as_bytes()[10] == b'T',
                "{zone}: {text}"
            );
            *at = json!("<now>");
        }
        out
    };
    assert_eq!(normal(&python), normal(&rust));
    assert_eq!(python["output"]["times"].as_object().unwrap().len(), 3);
    assert_eq!(python["output"]["failures"], json!([]));
    // The same calls reached the same servers. They run concurrently
    // (`call_all`), and a report lists them in the order they finished.
    let calls = |r: &Value| -> Vec<(String, String)> {
        let mut calls: Vec<_> = r["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["server"].to_string(), c["tool"].to_string()))
            .collect();
        calls.sort();
        calls
    };
    assert_eq!(calls(&python), calls(&rust));
}

#[test]
fn standup_in_python_gives_the_rust_output() {
    let (_dir, cfg, repo) = setup();
    // The repository as the project folder: the test's own folder gains
    // memory.jsonl with the first run.
    let input = json!({"repo": repo, "dir": repo, "timezone": "UTC"});
    let grants = [
        "git.git_log",
        "files.list_directory",
        "time.get_current_time",
        "memory.create_entities",
    ];
    let (rust, python) = both(&cfg, "standup", &grants, input);
    // The date is today's: the two runs agree unless midnight (UTC) falls
    // between them, so each run's own date is what is normalised.
    let normal = |report: &Value| {
        let date = report["output"]["date"]
            .as_str()
            .expect("a date")
            .to_string();
        assert_eq!(date.len(), 10, "{date}");
        let text = report["output"].to_string().replace(&date, "<date>");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    assert_eq!(normal(&python), normal(&rust));
    assert_eq!(
        python["output"]["commits"],
        json!(["fix typo in notes", "add notes", "first commit"])
    );
    assert_eq!(python["logs"][0]["message"], rust["logs"][0]["message"]);
}

/// From an empty folder: `weft new --lang python`, `weft build`, `weft run`.
#[test]
fn new_then_build_then_run_a_python_policy() {
    let dir = temp_dir();
    let out = weft()
        .current_dir(dir.path())
        .args(["new", "--lang", "python", "hello"])
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    assert!(dir.path().join("hello/app.py").is_file());

    let out = weft_build()
        .current_dir(dir.path())
        .args(["build", "hello"])
        .output_within(BUILD_DEADLINE)
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let wasm = built_path(&out.stdout);
    let want = dir.path().join("hello/hello.wasm").canonicalize().unwrap();
    assert_eq!(wasm, want);
    assert!(stderr.contains("built python policy"), "{stderr}");
    // No bytecode left behind in the policy's folder.
    assert!(!dir.path().join("hello/__pycache__").exists());

    let cfg = dir.path().join("weft.toml");
    std::fs::write(
        &cfg,
        npm_entry("everything", "server-everything", &["stdio"]),
    )
    .unwrap();
    // The new policy is compiled in this test's cache, CPython's functions
    // looked up from the seed's.
    crate::support::seed::into_seed(&python_wasm("plugins/fanout-python"));
    assert!(crate::support::seed::functions_into(
        &crate::support::seed::home_cache()
    ));
    let (code, report, err) = run_granted(
        &cfg,
        wasm.as_os_str(),
        &["everything.echo"],
        json!({"message": "hi"}),
        FIRST_RUN,
    );
    assert_eq!(code, 0, "{report} {err}");
    assert_eq!(
        report["output"],
        json!({"echo": "Echo: hi", "granted": ["everything.echo"]})
    );

    // `weft new` never writes into a folder that has files.
    let out = weft()
        .current_dir(dir.path())
        .args(["new", "--lang", "python", "hello"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn weft_build_says_what_is_wrong() {
    let dir = temp_dir();
    // An empty folder: exit 2, naming the files looked for.
    let out = weft_build()
        .arg("build")
        .arg(dir.path())
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "looked for Cargo.toml, app.py, adapter.py, pyproject.toml, policy.js, adapter.js, package.json"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // Two languages: exit 2, asking for --lang.
    std::fs::write(
        dir.path().join("app.py"),
        "def run(input):\n    return input\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.js"),
        "export function run(i) { return i }\n",
    )
    .unwrap();
    let out = weft_build()
        .arg("build")
        .arg(dir.path())
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("python, js") && stderr.contains("--lang"),
        "{stderr}"
    );

    // No componentize-py on PATH and installs refused: exit 1 with the
    // pinned install command.
    let out = weft()
        .env("PATH", "/usr/bin:/bin")
        .env("WEFT_NO_INSTALL", "1")
        .args(["build", "--lang", "python"])
        .arg(dir.path())
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("componentize-py is not on PATH")
            && stderr.contains("WEFT_NO_INSTALL is set, so weft does not install it")
            && stderr.contains("pip install componentize-py==0.25.1"),
        "{stderr}"
    );
    assert!(
        !dir.path()
            .join(format!(
                "{}.wasm",
                dir.path().file_name().unwrap().to_string_lossy()
            ))
            .exists()
    );

    // -o into a folder that does not exist: exit 2.
    let out = weft_build()
        .args(["build", "--lang", "python", "-o"])
        .arg(dir.path().join("no/such/dir/x.wasm"))
        .arg(dir.path())
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
