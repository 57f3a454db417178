//! `[code]` settings per tenant on `weft serve --http`, with the official
//! Python SDK as each tenant's agent (one per protocol era): code mode is
//! off over HTTP unless a table turns it on, a tenant's languages and
//! grants are its own, and code never reaches past the tenant's view,
//! whether by name, through `tools.list()` or through the typed namespaces.

use serde_json::{Value, json};

use crate::support::code::{interpreters, weft_code};
use crate::support::keys::add_key;
use crate::support::*;

const PYTHON_PROBE: &str = r#"out = {"servers": sorted({t["server"] for t in tools.list()})}
for label, call in [
    ("by_name", lambda: tools.call("memory", "read_graph")),
    ("typed", lambda: tools.memory.read_graph()),
    ("unknown", lambda: tools.call("nosuch", "thing")),
]:
    try:
        call()
        out[label] = "called"
    except CallError as e:
        out[label] = e.kind
out["echo"] = tools.everything.echo(message="a")
return out
"#;

const JS_PROBE: &str = r#"const servers = [...new Set(tools.list().map((t) => t.server))].sort();
tools.memory.createEntities({ entities: [{ name: "b-only", entityType: "t", observations: [] }] });
const graph = tools.memory.readGraph();
let echo;
try {
  tools.everything.echo({ message: "x" });
  echo = "called";
} catch (e) {
  echo = e.kind;
}
return { servers, entities: graph.entities.map((e) => e.name), echo };
"#;

#[test]
fn code_settings_are_per_tenant_and_code_stays_in_its_tenants_view() {
    let interp = interpreters("python");
    interpreters("js");
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &time_memory_entries(dir.path());
    text += r#"
[tenants.a]
include = ["everything.*", "time.*"]
[tenants.a.code]
enabled = true

[tenants.b]
include = ["memory.*"]
[tenants.b.code]
enabled = true
languages = ["javascript"]
grants = ["memory.*"]

[tenants.c]
include = ["time.*"]
"#;
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let keys: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|t| add_key(dir.path(), t))
        .collect();
    let mut cmd = weft_code(&interp);
    cmd.current_dir(dir.path());
    let (_weft, base) = serve_weft_http(&mut cmd);
    let url = format!("{base}/mcp");
    let agent = |mode: &str, key: &str, runs: Value| {
        crate::serve::agent(&url, mode, "code", json!({"key": key, "runs": runs}))
    };

    // Tenant a: both languages, the default grants (the read-only tools in
    // its view). memory's tools exist but are outside the view: the code
    // gets `denied` for them, exactly as for a server that does not exist.
    let a = agent(
        "legacy",
        &keys[0],
        json!([
            {"language": "python", "code": PYTHON_PROBE},
            {"language": "javascript", "code": "return [...new Set(tools.list().map((t) => t.server))].sort();"},
        ]),
    );
    assert_eq!(a["listed"], true, "{a}");
    let description = a["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("\n    def get_current_time(*, timezone: str) -> "),
        "{description}"
    );
    assert!(!description.contains("memory"), "{description}");
    assert_eq!(
        a["runs"][0]["structured"],
        json!({
            "servers": ["everything", "time"],
            "by_name": "denied",
            "typed": "denied",
            "unknown": "denied",
            "echo": "Echo: a",
        }),
        "{a}"
    );
    assert_eq!(a["runs"][1]["text"], r#"["everything","time"]"#, "{a}");

    // Tenant b: JavaScript only, granted memory's writes too.
    let b = agent(
        "2026-07-28",
        &keys[1],
        json!([
            {"language": "python", "code": "return 1"},
            {"language": "javascript", "code": JS_PROBE},
        ]),
    );
    assert_eq!(b["listed"], true, "{b}");
    let description = b["description"].as_str().unwrap_or_default();
    assert!(description.contains("createEntities"), "{description}");
    assert!(!description.contains("everything"), "{description}");
    assert_eq!(
        b["runs"][0]["rpc_error"], "weft_run_code needs \"language\": one of javascript",
        "{b}"
    );
    assert_eq!(
        b["runs"][1]["structured"],
        json!({"servers": ["memory"], "entities": ["b-only"], "echo": "denied"}),
        "{b}"
    );

    // Tenant c: no code table, and code mode is off over HTTP by default;
    // it is told that it is off for it, and where it is turned on.
    let c = agent(
        "legacy",
        &keys[2],
        json!([{"language": "python", "code": "return 1"}]),
    );
    assert_eq!(c["listed"], false, "{c}");
    assert_eq!(
        c["runs"][0]["rpc_error"],
        "code mode is off for tenant \"c\" (weft_run_code is not offered to it; \
         [tenants.c.code] enabled = true turns it on)",
        "{c}"
    );
}

