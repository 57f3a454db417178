//! Adapters: Wasm components hosted as servers (`component = "..."`).
//! Their tools join the catalog and go through the router like any
//! server's; each call gets a fresh instance under the server's limits, so
//! a hostile call takes only itself down; nested calls carry the caller's
//! tenant and the adapter's grants, and a cycle is refused. The host still
//! serves components built against weft:mcp@0.1.0.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::*;
use weft::{ErrorKind, Hub, State};

/// A config in `dir` with server-everything, the test adapter as `ad`
/// (limits low enough to hit quickly, a `[config]` table, grants for
/// everything.echo and both adapters) and as `ad2` (granted `ad.*`), the
/// same adapter set to trap while loading as `bad`, and two tenants:
/// `narrow` sees only `ad`, `wide` sees `ad` and `everything`. A policy
/// configured as a component server is `notadapter`.
fn setup(dir: &std::path::Path) -> PathBuf {
    setup_with(dir, "", "")
}

/// [`setup`], with `settings` added to `[settings]` and `extra` to the end.
pub(crate) fn setup_with(dir: &std::path::Path, settings: &str, extra: &str) -> PathBuf {
    // A relative path resolves against the config file's folder.
    std::fs::copy(guest_wasm("weft-adapter-guest"), dir.join("adapter.wasm"))
        .expect("copy the adapter");
    std::fs::copy(guest_wasm("weft-policy-template"), dir.join("policy.wasm"))
        .expect("copy a policy");
    let mut text = format!("[settings]\nstartup_timeout = \"60s\"\n{settings}");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += r#"
[servers.ad]
component = "adapter.wasm"
grants = ["everything.echo", "ad.*", "ad2.*"]
[servers.ad.limits]
fuel = "unlimited"
timeout = "1s"
memory = "32MiB"
max_calls = 20
max_output = "64KiB"
concurrency = 2
[servers.ad.config]
greeting = "hello"
nested = { list = [1, 2, 3], on = true }

[servers.ad2]
component = "adapter.wasm"
grants = ["ad.*"]

[servers.bad]
component = "adapter.wasm"
[servers.bad.config]
trap_at_load = true

[servers.notadapter]
component = "policy.wasm"

[tenants.narrow]
include = ["ad.*"]

[tenants.wide]
include = ["ad.*", "everything.*"]
"#;
    text += extra;
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn hub(dir: &std::path::Path) -> Hub {
    // The component servers' sandbox compiles into the test's own cache.
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.join("cache"))).expect("sandbox");
    let config = weft::Config::load(&setup(dir)).expect("the config loads");
    within("the hub starts", Hub::start(config)).await
}

async fn call(hub: &Hub, tool: &str, args: Value) -> Result<String, weft::CallError> {
    within(
        "an adapter call",
        hub.call_tool("ad", tool, args.as_object().cloned()),
    )
    .await
    .map(|r| text_of(&r))
}

/// `ad.call` of `server.tool`: the adapter's report of its nested call.
async fn nested(hub: &Hub, caller: &weft::Caller, server: &str, tool: &str, args: Value) -> Value {
    let args = json!({"server": server, "tool": tool, "args": args});
    let r = within(
        "a nested call",
        hub.call_tool_as(caller, "ad", "call", args.as_object().cloned()),
    )
    .await
    .expect("ad.call answers");
    serde_json::from_str(&text_of(&r)).expect("ad.call reports JSON")
}

