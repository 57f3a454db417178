//! `weft serve` driven by real MCP clients: the official Python SDK (over
//! stdio and streamable HTTP, in its handshake-era and 2026-07-28 modes)
//! and the MCP Inspector CLI, in front of real servers of both eras.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const MODES: [&str; 2] = ["legacy", "2026-07-28"];

/// A config with server-everything (2025-11-25), mcp-server-time
/// (2026-07-28), the fault fixture and the template policy.
fn setup(extra_settings: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = format!("[settings]\nstartup_timeout = \"60s\"\n{extra_settings}\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text += &command_entry(
        "faulty",
        &target_bin("weft-faulty-server"),
        &["--record", &record.display().to_string()],
    );
    text += &format!(
        "[policies.greet]\npath = {}\ndescription = \"Echo a message through server-everything\"\ngrants = [\"everything.echo\"]\ninput_schema = {{ type = \"object\", properties = {{ message = {{ type = \"string\" }} }} }}\n",
        q(guest_wasm("weft-policy-template").display().to_string())
    );
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Runs the scripted Python SDK agent (killed, and the test failed, past
/// [`COMMAND_DEADLINE`]) and returns what it observed.
pub(crate) fn agent(target: &str, mode: &str, scenario: &str, arg: Value) -> Value {
    let script = repo_root().join("tests/clients/agent.py");
    let mut cmd = Command::new(venv_bin("python"));
    cmd.arg(&script)
        .args([target, mode, scenario, &arg.to_string()])
        .env("WEFT_LOG", "error")
        .stdin(Stdio::null());
    isolate(&mut cmd);
    let out = cmd.output_timed().expect("run the Python SDK agent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python SDK agent failed ({mode}, {scenario}):\n{stderr}\n{stdout}"
    );
    // The SDK ends an HTTP session with a DELETE, and logs this when
    // weft's answer is not 200 or 204 (it was 202).
    assert!(
        !stderr.contains("Session termination failed"),
        "({mode}, {scenario}) the SDK could not end its session:\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("agent output is not JSON ({e}): {stdout}\n{stderr}"))
}

/// The stdio target for the agent: weft spawned with this config.
fn stdio_target(config: &Path, extra: &[&str]) -> String {
    let mut argv = vec![
        target_bin("weft").display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "serve".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    serde_json::to_string(&argv).expect("argv")
}

/// `weft serve --http 127.0.0.1:0` (weft binds a free port and prints its
/// URL), with that URL.
struct HttpWeft {
    _proc: Background,
    url: String,
}

fn serve_http(config: &Path) -> HttpWeft {
    let (proc, base) = serve_weft_http(weft().arg("--config").arg(config));
    HttpWeft {
        _proc: proc,
        url: format!("{base}/mcp"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What every client should see through weft, whatever the transport.
fn check_basic(out: &Value, how: &str) {
    let tools = strings(&out["tools"]);
    for want in [
        "everything__echo",
        "time__get_current_time",
        "faulty__hang",
        "greet",
        "weft_search_tools",
        "weft_run_policy",
    ] {
        assert!(
            tools.iter().any(|t| t == want),
            "{how}: {want} missing from {tools:?}"
        );
    }
    assert!(
        !tools.iter().any(|t| t == "weft_call_tool"),
        "{how}: weft_call_tool is only for the policies and search modes"
    );
    assert_eq!(out["echo"], "Echo: hello through weft", "{how}");
    assert_eq!(out["policy"]["error"], false, "{how}: {}", out["policy"]);
    // The template policy answers what server-everything's echo said.
    assert_eq!(
        out["policy"]["structured"]["echo"], "Echo: hi from the test",
        "{how}: policy said {}",
        out["policy"]
    );
    assert!(
        out["search"]["matches"].as_u64().unwrap_or(0) >= 1,
        "{how}: {}",
        out["search"]
    );
    assert_eq!(
        out["search"]["tools"][0]["name"], "everything__echo",
        "{how}: {}",
        out["search"]
    );
    let resources = strings(&out["resources"]);
    assert!(
        resources
            .iter()
            .any(|r| r.starts_with("everything+demo://")),
        "{how}: resources {resources:?}"
    );
    assert!(
        out["read_uri"]
            .as_str()
            .unwrap_or_default()
            .starts_with("everything+"),
        "{how}: read gave {}",
        out["read_uri"]
    );
    assert!(
        strings(&out["prompts"])
            .iter()
            .any(|p| p == "everything__simple-prompt"),
        "{how}: prompts {}",
        out["prompts"]
    );
    let unknown = out["unknown"].as_str().unwrap_or_default();
    assert!(
        unknown.contains("Unknown tool"),
        "{how}: unknown tool gave {unknown:?}"
    );
}

fn basic_arg() -> Value {
    json!({
        "echo_tool": "everything__echo",
        "policy": "greet",
        "policy_input": {"message": "hi from the test"},
        "search": "echo",
    })
}

#[test]
fn python_sdk_over_stdio_in_both_eras() {
    let (_dir, config) = setup("");
    let target = stdio_target(&config, &[]);
    for mode in MODES {
        let out = agent(&target, mode, "basic", basic_arg());
        check_basic(&out, &format!("stdio {mode}"));
    }
}

#[test]
fn python_sdk_over_http_in_both_eras() {
    let (_dir, config) = setup("");
    let weft = serve_http(&config);
    for mode in MODES {
        let out = agent(&weft.url, mode, "basic", basic_arg());
        check_basic(&out, &format!("http {mode}"));
    }
}

#[test]
fn progress_sampling_and_elicitation_reach_the_agent_in_both_eras() {
    let (_dir, config) = setup("");
    let weft = serve_http(&config);
    for mode in MODES {
        let out = agent(
            &weft.url,
            mode,
            "progress",
            json!({"tool": "everything__trigger-long-running-operation", "args": {"duration": 1, "steps": 3}}),
        );
        assert_eq!(out["progress"], json!([1.0, 2.0, 3.0]), "{mode}: {out}");

        let out = agent(
            &weft.url,
            mode,
            "call",
            json!({"tool": "everything__trigger-sampling-request", "args": {"prompt": "weft?", "maxTokens": 20}, "sampling": true}),
        );
        assert_eq!(out["error"], false, "{mode}: {out}");
        assert!(
            out["text"]
                .as_str()
                .unwrap_or_default()
                .contains("sampled by the test agent"),
            "{mode}: the upstream did not get the agent's sample: {out}"
        );

        let out = agent(
            &weft.url,
            mode,
            "call",
            json!({"tool": "everything__trigger-elicitation-request", "args": {}, "elicitation": true}),
        );
        assert_eq!(out["error"], false, "{mode}: {out}");
        assert!(
            out["text"].as_str().unwrap_or_default().contains("teal"),
            "{mode}: {out}"
        );

        // An agent without the sampling capability gets a clear error.
        let out = agent(
            &weft.url,
            mode,
            "call",
            json!({"tool": "everything__trigger-sampling-request", "args": {"prompt": "x", "maxTokens": 5}}),
        );
        assert_eq!(out["error"], true, "{mode}: {out}");
        assert!(
            out["text"]
                .as_str()
                .unwrap_or_default()
                .contains("did not declare the sampling capability"),
            "{mode}: {out}"
        );
    }
}

#[test]
fn cancellation_reaches_the_upstream() {
    let (dir, config) = setup("");
    let target = stdio_target(&config, &[]);
    let out = agent(
        &target,
        "legacy",
        "cancel",
        json!({"tool": "faulty__hang", "after": 1.0, "then": "faulty__echo", "then_args": {"text": "still here"}}),
    );
    assert_eq!(out["cancelled"], true, "{out}");
    assert_eq!(out["after"], "still here", "{out}");
    // The fixture records the cancellation when it arrives.
    let record = dir.path().join("calls.log");
    wait_until(
        Duration::from_secs(10),
        "the upstream to record the cancellation (`cancelled:hang`)",
        || {
            std::fs::read_to_string(&record)
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("cancelled:hang"))
        },
    );
}

#[test]
fn list_changes_and_resource_updates_reach_the_agent() {
    let (_dir, config) = setup("");
    let target = stdio_target(&config, &[]);
    let uri = "everything+demo://resource/static/document/architecture.md";
    let out = agent(
        &target,
        "legacy",
        "changes",
        json!({
            "subscribe": uri,
            "steps": [
                {"tool": "everything__toggle-subscriber-updates"},
                {"tool": "everything__gzip-file-as-resource", "args": {"name": "hello.txt.gz", "data": "data:text/plain;base64,aGVsbG8=", "outputType": "resourceLink"}}
            ],
            "expect": ["notifications/resources/list_changed", "notifications/resources/updated"],
            "wait": 20,
        }),
    );
    let notes = strings(&out["notifications"]);
    assert!(
        notes
            .iter()
            .any(|n| n == "notifications/resources/list_changed"),
        "no list_changed: {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n == &format!("notifications/resources/updated {uri}")),
        "no update for the subscribed URI (as the agent names it): {notes:?}"
    );
    assert!(
        strings(&out["resources"])
            .iter()
            .any(|r| r.ends_with("hello.txt.gz")),
        "the new resource is not listed: {}",
        out["resources"]
    );
}

#[test]
fn expose_modes_and_pagination() {
    let (_dir, config) = setup("expose = \"search\"\npage_size = 2");
    let target = stdio_target(&config, &[]);
    let out = agent(
        &target,
        "legacy",
        "basic",
        json!({"echo_tool": "everything__echo"}),
    );
    assert_eq!(
        strings(&out["tools"]),
        [
            "weft_search_tools",
            "weft_run_policy",
            "weft_call_tool",
            "weft_run_code"
        ],
        "search mode lists only the meta tools (code mode's too, over stdio)"
    );
    assert_eq!(out["pages"], 2, "four tools at two a page");
    // Hidden from the list is not unreachable: the catalog answers calls.
    assert_eq!(out["echo"], "Echo: hello through weft");
    let out = agent(
        &target,
        "2026-07-28",
        "call",
        json!({"tool": "weft_call_tool", "args": {"name": "time__convert_time", "arguments": {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}}}),
    );
    assert_eq!(out["error"], false, "{out}");
    assert!(
        out["text"].as_str().unwrap_or_default().contains("21:00"),
        "{out}"
    );

    // The command line overrides the config.
    let target = stdio_target(&config, &["--expose", "policies"]);
    let out = agent(
        &target,
        "legacy",
        "basic",
        json!({"echo_tool": "everything__echo"}),
    );
    assert_eq!(
        strings(&out["tools"]),
        [
            "greet",
            "weft_search_tools",
            "weft_run_policy",
            "weft_call_tool",
            "weft_run_code"
        ]
    );
}

/// `[settings] page_bytes` cuts `tools/list` by size (64 KiB by default):
/// the Python SDK, paging in both eras, gets exactly the pages the rule
/// gives and every tool once, in order; the MCP Inspector (the TypeScript
/// SDK), which follows the cursors itself, gets the same tools as from one
/// page. Every page is served from the serialised lists.
#[test]
fn lists_are_paged_by_size_for_every_client() {
    let (_whole_dir, whole) = setup("journal = false");
    let (_paged_dir, paged) = setup("journal = false\npage_bytes = \"1KiB\"");
    let (whole, paged) = (serve_http(&whole), serve_http(&paged));
    let everything = inspector(&[&whole.url], &["--method", "tools/list"]);
    let tools = everything["tools"].as_array().expect("tools").clone();
    assert!(
        everything.get("nextCursor").is_none(),
        "the whole catalog fits in 64 KiB"
    );
    // The rule: a page ends before the tool that would take its tools,
    // each with its comma, past 1,024 bytes; it holds one at least.
    let mut pages: Vec<usize> = vec![];
    let mut used = 0;
    for tool in &tools {
        let size = serde_json::to_string(tool).expect("json").len() + 1;
        match pages.last_mut() {
            Some(n) if used + size <= 1024 => {
                *n += 1;
                used += size;
            }
            _ => {
                pages.push(1);
                used = size;
            }
        }
    }
    assert!(pages.len() >= 3, "{pages:?}");
    // The Inspector follows the cursors itself: the same tools, whole.
    let walked = inspector(&[&paged.url], &["--method", "tools/list"]);
    assert_eq!(walked["tools"].as_array(), Some(&tools));
    let names: Vec<String> = tools
        .iter()
        .map(|t| t["name"].as_str().expect("a name").to_string())
        .collect();
    for mode in MODES {
        let out = agent(&paged.url, mode, "basic", basic_arg());
        assert_eq!(strings(&out["tools"]), names, "{mode}");
        assert_eq!(out["pages"], pages.len(), "{mode}");
    }
    // Every page, to both SDKs and in both eras (the Inspector and the
    // Python SDK's legacy mode in a session), was served from the
    // serialised lists (`serve/view/listing.rs`), not through rmcp.
    let base = paged.url.trim_end_matches("/mcp");
    let listed =
        tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(crate::direct_call::posts(
                &reqwest::Client::new(),
                base,
                "listed",
            ));
    assert_eq!(listed, 3 * pages.len() as u64, "{pages:?}");
}

/// The MCP Inspector CLI, `--format json`, against a target.
fn inspector(target: &[&str], method_args: &[&str]) -> Value {
    let launcher = tools()
        .join("npm/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    assert!(
        launcher.exists(),
        "the MCP Inspector is missing at {}: run `bash .ci/setup-tools`",
        launcher.display()
    );
    let scratch = temp_dir();
    let mut cmd = Command::new(node22());
    cmd.arg(&launcher)
        .arg("--cli")
        .args(target)
        .args(method_args)
        .env("MCP_CATALOG_PATH", scratch.path().join("catalog.json"))
        .env(
            "MCP_CLIENT_CONFIG_PATH",
            scratch.path().join("clients.json"),
        )
        .env("WEFT_LOG", "error")
        .stdin(Stdio::null());
    isolate(&mut cmd);
    let out = cmd.output_timed().expect("run the MCP Inspector CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Inspector failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn mcp_inspector_cli_lists_and_calls() {
    // No journal: the Inspector declares tasks, and a durable policy run
    // slowed past a second by a loaded machine would be answered as a task
    // (tested in run_tasks.rs), where this test reads the result.
    let (_dir, config) = setup("journal = false");
    let weft = serve_http(&config);
    let listed = inspector(&[&weft.url], &["--method", "tools/list"]);
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"everything__get-sum"), "{names:?}");
    assert!(names.contains(&"greet"), "{names:?}");
    let called = inspector(
        &[&weft.url],
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "everything__get-sum",
            "--tool-arg",
            "a=20",
            "b=22",
        ],
    );
    assert_eq!(
        called["content"],
        json!([{"type": "text", "text": "The sum of 20 and 22 is 42."}]),
        "{called}"
    );

    // Over stdio, the Inspector spawning weft itself (the config comes by
    // environment: the Inspector keeps --config for its own use).
    let weft_bin = target_bin("weft").display().to_string();
    let env = format!("WEFT_CONFIG={}", config.display());
    let called = inspector(
        &["-e", &env, &weft_bin, "serve"],
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "greet",
            "--tool-arg",
            "message=from the inspector",
        ],
    );
    assert!(
        called.to_string().contains("from the inspector"),
        "{called}"
    );
}

/// An agent that speaks only the legacy HTTP+SSE transport (the Python
/// SDK's `sse_client`: `GET /sse`, then POSTs to the endpoint it names)
/// gets the same catalog, calls, policy, search, resources and prompts
/// as a streamable HTTP agent, and progress on its event stream.
#[test]
fn python_sdk_over_legacy_sse() {
    let (_dir, config) = setup("");
    let weft = serve_http(&config);
    let sse = weft.url.replace("/mcp", "/sse");
    let out = agent(&sse, "legacy", "basic", basic_arg());
    check_basic(&out, "legacy sse");
    let out = agent(
        &sse,
        "legacy",
        "progress",
        json!({"tool": "everything__trigger-long-running-operation", "args": {"duration": 1, "steps": 3}}),
    );
    assert_eq!(out["progress"], json!([1.0, 2.0, 3.0]), "{out}");
}
