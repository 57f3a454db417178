//! The operating-system sandbox of a stdio server: what a compromised or
//! malicious server process can reach.
//!
//! Each server process (each tenant's instance its own) is started with:
//!
//! - **files** (Landlock): read-only access to the system's folders, the
//!   installation its command runs from ([`paths`]) and `sandbox.read`;
//!   read-write access to a private home and temporary folder of its own,
//!   and to `sandbox.write`. Nothing else: not weft's config, secrets,
//!   keys, journal, audit log or caches, nor another instance's files.
//!   Landlock also keeps it from another sandbox's or weft's own
//!   `/proc/PID/environ`, memory and file descriptors (it may not trace
//!   what is outside its sandbox).
//! - **scope** (Landlock ABI 6): no signals to processes outside its
//!   sandbox, no connections to abstract Unix sockets made outside it.
//! - **tcp** (Landlock ABI 4), when `network` is not `all`: TCP connect
//!   and bind only to the listed ports, or none.
//! - **namespaces**: a user namespace of its own, so that even a weft run as
//!   root gives the server none of the machine's privileges; and with
//!   `network = "none"`, a network namespace with no interface but an
//!   unconfigured loopback.
//! - **limits**: its data memory (`RLIMIT_DATA`), no core files, and no
//!   new privileges through set-uid programs.
//! - **processes**: at most `processes` processes and threads: counted in
//!   its user namespace (`RLIMIT_NPROC`), or, for a weft run as root (which
//!   that limit never binds), in a pids cgroup of its own.
//!
//! A layer the kernel lacks is left out and reported (`weft check`, `weft
//! status`); with `settings.sandbox = "require"`, such a server does not
//! start.

mod child;
mod kernel;
mod paths;

pub use paths::arg_path;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope,
};

use crate::config::{Network, SandboxConfig};

/// One layer of the sandbox (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Files,
    Scope,
    Tcp,
    Namespaces,
    Network,
    Limits,
    Processes,
}

impl Layer {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Files => "files",
            Layer::Scope => "scope",
            Layer::Tcp => "tcp",
            Layer::Namespaces => "namespaces",
            Layer::Network => "no-network",
            Layer::Limits => "limits",
            Layer::Processes => "processes",
        }
    }
}

/// Which layers a server's sandbox gets on this kernel, and why any is
/// missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Why there is no sandbox at all (`sandbox = false`, …).
    pub off: Option<String>,
    pub layers: Vec<Layer>,
    pub missing: BTreeMap<Layer, String>,
    /// The processes limit is a cgroup's, not `RLIMIT_NPROC`.
    pids_cgroup: Option<PathBuf>,
}

impl Plan {
    /// One line for `weft status` and `weft check`: `on (files, scope, …)`,
    /// with what is missing and why, or `off (…)`.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.off {
            return format!("off ({why})");
        }
        let on: Vec<&str> = self.layers.iter().map(|l| l.name()).collect();
        let mut text = format!("on ({})", on.join(", "));
        for (layer, why) in &self.missing {
            text.push_str(&format!("; without {}: {why}", layer.name()));
        }
        text
    }
}