/// The server is up with the adapter's tools in the catalog (input
/// schemas derived from the argument types), its config arrives as JSON,
/// and a component that traps while listing its tools is `failed` with
/// the reason while the others stay up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapters_serve_tools_and_a_load_trap_fails_only_that_server() {
    let dir = temp_dir();
    let hub = hub(dir.path()).await;
    let status: std::collections::HashMap<String, (String, &'static str)> = hub
        .status()
        .into_iter()
        .map(|s| (s.name.clone(), (s.state.name().to_string(), s.transport)))
        .collect();
    assert_eq!(status["ad"], ("up".to_string(), "component"));
    assert_eq!(status["ad2"], ("up".to_string(), "component"));
    assert_eq!(status["everything"].0, "up");
    assert_eq!(status["bad"], ("failed".to_string(), "component"));
    assert_eq!(status["notadapter"], ("failed".to_string(), "component"));
    let bad = hub.upstream("bad").expect("bad is configured").state();
    let State::Failed { error } = bad else {
        panic!("bad is not failed: {bad:?}");
    };
    assert!(
        error
            .reason
            .starts_with("list-tools failed: adapter \"bad\" crashed: "),
        "{}",
        error.reason
    );

    let State::Failed { error } = hub.upstream("notadapter").unwrap().state() else {
        panic!("a policy served as an adapter is not failed");
    };
    assert!(
        error.reason.starts_with(
            "the component is not an adapter: it does not export `list-tools: func() -> list<tool-info>` and `call-tool: func(tool: string, args: string) -> result<string, call-error>`; it exports `run: func(input: string) -> result<string, string>`"
        ),
        "{}",
        error.reason
    );

    let catalog = hub.catalog();
    let mut ours: Vec<&str> = catalog
        .tools()
        .iter()
        .filter(|t| &*t.server == "ad")
        .map(|t| t.name())
        .collect();
    ours.sort();
    assert_eq!(
        ours,
        ["call", "config", "echo", "flood", "hoard", "huge", "spin"]
    );
    let echo = catalog
        .tools()
        .iter()
        .find(|t| &*t.server == "ad" && t.name() == "echo")
        .expect("ad.echo");
    assert!(echo.read_only);
    assert_eq!(
        echo.tool.input_schema["properties"]["message"]["type"],
        "string"
    );
    assert_eq!(echo.tool.input_schema["required"], json!(["message"]));

    assert_eq!(
        call(&hub, "echo", json!({"message": "hi"})).await.unwrap(),
        "hi"
    );
    let config: Value =
        serde_json::from_str(&call(&hub, "config", json!({})).await.unwrap()).unwrap();
    assert_eq!(
        config,
        json!({"config": {"greeting": "hello", "nested": {"list": [1, 2, 3], "on": true}}})
    );
    // Arguments that do not fit the derived schema are refused before the
    // adapter runs (the router checks the schema, as for any server).
    let e = call(&hub, "echo", json!({"message": 5})).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgs, "{e}");
    // The supervisor leaves a component that failed to load alone: it
    // would fail the same way again.
    assert_eq!(hub.upstream("bad").unwrap().state().name(), "failed");
    hub.shutdown().await;
}

/// Spinning, hoarding memory, a huge result and a flood of nested calls
/// each fail their own call with the limit that stopped them, and the
/// next call works; a call over the concurrency cap is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_are_contained_and_the_next_call_works() {
    let dir = temp_dir();
    let hub = hub(dir.path()).await;
    let cases = [
        (
            "spin",
            json!({}),
            ErrorKind::Timeout,
            "time limit: adapter \"ad\" ran longer than 1000 ms (raise servers.ad.limits.timeout)",
        ),
        (
            "hoard",
            json!({}),
            ErrorKind::LimitExceeded,
            "memory limit: adapter \"ad\" tried to use ",
        ),
        (
            "huge",
            json!({"bytes": 100000}),
            ErrorKind::LimitExceeded,
            "output limit: adapter \"ad\" returned ",
        ),
        (
            "flood",
            json!({}),
            ErrorKind::LimitExceeded,
            "calls limit: adapter \"ad\" made more than 20 nested tool calls in one call (raise servers.ad.limits.max_calls)",
        ),
    ];
    for (tool, args, kind, message) in cases {
        let e = call(&hub, tool, args).await.unwrap_err();
        assert_eq!(
            (e.kind, e.server.as_str(), e.tool.as_str()),
            (kind, "ad", tool),
            "{e}"
        );
        assert!(e.message.starts_with(message), "{tool}: {}", e.message);
        assert_eq!(
            call(&hub, "echo", json!({"message": format!("after {tool}")}))
                .await
                .unwrap(),
            format!("after {tool}")
        );
    }
    // Two calls at once at most: of three spinning calls, the third is
    // refused as rate-limited while the others run out their time.
    let spins = tokio::join!(
        call(&hub, "spin", json!({})),
        call(&hub, "spin", json!({})),
        call(&hub, "spin", json!({}))
    );
    let spins = [spins.0, spins.1, spins.2];
    let mut kinds: Vec<ErrorKind> = spins.iter().map(|r| r.as_ref().unwrap_err().kind).collect();
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(
        kinds,
        [
            ErrorKind::RateLimited,
            ErrorKind::Timeout,
            ErrorKind::Timeout
        ]
    );
    let refused = spins
        .iter()
        .filter_map(|r| r.as_ref().err())
        .find(|e| e.kind == ErrorKind::RateLimited)
        .unwrap();
    assert_eq!(
        refused.message,
        "adapter \"ad\" is already running 2 calls (servers.ad.limits.concurrency); retry shortly"
    );
    assert_eq!(
        call(&hub, "echo", json!({"message": "after"}))
            .await
            .unwrap(),
        "after"
    );

    let up = hub.upstream("ad").unwrap();
    assert_eq!(up.state().name(), "up");
    // A limit hit is the call's failure, not the server's: the breaker
    // stays closed.
    assert_eq!(up.breaker.status().consecutive_failures, 0);
    hub.shutdown().await;
}

