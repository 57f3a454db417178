//! Hostile guests against the sandbox: each attack ends with an error that
//! names what stopped it, and the host runs the next policy normally.

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use weft::Grants;
use weft::config::Limits;
use weft::policy::{Loaded, RunReport, RunStatus, Runner};
use weft::sandbox::{LimitError, Origin, Sandbox};

pub(crate) struct Rig {
    runner: Runner,
    wasm: weft::sandbox::Wasm,
    record: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    rig_with(&guest_wasm("weft-hostile-guest")).await
}

/// A hub with server-everything and a recorder, and a runner for this
/// hostile component (granted `everything.echo` and `recorder.echo`), its
/// compiled artifact seeded into the rig's cache (see `support::seed`).
pub(crate) async fn rig_with(component: &std::path::Path) -> Rig {
    rig_at(component, true).await
}

/// [`rig_with`], seeded or with a cold cache.
async fn rig_at(component: &std::path::Path, seeded: bool) -> Rig {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "recorder",
        &target_bin("weft-faulty-server"),
        &[
            "--record",
            &record.display().to_string(),
            "--name",
            "recorder",
        ],
    );
    let hub = within(
        "the hub starts",
        weft::Hub::start(config(dir.path(), &text)),
    )
    .await;
    // Compiled once for all tests, copied into this rig's own cache.
    let cache = dir.path().join("cache");
    if seeded {
        let seed = (component.to_path_buf(), cache.clone());
        tokio::task::spawn_blocking(move || crate::support::seed::seed(&seed.0, &seed.1))
            .await
            .expect("the seed task ends");
    }
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(cache)).expect("sandbox"));
    let wasm = weft::sandbox::Wasm::new(std::fs::read(component).unwrap());
    Rig {
        runner: Runner::new(hub, sandbox),
        wasm,
        record,
        _dir: dir,
    }
}

impl Rig {
    pub(crate) async fn run(&self, input: serde_json::Value, limits: Limits) -> RunReport {
        let policy = Loaded {
            name: "hostile".into(),
            wasm: self.wasm.clone(),
            grants: Grants::new(&["everything.echo".into(), "recorder.echo".into()]).unwrap(),
            limits,
        };
        within(
            "a policy run",
            self.runner.run(&policy, &input.to_string(), None),
        )
        .await
    }

    /// Runs another component (with the same grants) on `{}`.
    async fn run_component(&self, wasm: weft::sandbox::Wasm) -> RunReport {
        let policy = Loaded {
            name: "other".into(),
            wasm,
            grants: Grants::new(&["everything.echo".into()]).unwrap(),
            limits: Limits::default(),
        };
        within("a policy run", self.runner.run(&policy, "{}", None)).await
    }

    /// The host still works: a well-behaved run right after an attack.
    pub(crate) async fn still_serves(&self) {
        let r = self
            .run(json!({"attack": "echo", "n": 7}), Limits::default())
            .await;
        assert!(r.ok(), "a normal run failed after an attack: {:?}", r.error);
        assert_eq!(r.output.unwrap()["echo"]["n"], 7);
    }
}

