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
    /// The grants these are held within, when they narrow others (a
    /// policy run for an agent whose token's scopes narrow its view): a
    /// tool must be allowed by both.
    within: Option<std::sync::Arc<Grants>>,
}

impl Grants {
    /// Compiles grants; each must be `SERVER.TOOL` with globs in either part.
    pub fn new(grants: &[String]) -> Result<Grants, PatternError> {
        for g in grants {
            super::policy::validate_grant(g)?;
        }
        Ok(Grants {
            patterns: std::sync::Arc::new(ToolPatterns::new(grants, "grant")?),
            within: None,
        })
    }

    /// These grants held within `outer`: a tool is allowed when both
    /// allow it.
    pub fn within(&self, outer: &Grants) -> Grants {
        let outer = match &self.within {
            None => outer.clone(),
            Some(mine) => mine.within(outer),
        };
        Grants {
            patterns: self.patterns.clone(),
            within: Some(std::sync::Arc::new(outer)),
        }
    }

    /// Every list these grants are made of, as written, outermost first
    /// (one list unless they are held within others).
    pub fn layers(&self) -> Vec<Vec<String>> {
        let mut out = self.within.as_ref().map(|w| w.layers()).unwrap_or_default();
        out.push(self.patterns.as_written().to_vec());
        out
    }

    /// The grants [`Grants::layers`] wrote, each list held within those
    /// before it; `None` for no lists.
    pub fn from_layers(layers: &[Vec<String>]) -> Result<Option<Grants>, PatternError> {
        let mut out: Option<Grants> = None;
        for layer in layers {
            let grants = Grants::new(layer)?;
            out = Some(match &out {
                None => grants,
                Some(outer) => grants.within(outer),
            });
        }
        Ok(out)
    }

    /// Everything: for `weft run` of a bare `.wasm` file by its owner.
    pub fn all() -> Grants {
        Grants::new(&["*.*".to_string()]).unwrap_or_default()
    }

    /// Whether `tool` on `server` may be called and seen: granted here
    /// and by any grants these are held within.
    pub fn allows(&self, server: &str, tool: &str) -> bool {
        self.patterns.matches(server, tool)
            && self.within.as_ref().is_none_or(|w| w.allows(server, tool))
    }

    /// Whether any grant can reach a tool on this server.
    pub fn allows_server(&self, server: &str) -> bool {
        self.patterns.matches_server(server)
            && self.within.as_ref().is_none_or(|w| w.allows_server(server))
    }

    /// The grants as written (these alone, not those they are held
    /// within).
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

    #[test]
    fn grants_held_within_others_allow_what_both_allow() {
        let scope = Grants::new(&["w.tool_0".into(), "git.*".into()]).unwrap();
        let policy = Grants::new(&["w.*".into()]).unwrap();
        let held = policy.within(&scope);
        assert!(held.allows("w", "tool_0"));
        assert!(!held.allows("w", "tool_1"));
        assert!(!held.allows("git", "git_log"));
        assert!(held.allows_server("w"));
        assert!(!held.allows_server("git"));
        let layers = held.layers();
        assert_eq!(
            layers,
            vec![
                vec!["w.tool_0".to_string(), "git.*".into()],
                vec!["w.*".to_string()]
            ]
        );
        let back = Grants::from_layers(&layers).unwrap().unwrap();
        assert_eq!(back.layers(), layers);
        assert!(back.allows("w", "tool_0") && !back.allows("w", "tool_1"));
        assert!(Grants::from_layers(&[]).unwrap().is_none());
    }
}