/// A policy calls the adapter, which calls server-everything; the
/// adapter's grants and the tenant's view both hold for nested calls, and
/// a cycle through two adapters is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_calls_keep_the_tenant_and_refuse_cycles() {
    let dir = temp_dir();
    let hub = hub(dir.path()).await;
    let owner = weft::Caller::owner();

    // A policy calls ad.call, which calls everything.echo.
    let sandbox = Arc::new(
        weft::sandbox::Sandbox::with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox"),
    );
    let runner = weft::policy::Runner::new(hub.clone(), sandbox);
    let policy = weft::policy::Loaded {
        name: "script".into(),
        wasm: weft::sandbox::Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).unwrap()),
        grants: weft::Grants::new(&["ad.call".into()]).unwrap(),
        limits: weft::Limits::default(),
    };
    let input = json!({"attack": "script", "calls": [{"server": "ad", "tool": "call",
        "args": {"server": "everything", "tool": "echo", "args": {"message": "from a policy"}}}]});
    let report = within(
        "a policy run",
        runner.run(&policy, &input.to_string(), None),
    )
    .await;
    assert!(report.ok(), "{:?}", report.error);
    let outcome = &report.output.as_ref().unwrap()[0];
    assert_eq!(outcome["ok"], true, "{outcome}");
    let inner: Value = serde_json::from_str(outcome["text"].as_str().unwrap()).unwrap();
    assert_eq!(inner, json!({"ok": true, "text": "Echo: from a policy"}));

    // The adapter's grants: everything.echo yes, anything else no.
    let r = nested(
        &hub,
        &owner,
        "everything",
        "get-sum",
        json!({"a": 1, "b": 2}),
    )
    .await;
    assert_eq!(r["kind"], "denied", "{r}");
    assert_eq!(
        r["message"],
        "the adapter's grants do not allow everything.get-sum \
         (an adapter's grants are servers.ad.grants in the config)"
    );

    // A tenant whose view lacks everything cannot reach it through ad; a
    // tenant whose view has it can.
    let tenant = |name: &str| weft::Caller::tenant(hub.tenants().get(name).unwrap(), "test");
    let echo = json!({"message": "through ad"});
    let r = nested(&hub, &tenant("narrow"), "everything", "echo", echo.clone()).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["kind"], "not-found", "{r}");
    let r = nested(&hub, &tenant("wide"), "everything", "echo", echo.clone()).await;
    assert_eq!(r, json!({"ok": true, "text": "Echo: through ad"}));

    // ad → ad2 → ad is a cycle, and so is ad → ad.
    let r = nested(
        &hub,
        &owner,
        "ad2",
        "call",
        json!({"server": "ad", "tool": "echo", "args": {"message": "loop"}}),
    )
    .await;
    let inner: Value = serde_json::from_str(r["text"].as_str().unwrap()).unwrap();
    assert_eq!(inner["kind"], "denied", "{inner}");
    assert_eq!(
        inner["message"],
        "refused: the call loops back into adapter \"ad\" (ad → ad2 → ad); an adapter cannot call itself, directly or through others"
    );
    let r = nested(&hub, &owner, "ad", "echo", json!({"message": "self"})).await;
    assert_eq!(r["kind"], "denied", "{r}");
    assert!(r["message"].as_str().unwrap().contains("(ad → ad)"), "{r}");
    hub.shutdown().await;
}

/// A policy built against weft:mcp@0.1.0 runs unchanged beside 0.2.0
/// components.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_built_against_0_1_0_still_runs() {
    let dir = temp_dir();
    let hub = hub(dir.path()).await;
    let bytes = std::fs::read(guest_wasm("weft-v1-policy-guest")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("weft:mcp/tools@0.1.0"));
    assert!(!text.contains("weft:mcp/tools@0.2.0"));
    let sandbox = Arc::new(weft::sandbox::Sandbox::with_cache_dir(None).expect("sandbox"));
    let runner = weft::policy::Runner::new(hub.clone(), sandbox);
    let policy = weft::policy::Loaded {
        name: "old".into(),
        wasm: weft::sandbox::Wasm::new(bytes),
        grants: weft::Grants::new(&["everything.echo".into(), "ad.echo".into()]).unwrap(),
        limits: weft::Limits::default(),
    };
    for (server, want) in [("everything", "Echo: old"), ("ad", "old")] {
        let input = format!(r#"{{"server":"{server}","tool":"echo","args":{{"message":"old"}}}}"#);
        let report = within("a 0.1.0 policy run", runner.run(&policy, &input, None)).await;
        assert!(report.ok(), "{:?}", report.error);
        let result = report.output.unwrap();
        assert_eq!(result["content"][0]["text"], want, "{result}");
    }
    hub.shutdown().await;
}

