//! Adapters written in Python and JavaScript: `@tool` functions (schemas
//! from type hints) and `tool(name, options, fn)` built by `weft build`
//! into `adapter` components, hosted as `[servers.X] component = ...`,
//! listed and called by the Python `mcp` SDK through `weft serve` in both
//! protocol eras. A tool builds on server-everything through the SDK's
//! `call`, a raised error reaches the agent as a tool error naming it, and
//! a hostile tool takes only its own call down. `weft new --adapter`
//! scaffolds from the templates, and those build and serve too.
//!
//! Each component is built once per source (`support::python`,
//! `support::js`: cached under `target/` by content) and compiled once
//! into the seed cache (`support::seed`), so the tests share both costs.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::js::{js_component, weft_with_js};
use crate::support::python::{python_wasm, weft_build};
use crate::support::*;

const PY: &str = "tests/guests/adapter-python";
const JS: &str = "tests/guests/adapter-js";

/// Both test adapters, built (once per source) and compiled into this
/// test's cache; a config in `dir` serving them as `py` and `js` beside
/// server-everything, each granted `everything.echo`, with a `[config]`
/// table and limits low enough to hit quickly: `py` is stopped by wall
/// time (its fuel is unlimited), `js` by fuel; both by memory.
fn setup(dir: &Path) -> PathBuf {
    let started = std::time::Instant::now();
    let py = python_wasm(PY);
    let js = js_component(JS);
    eprintln!("components ready in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    seed::seed(&py, &seed::home_cache());
    seed::seed(&js, &seed::home_cache());
    eprintln!("compiled (or seeded) in {:?}", started.elapsed());
    let mut text = String::from("[settings]\nstartup_timeout = \"120s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        r#"
[servers.py]
component = {py}
grants = ["everything.echo"]
[servers.py.limits]
fuel = "unlimited"
timeout = "2s"
memory = "64MiB"
[servers.py.config]
greeting = "hello"
nested = {{ list = [1, 2], on = true }}

[servers.js]
component = {js}
grants = ["everything.echo"]
[servers.js.limits]
fuel = 2000000000
timeout = "20s"
memory = "64MiB"
[servers.js.config]
greeting = "hi"
"#,
        py = q(py.display().to_string()),
        js = q(js.display().to_string()),
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The agent's target: `weft serve` with this config, as a JSON argv.
fn serve_argv(config: &Path) -> String {
    json!([
        target_bin("weft").display().to_string(),
        "--config",
        config.display().to_string(),
        "serve"
    ])
    .to_string()
}

/// The agent lists the tools and makes `calls` in order (the `sequence`
/// scenario of tests/clients/agent.py).
fn agent(config: &Path, mode: &str, calls: Value) -> Value {
    crate::serve::agent(
        &serve_argv(config),
        mode,
        "sequence",
        json!({ "calls": calls }),
    )
}

fn names(tools: &Value, prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = tools
        .as_object()
        .expect("tools by name")
        .keys()
        .filter(|n| n.starts_with(prefix))
        .cloned()
        .collect();
    found.sort();
    found
}

/// The schema `@tool` derives for `describe`'s type hints and docstring.
fn describe_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Who is asking."},
            "count": {"type": "integer", "description": "How many."},
            "ratio": {"type": "number"},
            "loud": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
            "note": {"type": ["string", "null"]},
            "color": {"enum": ["red", "blue"], "type": "string", "default": "red"},
            "mode": {"enum": ["fast", "slow"], "type": "string", "default": "fast"},
            "level": {"type": "integer", "default": 3}
        },
        "required": ["name", "count", "ratio", "loud", "tags", "scores"],
        "additionalProperties": false
    })
}

