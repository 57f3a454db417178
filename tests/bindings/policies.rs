//! Policies written against generated bindings: a Rust one built for
//! wasm32-wasip2 on the Rust bindings and the real guest SDK, and a Python
//! one on the Python bindings, each run by `weft run` against the real
//! servers.

use std::path::Path;
use std::time::Duration;

use super::*;

#[test]
fn a_rust_policy_runs_on_generated_bindings() {
    let dir = temp_dir();
    let cfg = real_config(dir.path());
    let krate = dir.path().join("typed");
    let src = repo_root().join("tests/guests/typed");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::copy(src.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    std::fs::copy(src.join("src/lib.rs"), krate.join("src/lib.rs")).unwrap();
    let sdk = repo_root().join("guest-sdk/rust");
    let manifest = read(&src.join("Cargo.toml")).replace(
        "path = \"../../../guest-sdk/rust\"",
        &format!("path = {}", q(sdk.display().to_string())),
    );
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    let stdout = generate(&cfg, "rust", &krate.join("src/bindings"));
    assert!(
        stdout.contains("src/bindings/mod.rs\tindex of the modules"),
        "{stdout}"
    );

    let wasm = build_guest(&krate, "weft_typed_guest");
    let output = run_typed(&cfg, &wasm, COMMAND_DEADLINE);
    assert_eq!(
        output,
        serde_json::json!({
            "echo": "Echo: typed hi",
            "sum": "The sum of 2 and 3.5 is 5.5.",
            "temperature": 36.0,
            "conditions": "Light rain / drizzle",
            "humidity": 82.0,
            "time": "denied",
        })
    );
}

/// The same policy in Python: `weft bindings --lang python` into the
/// policy's folder, `weft build`, `weft run`.
#[test]
fn a_python_policy_runs_on_generated_bindings() {
    let dir = temp_dir();
    let cfg = real_config(dir.path());
    let policy = dir.path().join("typed");
    generate(&cfg, "python", &policy.join("bindings"));
    std::fs::write(
        policy.join("app.py"),
        "from typing import Any, Dict\n\n\
         from weft_guest import CallError\n\
         from bindings import everything, time\n\n\n\
         def run(input: Dict[str, Any]) -> Dict[str, Any]:\n    \
             weather = everything.get_structured_content(location=input[\"city\"])\n    \
             try:\n        \
                 time.get_current_time(timezone=\"UTC\")\n        \
                 reached = \"allowed\"\n    \
             except CallError as e:\n        \
                 reached = e.kind\n    \
             return {\n        \
                 \"echo\": everything.echo(message=\"typed hi\").text,\n        \
                 \"sum\": everything.get_sum(a=2, b=3.5).text,\n        \
                 \"temperature\": weather[\"temperature\"],\n        \
                 \"conditions\": weather[\"conditions\"],\n        \
                 \"humidity\": weather[\"humidity\"],\n        \
                 \"time\": reached,\n    \
             }\n",
    )
    .unwrap();
    let out = crate::support::python::weft_build()
        .arg("build")
        .arg(&policy)
        .output_within(crate::support::python::BUILD_DEADLINE)
        .expect("weft build runs");
    assert!(out.status.success(), "weft build: {}", text(&out));
    let wasm = policy.join("typed.wasm");
    // Compiled in this test's cache, CPython's functions from the seed's.
    crate::support::seed::into_seed(&crate::support::python::python_wasm(
        "plugins/fanout-python",
    ));
    assert!(crate::support::seed::functions_into(
        &crate::support::seed::home_cache()
    ));
    let output = run_typed(&cfg, &wasm, crate::support::python::BUILD_DEADLINE);
    // Python keeps the server's numbers as it sent them (integers here);
    // the Rust policy's `f64` fields print them as 36.0 and 82.0.
    assert_eq!(
        output,
        serde_json::json!({
            "echo": "Echo: typed hi",
            "sum": "The sum of 2 and 3.5 is 5.5.",
            "temperature": 36,
            "conditions": "Light rain / drizzle",
            "humidity": 82,
            "time": "denied",
        })
    );
}

/// `weft run` of a typed-bindings policy with `everything.*` granted, on
/// `{"city": "Chicago"}`: its output, the run checked to succeed.
fn run_typed(cfg: &Path, wasm: &Path, within: Duration) -> serde_json::Value {
    let out = weft()
        .arg("-c")
        .arg(cfg)
        .arg("run")
        .arg(wasm)
        .args([
            "--grant",
            "everything.*",
            "--input",
            r#"{"city": "Chicago"}"#,
        ])
        .output_within(within)
        .expect("weft run");
    assert!(out.status.success(), "weft run: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON output")
}
