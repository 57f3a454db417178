//! Grants: which tools a policy may call and see, as `server.tool` globs
//! ([`super::pattern::ToolPatterns`], the type a tenant's view is made of
//! too). Plain config data: the sandbox, the tenant's caller and the
//! router all read it without depending on each other.
//!
//! A call outside the grants fails with kind `denied` before it reaches the
//! router, so the server never sees it; `list-tools` shows only granted
//! tools.

use super::pattern::{PatternError, ToolPatterns};

/// A compiled list of `server.tool` globs. No grants means nothing allowed.
/// Shared behind an `Arc`: every run of a policy holds its grants, and a
/// copy of compiled glob sets per run would cost more than the run's start.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    patterns: std::sync::Arc<ToolPatterns>,
}

impl Grants {
    /// Compiles grants; each must be `SERVER.TOOL` with globs in either part.
    pub fn new(grants: &[String]) -> Result<Grants, PatternError> {
        for g in grants {
            super::policy::validate_grant(g)?;
        }
        Ok(Grants {
            patterns: std::sync::Arc::new(ToolPatterns::new(grants, "grant")?),
        })
    }

    /// Everything: for `weft run` of a bare `.wasm` file by its owner.
    pub fn all() -> Grants {
        Grants::new(&["*.*".to_string()]).unwrap_or_default()
    }

    pub fn allows(&self, server: &str, tool: &str) -> bool {
        self.patterns.matches(server, tool)
    }

    /// Whether any grant can reach a tool on this server.
    pub fn allows_server(&self, server: &str) -> bool {
        self.patterns.matches_server(server)
    }

    /// The grants as written.
    pub fn as_written(&self) -> &[String] {
        self.patterns.as_written()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_on_both_parts() {
        let g = Grants::new(&[
            "git.*".into(),
            "time.get_current_time".into(),
            "*.read_*".into(),
        ])
        .unwrap();
        assert!(g.allows("git", "git_log"));
        assert!(g.allows("time", "get_current_time"));
        assert!(!g.allows("time", "convert_time"));
        assert!(g.allows("files", "read_text_file"));
        assert!(!g.allows("files", "write_file"));
        assert!(!Grants::default().allows("git", "git_log"));
        assert!(Grants::new(&["git".into()]).is_err());
    }
}
