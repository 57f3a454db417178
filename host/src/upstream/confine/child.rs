//! What the forked child does to itself before `exec`, in this order:
//! join its cgroup, enter its own user (and network) namespace, set its
//! resource limits, forbid gaining privileges, and restrict itself with its
//! Landlock ruleset.
//!
//! It runs between `fork` and `exec` in a copy of a multi-threaded process,
//! so it makes system calls only: everything it needs (file descriptors,
//! the uid and gid maps) was prepared by the parent.
// Unsafe here: raw system calls in the forked child; each block says why
// it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// Everything the child needs, prepared by the parent.
#[derive(Debug, Default)]
pub(super) struct ChildSetup {
    /// `cgroup.procs` of the instance's pids cgroup, open for writing.
    pub cgroup_procs: Option<RawFd>,
    /// Enter a user namespace of its own, with these maps (`ID ID 1`).
    pub userns: Option<(Vec<u8>, Vec<u8>)>,
    /// Enter a network namespace of its own (no network at all).
    pub netns: bool,
    /// `RLIMIT_DATA`, bytes.
    pub memory: Option<u64>,
    /// `RLIMIT_NPROC`.
    pub processes: Option<u64>,
    /// The Landlock ruleset to restrict itself with.
    pub ruleset: Option<RawFd>,
}

/// `write(2)` all of `bytes` to `fd`, or the error.
fn write_all(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: writes from a live slice of the given length.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

/// Writes `bytes` to the file at `path`.
fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is a NUL-terminated string; the descriptor is closed
    // on every path out.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = write_all(fd, bytes);
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    result
}

fn limit(resource: rlimit::Resource, value: u64) -> io::Result<()> {
    // A thin wrapper of setrlimit(2): no allocation.
    rlimit::setrlimit(resource, value, value)
}

/// Applies `setup` to the calling (forked, single-threaded) process.
/// Allocates nothing; every error is an OS error code.
pub(super) fn enter(setup: &ChildSetup) -> io::Result<()> {
    if let Some(fd) = setup.cgroup_procs {
        // "0" is the writing process itself.
        write_all(fd, b"0")?;
    }
    if let Some((uid_map, gid_map)) = &setup.userns {
        let flags = libc::CLONE_NEWUSER | if setup.netns { libc::CLONE_NEWNET } else { 0 };
        // SAFETY: unshare(2) with constant flags; the child is single-threaded.
        if unsafe { libc::unshare(flags) } != 0 {
            return Err(io::Error::last_os_error());
        }
        write_file(c"/proc/self/setgroups", b"deny")?;
        write_file(c"/proc/self/uid_map", uid_map)?;
        write_file(c"/proc/self/gid_map", gid_map)?;
        // The death signal survives this, but set it again in case a
        // kernel clears it with the credentials.
        // SAFETY: prctl(2) with constant arguments.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
    } else if setup.netns {
        // SAFETY: unshare(2) with a constant flag.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(bytes) = setup.memory {
        limit(rlimit::Resource::DATA, bytes)?;
    }
    if let Some(n) = setup.processes {
        limit(rlimit::Resource::NPROC, n)?;
    }
    // No core files: a server's memory may hold its secrets.
    limit(rlimit::Resource::CORE, 0)?;
    // SAFETY: prctl(2) with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if let Some(fd) = setup.ruleset {
        // SAFETY: landlock_restrict_self(2) on a ruleset descriptor the
        // parent keeps open until the child has started.
        if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
