//! `server.tool` patterns, compiled once into two glob sets: the one type
//! behind a tenant's view (include and exclude) and a policy's grants.
//!
//! A pattern matches a tool when its server glob matches the server and
//! its tool glob matches the tool. The sets answer which patterns match a
//! name in one pass each, so a check costs the same however many patterns
//! there are to compare one by one. A short list of patterns that are all
//! plain names or `*` (the usual grant: `git.*`, `time.get_current_time`)
//! is also kept as it is and compared directly, which is cheaper than
//! running the sets for the handful of patterns it holds.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Why a `SERVER.TOOL` pattern cannot be used. `what` names the kind of
/// pattern in the message: "grant", "view entry".
#[derive(Debug, Clone, thiserror::Error)]
pub enum PatternError {
    /// No `.` between the server and the tool part; `example` adds what a
    /// good one looks like (the config checks say it, the compiler not).
    #[error("{what} {pattern:?} must be SERVER.TOOL{}", example_if(.example))]
    NotServerTool {
        /// The kind of pattern: "grant", "view entry".
        what: &'static str,
        /// The pattern as written.
        pattern: String,
        /// Whether the message adds an example of a good pattern.
        example: bool,
    },
    /// Nothing before or after the `.`.
    #[error("{what} {pattern:?} has an empty server or tool part")]
    EmptyPart {
        /// The kind of pattern: "grant", "view entry".
        what: &'static str,
        /// The pattern as written.
        pattern: String,
    },
    /// `pattern` (or the part of it named) is not a glob.
    #[error("{what} {pattern:?}: {source}")]
    Glob {
        /// The kind of pattern: "grant", "view entry".
        what: &'static str,
        /// The pattern, or its part, as written.
        pattern: String,
        /// globset's error.
        source: globset::Error,
    },
    /// The globs of a list do not build into one set.
    #[error("{what}s: {source}")]
    Set {
        /// The kind of pattern: "grant", "view entry".
        what: &'static str,
        /// globset's error.
        source: globset::Error,
    },
    /// The globs of the whole servers a view excludes do not build into
    /// one set.
    #[error("{0}")]
    ServerSet(globset::Error),
}

/// What a good pattern looks like, for [`PatternError::NotServerTool`].
fn example_if(example: &bool) -> &'static str {
    if *example {
        ", like \"git.*\" or \"time.get_current_time\""
    } else {
        ""
    }
}

/// Checks one pattern as the config loader does: `server.tool`, both parts
/// non-empty, globs in either part. `what` names it in errors.
pub fn validate_pattern(pattern: &str, what: &'static str) -> Result<(), PatternError> {
    let Some((server, tool)) = pattern.split_once('.') else {
        return Err(PatternError::NotServerTool {
            what,
            pattern: pattern.into(),
            example: true,
        });
    };
    if server.is_empty() || tool.is_empty() {
        return Err(PatternError::EmptyPart {
            what,
            pattern: pattern.into(),
        });
    }
    for part in [server, tool] {
        Glob::new(part).map_err(|source| PatternError::Glob {
            what,
            pattern: pattern.into(),
            source,
        })?;
    }
    Ok(())
}

/// A compiled list of `SERVER.TOOL` patterns, globs in either part.
#[derive(Debug, Clone)]
pub struct ToolPatterns {
    servers: GlobSet,
    tools: GlobSet,
    /// The same patterns for a direct comparison, when there are at most
    /// [`MAX_PLAIN`] and none has a glob but a lone `*`.
    plain: Option<Vec<(Part, Part)>>,
    written: Vec<String>,
}

/// The most patterns compared one by one rather than through the sets.
const MAX_PLAIN: usize = 8;

/// One part of a plain pattern.
#[derive(Debug, Clone)]
enum Part {
    /// `*`: any name.
    Any,
    /// A name, matched exactly.
    Name(String),
}

impl Part {
    /// The part for `glob`, if it is a plain name or `*`.
    fn of(glob: &str) -> Option<Part> {
        if glob == "*" {
            Some(Part::Any)
        } else if glob.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            None
        } else {
            Some(Part::Name(glob.to_string()))
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Part::Any => true,
            Part::Name(n) => n == name,
        }
    }
}

impl Default for ToolPatterns {
    fn default() -> Self {
        ToolPatterns {
            servers: GlobSet::empty(),
            tools: GlobSet::empty(),
            plain: Some(Vec::new()),
            written: Vec::new(),
        }
    }
}

