//! Stdio upstreams: a child process speaking MCP on stdin/stdout.
//!
//! The child runs in its own process group, so a server that forks helpers
//! (npx, shells, language runtimes) is stopped as a whole; on Linux it also
//! gets `PR_SET_PDEATHSIG`, so it dies even if weft itself is killed with
//! SIGKILL. Its stderr is kept as a bounded tail for error reports.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::transport::TokioChildProcess;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::config::Transport;

/// The most stderr lines kept per server.
const TAIL_LINES: usize = 40;
/// The longest stderr line kept, in bytes.
const TAIL_LINE_BYTES: usize = 400;

/// The last lines a server wrote to stderr.
#[derive(Debug, Default, Clone)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut line = line;
        crate::util::truncate(&mut line, TAIL_LINE_BYTES);
        let Ok(mut q) = self.0.lock() else { return };
        if q.len() == TAIL_LINES {
            q.pop_front();
        }
        q.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let Ok(q) = self.0.lock() else { return vec![] };
        q.iter().skip(q.len().saturating_sub(n)).cloned().collect()
    }
}

/// A spawned child: the transport for rmcp and what weft needs to stop it.
pub struct Spawned {
    pub transport: TokioChildProcess,
    pub pid: Option<u32>,
}

/// Starts the server's process. Errors are the spawn's own (command not
/// found, permission denied), with the command named.
pub fn spawn(transport: &Transport, tail: &StderrTail) -> std::io::Result<Spawned> {
    let Transport::Stdio {
        command,
        args,
        env,
        cwd,
    } = transport
    else {
        return Err(std::io::Error::other("not a stdio server"));
    };
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args).envs(env).kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    {
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs in the forked child before exec and only
        // calls prctl(2), which is async-signal-safe; it touches no memory
        // of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => "command not found".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            std::io::Error::new(e.kind(), format!("cannot start `{command}`: {what}"))
        })?;
    let pid = transport.id();
    if let Some(stderr) = stderr {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(target: "weft::upstream::stderr", "{line}");
                tail.push(line);
            }
        });
    }
    Ok(Spawned { transport, pid })
}

/// Stops a server's whole process group: SIGTERM, then SIGKILL for what is
/// left. Safe to call for a group that is already gone.
pub fn kill_group(pid: u32) {
    #[cfg(unix)]
    {
        let Ok(pgid) = i32::try_from(pid) else { return };
        if pgid <= 1 {
            return;
        }
        // SAFETY: killpg only sends a signal; a stale id at worst fails with
        // ESRCH. The group was created for this child (process_group(0)).
        unsafe {
            libc::killpg(pgid, libc::SIGTERM);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        // SAFETY: as above.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}
