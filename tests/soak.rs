//! Soak: 1,000 start/kill cycles of one upstream under `weft serve`
//! leave no zombie or orphan processes, and weft's memory stays flat. The
//! server forks a child of its own each time (`--fork-grandchild`), so the
//! check covers descendants weft never sees, not only its own children.

use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

const CYCLES: usize = 1000;

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

/// Whether a process is weft's reaper.
fn is_reaper(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "weft-reaper")
}

/// The live members of process group `pgid`.
fn pgid_members(procs: &[(u32, u32, char, u32)], pgid: u32) -> Vec<u32> {
    procs
        .iter()
        .filter(|p| p.3 == pgid && p.2 != 'Z')
        .map(|p| p.0)
        .collect()
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
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "victim",
        &target_bin("weft-faulty-server"),
        &[
            "--name",
            "victim",
            "--fork-grandchild",
            "--record",
            &record.display().to_string(),
        ],
    );
    text += "[servers.victim.restart]\ninitial = \"1ms\"\nmax = \"4ms\"\njitter = 0.0\nmax_attempts = 0\n";
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (weft, base) = serve_weft_http(&mut cmd);
    let weft_pid = weft.0.id();

    let began = Instant::now();
    let mut killed = Vec::with_capacity(CYCLES);
    let mut rss_early = 0;
    let mut pid = 0;
    for cycle in 0..=CYCLES {
        // Wait for the server to be up as a new process.
        let start = Instant::now();
        loop {
            let s = http_status(&base);
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
    // Every server's grandchild, by the group (the server's pid) it is in.
    let grandchildren: Vec<u32> = std::fs::read_to_string(&record)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("victim grandchild "))
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l.splitn(3, ' ').nth(2)?).ok()?;
            v["pid"].as_u64().map(|p| p as u32)
        })
        .collect();
    assert_eq!(
        grandchildren.len(),
        CYCLES + 1,
        "every server recorded its grandchild"
    );
    let killed_set: std::collections::HashSet<u32> = killed.iter().copied().collect();
    // weft stops each lost server's group as it notices the loss, and
    // reaps its children; wait for the last of that to settle.
    let mut procs = processes();
    let settled = |procs: &[(u32, u32, char, u32)]| {
        !procs.iter().any(|p| {
            (p.1 == weft_pid && p.2 == 'Z')
                || (p.1 == weft_pid && p.0 != pid && !is_reaper(p.0))
                || (killed_set.contains(&p.3) && p.2 != 'Z')
        })
    };
    let start = Instant::now();
    while !settled(&procs) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
        procs = processes();
    }
    let rss_late = rss_kib(weft_pid);
    let zombies: Vec<_> = procs
        .iter()
        .filter(|p| p.1 == weft_pid && p.2 == 'Z')
        .collect();
    // Its children but its reaper (see host/src/upstream/stdio.rs).
    let children: Vec<_> = procs
        .iter()
        .filter(|p| p.1 == weft_pid && p.2 != 'Z' && !is_reaper(p.0))
        .collect();
    let orphans: Vec<_> = procs
        .iter()
        .filter(|p| killed_set.contains(&p.3) && p.2 != 'Z')
        .collect();
    let current = pgid_members(&procs, pid);
    let surviving: Vec<u32> = grandchildren
        .iter()
        .copied()
        .filter(|g| alive(*g) && !current.contains(g))
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
    assert!(
        surviving.is_empty(),
        "grandchildren of killed servers live on: {surviving:?}"
    );
    // The current server's group: the server and its one grandchild.
    assert_eq!(current.len(), 2, "{current:?}");
    assert!(
        current.contains(grandchildren.last().expect("a grandchild")),
        "{current:?}"
    );
    assert_eq!(
        children.len(),
        1,
        "exactly the current server: {children:?}"
    );
    assert_eq!(children[0].0, pid);
    assert_eq!(
        http_status(&base)["servers"][0]["restarts"].as_u64(),
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