/// Code never reaches past its tenant's rate: each call the code makes
/// takes a token from the tenant's bucket, as the agent's own calls do, and
/// the calls past it are `rate-limited` inside the code, refused by the
/// router before they go upstream. The bucket refills one token a minute, so the count is
/// exact: every request the agent sends takes a token at the door (its
/// `initialize`, two `tools/list` and the `tools/call` of `weft_run_code`:
/// four of the nine), and the code's first five calls take the rest.
#[test]
fn code_calls_take_the_tenants_rate() {
    let interp = interpreters("python");
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += r#"
[tenants.a]
include = ["everything.*"]
[tenants.a.limits]
calls_per_minute = 1
burst = 9
[tenants.a.code]
enabled = true
"#;
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let key = add_key(dir.path(), "a");
    let mut cmd = weft_code(&interp);
    cmd.current_dir(dir.path());
    let (_weft, base) = serve_weft_http(&mut cmd);
    let code = "out = []\nfor i in range(10):\n    try:\n        out.append(tools.everything.echo(message=str(i)))\n    except CallError as e:\n        out.append(e.kind)\nreturn {'out': out}";
    let out = crate::serve::agent(
        &format!("{base}/mcp"),
        "legacy",
        "code",
        json!({"key": key, "runs": [{"language": "python", "code": code}]}),
    );
    let mut want: Vec<String> = (0..5).map(|i| format!("Echo: {i}")).collect();
    want.extend(std::iter::repeat_n("rate-limited".to_string(), 5));
    assert_eq!(out["runs"][0]["structured"], json!({"out": want}), "{out}");
    // The report has all ten; the five refused took no time upstream.
    let calls = out["runs"][0]["report"]["calls"].as_array().unwrap();
    let outcomes: Vec<&Value> = calls.iter().map(|c| &c["error"]).collect();
    let mut expected = vec![&Value::Null; 5];
    let limited = json!("rate-limited");
    expected.extend(std::iter::repeat_n(&limited, 5));
    assert_eq!(outcomes, expected, "{out}");
}

const PROBE_W_PY: &str = r#"out = {}
for label, call in [
    ("by_name", lambda: tools.call("w", "tool_0", {"text": "by name"})),
    ("typed", lambda: tools.w.tool_0(text="typed")),
]:
    try:
        call()
        out[label] = "called"
    except CallError as e:
        out[label] = e.kind
return out
"#;

const PROBE_W_JS: &str = r#"const out = {};
for (const [label, call] of [
  ["by_name", () => tools.call("w", "tool_0", { text: "by name" })],
  ["typed", () => tools.w.tool_0({ text: "typed" })],
]) {
  try {
    call();
    out[label] = "called";
  } catch (e) {
    out[label] = e.kind;
  }
}
return out;
"#;

/// A call outside the code grants (by default the read-only tools; the
/// recording server's tools are not annotated so) is `denied`, by name and
/// through the typed namespace, in both languages, and the server's own
/// record shows it never arrived. Granted, the same calls arrive, once
/// each.
#[test]
fn a_call_outside_the_code_grants_never_reaches_the_server() {
    let python = interpreters("python");
    let js = interpreters("js");
    let dir = temp_dir();
    let record = dir.path().join("record.txt");
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &command_entry(
        "w",
        &target_bin("weft-faulty-server"),
        &[
            "--tools",
            "3",
            "--name",
            "w",
            "--record",
            &record.display().to_string(),
        ],
    );
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let arrived = || -> Vec<String> {
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(1).map(String::from))
            .collect()
    };
    for (interp, file, code) in [(&python, "w.py", PROBE_W_PY), (&js, "w.js", PROBE_W_JS)] {
        let (status, report, stderr) = crate::code_mode::exec(interp, &cfg, file, code, &[]);
        assert_eq!(status, 0, "{file}: {stderr}");
        assert_eq!(
            report["output"],
            json!({"by_name": "denied", "typed": "denied"}),
            "{file}: {report}"
        );
    }
    assert_eq!(
        arrived(),
        Vec::<String>::new(),
        "nothing reached the server"
    );
    for (interp, file, code) in [(&python, "w.py", PROBE_W_PY), (&js, "w.js", PROBE_W_JS)] {
        let (status, report, stderr) =
            crate::code_mode::exec(interp, &cfg, file, code, &["--grant", "w.tool_0"]);
        assert_eq!(status, 0, "{file}: {stderr}");
        assert_eq!(
            report["output"],
            json!({"by_name": "called", "typed": "called"}),
            "{file}: {report}"
        );
    }
    assert_eq!(arrived(), ["tool_0"; 4], "each granted call arrived once");
}
