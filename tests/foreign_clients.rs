//! Clients that are not ours, as agents of `weft serve`: fastmcp's `Client`
//! (`tests/clients/fastmcp_agent.py`) and the OpenAI Agents SDK's MCP
//! servers (`tests/clients/openai_agents_agent.py`), each unmodified, from a
//! venv of its own that `.ci/setup-tools` pins. In front of weft: the real
//! server-everything and mcp-server-time, under weft's default prefixed names.
//!
//! Each framework lists and calls over streamable HTTP, once on a connection
//! it keeps for every call and once with a new connection per call, and over
//! stdio (it spawns `weft serve`); fastmcp also answers the sampling and
//! elicitation requests weft relays from server-everything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::*;

/// What both frameworks list through `weft serve --http` for [`config`]:
/// server-everything's tools (those it offers an agent that can sample and
/// elicit, as weft's session with it can), mcp-server-time's, and weft's
/// search tool.
const LISTED: [&str; 19] = [
    "everything__echo",
    "everything__get-annotated-message",
    "everything__get-env",
    "everything__get-resource-links",
    "everything__get-resource-reference",
    "everything__get-structured-content",
    "everything__get-sum",
    "everything__get-tiny-image",
    "everything__gzip-file-as-resource",
    "everything__simulate-research-query",
    "everything__toggle-simulated-logging",
    "everything__toggle-subscriber-updates",
    "everything__trigger-elicitation-request",
    "everything__trigger-long-running-operation",
    "everything__trigger-sampling-request",
    "everything__trigger-url-elicitation",
    "time__convert_time",
    "time__get_current_time",
    "weft_search_tools",
];

/// A call to mcp-server-time that fails: its error result's text.
const BAD_ZONE_TEXT: &str = "Error executing tool convert_time: Invalid timezone: 'No time zone found with key Nowhere/Land'";

fn bad_zone() -> Value {
    json!({"tool": "time__convert_time",
           "args": {"source_timezone": "Nowhere/Land", "time": "12:00", "target_timezone": "UTC"}})
}

fn echo(message: &str) -> Value {
    json!({"tool": "everything__echo", "args": {"message": message}})
}

/// server-everything's answer to a sampling request relayed to a fastmcp
/// agent, whose handler says what it was asked (fastmcp names the model).
fn sampled_text(prompt: &str) -> String {
    format!(
        "LLM sampling result: \n{{\n  \"model\": \"fastmcp-slim\",\n  \"role\": \"assistant\",\n  \
         \"content\": {{\n    \"type\": \"text\",\n    \"text\": \"fastmcp sampled: Resource \
         trigger-sampling-request context: {prompt}\"\n  }}\n}}"
    )
}

/// server-everything's answer when the fastmcp agent accepts its
/// elicitation with a name and a ticked box.
const ELICITED_TEXT: &str = "✅ User provided the requested information!\nUser inputs:\n\
     - Name: fastmcp agent\n- Agreed to terms: true\n\nRaw result: {\n  \"action\": \"accept\",\n  \
     \"content\": {\n    \"check\": true,\n    \"name\": \"fastmcp agent\"\n  }\n}";

/// A config with server-everything and mcp-server-time (local zone UTC).
fn config(dir: &Path) -> PathBuf {
    let mut text = "[settings]\nstartup_timeout = \"60s\"\n".to_string();
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `weft serve --http` on a free port for `config`: the process and its
/// `/mcp` URL.
fn serve_http(config: &Path) -> (Background, String) {
    let (process, base) = serve_weft_http(weft().arg("--config").arg(config));
    (process, format!("{base}/mcp"))
}

/// The stdio target for a client: weft spawned with this config.
fn stdio_target(config: &Path) -> String {
    let argv = [
        target_bin("weft").display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "serve".into(),
    ];
    serde_json::to_string(&argv).expect("argv")
}

/// Runs `tests/clients/SCRIPT` with the Python of the framework's venv
/// (`$WEFT_TOOLS/venv-FRAMEWORK`), failing on a non-zero exit, anything
/// logged, or after [`COMMAND_DEADLINE`]: what it observed.
fn run(framework: &str, script: &str, target: &str, arg: Value) -> Value {
    let python = tools().join(format!("venv-{framework}/bin/python"));
    assert!(
        python.exists(),
        "{framework} is not installed at {}: run `bash .ci/setup-tools`",
        python.display()
    );
    let mut cmd = Command::new(&python);
    cmd.arg(repo_root().join("tests/clients").join(script))
        .args([target, &arg.to_string()])
        .env("WEFT_LOG", "error")
        .stdin(Stdio::null());
    isolate(&mut cmd);
    let out = cmd.output_timed().expect("run the agent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the {framework} agent failed ({arg}):\n{stderr}\n{stdout}"
    );
    // Nothing logged: no failed session end (weft's answer to the DELETE
    // that ends a handshake-era session), no dropped stream, no warning.
    assert!(
        stderr.trim().is_empty(),
        "the {framework} agent logged ({arg}):\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{framework}'s output is not JSON ({e}): {stdout}\n{stderr}"))
}

