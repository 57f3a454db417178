//! A hostile JavaScript policy (tests/guests/hostile-js) against the
//! sandbox: the same limits hold as for Rust guests, each attack ends with
//! an error that names what stopped it, and the host runs the next policy
//! normally.

use std::sync::Arc;
use std::time::Duration;

use crate::sandbox::limit;
use crate::support::js::js_component;
use crate::support::*;
use serde_json::json;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, RunReport, RunStatus, Runner};
use weft::sandbox::{LimitError, Sandbox};

struct Rig {
    runner: Runner,
    wasm: weft::sandbox::Wasm,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = temp_dir();
    let text = npm_entry("everything", "server-everything", &["stdio"]);
    let hub = within(
        "the hub starts",
        weft::Hub::start(config(dir.path(), &text)),
    )
    .await;
    // Compiling 12 MB of SpiderMonkey takes a minute or more on a busy
    // machine: it is compiled once for all tests and copied into this
    // rig's cache before the sandbox opens it (see `support::seed`), then
    // loaded from there, so that each run below is timed as a run.
    let file = js_component("tests/guests/hostile-js");
    let cache = dir.path().join("cache");
    let seeded = (file.clone(), cache.clone());
    tokio::task::spawn_blocking(move || crate::support::seed::seed(&seeded.0, &seeded.1))
        .await
        .expect("the seed task ends");
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(cache)).expect("sandbox"));
    let wasm = weft::sandbox::Wasm::new(std::fs::read(file).unwrap());
    let load = {
        let (sandbox, wasm) = (sandbox.clone(), wasm.clone());
        tokio::task::spawn_blocking(move || sandbox.prepare(&wasm))
    };
    let origin = load
        .await
        .expect("the load task ends")
        .expect("the component loads");
    assert_eq!(
        origin,
        weft::sandbox::Origin::Disk,
        "the seeded artifact is used"
    );
    Rig {
        runner: Runner::new(hub, sandbox),
        wasm,
        _dir: dir,
    }
}

impl Rig {
    async fn run(&self, input: serde_json::Value, limits: Limits) -> RunReport {
        let policy = Loaded {
            name: "hostile-js".into(),
            wasm: self.wasm.clone(),
            grants: Grants::new(&["everything.echo".into()]).unwrap(),
            limits,
        };
        within(
            "a policy run",
            self.runner.run(&policy, &input.to_string(), None),
        )
        .await
    }

    /// The host still works: a well-behaved run right after an attack.
    async fn still_serves(&self) {
        let r = self.run(json!({"n": 7}), Limits::default()).await;
        assert!(r.ok(), "a normal run failed after an attack: {:?}", r.error);
        assert_eq!(r.output.unwrap(), json!({"echo": "Echo: 7"}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_javascript_is_stopped_by_the_same_limits() {
    let rig = rig().await;
    rig.still_serves().await;

    // An infinite loop, stopped by fuel.
    let r = rig
        .run(
            json!({"attack": "spin"}),
            Limits {
                fuel: Some(50_000_000),
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(limit(&r), &LimitError::Fuel { fuel: 50_000_000 });
    rig.still_serves().await;

    // The same loop with unlimited fuel, stopped by the wall-time limit.
    let r = rig
        .run(
            json!({"attack": "spin"}),
            Limits {
                fuel: None,
                timeout: Duration::from_millis(200),
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(limit(&r), &LimitError::Time { ms: 200 });
    assert!(r.duration_ms >= 200.0, "stopped after {} ms", r.duration_ms);
    rig.still_serves().await;

    // A memory bomb, stopped at the default cap (64 MiB).
    let r = rig
        .run(json!({"attack": "memory"}), Limits::default())
        .await;
    match limit(&r) {
        LimitError::Memory { cap, desired } => {
            assert_eq!(*cap, 64 << 20);
            assert!(*desired > 64 << 20);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    rig.still_serves().await;

    // Unbounded recursion: SpiderMonkey's own limit, a JavaScript error
    // that fails the run, with the (trimmed) stack in the run's log.
    let r = rig
        .run(json!({"attack": "recurse"}), Limits::default())
        .await;
    assert_eq!(r.status, RunStatus::Error);
    assert_eq!(
        r.error.as_deref(),
        Some("the policy failed: InternalError: too much recursion")
    );
    let stack = &r.logs[0].message;
    assert!(
        stack.contains("recurse@") && stack.contains(" more frames"),
        "{stack}"
    );
    rig.still_serves().await;

    // A call flood, stopped by the call cap: exactly the cap reached the router.
    let r = rig
        .run(
            json!({"attack": "flood"}),
            Limits {
                max_calls: 25,
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(limit(&r), &LimitError::Calls { max: 25 });
    assert_eq!(r.calls.len(), 25);
    assert!(r.calls.iter().all(|c| c.ok && c.server == "everything"));
    rig.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_has_no_network_files_or_environment() {
    let rig = rig().await;

    // fetch() fails like fetch does, saying why; nothing is reached.
    let r = rig.run(json!({"attack": "fetch"}), Limits::default()).await;
    assert!(r.ok(), "{:?}", r.error);
    assert_eq!(
        r.output.unwrap(),
        json!({"reached": false, "error": "TypeError: fetch() is not available in a weft policy: reach other systems through MCP tools, with call()"})
    );
    assert!(r.calls.is_empty());
    rig.still_serves().await;

    // The only file access the engine gives JavaScript, a module import,
    // finds no file system: the run stops with a trap, nothing read.
    let r = rig.run(json!({"attack": "file"}), Limits::default()).await;
    assert_eq!(r.status, RunStatus::Error);
    assert_eq!(
        r.error.as_deref(),
        Some("the policy crashed: wasm trap: wasm `unreachable` instruction executed")
    );
    assert!(r.output.is_none());
    rig.still_serves().await;

    // No environment: no `process`, nor any other runtime's.
    let r = rig.run(json!({"attack": "env"}), Limits::default()).await;
    assert!(r.ok(), "{:?}", r.error);
    assert_eq!(
        r.output.unwrap(),
        json!({
            "process": "undefined",
            "env": {"error": "ReferenceError: process is not defined"},
            "deno": "undefined",
            "bun": "undefined",
        })
    );
    rig.still_serves().await;

    // An exception fails the run with its message; its stack, from the
    // throw to the policy's run, is in the log.
    let r = rig.run(json!({"attack": "throw"}), Limits::default()).await;
    assert_eq!(
        r.error.as_deref(),
        Some("the policy failed: TypeError: n must be a number, not undefined")
    );
    assert_eq!(r.logs.len(), 1);
    let log = &r.logs[0];
    assert_eq!(log.level, "error");
    let lines: Vec<&str> = log.message.lines().collect();
    assert_eq!(lines[0], "TypeError: n must be a number, not undefined");
    assert!(lines[1].starts_with("checkInput@"), "{}", log.message);
    assert_eq!(lines.len(), 3, "{}", log.message);
    rig.still_serves().await;

    // A CallError that escapes names the call, its kind and the message.
    let r = rig
        .run(json!({"attack": "uncaught"}), Limits::default())
        .await;
    assert_eq!(
        r.error.as_deref(),
        Some(
            "the policy failed: CallError: nowhere.nothing: denied: the policy's grants do not allow nowhere.nothing (a policy's grants are `grants` in its [policies.NAME] entry, or --grant on weft run)"
        )
    );
    rig.still_serves().await;
}
