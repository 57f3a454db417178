//! A tenant's view of the catalog: `server.tool` globs to include, and
//! globs to take out again. It lives with the config (it is the config's
//! `include` and `exclude`, compiled) so that config needs nothing above
//! it to decide which tenants reach a per-tenant server; `tenant::View`
//! is this type.
//!
//! Tools are checked one by one; a server's resources and prompts are in
//! the view when any of its tools could be (the server is "reached") and no
//! exclude removes the whole server (`server.*`).

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::pattern::{PatternError, ToolPatterns};

/// Compiled include and exclude patterns.
#[derive(Debug, Clone, Default)]
pub struct View {
    include: ToolPatterns,
    exclude: ToolPatterns,
    /// Excludes of whole servers (`server.*`).
    exclude_servers: GlobSet,
}

impl View {
    /// Compiles a view from `server.tool` globs to include and to exclude;
    /// fails on a pattern that is not `SERVER.TOOL` or not a glob.
    pub fn new(include: &[String], exclude: &[String]) -> Result<View, PatternError> {
        let mut whole = GlobSetBuilder::new();
        for (server, _) in exclude
            .iter()
            .filter_map(|g| g.split_once('.'))
            .filter(|(_, tool)| *tool == "*")
        {
            whole.add(Glob::new(server).map_err(|source| PatternError::Glob {
                what: "view entry",
                pattern: server.into(),
                source,
            })?);
        }
        Ok(View {
            include: ToolPatterns::new(include, "view entry")?,
            exclude: ToolPatterns::new(exclude, "view entry")?,
            exclude_servers: whole.build().map_err(PatternError::ServerSet)?,
        })
    }

    /// The patterns as written: (include, exclude).
    pub fn as_written(&self) -> (&[String], &[String]) {
        (self.include.as_written(), self.exclude.as_written())
    }

    /// Whether the tenant may see and call `tool` on `server`.
    pub fn allows(&self, server: &str, tool: &str) -> bool {
        self.include.matches(server, tool) && !self.exclude.matches(server, tool)
    }

    /// Whether any part of `server` is in the view: its resources and
    /// prompts are visible then.
    pub fn reaches(&self, server: &str) -> bool {
        self.include.matches_server(server) && !self.exclude_servers.is_match(server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_then_exclude() {
        let v = View::new(
            &["git.*".into(), "time.get_current_time".into()],
            &["git.git_commit".into(), "files.*".into()],
        )
        .unwrap();
        assert!(v.allows("git", "git_log"));
        assert!(!v.allows("git", "git_commit"));
        assert!(v.allows("time", "get_current_time"));
        assert!(!v.allows("time", "convert_time"));
        assert!(v.reaches("time") && v.reaches("git"));
        assert!(!v.reaches("files") && !v.reaches("memory"));
        assert!(!View::default().allows("git", "git_log"));
        assert!(View::new(&["git".into()], &[]).is_err());
    }
}
