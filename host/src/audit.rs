//! The audit log: one JSON line per tool call, whoever made it and however
//! it ended.
//!
//! A record names the tenant, the key, the policy (if a policy made the
//! call), the server and tool, the outcome (`ok` or an error kind), the
//! duration and a SHA-256 of the arguments, never the arguments
//! themselves. Lines are appended to a file created with mode 0600, each
//! with one `write` on a file opened for appending, so concurrent writers
//! never interleave within a line. `weft audit tail` reads it back.

use parking_lot::Mutex;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One call, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// RFC 3339, UTC, milliseconds.
    pub ts: String,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub server: String,
    pub tool: String,
    /// `ok`, or the error kind (`denied`, `rate-limited`, `tool-error`, …).
    pub outcome: String,
    pub ms: f64,
    /// SHA-256 of the arguments' JSON text (`{}` for none).
    pub args_sha256: String,
}

/// Where records go.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Audit {
    /// Opens (or creates, mode 0600) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<Audit> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        Ok(Audit {
            path: path.to_path_buf(),
            file: Mutex::new(options.open(path)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. A failed write is logged, never fatal to the call.
    pub fn write(&self, record: &Record) {
        let Ok(mut line) = serde_json::to_string(record) else {
            return;
        };
        line.push('\n');
        let line = crate::redact::text(&line);
        let mut f = self.file.lock();
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
        }
    }
}

impl Audit {
    /// Records one call made for `caller`.
    pub fn call(
        &self,
        caller: &crate::Caller,
        server: &str,
        tool: &str,
        outcome: &str,
        ms: f64,
        args_sha256: String,
    ) {
        self.write(&Record {
            ts: now(),
            tenant: caller.tenant_name().to_string(),
            key: caller.key_id.clone(),
            policy: caller.policy.clone(),
            server: server.to_string(),
            tool: tool.to_string(),
            outcome: outcome.to_string(),
            ms,
            args_sha256,
        });
    }
}

/// The hash recorded for a call's arguments.
pub fn args_hash(args: Option<&rmcp::model::JsonObject>) -> String {
    let text = match args {
        Some(a) => serde_json::to_string(a).unwrap_or_default(),
        None => "{}".into(),
    };
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Now, as recorded.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The last `n` records of a log (all of them for `n == 0`); lines that do
/// not parse are returned as errors so a damaged log is seen, not hidden.
pub fn tail(path: &Path, n: usize) -> std::io::Result<Vec<Result<Record, String>>> {
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = if n == 0 {
        0
    } else {
        lines.len().saturating_sub(n)
    };
    Ok(lines[start..]
        .iter()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("unreadable line ({e}): {l}")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_tail() {
        let dir = std::env::temp_dir().join(format!(
            "weft-audit-{}",
            crate::util::random_hex(4).unwrap()
        ));
        let path = dir.join("audit.jsonl");
        let audit = Audit::open(&path).unwrap();
        for i in 0..5 {
            audit.write(&Record {
                ts: now(),
                tenant: "acme".into(),
                key: Some("k1".into()),
                policy: None,
                server: "git".into(),
                tool: format!("t{i}"),
                outcome: "ok".into(),
                ms: 1.5,
                args_sha256: args_hash(None),
            });
        }
        let last = tail(&path, 2).unwrap();
        assert_eq!(last.len(), 2);
        assert_eq!(last[1].as_ref().unwrap().tool, "t4");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
