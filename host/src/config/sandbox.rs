//! `[servers.NAME.sandbox]` and `settings.sandbox`: what the operating
//! system lets a stdio server reach (the confinement itself is
//! `upstream::confine`).
//!
//! Paths are resolved once, here: `~` and `${env:..}` expanded, relative
//! ones taken from the config file's folder. No path the server is given
//! may hold one of weft's own files (its secrets, keys, journal, audit log,
//! caches and data), and no writable one may hold the config file: the
//! kernel's rules only ever add access, so such a grant could not be
//! narrowed afterwards.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Settings};
use crate::error::quote;

/// `settings.sandbox`: how servers' sandboxes are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Every layer the kernel has; the missing ones are reported (default).
    #[default]
    Auto,
    /// A server whose sandbox lacks a layer is not started.
    Require,
    /// No sandbox for any server (each `weft check` warns).
    Off,
}

impl SandboxMode {
    /// Reads `auto`, `require` or `off`.
    pub fn parse(text: &str) -> Option<SandboxMode> {
        match text {
            "auto" => Some(SandboxMode::Auto),
            "require" => Some(SandboxMode::Require),
            "off" => Some(SandboxMode::Off),
            _ => None,
        }
    }
}

/// Which network a sandboxed server may use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// Any (the default).
    #[default]
    All,
    /// None at all: no connections out, no listening.
    None,
    /// TCP connections to these ports only, on any host.
    Ports(Vec<u16>),
}

/// The default cap on a sandboxed server's processes and threads.
pub const DEFAULT_PROCESSES: u64 = 512;
/// The default cap on a sandboxed server's data memory (4 GiB).
pub const DEFAULT_MEMORY: u64 = 4 << 30;

/// One stdio server's sandbox, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// False when the entry says `sandbox = false` or the settings `off`.
    pub enabled: bool,
    /// Off by the entry itself (`sandbox = false`), for `weft check`.
    pub off_by_entry: bool,
    /// `settings.sandbox = "require"`.
    pub require: bool,
    /// Extra read-only paths (absolute).
    pub read: Vec<PathBuf>,
    /// Extra read-write paths (absolute; folders weft creates if missing).
    pub write: Vec<PathBuf>,
    /// The network the server may use (default: all).
    pub network: Network,
    /// The most data memory (heap and writable mappings), in bytes.
    pub memory: u64,
    /// The most processes and threads at once.
    pub processes: u64,
    /// weft's own folders (caches, data, config): no path above may hold
    /// one.
    pub protected: Vec<PathBuf>,
    /// weft's own files (secrets, keys, journal, audit log): no path above
    /// may hold one once it exists.
    pub protected_files: Vec<PathBuf>,
}

impl SandboxConfig {
    /// What no grant may hold now: the folders, and the files that exist.
    pub fn guarded(&self) -> Vec<PathBuf> {
        let mut out = self.protected.clone();
        out.extend(self.protected_files.iter().filter(|p| p.exists()).cloned());
        out
    }

    /// An error naming the first `read` or `write` path (or `extra`) that
    /// holds one of weft's files or folders now.
    pub fn check_grants<'a>(
        &'a self,
        extra: impl IntoIterator<Item = &'a Path>,
    ) -> anyhow::Result<()> {
        let guarded = self.guarded();
        for path in self
            .read
            .iter()
            .chain(&self.write)
            .map(PathBuf::as_path)
            .chain(extra)
        {
            check_grant(path, &guarded)?;
        }
        Ok(())
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: true,
            off_by_entry: false,
            require: false,
            read: Vec::new(),
            write: Vec::new(),
            network: Network::All,
            memory: DEFAULT_MEMORY,
            processes: DEFAULT_PROCESSES,
            protected: Vec::new(),
            protected_files: Vec::new(),
        }
    }
}

/// A stdio server's OS sandbox: `false` (none), `true` (the defaults), or a
/// table of what it may reach.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawSandbox {
    Switch(bool),
    Table(RawSandboxTable),
}

/// What the OS lets a stdio server reach beyond its defaults (the system's
/// folders, its installation, and a private home and temporary folder):
/// more paths, and less network, memory or processes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSandboxTable {
    /// Extra paths the server may read: absolute, `~/..`, `${env:..}`, or
    /// relative to the config file's folder. None may hold weft's own
    /// files.
    #[serde(default)]
    read: Vec<String>,
    /// Extra paths the server may read and write, made if missing; written
    /// as `read`. None may hold weft's own files or the config file.
    #[serde(default)]
    write: Vec<String>,
    /// The network the server may use: "all", "none" (no connections out,
    /// no listening), or a list of ports as "*:PORT" (TCP to those ports,
    /// on any host).
    #[schemars(extend("default" = "all"))]
    network: Option<RawNetwork>,
    /// The most data memory (heap and writable mappings) the server may
    /// use: a size, bytes or "4GiB", at least 16MiB.
    #[schemars(extend("default" = "4GiB"))]
    memory: Option<super::policy::RawAmount>,
    /// The most processes and threads the server may have at once (at
    /// least 1).
    #[schemars(extend("default" = 512))]
    processes: Option<u64>,
}