/// The Python SDK, in either era, lists both adapters' tools with their
/// exact names, derived (Python) or given (JS) schemas and read-only
/// hints, and calls them: typed arguments arrive typed, a tool reaches
/// server-everything through `call`, config arrives, an async JS tool
/// answers, and a raised error is a tool error naming the exception.
#[test]
fn python_and_js_adapters_serve_an_agent_in_both_eras() {
    let dir = temp_dir();
    let config = setup(dir.path());
    let typed = json!({"name": "Ada", "count": 2, "ratio": 0.5, "loud": true,
        "tags": ["a", "b"], "scores": {"x": 1}, "color": "blue"});
    let calls = json!([
        {"tool": "py__describe", "args": typed},
        {"tool": "py__echo_through", "args": {"message": "from python"}},
        {"tool": "py__sum", "args": {"numbers": [1, 2.5]}},
        {"tool": "py__settings", "args": {}},
        {"tool": "py__fail", "args": {"why": "no luck"}},
        {"tool": "py__refuse", "args": {}},
        {"tool": "js__describe", "args": {"name": "Grace"}},
        {"tool": "js__echo_through", "args": {"message": "from js"}},
        {"tool": "js__later", "args": {"message": "done"}},
        {"tool": "js__settings", "args": {}},
        {"tool": "js__fail", "args": {"why": "out of range"}},
        {"tool": "js__refuse", "args": {}},
    ]);
    for mode in ["legacy", "2026-07-28"] {
        let started = std::time::Instant::now();
        let out = agent(&config, mode, calls.clone());
        eprintln!("{mode}: the agent's session took {:?}", started.elapsed());
        let tools = &out["tools"];
        assert_eq!(
            names(tools, "py__"),
            [
                "py__describe",
                "py__echo_through",
                "py__fail",
                "py__hoard",
                "py__refuse",
                "py__settings",
                "py__spin",
                "py__sum"
            ],
            "{mode}"
        );
        assert_eq!(
            names(tools, "js__"),
            [
                "js__describe",
                "js__echo_through",
                "js__fail",
                "js__hoard",
                "js__later",
                "js__refuse",
                "js__settings",
                "js__spin"
            ],
            "{mode}"
        );
        let py = &tools["py__describe"];
        assert_eq!(py["input_schema"], describe_schema(), "{mode}");
        assert_eq!(py["description"], "Reports its arguments back, typed.");
        assert_eq!(py["read_only"], true);
        assert_eq!(tools["py__echo_through"]["read_only"], false);
        assert_eq!(
            tools["py__echo_through"]["input_schema"],
            json!({"type": "object", "properties": {"message": {"type": "string"}},
                "required": ["message"], "additionalProperties": false})
        );
        // An explicit schema wins over the hints (`**args` has none).
        assert_eq!(
            tools["py__sum"]["input_schema"],
            json!({"type": "object", "properties": {"numbers": {"type": "array",
                "items": {"type": "number"}}}, "required": ["numbers"]})
        );
        assert_eq!(tools["py__sum"]["description"], "Adds numbers.");
        let js = &tools["js__describe"];
        assert_eq!(js["read_only"], true);
        assert_eq!(js["description"], "Reports its arguments back.");
        assert_eq!(
            js["input_schema"],
            json!({"type": "object", "properties": {"name": {"type": "string"},
                "count": {"type": "integer"}}, "required": ["name"], "additionalProperties": false})
        );
        assert_eq!(tools["js__later"]["read_only"], false);
        // A tool registered without a schema takes no arguments.
        assert_eq!(
            tools["js__spin"]["input_schema"],
            json!({"type": "object", "properties": {}, "additionalProperties": false})
        );

        let c = out["calls"].as_array().expect("calls");
        let ok = |i: usize| {
            assert_eq!(c[i]["error"], false, "{mode}: call {i}: {}", c[i]);
            &c[i]
        };
        assert_eq!(
            ok(0)["structured"],
            json!({"name": "Ada", "count": 2, "ratio": 0.5, "loud": true,
                "tags": ["a", "b"], "scores": {"x": 1}, "note": null, "color": "blue",
                "mode": "fast", "level": 3,
                "types": ["str", "int", "float", "bool", "list", "dict", "NoneType"]}),
            "{mode}"
        );
        assert_eq!(ok(1)["text"], "Echo: from python");
        assert_eq!(ok(2)["text"], "3.5");
        assert_eq!(
            ok(3)["structured"],
            json!({"config": {"greeting": "hello", "nested": {"list": [1, 2], "on": true}}})
        );
        assert_eq!(c[4]["error"], true, "{mode}: {}", c[4]);
        assert_eq!(c[4]["text"], "[tool-error] py/fail: ValueError: no luck");
        assert_eq!(c[5]["error"], true, "{mode}: {}", c[5]);
        assert_eq!(c[5]["text"], "[invalid-args] py/refuse: not today");
        assert_eq!(
            ok(6)["structured"],
            json!({"name": "Grace", "count": 1, "types": ["string", "number"]})
        );
        assert_eq!(ok(7)["text"], "Echo: from js");
        assert_eq!(ok(8)["text"], "done, later");
        assert_eq!(ok(9)["structured"], json!({"config": {"greeting": "hi"}}));
        assert_eq!(c[10]["error"], true, "{mode}: {}", c[10]);
        assert_eq!(
            c[10]["text"],
            "[tool-error] js/fail: RangeError: out of range"
        );
        assert_eq!(c[11]["text"], "[invalid-args] js/refuse: not today");
    }
}

