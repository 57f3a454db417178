//! Which tool calls wait for a person's approval: `approval` on a server
//! (`true`, `false` or `"destructive"`), `approval` patterns in
//! `[settings]` (every caller) and on a tenant (that tenant's calls), and
//! how long weft waits for the answer (`settings.approval_timeout`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::pattern::ToolPatterns;

/// How long weft waits for a person's answer unless
/// `settings.approval_timeout` says otherwise.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);

/// `approval` on a server entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerApproval {
    /// No call of the server's tools waits (unless a pattern names it).
    #[default]
    Off,
    /// Every call of the server's tools waits.
    All,
    /// Calls of the tools whose annotations say `destructiveHint: true`.
    Destructive,
}

/// `approval` on a server entry as written: a boolean, or `"destructive"`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawServerApproval {
    /// `true`: every call; `false`: none.
    Switch(bool),
    /// `"destructive"`: the tools annotated `destructiveHint: true`.
    Word(String),
}

impl RawServerApproval {
    /// The validated setting; `key` names it in an error.
    pub(crate) fn resolve(&self, file: &Path, key: &str) -> Result<ServerApproval, ConfigError> {
        match self {
            RawServerApproval::Switch(true) => Ok(ServerApproval::All),
            RawServerApproval::Switch(false) => Ok(ServerApproval::Off),
            RawServerApproval::Word(w) if w == "destructive" => Ok(ServerApproval::Destructive),
            RawServerApproval::Word(w) => Err(ConfigError::new(
                file,
                key,
                format!("{} is not an approval setting", shown(w)),
            )
            .hint("use true (every tool), false (none) or \"destructive\" (tools annotated destructiveHint: true)")),
        }
    }
}

/// The approval rules of `[settings]`.
#[derive(Debug, Clone)]
pub struct Approvals {
    /// `settings.approval`: calls of these tools wait, whoever makes them.
    pub tools: ToolPatterns,
    /// How long weft waits for the person's answer before it declines.
    pub timeout: Duration,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals {
            tools: ToolPatterns::default(),
            timeout: DEFAULT_APPROVAL_TIMEOUT,
        }
    }
}

/// Compiles `approval` patterns (`SERVER.TOOL` globs) found at `key`.
pub(crate) fn patterns(
    list: &[String],
    file: &Path,
    key: &str,
) -> Result<ToolPatterns, ConfigError> {
    ToolPatterns::new(list, "approval pattern").map_err(|e| {
        ConfigError::new(file, key, e.to_string()).hint(
            "write SERVER.TOOL globs, like \"git.git_commit\", \"payments.*\" or \"*.delete_*\"",
        )
    })
}

/// A value as an error shows it: quoted, and cut short.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(64).collect();
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(raw: RawServerApproval) -> Result<ServerApproval, ConfigError> {
        raw.resolve(Path::new("weft.toml"), "servers.s.approval")
    }

    #[test]
    fn a_server_takes_a_switch_or_destructive_and_nothing_else() {
        assert_eq!(
            resolve(RawServerApproval::Switch(true)).ok(),
            Some(ServerApproval::All)
        );
        assert_eq!(
            resolve(RawServerApproval::Switch(false)).ok(),
            Some(ServerApproval::Off)
        );
        assert_eq!(
            resolve(RawServerApproval::Word("destructive".into())).ok(),
            Some(ServerApproval::Destructive)
        );
        for word in ["Destructive", "all", "yes", ""] {
            let e = resolve(RawServerApproval::Word(word.into())).unwrap_err();
            assert_eq!(e.key, "servers.s.approval");
            assert!(
                e.message.contains("is not an approval setting"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn patterns_are_server_tool_globs() {
        let file = Path::new("weft.toml");
        let p = patterns(&["payments.*".into(), "*.delete_*".into()], file, "k").unwrap();
        assert!(p.matches("payments", "refund"));
        assert!(p.matches("files", "delete_file"));
        assert!(!p.matches("files", "read_file"));
        let e = patterns(&["git".into()], file, "settings.approval").unwrap_err();
        assert_eq!(e.key, "settings.approval");
        assert!(e.message.contains("SERVER.TOOL"), "{}", e.message);
    }
}
