//! Stdio upstreams: a child process speaking MCP on stdin/stdout.
//!
//! The child runs in its own process group, so a server that forks helpers
//! (npx, shells, language runtimes) is stopped as a whole; on Linux it also
//! gets `PR_SET_PDEATHSIG`, so it dies even if weft itself is killed with
//! SIGKILL. Its stderr is kept as a bounded tail for error reports.
//!
//! # What dies with weft
//!
//! - Every way weft stops a server (shutdown, SIGTERM, SIGINT, a restart, a
//!   lost connection) kills the server's whole process group: the server
//!   and every descendant that stayed in its group.
//! - If weft is killed with SIGKILL (or dies any other way), the kernel
//!   sends SIGKILL to each server process (`PR_SET_PDEATHSIG`). The death
//!   signal is not inherited across fork, so a server's own children are
//!   covered by the [`reaper`] instead: a tiny process forked from weft
//!   that holds a pipe from it and, when the pipe closes (weft is gone),
//!   kills every server group weft had not stopped itself.
//! - Not covered: a descendant that left its server's process group
//!   (`setsid`, a daemon), and the servers' children when the reaper itself
//!   is killed by pid (it has a process group of its own, so a signal to
//!   weft's group does not reach it), where only the servers' death signal
//!   remains. The reaper runs on Linux only.
//!
//! The death signal fires when the *thread* that forked the child exits,
//! not the process. A tokio worker lives as long as its runtime, but a
//! thread that went through `block_in_place` or the blocking pool may exit
//! while weft runs on, which would kill a healthy server. So every server is
//! forked by one dedicated thread, [`spawner`], that never exits: the
//! signal then fires exactly when the weft process dies.
// Unsafe here: the pre-exec hook (process group, PDEATHSIG) and the signals
// that stop a child's process group; each block says why it is sound.
#![allow(unsafe_code)]

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::config::Transport;

/// The most stderr lines kept per server.
const TAIL_LINES: usize = 40;
/// The longest stderr line kept, in bytes.
const TAIL_LINE_BYTES: usize = 400;
/// The most of one stderr line read into memory (and logged), in bytes.
const STDERR_LINE_BYTES: usize = 8 * 1024;

/// The last lines a server wrote to stderr.
#[derive(Debug, Default, Clone)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut line = line;
        crate::util::truncate(&mut line, TAIL_LINE_BYTES);
        let mut q = self.0.lock();
        if q.len() == TAIL_LINES {
            q.pop_front();
        }
        q.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let q = self.0.lock();
        q.iter().skip(q.len().saturating_sub(n)).cloned().collect()
    }
}

/// A spawned child: the transport for rmcp and what weft needs to stop it.
pub struct Spawned {
    pub transport: super::piped::Piped,
    /// Tool calls that bypass rmcp's service task (see [`super::lane`]).
    pub lane: super::lane::Lane,
    pub pid: Option<u32>,
    /// Its sandbox's private folder and cgroup, kept while it runs.
    pub confined: Option<super::confine::Confined>,
}

