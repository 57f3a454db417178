//! What this kernel offers a sandbox, probed once per process: the Landlock
//! ABI, whether a child may enter user and network namespaces of its own,
//! and a pids cgroup weft may create children in.
// Unsafe here: the probe's pre-exec hook and one raw system call; each
// block says why it is sound.
#![allow(unsafe_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// Why a sandboxing feature is not available here, said for the operator
/// (`weft check` and the start-up warning show it as it is).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(super) struct Absent(pub String);

impl From<&str> for Absent {
    fn from(why: &str) -> Absent {
        Absent(why.to_string())
    }
}

impl From<String> for Absent {
    fn from(why: String) -> Absent {
        Absent(why)
    }
}

/// The kernel's sandboxing features, as probed.
#[derive(Debug, Clone)]
pub(super) struct Kernel {
    /// The Landlock ABI version, or why there is none.
    pub landlock: Result<i32, Absent>,
    /// Whether a child can enter a user namespace (and with it, a network
    /// namespace), or why not.
    pub userns: Result<(), Absent>,
    /// The pids cgroup folder weft may make instances' cgroups in, or why
    /// there is none.
    pub pids: Result<PathBuf, Absent>,
}

/// The probe's result (the first call probes; about a millisecond).
pub(super) fn kernel() -> &'static Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    KERNEL.get_or_init(|| Kernel {
        landlock: landlock_abi(),
        userns: userns(),
        pids: pids_cgroup(),
    })
}

fn landlock_abi() -> Result<i32, Absent> {
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    if v >= 1 {
        return Ok(v as i32);
    }
    Err(Absent(match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no Landlock (Linux 5.13 or later, built with CONFIG_SECURITY_LANDLOCK)".into(),
        Some(libc::EOPNOTSUPP) => "Landlock is built in but not enabled (add landlock to the kernel's lsm= boot parameter)".into(),
        _ => format!("Landlock did not answer: {}", std::io::Error::last_os_error()),
    }))
}

/// Starts `true` in a user and network namespace of its own, as a server
/// would be started.
fn userns() -> Result<(), Absent> {
    use std::os::unix::process::CommandExt;
    let program = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("no /usr/bin/true to probe user namespaces with")?;
    let setup = std::sync::Arc::new(super::child::ChildSetup {
        userns: Some(id_maps()),
        netns: true,
        ..Default::default()
    });
    let mut cmd = std::process::Command::new(program);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let s = setup.clone();
    // SAFETY: `enter` makes system calls only (see child.rs).
    unsafe { cmd.pre_exec(move || super::child::enter(&s)) };
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("the probe exited with {status}").into()),
        Err(e) => Err(Absent(format!(
            "a user namespace cannot be entered here ({e}): unprivileged user namespaces may be turned off (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, or an AppArmor rule)"
        ))),
    }
}

/// The uid and gid maps that keep the child's own ids inside its user
/// namespace (so its files stay its own).
pub(super) fn id_maps() -> (Vec<u8>, Vec<u8>) {
    // SAFETY: getuid(2) and getgid(2) cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    (
        format!("{uid} {uid} 1").into_bytes(),
        format!("{gid} {gid} 1").into_bytes(),
    )
}

/// Running as root, which `RLIMIT_NPROC` never binds.
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// weft's own pids cgroup, if weft may make children in it: cgroup v2
/// with the pids controller available to children, or v1's pids hierarchy.
fn pids_cgroup() -> Result<PathBuf, Absent> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("no /proc/self/cgroup: {e}"))?;
    let mut tried = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let rel = path.trim_start_matches('/');
        let dir = if controllers.split(',').any(|c| c == "pids") {
            PathBuf::from("/sys/fs/cgroup/pids").join(rel)
        } else if controllers.is_empty() {
            let dir = PathBuf::from("/sys/fs/cgroup").join(rel);
            let enabled =
                std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            if !enabled.split_whitespace().any(|c| c == "pids")
                && std::fs::write(dir.join("cgroup.subtree_control"), "+pids").is_err()
            {
                tried.push(format!(
                    "{} does not pass the pids controller on",
                    dir.display()
                ));
                continue;
            }
            dir
        } else {
            continue;
        };
        // Writable by weft: make and remove a probe child.
        let probe = dir.join(format!("weft-probe-{}", std::process::id()));
        match std::fs::create_dir(&probe) {
            Ok(()) => {
                let has_max = probe.join("pids.max").exists();
                let _ = std::fs::remove_dir(&probe);
                if has_max {
                    remove_stale(&dir);
                    return Ok(dir);
                }
                tried.push(format!("{} has no pids.max", dir.display()));
            }
            Err(e) => tried.push(format!("{}: {e}", dir.display())),
        }
    }
    if tried.is_empty() {
        return Err("no pids cgroup is mounted".into());
    }
    Err(Absent(format!(
        "no pids cgroup weft may create: {}",
        tried.join("; ")
    )))
}

/// Removes the instances' cgroups that weft processes no longer running
/// left behind (a weft killed before it could remove them). A cgroup that
/// still holds a process is never removed (the kernel refuses).
fn remove_stale(parent: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("weft-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// One instance's pids cgroup, removed when dropped (once its processes
/// are gone).
#[derive(Debug)]
pub(super) struct PidsCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, open for the child to write itself into.
    pub procs: std::fs::File,
}

impl PidsCgroup {
    /// A new cgroup under `parent` allowing `max` processes and threads.
    pub fn new(parent: &std::path::Path, max: u64) -> std::io::Result<PidsCgroup> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The pid names the owner (for `remove_stale`); the random part
        // keeps a reused pid from meeting a folder left behind.
        let dir = parent.join(format!(
            "weft-{}-{n}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir(&dir)?;
        let made = (|| {
            std::fs::write(dir.join("pids.max"), max.to_string())?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        })();
        match made {
            Ok(procs) => Ok(PidsCgroup { dir, procs }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // A cgroup can be removed only when empty; the server's processes
        // were killed just before, and may take a moment to go.
        let dir = std::mem::take(&mut self.dir);
        if std::fs::remove_dir(&dir).is_ok() {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("weft-cgroup-rm".into())
            .spawn(move || {
                for _ in 0..100 {
                    if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                tracing::debug!("could not remove the cgroup {}", dir.display());
            });
    }
}