/// A tool that spins or hoards memory fails its own call with the limit
/// that stopped it, and the adapter's next call works, in both languages.
#[test]
fn hostile_python_and_js_tools_are_contained_to_their_call() {
    let dir = temp_dir();
    let config = setup(dir.path());
    let mut calls = vec![];
    for server in ["py", "js"] {
        for hostile in ["spin", "hoard"] {
            calls.push(json!({"tool": format!("{server}__{hostile}"), "args": {}}));
            calls.push(json!({"tool": format!("{server}__echo_through"),
                "args": {"message": format!("after {hostile}")}}));
        }
    }
    let started = std::time::Instant::now();
    let out = agent(&config, "2026-07-28", Value::Array(calls));
    eprintln!("hostile calls took {:?}", started.elapsed());
    let c = out["calls"].as_array().expect("calls");
    let starts = [
        "[timeout] py/spin: time limit: adapter \"py\" ran longer than 2000 ms (raise servers.py.limits.timeout)",
        "[limit-exceeded] py/hoard: memory limit: adapter \"py\" tried to use ",
        "[limit-exceeded] js/spin: fuel limit: adapter \"js\" used all 2000000000 units of fuel (raise servers.js.limits.fuel)",
        "[limit-exceeded] js/hoard: memory limit: adapter \"js\" tried to use ",
    ];
    for (i, start) in starts.iter().enumerate() {
        let (failed, next) = (&c[2 * i], &c[2 * i + 1]);
        assert_eq!(failed["error"], true, "{failed}");
        let text = failed["text"].as_str().unwrap_or_default();
        assert!(text.starts_with(start), "{text}");
        assert_eq!(next["error"], false, "{next}");
        let hostile = if i % 2 == 0 { "spin" } else { "hoard" };
        assert_eq!(next["text"], format!("Echo: after {hostile}"));
    }
}

