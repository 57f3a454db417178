//! Benchmark: the journal of durable runs (issue 19). Prints figures and
//! records them with `record` (into `$WEFT_BENCH_OUT` when set); asserts
//! nothing about speed. Run with
//! `cargo bench -p weft-integration --profile dev --bench cases -- journal`
//! after `bash .ci/build-guests`.
//!
//! 1. The journal alone, per `call-tool` that is not safe to repeat: what
//!    a journaled call adds to a call, timed on its own, as a run does it:
//!    the intent queued and waited on (one commit to the writer thread),
//!    then the result queued to be stored at once, not waited on (3000
//!    calls, with `synchronous = NORMAL` and `FULL`).
//! 2. The same inside real runs: the timer guest (`tests/guests/timer`)
//!    makes 2 × 500 sequential calls to the built-in `echo` server and
//!    times each with its own clock (bare `call-tool` import, the `ns`
//!    half of its report); 5 runs without a journal, with NORMAL and with
//!    FULL. Its clock reads are journaled too (two per call).
//! 3. Runs per second of a 10-call policy (the timer guest, n = 5),
//!    sequential, 3 s each, journal off, on (NORMAL) and in PostgreSQL.
//!
//! Cases 1 and 2 also run with the journal in PostgreSQL
//! (`settings.state`): the harness's own server on a unix socket, once
//! with `fsync = off` (as the tests run it) and once with `fsync = on`.
//!
//! 4. Time to resume a run of 1000 journaled calls: a journaled timer run
//!    of 2 × 500 calls, then its replay from the journal (every call and
//!    clock read answered from it), events loaded and run, median of 3.

use crate::support;

use crate::record;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use weft::Grants;
use weft::config::Limits;
use weft::journal::{self, Backend, Durability, Recorder, RunRecord, Sqlite, Step};
use weft::policy::{Loaded, Runner};
use weft::sandbox::{Sandbox, Wasm};

/// The suite's case number of these figures (`bench/report.py`).
const CASE: &str = "9";

fn latency(case: &str, label: &str, name: &str, samples: Vec<Duration>) -> (f64, f64) {
    let (p50, p99) = record::latency(case, name, samples);
    println!("{label:<56} p50 {p50:>10.2} µs  p99 {p99:>10.2} µs");
    (p50, p99)
}

fn run_record(wasm: &Wasm, input: &str) -> RunRecord {
    RunRecord::start("timer", "timer", wasm.digest(), input, Default::default()).unwrap()
}

async fn new_run(backend: &Arc<dyn Backend>, wasm: &Wasm, input: &str) -> Arc<Recorder> {
    let record = run_record(wasm, input);
    let recorder = Arc::new(Recorder::new(backend.clone(), &record));
    recorder.create(record).await.unwrap();
    recorder
}

