//! Grants: which tools a policy may call and see, as `server.tool` globs.
//!
//! A call outside the grants fails with kind `denied` before it reaches the
//! router, so the server never sees it; `list-tools` shows only granted
//! tools.

use globset::{Glob, GlobMatcher};

/// A compiled list of `server.tool` globs. No grants means nothing allowed.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    rules: Vec<(GlobMatcher, GlobMatcher)>,
    source: Vec<String>,
}

impl Grants {
    /// Compiles grants; each must be `SERVER.TOOL` with globs in either part.
    pub fn new(grants: &[String]) -> Result<Grants, String> {
        let mut rules = Vec::with_capacity(grants.len());
        for g in grants {
            crate::config::policy::validate_grant(g)?;
            let (server, tool) = g.split_once('.').unwrap_or((g, "*"));
            let compile = |p: &str| {
                Glob::new(p)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("grant {g:?}: {e}"))
            };
            rules.push((compile(server)?, compile(tool)?));
        }
        Ok(Grants {
            rules,
            source: grants.to_vec(),
        })
    }

    /// Everything: for `weft run` of a bare `.wasm` file by its owner.
    pub fn all() -> Grants {
        Grants::new(&["*.*".to_string()]).unwrap_or_default()
    }

    pub fn allows(&self, server: &str, tool: &str) -> bool {
        self.rules
            .iter()
            .any(|(s, t)| s.is_match(server) && t.is_match(tool))
    }

    /// Whether any grant can reach a tool on this server.
    pub fn allows_server(&self, server: &str) -> bool {
        self.rules.iter().any(|(s, _)| s.is_match(server))
    }

    /// The grants as written.
    pub fn as_written(&self) -> &[String] {
        &self.source
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
