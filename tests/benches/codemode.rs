//! Benchmark: code mode end to end, case 8 of the suite. Prints figures
//! and records them with `record` (into `$WEFT_BENCH_OUT` when set);
//! asserts nothing about speed. Run with
//! `cargo bench -p weft-integration --profile dev --bench cases -- codemode`.
//!
//! A workflow is 10 sequential `echo` calls to server-everything over
//! stdio (the echo of case 3). An rmcp client (the agent) spawns
//! `weft serve` over stdio, in front of that server, and each sample is
//! timed from its `tools/call` to the answer:
//!
//! - `weft_run_code` with the workflow in Python, then in JavaScript: one
//!   agent call; the interpreter's fresh instance, the code's parse, the
//!   ten calls through the router and the report are all inside the
//!   sample (the interpreters are built and compiled before timing, as
//!   they are once per machine);
//! - the same ten calls made as ten agent `tools/call`s through the same
//!   `weft serve`.
//!
//! Beside them, the designs of case 3 (`common/roundtrips.rs`): the
//! Python `mcp` client calling the server directly, and a fresh Python
//! process per workflow calling through an HTTP bridge. For where the
//! time goes, the run report's own duration (`_meta["weft/run"]`: the
//! sandbox run, from instantiation to the output) is recorded too.
//!
//! Then the size of `weft_run_code`'s description (the typed calls of the
//! tools code may call) as `weft serve` lists it with the built-in example
//! config and its five servers: bytes, the tools it describes, and the
//! tools of the catalog.

use crate::support;

use crate::record;

use crate::roundtrips;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use support::code::{interpreters, weft_code};
use support::*;

type Client = RunningService<RoleClient, ()>;

/// Calls per workflow.
const N: usize = 10;
/// Timed workflows per way through weft (after as many to warm up).
const REPS: usize = 200;
/// Workflows of the slower designs (the Python client, the bridge).
const PY_REPS: usize = 15;

const PYTHON: &str = "return [tools.everything.echo(message=str(i)) for i in range(input['n'])]\n";
const JS: &str = "const out = [];\n\
for (let i = 0; i < input.n; i++) out.push(tools.everything.echo({message: String(i)}));\n\
return out;\n";

/// p50 and p99 of samples in ms, recorded as `NAME p50` and `NAME p99`.
fn latency_ms(name: &str, mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let (p50, p99) = (
        record::pct_us(&samples, 0.5) / 1e3,
        record::pct_us(&samples, 0.99) / 1e3,
    );
    record::figure("8", &format!("{name} p50"), p50, "ms");
    record::figure("8", &format!("{name} p99"), p99, "ms");
    println!("{name:<60} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms");
    (p50, p99)
}

/// An agent on `weft serve` over stdio, spawned from `cmd`.
async fn agent(cmd: std::process::Command) -> Client {
    let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(cmd))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weft serve");
    ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
        .expect("an MCP session with weft serve")
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args.as_object().cloned();
    client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// One `weft_run_code` of the workflow: its time and the sandbox run's
/// own duration (from the report), after checking the answer.
async fn run_code(client: &Client, language: &str, code: &str) -> (Duration, f64) {
    let args = json!({"language": language, "code": code, "input": {"n": N}});
    let t = Instant::now();
    let result = call(client, "weft_run_code", args).await;
    let took = t.elapsed();
    let text = text_of(&result);
    assert_ne!(result.is_error, Some(true), "{language}: {text}");
    let want: Vec<String> = (0..N).map(|i| format!("Echo: {i}")).collect();
    assert_eq!(text, json!(want).to_string(), "{language}");
    let run = result
        .meta
        .as_ref()
        .and_then(|m| m.get("weft/run"))
        .expect("the run report in _meta");
    assert_eq!(run["calls"].as_array().map(Vec::len), Some(N), "{run}");
    (took, run["duration_ms"].as_f64().unwrap_or(f64::NAN))
}