/// Starts the server's process. Errors are the spawn's own (command not
/// found, permission denied), with the command named; one not found also
/// says which PATH was searched and how to get the program.
pub fn spawn(transport: &Transport, tail: &StderrTail) -> std::io::Result<Spawned> {
    let Transport::Stdio {
        command,
        args,
        env,
        pass_env,
        cwd,
        sandbox,
    } = transport
    else {
        return Err(std::io::Error::other("not a stdio server"));
    };
    let mut cmd = tokio::process::Command::new(command);
    // A minimal environment: the few variables every program needs, those
    // the config passes on, and the server's own. Nothing else of weft's
    // (keys, cloud credentials, `${env:}` sources) reaches a server.
    cmd.env_clear();
    for name in crate::config::BASE_ENV
        .iter()
        .copied()
        .chain(pass_env.iter().map(String::as_str))
    {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.args(args).envs(env).kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    {
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        {
            let weft_pid = std::process::id();
            // SAFETY: the closure runs in the forked child before exec and
            // only calls prctl(2) and getppid(2), which are
            // async-signal-safe; it allocates nothing and touches no memory
            // of the parent but a copied integer. The death signal is tied
            // to the forking thread: see the module docs and [`spawner`].
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // weft died between the fork and the prctl: the signal
                    // will never come, so do not start the server at all.
                    // (An OS error code: nothing here may allocate.)
                    if u32::try_from(libc::getppid()).ok() != Some(weft_pid) {
                        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                    }
                    Ok(())
                });
            }
        }
    }
    let confined = super::confine::apply(
        &mut cmd,
        sandbox,
        command,
        args,
        env.get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"))
            .as_deref(),
        cwd.as_deref(),
    )
    .map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("cannot start `{command}`: {e}"),
        )
    })?;
    if let Some(c) = &confined {
        // Its own home and temporary folder, unless its entry names others.
        for name in ["HOME", "TMPDIR"] {
            if !env.contains_key(name) {
                cmd.env(name, c.private_dir());
            }
        }
    }
    let (transport, lane, stderr) = spawn_on_spawner(cmd).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => super::not_found::message(command, env, cwd.as_deref()),
            std::io::ErrorKind::PermissionDenied => {
                format!("cannot start `{command}`: permission denied")
            }
            _ => format!("cannot start `{command}`: {e}"),
        };
        std::io::Error::new(e.kind(), message)
    })?;
    let pid = transport.id();
    #[cfg(target_os = "linux")]
    if let Some(pid) = pid {
        reaper::watch(pid);
    }
    if let Some(stderr) = stderr {
        tokio::spawn(read_stderr(stderr, tail.clone()));
    }
    Ok(Spawned {
        transport,
        lane,
        pid,
        confined,
    })
}

/// Reads a server's stderr a line at a time into the log and `tail`,
/// keeping at most [`STDERR_LINE_BYTES`] of each line: a line of any length
/// (or one that is not UTF-8) is never held whole and never stops the
/// reading, so the server never blocks on a full pipe.
async fn read_stderr(stderr: impl tokio::io::AsyncRead + Unpin, tail: StderrTail) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut cut = 0u64;
    loop {
        let (taken, ended) = match reader.fill_buf().await {
            Ok(buf) if !buf.is_empty() => {
                let (take, ended) = match memchr::memchr(b'\n', buf) {
                    Some(i) => (i + 1, true),
                    None => (buf.len(), false),
                };
                let room = STDERR_LINE_BYTES.saturating_sub(line.len()).min(take);
                line.extend_from_slice(&buf[..room]);
                cut += (take - room) as u64;
                (take, ended)
            }
            _ => break,
        };
        reader.consume(taken);
        if ended {
            stderr_line(&mut line, &mut cut, &tail);
        }
    }
    if !line.is_empty() {
        stderr_line(&mut line, &mut cut, &tail);
    }
}

/// Logs and keeps one stderr line (what was kept of it), and empties it.
fn stderr_line(line: &mut Vec<u8>, cut: &mut u64, tail: &StderrTail) {
    let kept = line.strip_suffix(b"\n").unwrap_or(line);
    let kept = kept.strip_suffix(b"\r").unwrap_or(kept);
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if *cut > 0 {
        text.push_str(&format!(" … ({cut} more bytes of this line not kept)"));
    }
    tracing::debug!(target: "weft::upstream::stderr", "{text}");
    tail.push(text);
    line.clear();
    *cut = 0;
}

/// What the spawner thread is handed: a child to start.
type Job = Box<dyn FnOnce() + Send>;

/// The thread every server process is forked from (see the module docs).
/// `None` if the thread could not be started; servers are then forked from
/// the calling thread.
fn spawner() -> Option<&'static Mutex<std::sync::mpsc::Sender<Job>>> {
    static SPAWNER: std::sync::OnceLock<Option<Mutex<std::sync::mpsc::Sender<Job>>>> =
        std::sync::OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let started = std::thread::Builder::new()
                .name("weft-spawner".into())
                .spawn(move || {
                    // Runs for the life of the process: the senders live in
                    // a static, so `recv` never fails.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                });
            match started {
                Ok(_) => Some(Mutex::new(tx)),
                Err(e) => {
                    tracing::warn!(
                        "cannot start the spawner thread ({e}); servers are forked from \
                         runtime threads and may get their death signal early"
                    );
                    None
                }
            }
        })
        .as_ref()
}