/// The network a sandboxed server may use: "all", "none", or a list of
/// "*:PORT".
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum RawNetwork {
    Word(String),
    List(Vec<String>),
}

/// The most paths one sandbox may list, and the longest path.
const MAX_PATHS: usize = 256;
const MAX_PATH_BYTES: usize = 4096;

impl RawSandbox {
    /// Resolves the entry (`None`: not written) for server `entry`.
    pub(crate) fn resolve(
        raw: Option<&RawSandbox>,
        entry: &str,
        file: &Path,
        settings: &Settings,
    ) -> Result<SandboxConfig, ConfigError> {
        let key = |k: &str| format!("{entry}.sandbox{k}");
        // Relative paths are the config file's folder's (the working folder's
        // for the built-in config), made absolute once, here.
        let base = file.parent().unwrap_or(Path::new("."));
        let cwd;
        let base = if base.is_absolute() {
            base
        } else {
            cwd = std::env::current_dir().map(|d| d.join(base)).map_err(|e| {
                ConfigError::new(
                    file,
                    key(""),
                    format!("no working folder to resolve paths from: {e}"),
                )
            })?;
            cwd.as_path()
        };
        let (protected, protected_files) = protected_paths(settings, base);
        let mut out = SandboxConfig {
            require: settings.sandbox == SandboxMode::Require,
            protected,
            protected_files,
            ..SandboxConfig::default()
        };
        let table = match raw {
            None => RawSandboxTable::default(),
            Some(RawSandbox::Switch(true)) => RawSandboxTable::default(),
            Some(RawSandbox::Switch(false)) => {
                out.enabled = false;
                out.off_by_entry = true;
                return Ok(out);
            }
            Some(RawSandbox::Table(t)) => t.clone(),
        };
        if settings.sandbox == SandboxMode::Off {
            out.enabled = false;
        }
        for (field, list, into) in [
            ("read", &table.read, &mut out.read),
            ("write", &table.write, &mut out.write),
        ] {
            if list.len() > MAX_PATHS {
                return Err(ConfigError::new(
                    file,
                    key(&format!(".{field}")),
                    format!("lists {} paths; at most {MAX_PATHS}", list.len()),
                ));
            }
            for written in list {
                let path = resolve_path(written, base).map_err(|m| {
                    ConfigError::new(file, key(&format!(".{field}")), format!("{m:#}"))
                })?;
                into.push(path);
            }
        }
        out.check_grants([]).map_err(|m| {
            ConfigError::new(file, key(""), format!("{m:#}")).hint(
                "give the server a folder that holds none of weft's files (its secrets, keys, journal, audit log, caches and data)",
            )
        })?;
        // (The built-in config has no file to guard.)
        if let Some(config) = file
            .file_name()
            .map(|n| base.join(n))
            .filter(|c| c.is_file())
        {
            for path in &out.write {
                if config.starts_with(path) {
                    return Err(ConfigError::new(
                        file,
                        key(".write"),
                        format!(
                            "{} holds weft's config file, which a server may not rewrite",
                            path.display()
                        ),
                    )
                    .hint("give the server a folder without weft.toml in it, or move the config"));
                }
            }
        }
        out.network = match &table.network {
            None => Network::All,
            Some(RawNetwork::Word(w)) if w == "all" => Network::All,
            Some(RawNetwork::Word(w)) if w == "none" => Network::None,
            Some(RawNetwork::Word(w)) => {
                return Err(ConfigError::new(
                    file,
                    key(".network"),
                    format!("{} is not \"all\", \"none\" or a list of \"*:PORT\"", quote(w)),
                ));
            }
            Some(RawNetwork::List(items)) if items.len() > MAX_PATHS => {
                return Err(ConfigError::new(
                    file,
                    key(".network"),
                    format!("lists {} ports; at most {MAX_PATHS}", items.len()),
                ));
            }
            Some(RawNetwork::List(items)) => Network::Ports(
                items
                    .iter()
                    .map(|i| parse_port(i))
                    .collect::<Result<_, _>>()
                    .map_err(|m| {
                        ConfigError::new(file, key(".network"), format!("{m:#}")).hint(
                            "the kernel checks a sandboxed server's connections by port, not by host: write \"*:443\"",
                        )
                    })?,
            ),
        };
        if let Some(memory) = &table.memory {
            out.memory = super::policy::amount_bytes(memory.clone())
                .map_err(|m| ConfigError::new(file, key(".memory"), m.to_string()))?;
            if out.memory < (16 << 20) {
                return Err(ConfigError::new(
                    file,
                    key(".memory"),
                    "is under 16 MiB, too little for any runtime",
                ));
            }
        }
        if let Some(n) = table.processes {
            if n == 0 {
                return Err(ConfigError::new(
                    file,
                    key(".processes"),
                    "must be at least 1",
                ));
            }
            out.processes = n;
        }
        Ok(out)
    }
}

