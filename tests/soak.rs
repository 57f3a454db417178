//! Soak: 1,000 start/kill cycles of one upstream under `weft serve`
//! leave no zombie or orphan processes, and weft's memory stays flat.
//! Kept in its own test binary so nothing else runs beside it.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const CYCLES: usize = 1000;

fn status(port: u16) -> Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("status is not JSON ({e}): {raw}"))
}

/// (pid, ppid, state letter, process group) of every process.
fn processes() -> Vec<(u32, u32, char, u32)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        let state = f.first().and_then(|s| s.chars().next()).unwrap_or('?');
        out.push((pid, num(1), state, num(2)));
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_thousand_crashes_leave_no_zombies_or_orphans_and_memory_stays_flat() {
    let dir = temp_dir();
    let mut text = command_entry("victim", &target_bin("weft-faulty-server"), &[]);
    text += "[servers.victim.restart]\ninitial = \"1ms\"\nmax = \"4ms\"\njitter = 0.0\nmax_attempts = 0\n";
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let port = free_port();
    let weft = Background::spawn(
        weft()
            .current_dir(dir.path())
            .args(["serve", "--http", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null()),
    );
    let weft_pid = weft.0.id();
    wait_for_port(port, Duration::from_secs(30));

    let began = Instant::now();
    let mut killed = Vec::with_capacity(CYCLES);
    let mut rss_early = 0;
    let mut pid = 0;
    for cycle in 0..=CYCLES {
        // Wait for the server to be up as a new process.
        let start = Instant::now();
        loop {
            let s = status(port);
            let v = &s["servers"][0];
            if v["state"] == "up"
                && v["restarts"].as_u64() == Some(cycle as u64)
                && let Some(p) = v["pid"].as_u64()
            {
                pid = p as u32;
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "cycle {cycle}: the server did not come back: {s}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        if cycle == 100 {
            rss_early = rss_kib(weft_pid);
        }
        if cycle == CYCLES {
            break;
        }
        // SAFETY: signals the server process weft started for this test.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
        killed.push(pid);
    }
    let took = began.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let rss_late = rss_kib(weft_pid);
    let procs = processes();
    let zombies: Vec<_> = procs
        .iter()
        .filter(|p| p.1 == weft_pid && p.2 == 'Z')
        .collect();
    let children: Vec<_> = procs
        .iter()
        .filter(|p| p.1 == weft_pid && p.2 != 'Z')
        .collect();
    let killed_set: std::collections::HashSet<u32> = killed.iter().copied().collect();
    let orphans: Vec<_> = procs
        .iter()
        .filter(|p| killed_set.contains(&p.3) && p.2 != 'Z')
        .collect();
    println!(
        "{CYCLES} start/kill cycles in {:.1} s ({:.1} ms each); weft RSS {rss_early} KiB after 100, {rss_late} KiB after {CYCLES}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / CYCLES as f64
    );
    assert!(zombies.is_empty(), "zombie children of weft: {zombies:?}");
    assert!(
        orphans.is_empty(),
        "processes of killed servers live on: {orphans:?}"
    );
    assert_eq!(
        children.len(),
        1,
        "exactly the current server: {children:?}"
    );
    assert_eq!(children[0].0, pid);
    assert_eq!(
        status(port)["servers"][0]["restarts"].as_u64(),
        Some(CYCLES as u64)
    );
    assert!(rss_early > 0 && rss_late > 0);
    assert!(
        rss_late < rss_early + 8 * 1024,
        "weft's memory grew from {rss_early} KiB to {rss_late} KiB over {} cycles",
        CYCLES - 100
    );
    drop(weft);
}