type Started = std::io::Result<(
    super::piped::Piped,
    super::lane::Lane,
    Option<tokio::process::ChildStderr>,
)>;

/// Forks and execs `cmd` on the [`spawner`] thread, inside the caller's
/// tokio runtime (which registers the child and its pipes). The caller
/// waits only as long as the fork and exec take, as it would for a spawn
/// of its own.
fn spawn_on_spawner(cmd: tokio::process::Command) -> Started {
    let start = |mut cmd: tokio::process::Command| -> Started {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take();
        let (piped, lane) = super::piped::Piped::new(child)
            .ok_or_else(|| std::io::Error::other("the server's stdin or stdout is not piped"))?;
        Ok((piped, lane, stderr))
    };
    let Some(spawner) = spawner() else {
        return start(cmd);
    };
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| std::io::Error::other(format!("no tokio runtime to spawn in: {e}")))?;
    let (done, started) = std::sync::mpsc::sync_channel::<Started>(1);
    let job: Job = Box::new(move || {
        let _runtime = handle.enter();
        let _ = done.send(start(cmd));
    });
    spawner
        .lock()
        .send(job)
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    started
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread dropped a spawn"))?
}

/// How long a stopped server has between SIGTERM and SIGKILL.
#[cfg(unix)]
const TERM_GRACE: std::time::Duration = std::time::Duration::from_millis(20);

/// Stops a server's whole process group: SIGTERM now, then SIGKILL for what
/// is left after [`TERM_GRACE`], from a short-lived thread of its own so
/// the caller (often a runtime worker, or a `Drop`) never waits. Safe to
/// call for a group that is already gone.
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
        let finish = move || {
            std::thread::sleep(TERM_GRACE);
            // SAFETY: as above.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
            // Stopped here, so the reaper must not kill the id later, when
            // it may belong to another process. Told after the SIGKILL, so
            // a weft that dies in between still has the reaper finish it.
            #[cfg(target_os = "linux")]
            reaper::forget(pid);
        };
        let spawned = std::thread::Builder::new()
            .name("weft-kill".into())
            .spawn(finish);
        if spawned.is_err() {
            // No thread to be had: finish here rather than leave it alive.
            finish();
        }
    }
}

/// The reaper: a process forked from weft (without exec) that outlives it
/// only to kill the process groups of its servers, so that a server's own
/// children die too when weft is killed with SIGKILL (see the module docs).
///
/// weft tells it each group it starts and each group it stops itself, as
/// 4-byte records (`+pgid`, `-pgid`) on a pipe whose write end only weft
/// holds (close-on-exec, so no server inherits it). When the pipe reads
/// end-of-file, weft is gone: the reaper sends SIGKILL to every group
/// still on its list and exits. It runs in a process group of its own and
/// ignores SIGINT, SIGTERM and SIGHUP, so that a signal to weft's group
/// (a terminal's Ctrl-C, a job-control `kill -9 -PGID`) cannot take it down
/// before weft is gone, and it is named `weft-reaper`.
#[cfg(target_os = "linux")]
pub(crate) mod reaper {
    use std::sync::OnceLock;

    /// The most server groups tracked at once; more go untracked (their
    /// servers still get the death signal).
    const MAX_GROUPS: usize = 4096;

    /// Records that weft started process group `pgid`.
    pub fn watch(pgid: u32) {
        if let Ok(g) = i32::try_from(pgid) {
            send(g);
        }
    }

    /// Records that weft stopped process group `pgid` itself.
    pub fn forget(pgid: u32) {
        if let Ok(g) = i32::try_from(pgid) {
            send(-g);
        }
    }