/// The Python SDK, as an agent of either era, lists the adapter's tools
/// through `weft serve` and calls one.
#[test]
fn python_sdk_lists_and_calls_adapter_tools_in_both_eras() {
    let dir = temp_dir();
    let config = setup(dir.path());
    let argv = json!([
        target_bin("weft").display().to_string(),
        "--config",
        config.display().to_string(),
        "serve",
        "--tenant",
        "wide"
    ]);
    for mode in ["legacy", "2026-07-28"] {
        let out = crate::serve::agent(
            &argv.to_string(),
            mode,
            "listed",
            json!({"tool": "ad__call", "args": {"server": "everything", "tool": "echo", "args": {"message": "agent"}}}),
        );
        let tools: Vec<&str> = out["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for want in ["ad__echo", "ad__call", "everything__echo"] {
            assert!(
                tools.contains(&want),
                "{mode}: {want} missing from {tools:?}"
            );
        }
        // The tenant's view holds for adapters as for any server.
        assert!(
            !tools.iter().any(|t| t.starts_with("ad2__")),
            "{mode}: {tools:?}"
        );
        assert_eq!(out["error"], false, "{mode}: {out}");
        let inner: Value = serde_json::from_str(out["text"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"ok": true, "text": "Echo: agent"}), "{mode}");
    }
}

/// The template adapter from the command line: `weft call` reaches its
/// tools (and, for `shout`, server-everything, which its grants name),
/// its config reaches it, and `weft status` shows its kind.
#[test]
fn the_template_adapter_from_the_command_line() {
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        "[servers.hello]\ncomponent = {}\ngrants = [\"everything.echo\"]\n[servers.hello.config]\ngreeting = \"Hi\"\n",
        q(guest_wasm("weft-adapter-template").display().to_string())
    );
    // A policy granted only the adapter: `weft run` still starts the
    // server the adapter's grants reach.
    text += &format!(
        "[policies.script]\npath = {}\ngrants = [\"hello.*\"]\n",
        q(guest_wasm("weft-hostile-guest").display().to_string())
    );
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).unwrap();
    let run = |args: &[&str]| {
        let out = weft()
            .arg("-c")
            .arg(&cfg)
            .args(args)
            .output_timed()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    assert_eq!(
        run(&["call", "hello", "greet", r#"{"name": "Ada"}"#]),
        "Hi, Ada!"
    );
    let shouted: Value =
        serde_json::from_str(&run(&["call", "hello", "shout", r#"{"message": "hey"}"#])).unwrap();
    assert_eq!(shouted, json!({"shouted": "Echo: HEY"}));
    let script = json!({"attack": "script", "calls": [
        {"server": "hello", "tool": "shout", "args": {"message": "run"}}]});
    let report: Value = serde_json::from_str(&run(&[
        "run",
        "script",
        "--input",
        &script.to_string(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["output"][0]["ok"], true, "{report}");
    let text: Value = serde_json::from_str(report["output"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"shouted": "Echo: RUN"}));
    let status = run(&["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("hello "))
        .unwrap_or_else(|| panic!("no hello line in {status}"));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&columns[..3], ["hello", "up", "component"], "{line}");
}

/// `weft check` warns about a shared handshake-era server (it may ask
/// agents for input) only when two or more tenants' views reach it, and
/// never about component servers, which run in weft and cannot run once
/// per tenant.
#[test]
fn check_warns_about_shared_servers_only_when_two_views_reach_them() {
    let check = |cfg: &Path| {
        let out = weft()
            .arg("-c")
            .arg(cfg)
            .arg("check")
            .output_timed()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // Only `wide` reaches everything: no warning.
    let one = temp_dir();
    let text = check(&setup(one.path()));
    assert!(!text.contains(" is shared by"), "{text}");
    // A second view reaches it: the warning names both tenants.
    let two = temp_dir();
    let text = check(&setup_with(
        two.path(),
        "",
        "[tenants.also]\ninclude = [\"everything.echo\"]\n",
    ));
    let shared: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" is shared by"))
        .collect();
    assert_eq!(shared.len(), 1, "{text}");
    assert!(
        shared[0]
            .starts_with("! servers.everything is shared by 2 tenants (also, wide) and speaks "),
        "{text}"
    );
}