pub(crate) fn limit(r: &RunReport) -> &LimitError {
    assert_eq!(
        r.status,
        RunStatus::Limit,
        "expected a limit, got {:?} / {:?}",
        r.status,
        r.error
    );
    r.limit.as_ref().expect("the limit is named")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guests_are_stopped_and_the_host_carries_on() {
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
    assert!(r.fuel_used >= 50_000_000, "fuel used {}", r.fuel_used);
    rig.still_serves().await;

    // The same loop with unlimited fuel, stopped by the wall-time limit
    // within 50 ms of it.
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
    assert!(
        r.duration_ms >= 200.0 && r.duration_ms < 250.0,
        "stopped after {} ms",
        r.duration_ms
    );
    rig.still_serves().await;

    // A memory bomb, stopped at the memory cap.
    let r = rig
        .run(
            json!({"attack": "memory"}),
            Limits {
                memory: 32 << 20,
                ..Limits::default()
            },
        )
        .await;
    match limit(&r) {
        LimitError::Memory { cap, desired } => {
            assert_eq!(*cap, 32 << 20);
            assert!(*desired > 32 << 20);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    rig.still_serves().await;

    // Deep recursion: a trap, reported as a clean error.
    let r = rig
        .run(json!({"attack": "recurse"}), Limits::default())
        .await;
    assert_eq!(r.status, RunStatus::Error);
    let e = r.error.unwrap();
    assert!(
        e.contains("crashed") && (e.contains("stack") || e.contains("out of bounds")),
        "{e}"
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

    // A huge output, stopped by the output cap.
    let r = rig
        .run(
            json!({"attack": "big-output", "n": 300_000}),
            Limits {
                max_output: 100_000,
                ..Limits::default()
            },
        )
        .await;
    assert!(matches!(limit(&r), LimitError::Output { cap: 100_000, size } if *size > 300_000));
    rig.still_serves().await;

    // Noise on stdout, stopped by the log cap.
    let r = rig
        .run(json!({"attack": "stdout", "n": 100_000}), Limits::default())
        .await;
    assert!(matches!(limit(&r), LimitError::Log { .. }), "{:?}", r.error);
    rig.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_calls_are_denied_before_they_reach_the_server() {
    let rig = rig().await;
    // A granted call reaches the recorder: it does record.
    let r = rig
        .run(
            json!({"attack": "ungranted", "server": "recorder", "tool": "echo"}),
            Limits::default(),
        )
        .await;
    assert_eq!(
        r.output.as_ref().unwrap()["reached"],
        true,
        "{:?}",
        r.output
    );
    // An ungranted tool on the same server: denied, never recorded.
    let r = rig
        .run(
            json!({"attack": "ungranted", "server": "recorder", "tool": "fail"}),
            Limits::default(),
        )
        .await;
    let out = r.output.unwrap();
    assert_eq!(out["reached"], false);
    assert_eq!(out["kind"], "denied", "{out}");
    assert_eq!(r.calls.len(), 1);
    assert_eq!(r.calls[0].error, Some(weft::ErrorKind::Denied));
    // An ungranted server entirely.
    let r = rig
        .run(
            json!({"attack": "ungranted", "server": "everything", "tool": "get-env"}),
            Limits::default(),
        )
        .await;
    assert_eq!(r.output.unwrap()["kind"], "denied");
    let log = std::fs::read_to_string(&rig.record).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "only the granted call reached the server: {lines:?}"
    );
    assert!(lines[0].starts_with("recorder echo "), "{lines:?}");
    rig.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_grants_nothing() {
    let rig = rig().await;
    let r = rig.run(json!({"attack": "wasi"}), Limits::default()).await;
    assert!(r.ok(), "{:?}", r.error);
    let out = r.output.unwrap();
    for probe in [
        "read_passwd",
        "read_root",
        "write_file",
        "tcp_connect",
        "tcp_listen",
        "udp_bind",
    ] {
        assert_eq!(out[probe], false, "the guest could {probe}: {out}");
    }
    assert_eq!(out["env_count"], 0, "the guest saw environment variables");
    assert_eq!(out["args_count"], 0, "the guest saw arguments");
    rig.still_serves().await;
}

/// The wall-time limit covers the run, not the compile before it: a
/// component's first run, compiled on the spot (hundreds of ms for this
/// one), succeeds under a 50 ms limit that its run fits well within.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_compile_does_not_count_against_the_time_limit() {
    let rig = rig_at(&guest_wasm("weft-hostile-guest"), false).await;
    let limits = Limits {
        timeout: std::time::Duration::from_millis(50),
        ..Limits::default()
    };
    let r = rig.run(json!({"attack": "echo", "n": 3}), limits).await;
    assert_eq!(
        r.component,
        Origin::Compiled,
        "this run compiled the component"
    );
    assert!(r.ok(), "the run failed: {:?} / {:?}", r.status, r.error);
    assert_eq!(r.output.unwrap()["echo"]["n"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_compile_once_and_bad_ones_are_refused() {
    let dir = temp_dir();
    let bytes = std::fs::read(guest_wasm("weft-hostile-guest")).unwrap();
    let wasm = weft::sandbox::Wasm::new(bytes.clone());
    let cache = dir.path().join("cache");
    let first = Sandbox::with_cache_dir(Some(cache.clone())).unwrap();
    assert_eq!(first.prepare(&wasm).unwrap(), Origin::Compiled);
    assert_eq!(first.prepare(&wasm).unwrap(), Origin::Memory);
    // A second process (a new engine) finds the artifact on disk.
    let second = Sandbox::with_cache_dir(Some(cache.clone())).unwrap();
    assert_eq!(second.prepare(&wasm).unwrap(), Origin::Disk);
    let artifacts = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(artifacts, 1);

    let e = first
        .prepare(&weft::sandbox::Wasm::new(b"not wasm at all".to_vec()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a WebAssembly file"), "{e}");
    let e = first
        .prepare(&weft::sandbox::Wasm::new(bytes[..bytes.len() / 2].to_vec()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid component"), "{e}");
    // A core module (the empty module) is not a component.
    let e = first
        .prepare(&weft::sandbox::Wasm::new(b"\0asm\x01\0\0\0".to_vec()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("core WebAssembly module"), "{e}");
}

/// Components that do not fit the `policy` world, each refused with a
/// message that says why: an import weft does not provide (`alien`), an
/// import weft provides but with another type (`forger`), no `run` export
/// (`stranger`), `run` with the wrong type (`misfit`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_for_another_world_or_with_unknown_imports_are_refused() {
    let rig = rig().await;
    rig.still_serves().await;
    let component = |name: &str| weft::sandbox::Wasm::new(std::fs::read(guest_wasm(name)).unwrap());
    let alien = component("weft-alien-guest");
    let forger = component("weft-forger-guest");
    let stranger = component("weft-stranger-guest");
    let misfit = component("weft-misfit-guest");

    let sandbox = Sandbox::with_cache_dir(None).unwrap();
    let refusal = |wasm: &weft::sandbox::Wasm| sandbox.prepare(wasm).unwrap_err().to_string();

    let e = refusal(&alien);
    assert!(
        e.starts_with(
            "the component imports `weft:mcp/vault@0.1.0`, which weft does not provide (weft provides: weft:mcp/{tools, host-log, types}@0.1.0, weft:mcp/{tools, host-log, types, config}@0.2.0, and WASI 0.2"
        ),
        "{e}"
    );
    assert!(e.contains("wasi:io/{error, poll, streams}"), "{e}");
    assert!(!e.contains("linker"), "wasmtime's wording leaks: {e}");

    let e = refusal(&forger);
    assert!(
        e.starts_with(
            "the component imports `weft:mcp/tools@0.1.0`, which weft provides with another type (is the component built against another version of wit/weft.wit? weft has weft:mcp@0.2.0 and 0.1.0): instance export `call-tool` has the wrong type"
        ),
        "{e}"
    );

    let e = refusal(&stranger);
    assert_eq!(
        e,
        "the component does not export the policy world's run function (`run: func(input: string) -> result<string, string>`); \
         it exports `hello: func() -> string`. Is it built for another world? A policy is built for weft:mcp/policy (wit/weft.wit)"
    );

    let e = refusal(&misfit);
    assert_eq!(
        e,
        "run has the wrong type: the component exports `run: func(a: u32) -> u32`, \
         but the policy world's is `run: func(input: string) -> result<string, string>`"
    );

    // Refused the same way every time (the compiled artifact is cached,
    // the refusal is not), and through the runner: a report, not a panic.
    for (wasm, expected) in [
        (&alien, "weft:mcp/vault@0.1.0"),
        (&forger, "which weft provides with another type"),
        (&stranger, "does not export the policy world's run function"),
        (&misfit, "run has the wrong type"),
    ] {
        let again = refusal(wasm);
        assert!(again.contains(expected), "{again}");
        let r = rig.run_component(wasm.clone()).await;
        assert_eq!(r.status, RunStatus::Error);
        let e = r.error.unwrap_or_default();
        assert!(e.contains(expected), "{e}");
        assert!(r.calls.is_empty());
        rig.still_serves().await;
    }

    // `weft run` on the file: exit 1 and the same one-line message.
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, "").unwrap();
    for (name, expected) in [
        ("weft-alien-guest", "which weft does not provide"),
        ("weft-forger-guest", "which weft provides with another type"),
        (
            "weft-stranger-guest",
            "does not export the policy world's run function",
        ),
        ("weft-misfit-guest", "run has the wrong type"),
    ] {
        let out = weft()
            .arg("-c")
            .arg(&cfg)
            .arg("run")
            .arg(guest_wasm(name))
            .env("WEFT_CACHE_DIR", dir.path().join("cache"))
            .output_timed()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_names_over_the_cap_are_refused_before_anything_stores_them() {
    let rig = rig().await;
    let long = "s".repeat(4096);
    let r = rig
        .run(
            json!({"attack": "script", "calls": [
                {"server": long, "tool": "echo", "args": {"message": "x"}},
                {"server": "everything", "tool": long, "args": {"message": "x"}},
            ]}),
            Limits::default(),
        )
        .await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    let out = r.output.expect("output");
    for call in out.as_array().expect("one entry per call") {
        assert_eq!(call["ok"], false, "{call}");
        assert_eq!(call["kind"], "invalid-args");
        assert_eq!(call["message"], "a server or tool name is over 256 bytes");
    }
    assert!(
        r.calls.is_empty(),
        "nothing was recorded for the report: {:?}",
        r.calls.len()
    );
    rig.still_serves().await;
}