fn fastmcp(target: &str, arg: Value) -> Value {
    run("fastmcp", "fastmcp_agent.py", target, arg)
}

fn openai_agents(target: &str, arg: Value) -> Value {
    run("openai-agents", "openai_agents_agent.py", target, arg)
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Each call's outcome without the connection it was made on.
fn outcomes(out: &Value) -> Vec<Value> {
    let calls = out["calls"].as_array().cloned().unwrap_or_default();
    calls
        .into_iter()
        .map(|mut c| {
            if let Some(c) = c.as_object_mut() {
                c.remove("protocol");
                c.remove("session");
            }
            c
        })
        .collect()
}

/// Every call's (protocol, session), the listing's first.
fn connections(out: &Value) -> Vec<(Value, Value)> {
    let mut all = vec![(
        out["listed_on"]["protocol"].clone(),
        out["listed_on"]["session"].clone(),
    )];
    for c in out["calls"].as_array().into_iter().flatten() {
        all.push((c["protocol"].clone(), c["session"].clone()));
    }
    all
}

/// fastmcp on one connection, in both eras: it lists weft's tools, gets
/// echo's text, a failing call's error result (as the ToolError fastmcp
/// raises) and an unknown tool's JSON-RPC error, and answers the sampling
/// and elicitation requests weft relays from server-everything.
#[test]
fn fastmcp_keeps_one_connection_for_its_calls_and_answers_relayed_requests() {
    let dir = temp_dir();
    let (_weft, url) = serve_http(&config(dir.path()));
    let calls = json!([
        echo("kept"),
        bad_zone(),
        {"tool": "nowhere__nothing"},
        {"tool": "everything__trigger-sampling-request", "args": {"prompt": "weft?", "maxTokens": 20}},
        {"tool": "everything__trigger-elicitation-request"},
        echo("still kept"),
    ]);
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let out = fastmcp(
            &url,
            json!({"mode": mode, "style": "keep", "sampling": true, "elicitation": true, "calls": calls}),
        );
        assert_eq!(names(&out["tools"]), LISTED, "{mode}: {out}");
        assert_eq!(out["connections"], 1, "{mode}: {out}");
        assert_eq!(
            outcomes(&out),
            [
                json!({"error": false, "text": "Echo: kept", "raised": null}),
                json!({"error": true, "text": BAD_ZONE_TEXT, "raised": "ToolError"}),
                json!({"error": true, "rpc_error": {"code": -32602, "message": "Unknown tool: \"nowhere__nothing\""}}),
                json!({"error": false, "text": sampled_text("weft?"), "raised": null}),
                json!({"error": false, "text": ELICITED_TEXT, "raised": null}),
                json!({"error": false, "text": "Echo: still kept", "raised": null}),
            ],
            "{mode}: {out}"
        );
        // What the server asked reached fastmcp's handlers unchanged.
        assert_eq!(
            out["sampled"],
            json!([{"asked": "Resource trigger-sampling-request context: weft?",
                    "system": "You are a helpful test server.", "max_tokens": 20}]),
            "{mode}"
        );
        assert_eq!(
            out["elicited"],
            json!([{"message": "Please provide inputs for the following fields:", "required": ["name"]}]),
            "{mode}"
        );
        // One connection: every call in the era fastmcp chose, and in the
        // handshake era, all in the session the listing opened.
        let seen = connections(&out);
        assert_eq!(seen.len(), 7, "{mode}: {out}");
        let session = if mode == "legacy" {
            let first = &seen[0].1;
            assert!(first.as_str().is_some_and(|s| !s.is_empty()), "{out}");
            first.clone()
        } else {
            Value::Null
        };
        for (p, s) in &seen {
            assert_eq!((p, s), (&json!(protocol), &session), "{mode}: {out}");
        }
    }
}

/// fastmcp with a new connection (and so, in the handshake era, a new
/// session) for each call: every call is answered, and no two connections
/// share a session.
#[test]
fn fastmcp_opens_a_connection_per_call() {
    let dir = temp_dir();
    let (_weft, url) = serve_http(&config(dir.path()));
    let out = fastmcp(
        &url,
        json!({"mode": "legacy", "style": "per_call", "sampling": true,
               "calls": [echo("first"), bad_zone(), echo("third"),
                         {"tool": "everything__trigger-sampling-request", "args": {"prompt": "anew", "maxTokens": 5}}]}),
    );
    assert_eq!(names(&out["tools"]), LISTED, "{out}");
    assert_eq!(out["connections"], 5, "{out}");
    assert_eq!(
        outcomes(&out),
        [
            json!({"error": false, "text": "Echo: first", "raised": null}),
            json!({"error": true, "text": BAD_ZONE_TEXT, "raised": "ToolError"}),
            json!({"error": false, "text": "Echo: third", "raised": null}),
            json!({"error": false, "text": sampled_text("anew"), "raised": null}),
        ],
        "{out}"
    );
    let seen = connections(&out);
    let mut sessions: Vec<&str> = seen.iter().filter_map(|(_, s)| s.as_str()).collect();
    assert!(
        seen.iter().all(|(p, _)| p == "2025-11-25"),
        "every connection in the handshake era: {out}"
    );
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 5, "a session of its own each: {out}");
}