/// `*:PORT` (or `:PORT`, or a bare port).
fn parse_port(item: &str) -> anyhow::Result<u16> {
    let port = match item.rsplit_once(':') {
        Some(("*" | "", port)) => port,
        Some((host, _)) => {
            return Err(anyhow::anyhow!(
                "{}: the host {} cannot be enforced",
                quote(item),
                quote(host)
            ));
        }
        None => item,
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(anyhow::anyhow!(
            "{} is not \"*:PORT\" with a port from 1 to 65535",
            quote(item)
        )),
    }
}

/// `~/x`, `${env:X}/y`, `/abs` or `rel` (from `base`) as a clean absolute path.
fn resolve_path(written: &str, base: &Path) -> anyhow::Result<PathBuf> {
    if written.len() > MAX_PATH_BYTES {
        return Err(anyhow::anyhow!(
            "a path of {} bytes; at most {MAX_PATH_BYTES}",
            written.len()
        ));
    }
    let text = super::secrets::resolve_noting(written, None, &mut Vec::new())
        .map_err(anyhow::Error::from)?;
    let path = match text.strip_prefix("~") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| anyhow::anyhow!("{written:?} starts with ~ but HOME is not set"))?;
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(&text),
    };
    let path = if path.is_absolute() {
        path
    } else {
        base.join(path)
    };
    let clean = lexical_clean(&path);
    if clean == Path::new("/") {
        return Err(anyhow::anyhow!("{written:?} is the whole filesystem"));
    }
    Ok(clean)
}

/// `path` without `.` and `..` parts (a `..` above the root stays at it).
pub(crate) fn lexical_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// An error if `grant` holds (or is inside) one of weft's protected paths.
/// Both are compared as written and, where they exist, with links resolved.
pub(crate) fn check_grant(grant: &Path, protected: &[PathBuf]) -> anyhow::Result<()> {
    let grant_real = std::fs::canonicalize(grant).ok();
    for p in protected {
        let p_real = std::fs::canonicalize(p).ok();
        for g in std::iter::once(grant).chain(grant_real.as_deref()) {
            for q in std::iter::once(p.as_path()).chain(p_real.as_deref()) {
                if q.starts_with(g) || g.starts_with(q) {
                    return Err(anyhow::anyhow!(
                        "{} would give the server {} (weft's own)",
                        grant.display(),
                        p.display()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// weft's own folders and files, which no sandboxed server may reach
/// (relative ones are `base`'s, the config file's folder): the folders
/// (caches, data, config), and the files (secrets, keys, journal, audit
/// log), which count once they exist.
pub fn protected_paths(settings: &Settings, base: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let home = env_dir("HOME");
    let mut dirs: Vec<PathBuf> = Vec::new();
    dirs.extend(env_dir("WEFT_CACHE_DIR"));
    dirs.extend(
        env_dir("XDG_CACHE_HOME")
            .or_else(|| home.as_ref().map(|h| h.join(".cache")))
            .map(|d| d.join("weft")),
    );
    dirs.extend(
        env_dir("XDG_CONFIG_HOME")
            .or_else(|| home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("weft")),
    );
    dirs.extend(super::data_dir());
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(settings.secrets_file.clone());
    files.push(settings.keys_file.clone());
    files.extend(settings.journal.clone());
    files.extend(settings.audit.clone());
    let clean = |list: Vec<PathBuf>| {
        let mut out: Vec<PathBuf> = list.iter().map(|p| lexical_clean(&base.join(p))).collect();
        out.sort();
        out.dedup();
        out
    };
    (clean(dirs), clean(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_written_with_any_host() {
        assert_eq!(parse_port("*:443").ok(), Some(443));
        assert_eq!(parse_port(":80").ok(), Some(80));
        assert_eq!(parse_port("8080").ok(), Some(8080));
        for bad in [
            "api.example.com:443",
            "10.0.0.1:443",
            "*:0",
            "*:65536",
            "*:x",
            "",
            "*:",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_grant_may_neither_hold_nor_sit_inside_weft_s_files() {
        let protected = vec![
            PathBuf::from("/home/u/.config/weft"),
            PathBuf::from("/srv/w/journal.db"),
        ];
        for bad in [
            "/home/u",
            "/home/u/.config",
            "/home/u/.config/weft",
            "/home/u/.config/weft/x",
            "/srv/w",
            "/srv/w/journal.db",
        ] {
            assert!(check_grant(Path::new(bad), &protected).is_err(), "{bad}");
        }
        for good in ["/home/u/projects", "/srv/other", "/home/u/.config/weftish"] {
            assert!(check_grant(Path::new(good), &protected).is_ok(), "{good}");
        }
    }

    #[test]
    fn paths_are_cleaned_and_made_absolute() {
        let base = Path::new("/etc/weft");
        assert_eq!(
            resolve_path("data", base).unwrap(),
            PathBuf::from("/etc/weft/data")
        );
        assert_eq!(
            resolve_path("/a/./b/../c", base).unwrap(),
            PathBuf::from("/a/c")
        );
        assert_eq!(
            resolve_path("../../../x", base).unwrap(),
            PathBuf::from("/x")
        );
        assert!(resolve_path("/", base).is_err());
        assert!(resolve_path("/a/..", base).is_err());
        assert!(resolve_path(&"a".repeat(5000), base).is_err());
    }
}
