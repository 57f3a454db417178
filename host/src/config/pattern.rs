//! `server.tool` patterns, compiled once into two glob sets: the one type
//! behind a tenant's view (include and exclude) and a policy's grants.
//!
//! A pattern matches a tool when its server glob matches the server and
//! its tool glob matches the tool. The sets answer which patterns match a
//! name in one pass each, so a check costs the same however many patterns
//! there are to compare one by one.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// A compiled list of `SERVER.TOOL` patterns, globs in either part.
#[derive(Debug, Clone)]
pub struct ToolPatterns {
    servers: GlobSet,
    tools: GlobSet,
    written: Vec<String>,
}

impl Default for ToolPatterns {
    fn default() -> Self {
        ToolPatterns {
            servers: GlobSet::empty(),
            tools: GlobSet::empty(),
            written: Vec::new(),
        }
    }
}

impl ToolPatterns {
    /// Compiles `patterns`; `what` names them in errors ("grant", "view
    /// entry"). Each must be `SERVER.TOOL`.
    pub fn new(patterns: &[String], what: &str) -> Result<ToolPatterns, String> {
        let mut servers = GlobSetBuilder::new();
        let mut tools = GlobSetBuilder::new();
        for p in patterns {
            let (server, tool) = p
                .split_once('.')
                .ok_or_else(|| format!("{what} {p:?} must be SERVER.TOOL"))?;
            let glob = |g: &str| Glob::new(g).map_err(|e| format!("{what} {p:?}: {e}"));
            servers.add(glob(server)?);
            tools.add(glob(tool)?);
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| format!("{what}s: {e}"));
        Ok(ToolPatterns {
            servers: build(servers)?,
            tools: build(tools)?,
            written: patterns.to_vec(),
        })
    }

    /// Whether one pattern matches both `server` and `tool`.
    pub fn matches(&self, server: &str, tool: &str) -> bool {
        let servers = self.servers.matches(server);
        if servers.is_empty() {
            return false;
        }
        let tools = self.tools.matches(tool);
        // Both lists are in ascending pattern order.
        let (mut i, mut j) = (0, 0);
        while let (Some(s), Some(t)) = (servers.get(i), tools.get(j)) {
            match s.cmp(t) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
            }
        }
        false
    }

    /// Whether some pattern's server glob matches `server`.
    pub fn matches_server(&self, server: &str) -> bool {
        self.servers.is_match(server)
    }

    /// The patterns as written.
    pub fn as_written(&self) -> &[String] {
        &self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> ToolPatterns {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        ToolPatterns::new(&list, "pattern").expect("valid patterns")
    }

    #[test]
    fn a_pattern_must_match_both_parts_itself() {
        let p = patterns(&["git.git_log", "time.*"]);
        assert!(p.matches("git", "git_log"));
        assert!(p.matches("time", "anything"));
        // The server of one pattern and the tool of another: no match.
        assert!(!p.matches("git", "anything"));
        assert!(!p.matches("time2", "git_log"));
        assert!(p.matches_server("git") && !p.matches_server("files"));
        assert!(!ToolPatterns::default().matches("git", "git_log"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let e = ToolPatterns::new(&["git".into()], "grant").unwrap_err();
        assert_eq!(e, "grant \"git\" must be SERVER.TOOL");
        let e = ToolPatterns::new(&["gi[t.x".into()], "view entry").unwrap_err();
        assert!(e.starts_with("view entry \"gi[t.x\": "), "{e}");
    }
}