    fn send(record: i32) {
        let Some(fd) = pipe() else { return };
        let bytes = record.to_ne_bytes();
        // SAFETY: writes 4 bytes from a live buffer to the pipe this module
        // owns. A pipe write this small is atomic; the reaper drains the
        // pipe as it goes, so this does not block for long. A failed write
        // (the reaper died) loses only the reaper's help.
        unsafe {
            libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        }
    }

    /// The write end of the pipe to the reaper, which is started on first
    /// use; `None` if it could not be started.
    fn pipe() -> Option<i32> {
        static PIPE: OnceLock<Option<i32>> = OnceLock::new();
        *PIPE.get_or_init(start)
    }

    fn start() -> Option<i32> {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            tracing::warn!(
                "cannot start the reaper: {}; a server's children may outlive a killed weft",
                std::io::Error::last_os_error()
            );
            return None;
        }
        let [read_end, write_end] = fds;
        // SAFETY: in the child, `serve` makes only async-signal-safe calls
        // (signal, prctl, setpgid, close_range/close, read, kill, _exit), allocates
        // nothing, takes no lock and never returns, as a fork of a
        // multithreaded process requires. The parent closes its copy of the
        // read end, which it owns.
        match unsafe { libc::fork() } {
            -1 => {
                tracing::warn!(
                    "cannot start the reaper: {}; a server's children may outlive a killed weft",
                    std::io::Error::last_os_error()
                );
                // SAFETY: both ends are this function's own.
                unsafe {
                    libc::close(read_end);
                    libc::close(write_end);
                }
                None
            }
            // SAFETY: see above; this is the child.
            0 => unsafe { serve(read_end) },
            _ => {
                // SAFETY: the parent's copy of the read end, owned here.
                unsafe {
                    libc::close(read_end);
                }
                Some(write_end)
            }
        }
    }

    /// The reaper's whole life, in the forked child.
    ///
    /// # Safety
    ///
    /// Only to be called in the child of a fork, with `read_end` the read
    /// end of the reaper's pipe.
    unsafe fn serve(read_end: i32) -> ! {
        // SAFETY (whole body): async-signal-safe calls on this process's own
        // descriptors and on the groups weft reported; no allocation, and no
        // indexing that can fail.
        unsafe {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
                libc::signal(sig, libc::SIG_IGN);
            }
            libc::prctl(libc::PR_SET_NAME, c"weft-reaper".as_ptr());
            libc::setpgid(0, 0);
            // Hold nothing of weft's but the pipe: no sockets, no pipes to
            // servers or to whoever reads weft's output.
            let keep = read_end as libc::c_uint;
            let below = keep == 0
                || libc::syscall(libc::SYS_close_range, 0 as libc::c_uint, keep - 1, 0) == 0;
            let above = libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0) == 0;
            if !(below && above) {
                for fd in 0..65_536 {
                    if fd != read_end {
                        libc::close(fd);
                    }
                }
            }
            let mut groups = [0i32; MAX_GROUPS];
            let mut buf = [0u8; 512];
            let mut have = 0usize;
            loop {
                let room = buf.len() - have;
                let n = libc::read(read_end, buf.as_mut_ptr().add(have).cast(), room);
                if n < 0 {
                    if *libc::__errno_location() == libc::EINTR {
                        continue;
                    }
                    break;
                }
                if n == 0 {
                    break;
                }
                have = (have + n as usize).min(buf.len());
                let whole = have - have % 4;
                for record in buf[..whole].chunks_exact(4) {
                    let value = i32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
                    apply(&mut groups, value);
                }
                buf.copy_within(whole..have, 0);
                have -= whole;
            }
            for &g in &groups {
                if g > 1 {
                    libc::kill(-g, libc::SIGKILL);
                }
            }
            libc::_exit(0)
        }
    }

    /// `+g` adds group `g` to the list, `-g` removes it.
    fn apply(groups: &mut [i32; MAX_GROUPS], value: i32) {
        if value > 1 {
            if let Some(slot) = groups.iter_mut().find(|g| **g == 0) {
                *slot = value;
            }
        } else if value < -1 {
            let g = value.checked_neg().unwrap_or(0);
            for slot in groups.iter_mut().filter(|s| **s == g) {
                *slot = 0;
            }
        }
    }
}
