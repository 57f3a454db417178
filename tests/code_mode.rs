//! Code mode: `weft exec` runs Python and JavaScript source in the sandbox
//! against real servers (server-everything, mcp-server-time,
//! server-memory), through the interpreters weft builds on first use.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::code::{EXEC_DEADLINE, interpreters, weft_code};
use crate::support::*;

/// A config with everything, time and memory (stored in `dir`).
fn three_servers(dir: &Path) -> PathBuf {
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &time_memory_entries(dir);
    let cfg = dir.join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `weft -c CFG exec --json FILE ARGS…` of `code` in a file named `name`:
/// (exit code, report, stderr).
pub(crate) fn exec(
    interp: &Path,
    cfg: &Path,
    name: &str,
    code: &str,
    args: &[&str],
) -> (i32, Value, String) {
    let file = cfg.parent().unwrap().join(name);
    std::fs::write(&file, code).unwrap();
    let out = weft_code(interp)
        .arg("-c")
        .arg(cfg)
        .args(["exec", "--json"])
        .arg(&file)
        .args(args)
        .output_within(EXEC_DEADLINE)
        .expect("weft exec runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json prints a report ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The Python SDK agent's target: `weft -c CFG serve` over stdio, with
/// the interpreters in `interp`.
pub(crate) fn serve_target(interp: &Path, cfg: &Path) -> String {
    json!([
        "env",
        format!("WEFT_INTERPRETER_DIR={}", interp.display()),
        target_bin("weft").display().to_string(),
        "-c",
        cfg.display().to_string(),
        "serve"
    ])
    .to_string()
}

const PYTHON_WORK: &str = r#"times = {}
for zone in input["zones"]:
    try:
        times[zone] = tools.time.get_current_time(timezone=zone)["timezone"]
    except CallError as e:
        times[zone] = e.kind
echo = tools.everything.echo(message="hi")
try:
    tools.memory.create_entities(entities=[{"name": "x", "entityType": "t", "observations": []}])
    wrote = "wrote"
except CallError as e:
    wrote = [e.kind, e.message]
graph = tools.call("memory", "read_graph")
sums = tools.call_all([("everything", "get-sum", {"a": i, "b": i}) for i in range(3)])
print("looked at", len(times), "zones")
return {
    "times": times,
    "echo": echo,
    "wrote": wrote,
    "entities": len(graph["entities"]),
    "sums": sums,
    "servers": sorted({t["server"] for t in tools.list()}),
}
"#;

const JS_WORK: &str = r#"const times = {};
for (const zone of input.zones) {
  try {
    times[zone] = tools.time.getCurrentTime({ timezone: zone }).timezone;
  } catch (e) {
    if (!(e instanceof CallError)) throw e;
    times[zone] = e.kind;
  }
}
const echo = tools.everything.echo({ message: "hi" });
let wrote;
try {
  tools.memory.createEntities({ entities: [{ name: "x", entityType: "t", observations: [] }] });
  wrote = "wrote";
} catch (e) {
  wrote = [e.kind, e.message];
}
const graph = tools.call("memory", "read_graph");
const sums = tools.callAll([0, 1, 2].map((i) => ["everything", "get-sum", { a: i, b: i }]));
console.log("looked at", Object.keys(times).length, "zones");
return {
  times,
  echo,
  wrote,
  entities: graph.entities.length,
  sums,
  servers: [...new Set(tools.list().map((t) => t.server))].sort(),
};
"#;

/// Both languages: loops over tools on three servers, branches on their
/// results and errors by kind, and a write the default grants (read-only
/// tools) leave out is `denied` before memory sees it.
#[test]
fn code_in_python_and_javascript_works_across_three_servers() {
    // A tool the run may not see keeps the name the code gave it: the
    // interpreter cannot know an unlisted tool's own spelling.
    for (lang, name, code, write) in [
        ("python", "work.py", PYTHON_WORK, "create_entities"),
        ("js", "work.js", JS_WORK, "createEntities"),
    ] {
        let interp = interpreters(lang);
        let dir = temp_dir();
        let cfg = three_servers(dir.path());
        let input = json!({"zones": ["Asia/Tokyo", "Mars/Olympus"]}).to_string();
        let (code, report, err) = exec(&interp, &cfg, name, code, &["--input", &input]);
        assert_eq!(code, 0, "{lang}: {report} {err}");
        assert_eq!(
            report["output"],
            json!({
                "times": {"Asia/Tokyo": "Asia/Tokyo", "Mars/Olympus": "tool-error"},
                "echo": "Echo: hi",
                // The denial says where code's grants are written.
                "wrote": ["denied", format!(
                    "the code's grants do not allow memory.{write} (code's grants are \
                     `grants` in [code] of the config, or --grant on weft exec)"
                )],
                "entities": 0,
                "sums": [
                    "The sum of 0 and 0 is 0.",
                    "The sum of 1 and 1 is 2.",
                    "The sum of 2 and 2 is 4."
                ],
                "servers": ["everything", "memory", "time"],
            }),
            "{lang}"
        );
        assert_eq!(report["stdout"], "looked at 2 zones\n", "{lang}");
        let denied: Vec<&Value> = report["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["error"] == "denied")
            .collect();
        assert_eq!(denied.len(), 1, "{lang}: {report}");
        assert_eq!(denied[0]["tool"], write, "{lang}");
        // The server never saw the write: nothing was stored.
        assert!(
            !dir.path().join("memory/memory.jsonl").exists()
                || std::fs::read_to_string(dir.path().join("memory/memory.jsonl"))
                    .unwrap()
                    .trim()
                    .is_empty(),
            "{lang}: memory stored something"
        );
    }
}

/// Hostile code in both languages, each stopped with a clear error, and a
/// normal submission afterwards still works; a syntax error is one line
/// that names the line.
#[test]
fn hostile_and_broken_code_is_contained_and_explained() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(
        &cfg,
        npm_entry("everything", "server-everything", &["stdio"]),
    )
    .unwrap();
    let cases: [(&str, &str, &str, &[&str], &str); 21] = [
        (
            "python",
            "huge.py",
            "return 'x' * (100 << 20)\n",
            &["--memory", "512MiB"],
            "\"output\"",
        ),
        (
            "python",
            "flood.py",
            "while True:\n    tools.call('everything', 'echo', {'message': 'x'})\n",
            &[],
            "\"calls\"",
        ),
        (
            "python",
            "deep.py",
            "def down(n):\n    return down(n + 1)\nreturn down(0)\n",
            &[],
            "RecursionError",
        ),
        (
            "js",
            "huge.js",
            "return 'x'.repeat(100 << 20);\n",
            &["--memory", "512MiB"],
            // SpiderMonkey's copies of it do not fit in 512 MiB.
            "\"memory\"",
        ),
        (
            "js",
            "flood.js",
            "for (;;) tools.call('everything', 'echo', { message: 'x' });\n",
            &[],
            "\"calls\"",
        ),
        (
            "js",
            "deep.js",
            "function down(n) {\n  return down(n + 1);\n}\nreturn down(0);\n",
            &[],
            "InternalError",
        ),
        (
            "python",
            "spin.py",
            "while True:\n    pass\n",
            &["--fuel", "50M"],
            "fuel limit",
        ),
        (
            "python",
            "bomb.py",
            "hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 20))\n",
            &["--memory", "32MiB"],
            "memory",
        ),
        (
            "python",
            "passwd.py",
            "\nreturn open('/etc/passwd').read()\n",
            &[],
            "PermissionError: open() is not available: code mode reaches the outside world only through `tools` (line 2)",
        ),
        (
            "python",
            "builtins.py",
            "import builtins\nreturn builtins.open('/etc/passwd').read()\n",
            &[],
            "PermissionError: open() is not available: code mode reaches the outside world only through `tools` (line 2)",
        ),
        (
            "python",
            "builtins_import.py",
            "import builtins\n\nreturn builtins.__import__('socket')\n",
            &[],
            "ImportError: import socket is not available: code mode reaches the outside world only through `tools` (line 3)",
        ),
        (
            "python",
            "sys.py",
            "import sys\nreturn list(sys.modules)\n",
            &[],
            "ImportError: import sys is not available: code mode reaches the outside world only through `tools` (line 1)",
        ),
        (
            "python",
            "socket.py",
            "import socket\n",
            &[],
            "ImportError: import socket is not available: code mode reaches the outside world only through `tools` (line 1)",
        ),
        (
            "python",
            "syntax.py",
            "x = 1\ny = (\n",
            &[],
            "SyntaxError: '(' was never closed (line 2)",
        ),
        (
            "python",
            "raise.py",
            "a = 1\n\nraise ValueError('no ' + str(a))\n",
            &[],
            "ValueError: no 1 (line 3)",
        ),
        (
            "js",
            "spin.js",
            "for (;;) {}\n",
            &["--fuel", "50M"],
            "fuel limit",
        ),
        (
            "js",
            "bomb.js",
            "const hoard = [];\nfor (;;) hoard.push(new Uint8Array(1 << 20).fill(1));\n",
            &["--memory", "32MiB"],
            "memory",
        ),
        (
            "js",
            "fetch.js",
            "\nreturn fetch('http://127.0.0.1');\n",
            &[],
            "NotAvailableError: fetch is not available: code mode reaches the outside world only through `tools` (line 2)",
        ),
        (
            "js",
            "require.js",
            "return require('fs');\n",
            &[],
            "NotAvailableError: require is not available: code mode reaches the outside world only through `tools` (line 1)",
        ),
        (
            "js",
            "syntax.js",
            "let x = 1;\nlet y = ;\n",
            &[],
            "SyntaxError: expected expression, got ';' (line 2)",
        ),
        (
            "js",
            "throw.js",
            "const a = 1;\n\nthrow new RangeError(`no ${a}`);\n",
            &[],
            "RangeError: no 1 (line 3)",
        ),
    ];
    for lang in ["python", "js"] {
        let interp = interpreters(lang);
        for (_, name, code, args, want) in cases.iter().filter(|c| c.0 == lang) {
            let (status, report, err) = exec(&interp, &cfg, name, code, args);
            assert_eq!(status, 1, "{name}: {report} {err}");
            let said = report["error"].as_str().unwrap_or_default().to_string()
                + &report["limit"].to_string();
            if want.contains("(line") {
                assert_eq!(report["error"], *want, "{name}: {report}");
            } else {
                assert!(said.contains(want), "{name}: {want:?} in {report}");
            }
            // After each, a normal submission works.
            let ok = if lang == "python" {
                "return tools.everything.echo(message='after')\n"
            } else {
                "return tools.everything.echo({message: 'after'});\n"
            };
            let ext = if lang == "python" { "py" } else { "js" };
            let (status, report, err) = exec(&interp, &cfg, &format!("ok.{ext}"), ok, &[]);
            assert_eq!(status, 0, "after {name}: {report} {err}");
            assert_eq!(report["output"], "Echo: after", "after {name}");
        }
    }
}

/// `weft_run_code` through `weft serve` over stdio, with the official
/// Python SDK as the agent in both protocol eras: listed with the typed
/// calls of the read-only tools, ten echo calls in one submission in each
/// language, and a syntax error as a tool error naming the line.
#[test]
fn agents_run_code_through_weft_serve_in_both_eras() {
    let interp = interpreters("python");
    interpreters("js");
    let dir = temp_dir();
    let cfg = three_servers(dir.path());
    let target = serve_target(&interp, &cfg);
    let runs = json!([
        {"language": "python", "code": "return [tools.everything.echo(message=str(i)) for i in range(input['n'])]", "input": {"n": 10}},
        {"language": "javascript", "code": "const out = [];\nfor (let i = 0; i < input.n; i++) out.push(tools.everything.echo({message: String(i)}));\nreturn {out};", "input": {"n": 10}},
        {"language": "python", "code": "x = 1\nreturn (x"},
    ]);
    let echoes: Vec<String> = (0..10).map(|i| format!("Echo: {i}")).collect();
    for mode in ["legacy", "2026-07-28"] {
        let out = crate::serve::agent(&target, mode, "code", json!({"runs": runs}));
        assert_eq!(out["listed"], true, "{mode}: {out}");
        let description = out["description"].as_str().unwrap_or_default();
        for line in [
            "\nclass everything:\n",
            "\n    def echo(*, message: str) -> ",
            "\nclass time:\n",
            "\n    def get_current_time(*, timezone: str) -> ",
            "\ndeclare namespace tools.everything {\n",
            "\n  function echo(args: { message: string }): ",
            "\ndeclare namespace tools.time {\n",
            "\n  function getCurrentTime(args: { timezone: string }): ",
        ] {
            assert!(
                description.contains(line),
                "{mode}: {line:?} in {description}"
            );
        }
        // Only read-only tools are described: memory's writes are not.
        assert!(!description.contains("create_entities"), "{description}");

        let python = &out["runs"][0];
        assert_eq!(python["error"], false, "{mode}: {python}");
        assert_eq!(python["text"], json!(echoes).to_string(), "{mode}");
        assert_eq!(python["calls"].as_array().unwrap().len(), 10, "{mode}");
        let js = &out["runs"][1];
        assert_eq!(js["error"], false, "{mode}: {js}");
        assert_eq!(js["structured"], json!({"out": echoes}), "{mode}");
        let broken = &out["runs"][2];
        assert_eq!(broken["error"], true, "{mode}: {broken}");
        assert_eq!(
            broken["text"], "code (python) failed: SyntaxError: '(' was never closed (line 2)",
            "{mode}"
        );
    }
}

/// A failed submission's report keeps the lines the code logged itself,
/// even one that mentions `CodeError`, and drops only the traceback
/// through the interpreter that the guest SDK logs as the run fails.
#[test]
fn a_failed_run_keeps_the_codes_own_error_lines() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, "").unwrap();
    let interp = interpreters("python");
    let code = "import weft_guest\n\
                weft_guest.log('error', 'CodeError: my own line, kept')\n\
                weft_guest.log('info', 'on my way')\n\
                raise ValueError('boom')\n";
    let (status, report, err) = exec(&interp, &cfg, "own.py", code, &[]);
    assert_eq!(status, 1, "{report} {err}");
    assert_eq!(report["error"], "ValueError: boom (line 4)", "{report}");
    assert_eq!(
        report["logs"],
        json!([
            {"level": "error", "message": "CodeError: my own line, kept"},
            {"level": "info", "message": "on my way"},
        ]),
        "{report}"
    );
    // With no lines of its own, nothing of the interpreter's is left.
    for (lang, name, code, want) in [
        (
            "python",
            "raise.py",
            "raise ValueError('boom')\n",
            "ValueError: boom (line 1)",
        ),
        (
            "js",
            "throw.js",
            "throw new RangeError('boom');\n",
            "RangeError: boom (line 1)",
        ),
    ] {
        let interp = interpreters(lang);
        let (status, report, err) = exec(&interp, &cfg, name, code, &[]);
        assert_eq!(status, 1, "{lang}: {report} {err}");
        assert_eq!(report["error"], want, "{lang}: {report}");
        assert_eq!(report["logs"], json!([]), "{lang}: {report}");
    }
}