/// The plan for `cfg` on this kernel. Probes the kernel on first use.
pub fn plan(cfg: &SandboxConfig) -> Plan {
    let mut plan = Plan {
        off: None,
        layers: Vec::new(),
        missing: BTreeMap::new(),
        pids_cgroup: None,
    };
    if !cfg.enabled {
        plan.off = Some(if cfg.off_by_entry {
            "sandbox = false in its entry".into()
        } else {
            "settings.sandbox = \"off\"".into()
        });
        return plan;
    }
    if !cfg!(target_os = "linux") {
        plan.off = Some("the sandbox needs Linux".into());
        return plan;
    }
    let k = kernel::kernel();
    let mut want = |layer: Layer, have: Result<(), kernel::Absent>| match have {
        Ok(()) => plan.layers.push(layer),
        Err(why) => {
            plan.missing.insert(layer, why.0);
        }
    };
    let abi = k.landlock.clone();
    want(Layer::Files, abi.clone().map(drop));
    let at_least = |v: i32, what: &str| match &abi {
        Ok(n) if *n >= v => Ok(()),
        Ok(n) => Err(format!("{what} needs Landlock ABI {v}; this kernel has {n}").into()),
        Err(why) => Err(why.clone()),
    };
    want(
        Layer::Scope,
        at_least(6, "scoping signals and abstract sockets"),
    );
    if cfg.network != Network::All {
        want(Layer::Tcp, at_least(4, "limiting TCP ports"));
    }
    want(Layer::Namespaces, k.userns.clone());
    if cfg.network == Network::None {
        // Without a user namespace only root may make a network namespace.
        let netns = match (&k.userns, kernel::is_root()) {
            (Ok(()), _) | (_, true) => Ok(()),
            (Err(why), false) => Err(why.clone()),
        };
        want(Layer::Network, netns);
    }
    want(Layer::Limits, Ok(()));
    let processes = if kernel::is_root() {
        match &k.pids {
            Ok(dir) => Ok(Some(dir.clone())),
            Err(why) => Err(kernel::Absent(format!(
                "weft runs as root, which RLIMIT_NPROC does not bind, and {why}"
            ))),
        }
    } else {
        match &k.userns {
            Ok(()) => Ok(None),
            Err(_) => Err(kernel::Absent::from(
                "RLIMIT_NPROC counts only one server's processes inside a user namespace of its own",
            )),
        }
    };
    match processes {
        Ok(dir) => {
            plan.pids_cgroup = dir;
            plan.layers.push(Layer::Processes);
        }
        Err(why) => {
            plan.missing.insert(Layer::Processes, why.0);
        }
    }
    plan
}

/// Says on stderr, once per weft process, which layers this kernel lacks.
fn warn_missing_once(plan: &Plan) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if plan.missing.is_empty() || SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let missing: Vec<String> = plan
        .missing
        .iter()
        .map(|(layer, why)| format!("{}: {why}", layer.name()))
        .collect();
    tracing::warn!(
        "stdio servers run with the sandbox layers this kernel has; missing: {} (settings.sandbox = \"require\" refuses to start them instead)",
        missing.join("; ")
    );
}

/// Why a sandboxed server was not started.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("its sandbox would lack {layers} ({why}), and settings.sandbox = \"require\"")]
    Missing { layers: String, why: String },
    #[error("cannot set up its sandbox: {0}")]
    Setup(String),
}

/// What must live as long as a sandboxed server: its private folder (and
/// what is in it) and its cgroup. Dropped after the server is stopped.
#[derive(Debug)]
pub struct Confined {
    /// The private home and temporary folder.
    private: tempfile::TempDir,
    _cgroup: Option<kernel::PidsCgroup>,
    _ruleset: Option<OwnedFd>,
}

impl Confined {
    /// The server's private home and temporary folder.
    pub fn private_dir(&self) -> &Path {
        self.private.path()
    }
}

