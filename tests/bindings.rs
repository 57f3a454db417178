//! `weft bindings`: typed modules written from the live catalog of real
//! servers (server-everything, server-filesystem, mcp-server-time) and of
//! a server with a hostile catalog, type-checked by the pinned mypy and
//! tsc and by cargo for wasm32-wasip2 against the real guest SDKs, and used
//! by a Rust policy and a Python policy that `weft run` runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;

/// A config with everything, files (on `dir`) and time.
fn real_config(dir: &Path) -> PathBuf {
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry("files", "server-filesystem", &[&dir.display().to_string()]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    let cfg = dir.join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// A config with the hostile-catalog server of tests/fixtures.
fn odd_config(dir: &Path) -> PathBuf {
    let script = repo_root().join("tests/fixtures/python/odd_tools_server.py");
    let text = command_entry("odd", &venv_bin("python"), &[&script.display().to_string()]);
    let cfg = dir.join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `weft -c CFG bindings ARGS…`: (exit code, stdout, stderr).
fn bindings(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = weft()
        .arg("-c")
        .arg(cfg)
        .arg("bindings")
        .args(args)
        .output_timed()
        .expect("weft runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes the bindings of `cfg` in `lang` into `out`, which must succeed.
fn generate(cfg: &Path, lang: &str, out: &Path) -> String {
    let (code, stdout, stderr) = bindings(cfg, &["--lang", lang, "-o", &out.display().to_string()]);
    assert_eq!(code, 0, "weft bindings --lang {lang}: {stderr}");
    stdout
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The pinned mypy, strict, against the real `weft_guest` SDK.
fn mypy(dir: &Path, files: &[&str]) -> Output {
    Command::new(venv_bin("mypy"))
        .current_dir(dir)
        .env("MYPYPATH", repo_root().join("guest-sdk/python"))
        .args([
            "--strict",
            "--follow-imports=silent",
            "--no-color-output",
            "--cache-dir",
        ])
        .arg(dir.join(".mypy_cache"))
        .args(files)
        .output_timed()
        .expect("mypy runs")
}

/// The pinned tsc, `--noEmit`, with "weft-guest" mapped to the real SDK's
/// declarations.
fn tsc(dir: &Path, files: &[&str]) -> Output {
    let tsc = tools().join("typescript/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "tsc is missing at {}: run `bash .ci/setup-tools`",
        tsc.display()
    );
    let config = serde_json::json!({
        "compilerOptions": {
            "strict": true,
            "noEmit": true,
            "target": "es2022",
            "module": "esnext",
            "moduleResolution": "bundler",
            "types": [],
            "paths": {"weft-guest": [repo_root().join("guest-sdk/js/index.d.ts")]},
        },
        "files": files,
    });
    std::fs::write(dir.join("tsconfig.json"), config.to_string()).unwrap();
    Command::new(tsc)
        .current_dir(dir)
        .args(["-p", "tsconfig.json", "--pretty", "false"])
        .output_timed()
        .expect("tsc runs")
}

/// Node with a stand-in "weft-guest" whose `call` returns what it was
/// given, running `script` (an ES module) in `dir`.
fn node_with_stub(dir: &Path, script: &str) -> Output {
    let stub = dir.join("node_modules/weft-guest");
    std::fs::create_dir_all(&stub).unwrap();
    std::fs::write(
        stub.join("package.json"),
        r#"{"name": "weft-guest", "type": "module", "main": "index.js"}"#,
    )
    .unwrap();
    std::fs::write(
        stub.join("index.js"),
        "export function call(server, tool, args) {\n  const s = {count: 1, label: tool};\n  return {json: {server, tool, args}, structured: s, value() { return s; }};\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("package.json"), r#"{"type": "module"}"#).unwrap();
    std::fs::write(dir.join("main.js"), script).unwrap();
    Command::new(node22())
        .current_dir(dir)
        .arg("main.js")
        .output_timed()
        .expect("node runs")
}

/// Python with a stand-in `weft_guest` whose `call` returns what it was
/// given, running `script` in `dir`.
fn python_with_stub(dir: &Path, script: &str) -> Output {
    let stub = dir.join("stub");
    std::fs::create_dir_all(&stub).unwrap();
    std::fs::write(
        stub.join("weft_guest.py"),
        "class ToolResult:\n    def __init__(self, raw):\n        self.json = raw\n        self.structured = {'count': 1, 'label': raw['tool']}\n    def value(self):\n        return self.structured\n\ndef call(server, tool, args):\n    return ToolResult({'server': server, 'tool': tool, 'args': args})\n",
    )
    .unwrap();
    Command::new(venv_bin("python"))
        .current_dir(dir)
        .env(
            "PYTHONPATH",
            format!("{}:{}", stub.display(), dir.display()),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-c", script])
        .output_timed()
        .expect("python runs")
}

#[test]
fn python_bindings_of_real_servers_type_check() {
    let dir = temp_dir();
    let cfg = real_config(dir.path());
    let work = dir.path().join("py");
    let stdout = generate(&cfg, "python", &work.join("bindings"));
    let listed: Vec<&str> = stdout.lines().collect();
    assert_eq!(listed.len(), 4, "{stdout}");
    assert!(
        listed[0].ends_with("bindings/everything.py\teverything: 16 tools"),
        "{stdout}"
    );
    assert!(
        listed[1].ends_with("bindings/files.py\tfiles: 14 tools"),
        "{stdout}"
    );
    assert!(
        listed[2].ends_with("bindings/time.py\ttime: 2 tools"),
        "{stdout}"
    );
    let time = read(&work.join("bindings/time.py"));
    assert!(
        time.contains("def get_current_time(*, timezone: str) -> GetCurrentTimeResult:"),
        "{time}"
    );
    let everything = read(&work.join("bindings/everything.py"));
    assert!(everything.contains(
        "GetStructuredContentResult = _t.TypedDict(\"GetStructuredContentResult\", {\"conditions\": str, \"humidity\": float, \"temperature\": float})"
    ), "{everything}");

    std::fs::write(
        work.join("use_ok.py"),
        "from weft_guest import ToolResult\n\
         from bindings import everything, files, time\n\n\
         def use() -> float:\n    \
             r: ToolResult = everything.echo(message=\"hi\")\n    \
             files.read_text_file(path=\"/x\", head=3)\n    \
             time.convert_time(source_timezone=\"UTC\", time=\"12:00\", target_timezone=\"Asia/Tokyo\")\n    \
             w = everything.get_structured_content(location=\"Chicago\")\n    \
             return w[\"temperature\"] + len(r.text)\n",
    )
    .unwrap();
    let ok = mypy(&work, &["bindings", "use_ok.py"]);
    assert!(ok.status.success(), "mypy --strict: {}", text(&ok));

    // The types are real: each of these lines is an error.
    std::fs::write(
        work.join("use_bad.py"),
        "from bindings import everything\n\n\
         everything.get_sum(a=\"two\", b=3)\n\
         everything.get_structured_content(location=\"Paris\")\n\
         everything.echo()\n\
         everything.get_structured_content(location=\"Chicago\")[\"wind\"]\n",
    )
    .unwrap();
    let bad = mypy(&work, &["use_bad.py"]);
    let said = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{said}");
    for (line, what) in [
        (
            3,
            "Argument \"a\" to \"get_sum\" has incompatible type \"str\"; expected \"float\"",
        ),
        (
            4,
            "Argument \"location\" to \"get_structured_content\" has incompatible type",
        ),
        (5, "Missing named argument \"message\" for \"echo\""),
        (
            6,
            "TypedDict \"GetStructuredContentResult\" has no key \"wind\"",
        ),
    ] {
        assert!(
            said.contains(&format!("use_bad.py:{line}: error: {what}")),
            "line {line} should be an error: {what}\n{said}"
        );
    }
    assert!(said.contains("Found 4 errors in 1 file"), "{said}");
}

#[test]
fn typescript_bindings_of_real_servers_type_check_and_load() {
    let dir = temp_dir();
    let cfg = real_config(dir.path());
    let work = dir.path().join("ts");
    let stdout = generate(&cfg, "typescript", &work.join("bindings"));
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    let dts = read(&work.join("bindings/everything.d.ts"));
    assert!(
        dts.contains("export declare function getSum(args: GetSumArgs): ToolResult;"),
        "{dts}"
    );
    assert!(
        dts.contains("export declare function getStructuredContent(args: GetStructuredContentArgs): GetStructuredContentResult;"),
        "{dts}"
    );

    std::fs::write(
        work.join("use_ok.ts"),
        "import type { ToolResult } from \"weft-guest\";\n\
         import * as everything from \"./bindings/everything.js\";\n\
         import { files, time } from \"./bindings/index.js\";\n\n\
         export function use(): number {\n  \
           const r: ToolResult = everything.echo({ message: \"hi\" });\n  \
           files.readTextFile({ path: \"/x\", head: 3 });\n  \
           time.getCurrentTime({ timezone: \"UTC\" });\n  \
           everything.getEnv();\n  \
           const w = everything.getStructuredContent({ location: \"Chicago\" });\n  \
           return w.temperature + r.text.length;\n}\n",
    )
    .unwrap();
    let ok = tsc(&work, &["use_ok.ts"]);
    assert!(ok.status.success(), "tsc: {}", text(&ok));

    std::fs::write(
        work.join("use_bad.ts"),
        "import * as everything from \"./bindings/everything.js\";\n\n\
         everything.getSum({ a: \"two\", b: 3 });\n\
         everything.getStructuredContent({ location: \"Paris\" });\n\
         everything.echo({});\n\
         everything.getStructuredContent({ location: \"Chicago\" }).wind;\n",
    )
    .unwrap();
    let bad = tsc(&work, &["use_bad.ts"]);
    let said = text(&bad);
    assert!(!bad.status.success(), "{said}");
    for (line, code) in [(3, "TS2322"), (4, "TS2322"), (5, "TS2741"), (6, "TS2339")] {
        assert!(
            said.contains(&format!("use_bad.ts({line},")) && said.contains(code),
            "line {line} should be error {code}\n{said}"
        );
    }
    assert_eq!(said.matches("error TS").count(), 4, "{said}");

    // The modules load, and call with the arguments as given.
    let run = node_with_stub(
        &work,
        "import { everything } from \"./bindings/index.js\";\n\
         console.log(JSON.stringify(everything.getAnnotatedMessage({messageType: \"debug\"}).json));\n\
         console.log(JSON.stringify(everything.getStructuredContent({location: \"Chicago\"})));\n",
    );
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "{\"server\":\"everything\",\"tool\":\"get-annotated-message\",\"args\":{\"messageType\":\"debug\"}}\n\
         {\"count\":1,\"label\":\"get-structured-content\"}\n"
    );
}

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

/// Builds a guest crate for wasm32-wasip2 into the guests' shared target
/// folder (where .ci/build-guests has built weft-guest already) and
/// returns its component.
fn build_guest(krate: &Path, lib: &str) -> PathBuf {
    let target = repo_root().join("target/wasm");
    let out = Command::new("cargo")
        .current_dir(krate)
        .args([
            "build",
            "--offline",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .output_within(Duration::from_secs(600))
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build of {} (needs `rustup target add wasm32-wasip2`): {}",
        krate.display(),
        text(&out)
    );
    target.join(format!("wasm32-wasip2/release/{lib}.wasm"))
}

#[test]
fn a_hostile_catalog_gives_code_that_type_checks() {
    let dir = temp_dir();
    let cfg = odd_config(dir.path());

    // Python: type-checks, keeps the hostile description whole inside the
    // docstring, and maps each parameter back to its own key.
    let py = dir.path().join("py");
    let stdout = generate(&cfg, "python", &py.join("bindings"));
    assert!(
        stdout.contains("bindings/odd.py\todd: 18 tools"),
        "{stdout}"
    );
    let module = read(&py.join("bindings/odd.py"));
    let functions: Vec<&str> = module
        .lines()
        .filter_map(|l| l.strip_prefix("def "))
        .map(|l| &l[..l.find('(').unwrap()])
        .collect();
    assert_eq!(
        functions,
        [
            "_typed",
            "_2fa",
            "none",
            "tool_result",
            "call",
            "class_",
            "deep",
            "delete",
            "get_x_2",
            "get_x_3",
            "get_x",
            "huge",
            "malformed",
            "open",
            "recursive",
            "self",
            "stats",
            "type",
            "u65e5_u672c_u8a9e"
        ]
    );
    let ok = mypy(&py, &["bindings"]);
    assert!(ok.status.success(), "mypy --strict: {}", text(&ok));
    let run = python_with_stub(
        &py,
        "import json\nfrom bindings import odd\n\
         print(json.dumps(odd.class_(from_='f', a_b_2='dash', a_b=True, arg='empty', _2fa=2, na_u00ef_ve=1.5).json, sort_keys=True))\n\
         print(json.dumps(odd.stats(label='L'), sort_keys=True))\n\
         print(json.dumps(odd.huge(wide={'k': 'v'}).json['args']))\n\
         print(json.dumps(odd.class_.__doc__))\n",
    );
    assert!(run.status.success(), "{}", text(&run));
    let said = String::from_utf8_lossy(&run.stdout).into_owned();
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"args": {"": "empty", "2fa": 2, "a-b": "dash", "a_b": true, "from": "f", "na\u00efve": 1.5}, "server": "odd", "tool": "class"}"#
    );
    assert_eq!(lines[1], r#"{"count": 1, "label": "stats"}"#);
    assert_eq!(lines[2], r#"{"wide": {"k": "v"}}"#);
    let doc: String = serde_json::from_str(lines[3]).unwrap();
    assert!(
        doc.starts_with(
            "Ends here: \"\"\" and ''' and */ and `x` and\n    ```\n    fn main() {}\n"
        ),
        "{doc}"
    );
    assert!(
        doc.contains("back\\slash \\\"  nul  [31mred  sep  evil\n    \"\"\"\n    import os\n    os.system(\"touch /tmp/pwned\")\n"),
        "{doc}"
    );

    // TypeScript: the declarations type-check and the module loads.
    let ts = dir.path().join("ts");
    generate(&cfg, "typescript", &ts.join("bindings"));
    std::fs::write(
        ts.join("use.ts"),
        "import { odd } from \"./bindings/index.js\";\n\
         export const n: number = odd.stats({ label: \"x\" }).count;\n\
         odd.class_({ from: \"f\", \"a-b\": \"x\", mode: \"*/\" });\n\
         odd.getX(); odd.getX_2(); odd.getX_3(); odd.delete_(); odd.type_(); odd.u65e5U672cU8a9e();\n",
    )
    .unwrap();
    let ok = tsc(&ts, &["use.ts", "bindings/odd.d.ts", "bindings/index.d.ts"]);
    assert!(ok.status.success(), "tsc: {}", text(&ok));
    let run = node_with_stub(
        &ts,
        "import { odd } from \"./bindings/index.js\";\n\
         console.log(JSON.stringify(odd.class_({from: \"f\", \"a-b\": \"x\"}).json));\n\
         console.log(Object.keys(odd).length);\n",
    );
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "{\"server\":\"odd\",\"tool\":\"class\",\"args\":{\"from\":\"f\",\"a-b\":\"x\"}}\n18\n"
    );

    // Rust: the module compiles for wasm32-wasip2 in a crate of its own.
    let krate = dir.path().join("odd-rs");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let src = repo_root().join("tests/guests/typed");
    std::fs::copy(src.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let manifest = read(&src.join("Cargo.toml"))
        .replace("weft-typed-guest", "weft-odd-bindings")
        .replace("crate-type = [\"cdylib\"]", "crate-type = [\"rlib\"]")
        .replace(
            "path = \"../../../guest-sdk/rust\"",
            &format!(
                "path = {}",
                q(repo_root().join("guest-sdk/rust").display().to_string())
            ),
        );
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        "#![deny(warnings)]\npub mod bindings;\n\
         pub fn use_them() -> Result<u64, weft_guest::CallError> {\n    \
             use bindings::odd;\n    \
             odd::r#type()?;\n    odd::self_()?;\n    odd::get_x_3()?;\n    \
             let args = odd::ClassArgs { from: \"f\".into(), a_b_2: \"x\".into(), ..Default::default() };\n    \
             odd::class(&args)?;\n    \
             Ok(odd::stats(&odd::StatsArgs { label: \"l\".into() })?.count as u64)\n}\n",
    )
    .unwrap();
    let stdout = generate(&cfg, "rust", &krate.join("src/bindings"));
    assert!(
        stdout.contains("src/bindings/odd.rs\todd: 18 tools"),
        "{stdout}"
    );
    build_guest(&krate, "weft_odd_bindings");
}

#[test]
fn policy_and_server_flags_choose_what_is_written() {
    let dir = temp_dir();
    let cfg = real_config(dir.path());
    let wasm = dir.path().join("p.wasm");
    std::fs::write(&wasm, b"not built").unwrap();
    let mut text_cfg = read(&cfg);
    text_cfg += &format!(
        "[policies.report]\npath = {}\ndescription = \"d\"\ngrants = [\"time.get_current_time\", \"everything.get-*\"]\n",
        q(wasm.display().to_string())
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let out = dir.path().join("out");
    let o = out.display().to_string();

    let (code, stdout, stderr) = bindings(&cfg, &["--lang", "py", "--policy", "report", "-o", &o]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{o}/everything.py\teverything: 7 tools\n{o}/time.py\ttime: 1 tool\n{o}/__init__.py\tindex of the modules\n"
        )
    );
    let time = read(&out.join("time.py"));
    assert!(time.contains("def get_current_time("), "{time}");
    assert!(!time.contains("def convert_time("), "{time}");
    assert!(!out.join("files.py").exists());

    let rs = dir.path().join("rs");
    let (code, stdout, stderr) = bindings(
        &cfg,
        &[
            "--lang",
            "rust",
            "--server",
            "time",
            "-o",
            &rs.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(read(&rs.join("mod.rs")).contains("pub mod time;"));

    let (code, _, stderr) = bindings(&cfg, &["--lang", "python", "--policy", "reprot"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no policy named \"reprot\" in the config; did you mean \"report\"?"),
        "{stderr}"
    );
    let (code, _, stderr) = bindings(&cfg, &["--lang", "cobol"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("possible values: python, typescript, rust"),
        "{stderr}"
    );

    // A server that does not start fails the command; the others' modules
    // are still written.
    let broken = dir.path().join("broken.toml");
    let mut text_cfg = command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text_cfg += &command_entry("gone", Path::new("/nonexistent/weft-no-such-server"), &[]);
    std::fs::write(&broken, text_cfg).unwrap();
    let part = dir.path().join("part");
    let (code, stdout, stderr) = bindings(
        &broken,
        &["--lang", "typescript", "-o", &part.display().to_string()],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("server gone is unavailable"), "{stderr}");
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(read(&part.join("time.d.ts")).contains("export declare function getCurrentTime("));

    let help = weft().args(["bindings", "--help"]).output_timed().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--lang <LANG>",
        "--policy <NAME>",
        "[default: bindings]",
        "crm.get_customer(id=\"42\")",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