fn open(dir: &std::path::Path, name: &str, d: Durability) -> Arc<dyn Backend> {
    Arc::new(Sqlite::open(&dir.join(name), d).unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    let text = String::from("[servers.echo]\nbuiltin = \"echo\"\n");
    let hub = weft::Hub::start(config(dir.path(), &text)).await;
    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.path().join("cache"))).unwrap());
    let runner = Runner::new(hub.clone(), sandbox);
    let timer = Loaded {
        name: "timer".into(),
        wasm: Wasm::new(std::fs::read(guest_wasm("weft-timer-guest")).unwrap()),
        grants: Grants::new(&["echo.echo".into()]).unwrap(),
        limits: Limits {
            max_calls: 100_000,
            ..Limits::default()
        },
    };
    let normal = open(dir.path(), "normal.db", Durability::Normal);
    let full = open(dir.path(), "full.db", Durability::Full);
    let (pg_fast, pg_fast_server) = shared(false).await;
    let (pg_sync, pg_sync_server) = shared(true).await;

    println!("== 1. the journal alone, per call-tool (intent stored, result queued) ==");
    for (label, backend) in [
        ("NORMAL", &normal),
        ("FULL", &full),
        ("PostgreSQL fsync off", &pg_fast),
        ("PostgreSQL fsync on", &pg_sync),
    ] {
        let recorder = new_run(backend, &timer.wasm, "{}").await;
        let mut samples = Vec::new();
        for i in 0..3000 {
            let request = journal::CallRequest {
                server: "echo".into(),
                tool: "echo".into(),
                args: json!({"message": i.to_string()}).to_string(),
            };
            let t = Instant::now();
            let Step::Live { seq, intent, .. } =
                recorder.begin_call(&request, journal::Store::Waited)
            else {
                panic!("a new run replays nothing")
            };
            journal::wait(intent.unwrap()).await.unwrap();
            let outcome = journal::CallOutcome::Ok(r#"{"content":[]}"#.into());
            // Queued as a run queues it: stored soon, not waited on.
            recorder.end_call(seq, &outcome, journal::Store::Soon);
            samples.push(t.elapsed());
        }
        latency(
            CASE,
            &match label.starts_with("PostgreSQL") {
                true => format!("journal cost per call, {label}"),
                false => format!("journal cost per call, synchronous {label}"),
            },
            &format!("journal per call {label}"),
            samples,
        );
    }

    println!("== 2. guest call-tool import, journal off / NORMAL / FULL ==");
    let input = json!({"n": 500, "server": "echo", "tool": "echo"}).to_string();
    for (label, backend) in [
        ("off", None),
        ("NORMAL", Some(&normal)),
        ("FULL", Some(&full)),
        ("PostgreSQL fsync off", Some(&pg_fast)),
        ("PostgreSQL fsync on", Some(&pg_sync)),
    ] {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let recorder = match backend {
                Some(b) => Some(new_run(b, &timer.wasm, &input).await),
                None => None,
            };
            let report = runner
                .run_journaled(&weft::Caller::owner(), &timer, &input, None, recorder)
                .await;
            assert!(report.ok(), "{:?}", report.error);
            let out = report.output.unwrap();
            samples.extend(
                out["import_ns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| Duration::from_nanos(n.as_u64().unwrap())),
            );
        }
        latency(
            CASE,
            &format!("guest call-tool import, journal {label}"),
            &format!("guest import journal {label}"),
            samples,
        );
    }

    println!("== 3. runs/s of a 10-call policy ==");
    let ten = json!({"n": 5, "server": "echo", "tool": "echo"}).to_string();
    for (label, journal) in [
        ("off", None),
        ("NORMAL", Some(&normal)),
        ("PostgreSQL fsync on", Some(&pg_sync)),
    ] {
        let started = Instant::now();
        let mut runs = 0u32;
        while started.elapsed() < Duration::from_secs(3) {
            let recorder = match journal {
                Some(b) => Some(new_run(b, &timer.wasm, &ten).await),
                None => None,
            };
            let report = runner
                .run_journaled(&weft::Caller::owner(), &timer, &ten, None, recorder)
                .await;
            assert!(report.ok());
            runs += 1;
        }
        let rate = f64::from(runs) / started.elapsed().as_secs_f64();
        println!(
            "{:<56} {rate:>10.0} runs/s",
            format!("10-call runs, journal {label}")
        );
        record::figure(
            CASE,
            &format!("10-call runs/s journal {label}"),
            rate,
            "runs/s",
        );
    }

    println!("== 4. resuming a run of 1000 journaled calls ==");
    let mut times = Vec::new();
    for _ in 0..3 {
        let record = run_record(&timer.wasm, &input);
        let recorder = Arc::new(Recorder::new(normal.clone(), &record));
        recorder.create(record.clone()).await.unwrap();
        let first = runner
            .run_journaled(&weft::Caller::owner(), &timer, &input, None, Some(recorder))
            .await;
        assert!(first.ok());
        // A resume claims the run before it replays (every write of a run
        // is fenced by its holder, and the run's end gave its lease up):
        // the finished run is put back as running, then claimed.
        let (b, id) = (normal.clone(), record.id.clone());
        let claimed = tokio::task::spawn_blocking(move || {
            b.set_status(&id, journal::Status::Running, None)?;
            b.claim(&id, None, std::process::id())
        })
        .await
        .unwrap()
        .unwrap();
        assert!(claimed, "the run could not be claimed");
        let t = Instant::now();
        let b = normal.clone();
        let id = record.id.clone();
        let events = tokio::task::spawn_blocking(move || b.events(&id).unwrap())
            .await
            .unwrap();
        let calls = events
            .iter()
            .filter(|e| e.kind == journal::Kind::Call)
            .count();
        assert_eq!(calls, 1000);
        let replay = Arc::new(Recorder::resume(
            normal.clone(),
            &record,
            events,
            HashSet::new(),
        ));
        let again = runner
            .run_journaled(
                &weft::Caller::owner(),
                &timer,
                &input,
                None,
                Some(replay.clone()),
            )
            .await;
        assert!(again.ok(), "{:?}", again.error);
        assert_eq!(again.output, first.output, "the replay differs");
        times.push(t.elapsed());
    }
    times.sort();
    let ms = times[1].as_secs_f64() * 1e3;
    println!(
        "{:<56} {ms:>10.1} ms",
        "resume of a 1000-call run (median of 3)"
    );
    record::figure(CASE, "resume 1000 calls", ms, "ms");
    hub.shutdown().await;
    drop((pg_fast, pg_sync, pg_fast_server, pg_sync_server));
}

/// A journal in a database of its own on a new PostgreSQL server (kept
/// alive by the second value), fsync on or off.
async fn shared(fsync: bool) -> (Arc<dyn Backend>, Postgres) {
    let server = Postgres::start_with_fsync(fsync);
    let url = server.database("bench");
    let backend =
        tokio::task::spawn_blocking(move || journal::open_shared(&url, Duration::from_secs(30)))
            .await
            .unwrap()
            .unwrap();
    (backend, server)
}
