//! `weft bindings`: typed modules written from the live catalog of real
//! servers (server-everything, server-filesystem, mcp-server-time) and of
//! a server with a hostile catalog, type-checked by the pinned mypy and
//! tsc and by cargo for wasm32-wasip2 against the real guest SDKs, and used
//! by a Rust policy and a Python policy that `weft run` runs
//! (`policies.rs`; the hostile catalog is `hostile.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;

mod hostile;
mod policies;

/// A config with everything, files (on `dir`) and time.
pub(super) fn real_config(dir: &Path) -> PathBuf {
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry("files", "server-filesystem", &[&dir.display().to_string()]);
    text += &sandbox_read(&[dir]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    let cfg = dir.join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// A config with the hostile-catalog server of tests/fixtures, not
/// scanned (`scan = "off"`): the bindings must hold its text as it is,
/// bidi controls and all, without the scanner's stripping.
pub(super) fn odd_config(dir: &Path) -> PathBuf {
    let script = repo_root().join("tests/fixtures/python/odd_tools_server.py");
    let text = command_entry("odd", &venv_bin("python"), &[&script.display().to_string()])
        + "scan = \"off\"\n";
    let cfg = dir.join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `weft -c CFG bindings ARGS…`: (exit code, stdout, stderr).
pub(super) fn bindings(cfg: &Path, args: &[&str]) -> (i32, String, String) {
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
pub(super) fn generate(cfg: &Path, lang: &str, out: &Path) -> String {
    let (code, stdout, stderr) = bindings(cfg, &["--lang", lang, "-o", &out.display().to_string()]);
    assert_eq!(code, 0, "weft bindings --lang {lang}: {stderr}");
    stdout
}

pub(super) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(super) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The pinned mypy, strict, against the real `weft_guest` SDK.
pub(super) fn mypy(dir: &Path, files: &[&str]) -> Output {
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
pub(super) fn tsc(dir: &Path, files: &[&str]) -> Output {
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
pub(super) fn node_with_stub(dir: &Path, script: &str) -> Output {
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
pub(super) fn python_with_stub(dir: &Path, script: &str) -> Output {
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

/// Builds a guest crate for wasm32-wasip2 into the guests' shared target
/// folder (where .ci/build-guests has built weft-guest already) and
/// returns its component.
pub(super) fn build_guest(krate: &Path, lib: &str) -> PathBuf {
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
