//! A tenant's view of the catalog: `server.tool` globs to include, and
//! globs to take out again. It lives with the config (it is the config's
//! `include` and `exclude`, compiled) so that config needs nothing above
//! it to decide which tenants reach a per-tenant server; `tenant::View`
//! is this type.
//!
//! Tools are checked one by one; a server's resources and prompts are in
//! the view when any of its tools could be (the server is "reached") and no
//! exclude removes the whole server (`server.*`).

use globset::{Glob, GlobMatcher};

/// Compiled include and exclude globs.
#[derive(Debug, Clone, Default)]
pub struct View {
    include: Vec<(GlobMatcher, GlobMatcher)>,
    exclude: Vec<(GlobMatcher, GlobMatcher)>,
    /// Excludes of whole servers (`server.*`).
    exclude_servers: Vec<GlobMatcher>,
}

fn compile(list: &[String]) -> Result<Vec<(GlobMatcher, GlobMatcher)>, String> {
    list.iter()
        .map(|g| {
            let (server, tool) = g
                .split_once('.')
                .ok_or_else(|| format!("view entry {g:?} must be SERVER.TOOL"))?;
            let m = |p: &str| {
                Glob::new(p)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("view entry {g:?}: {e}"))
            };
            Ok((m(server)?, m(tool)?))
        })
        .collect()
}

impl View {
    pub fn new(include: &[String], exclude: &[String]) -> Result<View, String> {
        let exclude_servers = exclude
            .iter()
            .filter_map(|g| g.split_once('.'))
            .filter(|(_, tool)| *tool == "*")
            .map(|(server, _)| Glob::new(server).map(|g| g.compile_matcher()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(View {
            include: compile(include)?,
            exclude: compile(exclude)?,
            exclude_servers,
        })
    }

    /// Whether the tenant may see and call `tool` on `server`.
    pub fn allows(&self, server: &str, tool: &str) -> bool {
        self.include
            .iter()
            .any(|(s, t)| s.is_match(server) && t.is_match(tool))
            && !self
                .exclude
                .iter()
                .any(|(s, t)| s.is_match(server) && t.is_match(tool))
    }

    /// Whether any part of `server` is in the view: its resources and
    /// prompts are visible then.
    pub fn reaches(&self, server: &str) -> bool {
        self.include.iter().any(|(s, _)| s.is_match(server))
            && !self.exclude_servers.iter().any(|s| s.is_match(server))
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