/// The OpenAI Agents SDK on one connection: `list_tools` and the function
/// tools an `Agent` makes of them (strict schemas) name weft's tools, the
/// function tool runs echo as a model's tool call would, and `call_tool`
/// gets echo's text, a failing call's error result, an unknown tool's
/// JSON-RPC error, and weft's own error for a sampling request the agent
/// cannot answer.
#[test]
fn openai_agents_sdk_keeps_one_connection_for_its_calls() {
    let dir = temp_dir();
    let (_weft, url) = serve_http(&config(dir.path()));
    let out = openai_agents(
        &url,
        json!({"style": "keep",
               "invoke": {"tool": "everything__echo", "args": {"message": "as an agent"}},
               "calls": [echo("kept"), bad_zone(), {"tool": "nowhere__nothing"},
                         {"tool": "everything__trigger-sampling-request", "args": {"prompt": "x", "maxTokens": 5}},
                         echo("still kept")]}),
    );
    assert_eq!(names(&out["tools"]), LISTED, "{out}");
    assert_eq!(names(&out["agent_tools"]), LISTED, "{out}");
    assert_eq!(
        out["invoked"],
        json!({"type": "text", "text": "Echo: as an agent"})
    );
    assert_eq!(out["connections"], 1, "{out}");
    assert_eq!(out["listed_on"], "2026-07-28", "{out}");
    assert_eq!(
        out["calls"],
        json!([
            {"protocol": "2026-07-28", "error": false, "text": "Echo: kept"},
            {"protocol": "2026-07-28", "error": true, "text": BAD_ZONE_TEXT},
            {"protocol": "2026-07-28", "error": true,
             "rpc_error": {"code": -32602, "message": "Unknown tool: \"nowhere__nothing\""}},
            {"protocol": "2026-07-28", "error": true,
             "text": "MCP error -32600: the server asked for sampling, and the agent connected to weft \
                      did not declare the sampling capability, so weft cannot pass the request on"},
            {"protocol": "2026-07-28", "error": false, "text": "Echo: still kept"},
        ]),
    );
}

/// The OpenAI Agents SDK with a new `MCPServerStreamableHttp` (connect,
/// call, cleanup) for each call.
#[test]
fn openai_agents_sdk_connects_per_call() {
    let dir = temp_dir();
    let (_weft, url) = serve_http(&config(dir.path()));
    let out = openai_agents(
        &url,
        json!({"style": "per_call", "calls": [echo("first"), bad_zone(), echo("third")]}),
    );
    assert_eq!(names(&out["tools"]), LISTED, "{out}");
    assert_eq!(out["connections"], 4, "{out}");
    assert_eq!(
        out["calls"],
        json!([
            {"protocol": "2026-07-28", "error": false, "text": "Echo: first"},
            {"protocol": "2026-07-28", "error": true, "text": BAD_ZONE_TEXT},
            {"protocol": "2026-07-28", "error": false, "text": "Echo: third"},
        ]),
    );
}

/// Both frameworks spawn `weft serve` over stdio: the same tools, and
/// `weft_run_code` too (code mode is on for a local agent), a call's text,
/// and, for fastmcp, a relayed sampling request.
#[test]
fn both_frameworks_spawn_weft_over_stdio() {
    let dir = temp_dir();
    let target = stdio_target(&config(dir.path()));
    let mut listed: Vec<&str> = LISTED.to_vec();
    listed.push("weft_run_code");
    listed.sort();

    let out = fastmcp(
        &target,
        json!({"mode": "auto", "style": "keep", "sampling": true,
               "calls": [echo("over stdio"),
                         {"tool": "everything__trigger-sampling-request", "args": {"prompt": "stdio?", "maxTokens": 7}}]}),
    );
    assert_eq!(names(&out["tools"]), listed, "{out}");
    assert_eq!(
        outcomes(&out),
        [
            json!({"error": false, "text": "Echo: over stdio", "raised": null}),
            json!({"error": false, "text": sampled_text("stdio?"), "raised": null}),
        ],
        "{out}"
    );

    let out = openai_agents(
        &target,
        json!({"style": "keep", "calls": [echo("over stdio"), bad_zone()]}),
    );
    assert_eq!(names(&out["tools"]), listed, "{out}");
    assert_eq!(
        out["calls"],
        json!([
            {"protocol": "2026-07-28", "error": false, "text": "Echo: over stdio"},
            {"protocol": "2026-07-28", "error": true, "text": BAD_ZONE_TEXT},
        ]),
    );
}
