//! Processes the tests start and watch: background servers killed with
//! their process group, and what `/proc` says of a process (alive, its
//! children, its group, the ports it listens on).

use std::process::{Child, Command};

use super::OutputWithin;

/// The TCP ports a process listens on (IPv4 and IPv6), from `/proc`: for a
/// real server that binds port 0 but does not say which port it got.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                let link = link.to_string_lossy().into_owned();
                if let Some(inode) = link
                    .strip_prefix("socket:[")
                    .and_then(|l| l.strip_suffix(']'))
                {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let mut ports = vec![];
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            if *state != "0A" || !inodes.contains(*inode) {
                continue;
            }
            if let Some(port) = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
            {
                ports.push(port);
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// A background process killed (with its group) when dropped.
pub struct Background(pub Child);

impl Background {
    pub fn spawn(cmd: &mut Command) -> Background {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        Background(cmd.spawn().expect("spawn background process"))
    }

    /// Sends SIGTERM and waits (up to 30 s) for the process to exit, as
    /// a service manager stops it: weft flushes its audit log and pins on
    /// the way out, so a test reads them only after this.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signals the process this harness started.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        super::wait_child(&mut self.0, std::time::Duration::from_secs(30))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        // SAFETY: signals the process group this harness created.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// Whether a process id is alive (not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// (pid, state letter, ppid, process group) of every process, from /proc.
fn processes() -> Vec<(u32, String, u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid pgrp …
            let rest = stat.rsplit(')').next()?;
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.to_string();
            let ppid = fields.next()?.parse().ok()?;
            let pgrp = fields.next()?.parse().ok()?;
            Some((pid, state, ppid, pgrp))
        })
        .collect()
}

/// The live (not zombie) processes whose (parent, group) `pick` takes.
fn live(pick: impl Fn(u32, u32) -> bool) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, state, ppid, pgrp)| state != "Z" && pick(*ppid, *pgrp))
        .map(|(pid, ..)| pid)
        .collect()
}

/// Every live (not zombie) process in a process group.
pub fn group_members(pgid: u32) -> Vec<u32> {
    live(|_, pgrp| pgrp == pgid)
}

/// The live (not zombie) child processes of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    live(|ppid, _| ppid == parent)
}

/// Runs `cmd` (a client script that prints one JSON object last), which
/// must succeed: that object. `what` names it in a failure.
pub fn json_of_run(cmd: &mut Command, what: &str) -> serde_json::Value {
    let out = cmd
        .output_timed()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {stdout}"))
}