/// Patterns are the same when they were written the same.
impl PartialEq for ToolPatterns {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

impl ToolPatterns {
    /// Compiles `patterns`; `what` names them in errors ("grant", "view
    /// entry"). Each must be `SERVER.TOOL`.
    pub fn new(patterns: &[String], what: &'static str) -> Result<ToolPatterns, PatternError> {
        let mut servers = GlobSetBuilder::new();
        let mut tools = GlobSetBuilder::new();
        let mut plain = (patterns.len() <= MAX_PLAIN).then(Vec::new);
        for p in patterns {
            let (server, tool) = p
                .split_once('.')
                .ok_or_else(|| PatternError::NotServerTool {
                    what,
                    pattern: p.clone(),
                    example: false,
                })?;
            let glob = |g: &str| {
                Glob::new(g).map_err(|source| PatternError::Glob {
                    what,
                    pattern: p.clone(),
                    source,
                })
            };
            servers.add(glob(server)?);
            tools.add(glob(tool)?);
            plain = plain.and_then(|mut list| {
                list.push((Part::of(server)?, Part::of(tool)?));
                Some(list)
            });
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|source| PatternError::Set { what, source })
        };
        Ok(ToolPatterns {
            servers: build(servers)?,
            tools: build(tools)?,
            plain,
            written: patterns.to_vec(),
        })
    }

    /// Whether one pattern matches both `server` and `tool`.
    pub fn matches(&self, server: &str, tool: &str) -> bool {
        if let Some(plain) = &self.plain {
            return plain
                .iter()
                .any(|(s, t)| s.matches(server) && t.matches(tool));
        }
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

    /// The direct comparison of plain patterns answers as the glob sets do.
    #[test]
    fn plain_patterns_match_as_the_sets_do() {
        let lists: &[&[&str]] = &[
            &["git.*", "time.get_current_time"],
            &["*.*"],
            &["*.read_file", "a.b"],
            &["echo.echo"],
            &[],
        ];
        let names = [
            "git",
            "time",
            "echo",
            "a",
            "",
            "get_current_time",
            "read_file",
            "b",
            "x.y",
        ];
        for list in lists {
            let p = patterns(list);
            assert!(p.plain.is_some(), "{list:?} is plain");
            let sets = ToolPatterns {
                plain: None,
                ..p.clone()
            };
            for server in names {
                for tool in names {
                    assert_eq!(
                        p.matches(server, tool),
                        sets.matches(server, tool),
                        "{list:?} on {server}.{tool}"
                    );
                }
            }
        }
        assert!(patterns(&["g?t.*"]).plain.is_none());
        let many: Vec<String> = (0..=MAX_PLAIN).map(|i| format!("s{i}.t")).collect();
        assert!(ToolPatterns::new(&many, "grant").unwrap().plain.is_none());
    }

    #[test]
    fn bad_patterns_are_named() {
        let e = ToolPatterns::new(&["git".into()], "grant").unwrap_err();
        assert_eq!(e.to_string(), "grant \"git\" must be SERVER.TOOL");
        let e = ToolPatterns::new(&["gi[t.x".into()], "view entry").unwrap_err();
        assert!(matches!(e, PatternError::Glob { .. }));
        assert!(e.to_string().starts_with("view entry \"gi[t.x\": "), "{e}");
    }

    #[test]
    fn the_config_check_names_the_pattern_and_its_kind() {
        let e = validate_pattern("git", "grant").unwrap_err();
        assert_eq!(
            e.to_string(),
            "grant \"git\" must be SERVER.TOOL, like \"git.*\" or \"time.get_current_time\""
        );
        let e = validate_pattern("git.", "view entry").unwrap_err();
        assert!(matches!(
            e,
            PatternError::EmptyPart {
                what: "view entry",
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "view entry \"git.\" has an empty server or tool part"
        );
        // The kind replaces the word, not every "grant" in the message.
        let e = validate_pattern("grant[.x", "view entry").unwrap_err();
        assert!(
            e.to_string().starts_with("view entry \"grant[.x\": "),
            "{e}"
        );
        assert_eq!(e.to_string().matches("grant[").count(), 2, "{e}");
        assert!(validate_pattern("*.read_*", "grant").is_ok());
    }
}