/// `weft new --adapter --lang python|js` writes the templates; each builds
/// (the world read from its `adapter.py` / `adapter.js`) and serves its
/// tools: `greet` from config, `shout` through server-everything.
#[test]
fn new_adapter_templates_build_and_serve() {
    let dir = temp_dir();
    for (lang, file) in [("python", "adapter.py"), ("js", "adapter.js")] {
        let folder = dir.path().join(format!("hello-{lang}"));
        weft_new_adapter(lang, &folder);
        let template = repo_root().join(format!("plugins/template-adapter-{lang}"));
        for name in [file, "README.md"] {
            assert_eq!(
                std::fs::read_to_string(folder.join(name)).expect("written"),
                std::fs::read_to_string(template.join(name)).expect("template"),
                "{lang}: {name}"
            );
        }
    }
    let started = std::time::Instant::now();
    let py = python_wasm(&dir.path().join("hello-python").display().to_string());
    let js = js_component(dir.path().join("hello-js"));
    eprintln!("templates built in {:?}", started.elapsed());
    for wasm in [&py, &js] {
        seed::seed(wasm, &seed::home_cache());
    }
    let mut text = String::from("[settings]\nstartup_timeout = \"120s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    for (name, wasm) in [("hpy", &py), ("hjs", &js)] {
        text += &format!(
            "[servers.{name}]\ncomponent = {}\ngrants = [\"everything.echo\"]\n[servers.{name}.config]\ngreeting = \"Hi\"\n",
            q(wasm.display().to_string())
        );
    }
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).expect("write config");
    let call = |server: &str, tool: &str, args: &str| weft_ok(&cfg, &["call", server, tool, args]);
    for server in ["hpy", "hjs"] {
        assert_eq!(
            call(server, "greet", r#"{"name": "Ada", "times": 2}"#),
            "Hi, Ada! Hi, Ada!"
        );
        let shouted: Value =
            serde_json::from_str(&call(server, "shout", r#"{"message": "hey"}"#)).expect("JSON");
        assert_eq!(shouted, json!({"shouted": "Echo: HEY"}), "{server}");
    }
}

/// `weft build` says what it built, and a folder with both a policy and
/// an adapter is refused unless `--adapter` says which.
#[test]
fn build_names_the_world_and_refuses_an_ambiguous_folder() {
    let dir = temp_dir();
    let both = dir.path().join("both");
    std::fs::create_dir_all(&both).expect("mkdir");
    std::fs::write(both.join("app.py"), "def run(input):\n    return input\n").expect("app.py");
    std::fs::write(
        both.join("adapter.py"),
        "from weft_guest import tool\n\n@tool\ndef ping() -> str:\n    \"Answers pong.\"\n    return \"pong\"\n",
    )
    .expect("adapter.py");
    let out = weft_build()
        .arg("build")
        .arg(&both)
        .output_timed()
        .expect("weft build runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds both app.py (a policy) and adapter.py (an adapter)"),
        "{stderr}"
    );
    let js = dir.path().join("js");
    std::fs::create_dir_all(&js).expect("mkdir");
    std::fs::write(
        js.join("policy.js"),
        "export function run() { return 1; }\n",
    )
    .expect("policy.js");
    std::fs::write(js.join("adapter.js"), "").expect("adapter.js");
    let out = weft_with_js()
        .arg("build")
        .arg(&js)
        .output_timed()
        .expect("weft build runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("holds both an adapter (adapter.js) and a policy"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JS SDK's declarations cover adapters: the template, and tools
/// registered every way `tool` allows, type-check under the pinned tsc
/// (strict), and a wrong kind for `ToolError` does not.
#[test]
fn the_js_adapter_api_type_checks() {
    let dir = temp_dir();
    let tsc = tools().join("typescript/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "tsc is missing at {}: run `bash .ci/setup-tools`",
        tsc.display()
    );
    std::fs::copy(
        repo_root().join("plugins/template-adapter-js/adapter.js"),
        dir.path().join("template.ts"),
    )
    .expect("copy the template");
    std::fs::write(
        dir.path().join("uses.ts"),
        "import { ToolError, ToolResult, call, config, tool } from \"weft-guest\";\n\
         tool(\"bare\", () => \"x\");\n\
         tool<{ n: number }>(\"typed\", { readOnly: true, title: \"T\" }, async ({ n }) => n + 1);\n\
         tool(\"passes\", {}, (): ToolResult => call(\"s\", \"t\", { a: 1 }));\n\
         tool(\"refuses\", {}, () => { throw new ToolError(\"no\", \"invalid-args\"); });\n\
         const settings: Record<string, any> = config();\n",
    )
    .expect("write uses.ts");
    std::fs::write(
        dir.path().join("wrong.ts"),
        "import { ToolError } from \"weft-guest\";\nnew ToolError(\"no\", \"nope\");\n",
    )
    .expect("write wrong.ts");
    let check = |files: &[&str]| {
        let config = json!({
            "compilerOptions": {
                "strict": true, "noEmit": true, "target": "es2022", "module": "esnext",
                "moduleResolution": "bundler", "types": [],
                "paths": {"weft-guest": [repo_root().join("guest-sdk/js/index.d.ts")]},
            },
            "files": files,
        });
        std::fs::write(dir.path().join("tsconfig.json"), config.to_string()).expect("tsconfig");
        std::process::Command::new(&tsc)
            .current_dir(dir.path())
            .args(["-p", "tsconfig.json", "--pretty", "false"])
            .output_timed()
            .expect("tsc runs")
    };
    let out = check(&["template.ts", "uses.ts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = check(&["wrong.ts"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("\"nope\"") && text.contains("ErrorKind"),
        "{text}"
    );
}