/// The same workflow as ten agent calls.
async fn ten_calls(client: &Client) -> Duration {
    let t = Instant::now();
    for i in 0..N {
        let r = call(client, "echo", json!({"message": i.to_string()})).await;
        assert_eq!(text_of(&r), format!("Echo: {i}"));
    }
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    println!("== 8. code mode end to end: {N} echo calls to server-everything (stdio) ==");
    let interp = interpreters("python");
    interpreters("js");
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(
        &cfg,
        format!(
            "[settings]\nnames = \"none\"\n{}",
            npm_entry("everything", "server-everything", &["stdio"])
        ),
    )
    .unwrap();
    let mut cmd = weft_code(&interp);
    cmd.arg("-c").arg(&cfg).arg("serve");
    let client = agent(cmd).await;

    let mut figures = Vec::new();
    for (language, label, code) in [
        ("python", "Python", PYTHON),
        ("javascript", "JavaScript", JS),
    ] {
        for _ in 0..REPS {
            run_code(&client, language, code).await;
        }
        let (mut total, mut inside) = (Vec::new(), Vec::new());
        for _ in 0..REPS {
            let (t, run) = run_code(&client, language, code).await;
            total.push(t);
            inside.push(run);
        }
        let (p50, _) = latency_ms(&format!("weft_run_code, {label}, {N} calls"), total);
        let run = record::median(inside);
        record::figure(
            "8",
            &format!("weft_run_code, {label}: sandbox run (report) p50"),
            run,
            "ms",
        );
        println!(
            "{:<60} p50 {run:>8.2} ms",
            format!("  of which the sandbox run ({label}, from the report)")
        );
        figures.push((label, p50));
    }
    for _ in 0..REPS {
        ten_calls(&client).await;
    }
    let mut samples = Vec::new();
    for _ in 0..REPS {
        samples.push(ten_calls(&client).await);
    }
    let (calls_p50, _) = latency_ms(&format!("{N} agent calls through weft serve"), samples);
    drop(client);

    let py = roundtrips::python_client_ms(&[N], PY_REPS)[&N];
    record::figure("8", &format!("python client, {N} calls p50"), py, "ms");
    println!("{:<60} p50 {py:>8.2} ms", "Python mcp client, direct");
    let bridge = roundtrips::Bridge::start(N);
    let mut bridged: Vec<Duration> = (0..PY_REPS).map(|_| bridge.workflow(N)).collect();
    bridged.sort();
    let bridged = record::pct_us(&bridged, 0.5) / 1e3;
    drop(bridge);
    record::figure(
        "8",
        &format!("subprocess+bridge, {N} calls p50"),
        bridged,
        "ms",
    );
    println!(
        "{:<60} p50 {bridged:>8.2} ms",
        "fresh Python process + HTTP bridge"
    );
    for (label, p50) in figures {
        for (what, other) in [
            (format!("{N} agent calls"), calls_p50),
            ("python client".into(), py),
            ("subprocess+bridge".into(), bridged),
        ] {
            record::figure(
                "8",
                &format!("{what} / weft_run_code ({label})"),
                other / p50,
                "x",
            );
        }
    }

    description_size(dir.path()).await;
}

/// `weft_run_code`'s description as `weft serve` lists it with the
/// built-in example config (no config file), its five servers found on
/// PATH as `.ci/demo` puts them there.
async fn description_size(dir: &std::path::Path) {
    let cwd = dir.join("example");
    let repo = cwd.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git_repo(&repo);
    let tools = tools();
    let path = std::env::join_paths(
        [
            tools.join("node22/node_modules/node/bin"),
            tools.join("npm/node_modules/.bin"),
            tools.join("venv/bin"),
        ]
        .into_iter()
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("a PATH");
    let mut cmd = weft();
    cmd.arg("serve")
        .current_dir(&cwd)
        .env("PATH", path)
        .env("WEFT_DEMO_REPO", &repo)
        .env("WEFT_DEMO_DIR", &cwd)
        .env("WEFT_DEMO_MEMORY", cwd.join("memory"));
    let client = agent(cmd).await;
    let listed = client.list_all_tools().await.expect("tools/list answers");
    drop(client);
    let servers: std::collections::BTreeSet<&str> = listed
        .iter()
        .filter_map(|t| t.name.split_once("__").map(|(s, _)| s))
        .collect();
    assert_eq!(
        servers.len(),
        5,
        "the example config's five servers are up: {servers:?}"
    );
    let in_catalog = listed.iter().filter(|t| t.name.contains("__")).count();
    let description = listed
        .iter()
        .find(|t| t.name == "weft_run_code")
        .and_then(|t| t.description.as_deref())
        .expect("weft serve lists weft_run_code")
        .to_string();
    // One TypeScript declaration per tool described (and one Python stub).
    let described = description.matches("\n  function ").count();
    // Past the size cap, the last line says how many were left out.
    let left_out: usize = description
        .rsplit_once("\n(")
        .and_then(|(_, tail)| tail.split_once(" more")?.0.parse().ok())
        .unwrap_or(0);
    let bytes = description.len();
    record::figure(
        "8",
        "API description, example config: size",
        bytes as f64,
        "bytes",
    );
    record::figure(
        "8",
        "API description, example config: tools described",
        described as f64,
        "tools",
    );
    record::figure(
        "8",
        "API description, example config: tools left out by the size cap",
        left_out as f64,
        "tools",
    );
    record::figure(
        "8",
        "example config: tools in the catalog",
        in_catalog as f64,
        "tools",
    );
    println!(
        "weft_run_code description, example config ({} servers, {in_catalog} tools): {bytes} bytes, \
         {described} tools described, {left_out} left out by the cap",
        servers.len()
    );
}