/// Sets up `cmd` (a server's command, not yet started) to run in the
/// sandbox `cfg` describes. `None` when the sandbox is off. `path_env` is
/// the `PATH` the server gets.
pub fn apply(
    cmd: &mut tokio::process::Command,
    cfg: &SandboxConfig,
    command: &str,
    args: &[String],
    path_env: Option<&std::ffi::OsStr>,
    cwd: Option<&Path>,
) -> Result<Option<Confined>, ConfineError> {
    let plan = plan(cfg);
    if plan.off.is_some() {
        return Ok(None);
    }
    warn_missing_once(&plan);
    if cfg.require && !plan.missing.is_empty() {
        let layers: Vec<&str> = plan.missing.keys().map(|l| l.name()).collect();
        let why: Vec<&str> = plan.missing.values().map(String::as_str).collect();
        return Err(ConfineError::Missing {
            layers: layers.join(", "),
            why: why.join("; "),
        });
    }
    // weft's files made since the config was read (a secrets file, the
    // audit log) count now.
    cfg.check_grants([]).map_err(|m| {
        ConfineError::Setup(format!(
            "{m}: give it a folder that holds none of weft's files"
        ))
    })?;
    let guarded = cfg.guarded();
    let private = tempfile::Builder::new()
        .prefix("weft-server-")
        .tempdir()
        .map_err(|e| ConfineError::Setup(format!("no private folder: {e}")))?;
    for dir in &cfg.write {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| {
                ConfineError::Setup(format!(
                    "cannot make {} (sandbox.write): {e}",
                    dir.display()
                ))
            })?;
        }
    }
    let has = |l: Layer| plan.layers.contains(&l);
    let ruleset = if has(Layer::Files) {
        let roots = paths::runtime_roots(command, args, path_env, cwd, &guarded);
        let mut read: Vec<PathBuf> = paths::SYSTEM
            .iter()
            .chain(paths::KERNEL)
            .map(PathBuf::from)
            .chain(roots)
            .chain(cfg.read.iter().cloned())
            .collect();
        // Its working folder, unless that holds weft's files.
        read.extend(
            cwd.filter(|d| crate::config::sandbox::check_grant(d, &guarded).is_ok())
                .map(Path::to_path_buf),
        );
        let mut write: Vec<PathBuf> = cfg.write.clone();
        write.push(private.path().to_path_buf());
        Some(ruleset(&plan, cfg, &read, &write)?)
    } else {
        None
    };
    let cgroup = match &plan.pids_cgroup {
        Some(parent) if has(Layer::Processes) => Some(
            kernel::PidsCgroup::new(parent, cfg.processes)
                .map_err(|e| ConfineError::Setup(format!("cannot make its pids cgroup: {e}")))?,
        ),
        _ => None,
    };
    let setup = std::sync::Arc::new(child::ChildSetup {
        cgroup_procs: cgroup.as_ref().map(|c| c.procs.as_raw_fd()),
        userns: has(Layer::Namespaces).then(kernel::id_maps),
        netns: has(Layer::Network),
        memory: Some(cfg.memory),
        processes: (has(Layer::Processes) && plan.pids_cgroup.is_none()).then_some(cfg.processes),
        ruleset: ruleset.as_ref().map(|f| f.as_raw_fd()),
    });
    #[allow(unsafe_code)]
    // SAFETY: `enter` makes system calls only, on descriptors this
    // `Confined` keeps open until the server has started (see child.rs).
    unsafe {
        cmd.pre_exec(move || child::enter(&setup));
    }
    Ok(Some(Confined {
        private,
        _cgroup: cgroup,
        _ruleset: ruleset,
    }))
}

/// The Landlock ruleset: `read` paths read-only, `write` paths read-write,
/// the TCP ports of `cfg.network`, and the scopes, as far as the kernel's
/// ABI goes. Paths that do not exist are left out.
fn ruleset(
    plan: &Plan,
    cfg: &SandboxConfig,
    read: &[PathBuf],
    write: &[PathBuf],
) -> Result<OwnedFd, ConfineError> {
    let abi = match kernel::kernel().landlock {
        Ok(v) => ABI::from(v),
        Err(ref why) => return Err(ConfineError::Setup(why.to_string())),
    };
    let fail = |e: landlock::RulesetError| ConfineError::Setup(format!("Landlock: {e}"));
    let mut rs = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?;
    if plan.layers.contains(&Layer::Tcp) {
        rs = rs
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(fail)?;
    }
    if plan.layers.contains(&Layer::Scope) {
        rs = rs.scope(Scope::from_all(abi)).map_err(fail)?;
    }
    let mut created = rs.create().map_err(fail)?;
    // A folder's rule covers what is beneath it; a file's (or a device's)
    // may hold only file rights.
    let file_rights =
        AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Execute | AccessFs::Truncate;
    let devices: Vec<PathBuf> = paths::DEVICES.iter().map(PathBuf::from).collect();
    for (list, rights) in [
        (read, AccessFs::from_read(abi)),
        (write, AccessFs::from_all(abi)),
        (&devices[..], AccessFs::ReadFile | AccessFs::WriteFile),
    ] {
        for path in list {
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let Ok(fd) = PathFd::new(path) else {
                continue;
            };
            let rights = if meta.is_dir() {
                rights
            } else {
                rights & file_rights
            };
            created = created
                .add_rule(PathBeneath::new(fd, rights))
                .map_err(fail)?;
        }
    }
    if let (Network::Ports(ports), true) = (&cfg.network, plan.layers.contains(&Layer::Tcp)) {
        for port in ports {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                .map_err(fail)?;
        }
    }
    let fd: Option<OwnedFd> = created.into();
    fd.ok_or_else(|| ConfineError::Setup("Landlock made no ruleset".into()))
}
