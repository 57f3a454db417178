//! The same lean calls with the processes placed on cores by hand: every
//! process on one core; weft beside its server and the load generator on
//! the other core; weft alone, so that every hop crosses cores.
//!
//! On a small VM a wake-up that crosses cores costs more than weft's own
//! work on a call (an inter-processor interrupt, which a VM pays for with
//! an exit), and the kernel places the processes differently from run to
//! run: the bare round trip has read anywhere from 11 to 94 µs. Pinned,
//! each placement gives a steadier figure, and on one core the latency
//! weft adds is its own work plus cheap wake-ups.

use std::sync::Arc;

use crate::record;

use super::callers::Caller;
use super::lean::{LeanHttp, LeanStdio};
use super::measure::{added_latency, load};
use super::{LATENCY_CALLS, LOAD_CALLS, context_switches, cpu_seconds};

/// The threads of `pid` and of every process below it.
fn threads_under(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut pending = vec![pid];
    while let Some(p) = pending.pop() {
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            out.extend(
                tasks
                    .flatten()
                    .filter_map(|task| task.file_name().to_str()?.parse::<i32>().ok()),
            );
        }
        pending.extend(children(p));
    }
    out
}

/// Lets the threads of `pid` and its descendants run only on `cpus`.
fn pin(pid: u32, cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    for tid in threads_under(pid) {
        // SAFETY: sched_setaffinity reads `set`, which outlives the call.
        // A thread that has just ended fails with ESRCH, which is fine.
        unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) };
    }
}

/// The processes started by `pid` (its children, not their descendants).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .flat_map(|task| {
            std::fs::read_to_string(task.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// weft's CPU (user and system) per call over [`LATENCY_CALLS`]
/// sequential calls of `caller`, in µs.
async fn weft_cpu(weft: u32, caller: &Arc<Caller>) -> f64 {
    let before = cpu_seconds(weft);
    load(caller, 1, LATENCY_CALLS).await;
    (cpu_seconds(weft) - before) * 1e6 / LATENCY_CALLS as f64
}

/// Every core of this machine.
fn all_cpus() -> Vec<usize> {
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

/// Lean echo calls through weft (`weft` is its pid, `url` its endpoint)
/// against a server-everything of the load generator's own, the bare round
/// trip, weft's CPU and context switches per call, and what a new
/// connection for each request costs, in three placements: every process
/// on core 0; weft and its server on core 0, the load generator and its
/// own server on core 1; and weft alone on core 0, so that every hop
/// crosses cores. Records and prints each.
pub(super) async fn by_placement(url: &str, everything: &std::path::Path, weft: u32) {
    let cpus = all_cpus();
    if cpus.len() < 2 {
        record::not_measured("4", "placement", "one core: nothing to place");
        return;
    }
    let me = std::process::id();
    let lean = Arc::new(Caller::LeanHttp(LeanHttp::call_echo(url).await.into()));
    let health = Arc::new(Caller::LeanHttp(LeanHttp::health(url).await.into()));
    let fresh = Arc::new(Caller::LeanHttp(LeanHttp::health(url).await.fresh().into()));
    let direct = Arc::new(Caller::LeanStdio(LeanStdio::start(everything).await.into()));
    load(&direct, 1, LATENCY_CALLS + 2 * LOAD_CALLS).await;
    // The floor: a proxy that only moves the bytes (floor.rs), placed as
    // weft is.
    let (floor_proc, floor) = super::floor::start(everything).await;
    let floor_pid = floor_proc.0.id();
    for (label, generator, server) in [
        ("one core", 0, 0),
        ("weft beside its server", 1, 0),
        ("every hop across cores", 1, 1),
    ] {
        // weft is a child of this process: place this process first.
        pin(me, &[generator]);
        for proxy in [weft, floor_pid] {
            pin(proxy, &[0]);
            for child in children(proxy) {
                pin(child, &[server]);
            }
        }
        let switches_before = context_switches(weft);
        let cpu_per_call = weft_cpu(weft, &lean).await;
        let switches_per_call = (context_switches(weft) - switches_before) / LATENCY_CALLS as f64;
        let (via, direct_p50) = added_latency(&lean, &direct).await;
        let floor_cpu = weft_cpu(floor_pid, &floor).await;
        let (via_floor, direct_floor) = added_latency(&floor, &direct).await;
        let (_, round_trip) = added_latency(&lean, &health).await;
        // What a new connection for every request (rmcp's default HTTP
        // client) costs: the same `GET /health`, kept alive and not.
        let cpu_fresh = weft_cpu(weft, &fresh).await;
        let cpu_kept = weft_cpu(weft, &health).await;
        let (fresh_p50, _) = added_latency(&fresh, &health).await;
        record::figure(
            "4",
            &format!("HTTP round trip on a new connection (GET /health, lean client, {label}) p50"),
            fresh_p50,
            "µs",
        );
        record::figure(
            "4",
            &format!("weft CPU per new connection (GET /health, {label})"),
            cpu_fresh - cpu_kept,
            "µs",
        );
        record::figure(
            "4",
            &format!("weft added p50 (lean clients, {label})"),
            via - direct_p50,
            "µs",
        );
        record::figure(
            "4",
            &format!("floor proxy added p50 (lean clients, {label})"),
            via_floor - direct_floor,
            "µs",
        );
        record::figure(
            "4",
            &format!("floor proxy CPU per call (lean client, {label})"),
            floor_cpu,
            "µs",
        );
        record::figure(
            "4",
            &format!("HTTP round trip (GET /health, lean client, {label}) p50"),
            round_trip,
            "µs",
        );
        record::figure(
            "4",
            &format!("weft CPU per call (lean client, {label})"),
            cpu_per_call,
            "µs",
        );
        record::figure(
            "4",
            &format!("weft context switches per call (lean client, {label})"),
            switches_per_call,
            "switches",
        );
        println!(
            "{label}: added p50 {:+.0} µs ({via:.0} through weft, {direct_p50:.0} direct); \
             bare round trip {round_trip:.0} µs; weft's CPU per call {cpu_per_call:.0} µs, \
             context switches per call {switches_per_call:.2}; the floor proxy: added p50 \
             {:+.0} µs, CPU per call {floor_cpu:.0} µs; GET /health on a new connection \
             {fresh_p50:.0} µs, weft's CPU per new connection {:.0} µs ({cpu_fresh:.0} against \
             {cpu_kept:.0} kept alive)",
            via - direct_p50,
            via_floor - direct_floor,
            cpu_fresh - cpu_kept
        );
    }
    pin(me, &cpus);
}
