//! The part of an API a server serves: `tags`, `operations` and `exclude`
//! in `[servers.NAME.config]`.
//!
//! - `tags = ["repos", "issues"]`: operations tagged with any of these;
//! - `operations = ["repos/*", "GET /repos/*"]`: operations whose
//!   `operationId`, or whose `METHOD /path`, fits one of these globs (`*`
//!   is any text, `/` included; the method is matched in any case);
//! - `exclude = [...]`: globs of the same kind, taken out of what the
//!   other two chose.
//!
//! An operation is served when it passes both `tags` and `operations`
//! (an empty or absent list passes everything) and fits no `exclude`.
//! The rest is cut out of the document itself, so the adapter, the
//! operation cap and `weft check` all count the same operations.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::{Map, Value};

use super::document::METHODS;

/// The most entries in one of the three lists.
const MAX_ENTRIES: usize = 1000;
/// The longest entry.
const MAX_ENTRY: usize = 500;

/// Why a selection key is refused.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// Not a list of strings.
    #[error("`{0}` must be a list of strings")]
    NotList(&'static str),
    /// Too many entries, or one too long.
    #[error("`{key}` may hold at most {MAX_ENTRIES} entries of at most {MAX_ENTRY} characters")]
    TooBig {
        /// The key.
        key: &'static str,
    },
    /// An entry is not a glob.
    #[error("`{key}`: {entry:?} is not a glob: {why}")]
    Glob {
        /// The key.
        key: &'static str,
        /// The entry as written.
        entry: String,
        /// globset's reason.
        why: String,
    },
}

/// One list of operation globs, as written and compiled.
#[derive(Debug, Clone, Default)]
struct Globs {
    written: Vec<String>,
    set: GlobSet,
}

impl Globs {
    fn new(key: &'static str, entries: Vec<String>) -> Result<Globs, SelectionError> {
        let mut builder = GlobSetBuilder::new();
        for entry in &entries {
            let glob = Glob::new(&normalise(entry)).map_err(|e| SelectionError::Glob {
                key,
                entry: entry.clone(),
                why: e.kind().to_string(),
            })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| SelectionError::Glob {
            key,
            entry: entries.join(", "),
            why: e.to_string(),
        })?;
        Ok(Globs {
            written: entries,
            set,
        })
    }

    fn fits(&self, names: &[String]) -> bool {
        names.iter().any(|n| self.set.is_match(n))
    }
}

/// `get /a/*` as `GET /a/*`: the method part of a `METHOD /path` glob in
/// upper case, so a method matches whatever its case.
fn normalise(entry: &str) -> String {
    match entry.split_once(' ') {
        Some((method, path))
            if path.starts_with('/') && METHODS.contains(&method.to_ascii_lowercase().as_str()) =>
        {
            format!("{} {path}", method.to_ascii_uppercase())
        }
        _ => entry.to_string(),
    }
}

/// What a server serves of its API.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    tags: Vec<String>,
    operations: Option<Globs>,
    exclude: Option<Globs>,
}

/// What [`Selection::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Operations left out.
    pub dropped: usize,
    /// Entries that chose nothing (a typo, most likely), as `key: entry`.
    pub unmatched: Vec<String>,
}

/// `key` of `table` as a list of strings, taken out of the table.
fn list(table: &mut Map<String, Value>, key: &'static str) -> Result<Vec<String>, SelectionError> {
    let Some(value) = table.remove(key) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(SelectionError::NotList(key));
    };
    if items.len() > MAX_ENTRIES {
        return Err(SelectionError::TooBig { key });
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) if s.chars().count() <= MAX_ENTRY => Ok(s),
            Value::String(_) => Err(SelectionError::TooBig { key }),
            _ => Err(SelectionError::NotList(key)),
        })
        .collect()
}

impl Selection {
    /// The selection `table` (a server's config) asks for; its keys are
    /// taken out of the table, since the component gets the document
    /// already cut.
    pub fn take(table: &mut Map<String, Value>) -> Result<Selection, SelectionError> {
        let tags = list(table, "tags")?;
        let operations = list(table, "operations")?;
        let exclude = list(table, "exclude")?;
        let globs = |key, entries: Vec<String>| {
            if entries.is_empty() {
                Ok(None)
            } else {
                Globs::new(key, entries).map(Some)
            }
        };
        Ok(Selection {
            tags,
            operations: globs("operations", operations)?,
            exclude: globs("exclude", exclude)?,
        })
    }

    /// Whether it serves every operation.
    pub fn is_all(&self) -> bool {
        self.tags.is_empty() && self.operations.is_none() && self.exclude.is_none()
    }

    /// Whether the operation `op`, `method` of `path`, is served.
    fn serves(&self, op: &Value, method: &str, path: &str, used: &mut Used) -> bool {
        let mut names = vec![format!("{} {path}", method.to_ascii_uppercase())];
        if let Some(id) = op.get("operationId").and_then(Value::as_str) {
            names.push(id.to_string());
        }
        if !self.tags.is_empty() {
            let tags: Vec<&str> = op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let hit: Vec<usize> = (0..self.tags.len())
                .filter(|i| tags.contains(&self.tags[*i].as_str()))
                .collect();
            if hit.is_empty() {
                return false;
            }
            used.tags.extend(hit);
        }
        for (globs, seen) in [
            (&self.operations, &mut used.operations),
            (&self.exclude, &mut used.exclude),
        ] {
            if let Some(g) = globs {
                for n in &names {
                    seen.extend(g.set.matches(n));
                }
            }
        }
        if self.operations.as_ref().is_some_and(|g| !g.fits(&names)) {
            return false;
        }
        !self.exclude.as_ref().is_some_and(|g| g.fits(&names))
    }

    /// Cuts `doc` down to the operations this selection serves: the others
    /// are removed, and so is a path left with none. A path item that is a
    /// `$ref` within the document is replaced by what it names first.
    pub fn apply(&self, doc: &mut Value) -> Applied {
        let mut applied = Applied::default();
        if self.is_all() {
            return applied;
        }
        let mut used = Used::default();
        // A path item that is a reference: the item it names, copied in,
        // so its operations can be cut without touching what else names it.
        let named: Vec<(String, Value)> = doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(path, item)| {
                let reference = item.get("$ref")?.as_str()?.strip_prefix('#')?;
                let target = doc.pointer(
                    &percent_encoding::percent_decode_str(reference).decode_utf8_lossy(),
                )?;
                Some((path.clone(), target.clone()))
            })
            .collect();
        let Some(Value::Object(paths)) = doc.get_mut("paths") else {
            return applied;
        };
        for (path, target) in named {
            paths.insert(path, target);
        }
        paths.retain(|path, item| {
            let Some(ops) = item.as_object_mut() else {
                return true;
            };
            let before = METHODS.iter().filter(|m| ops.contains_key(**m)).count();
            for method in METHODS {
                let keep = match ops.get(method) {
                    Some(op) => self.serves(op, method, path, &mut used),
                    None => continue,
                };
                if !keep {
                    ops.remove(method);
                    applied.dropped += 1;
                }
            }
            before == 0 || METHODS.iter().any(|m| ops.contains_key(*m))
        });
        applied.unmatched = used.unmatched(self);
        applied
    }
}

/// Which entries chose something.
#[derive(Default)]
struct Used {
    tags: Vec<usize>,
    operations: Vec<usize>,
    exclude: Vec<usize>,
}

impl Used {
    fn unmatched(&self, s: &Selection) -> Vec<String> {
        let mut out = Vec::new();
        for (i, t) in s.tags.iter().enumerate() {
            if !self.tags.contains(&i) {
                out.push(format!("tags: {t:?}"));
            }
        }
        for (key, globs, used) in [
            ("operations", &s.operations, &self.operations),
            ("exclude", &s.exclude, &self.exclude),
        ] {
            if let Some(g) = globs {
                for (i, w) in g.written.iter().enumerate() {
                    if !used.contains(&i) {
                        out.push(format!("{key}: {w:?}"));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn served(config: Value) -> (Vec<String>, Applied) {
        let mut doc = json!({"openapi": "3.1.0", "paths": {
            "/repos/{o}": {"get": {"operationId": "repos/get", "tags": ["repos"]},
                           "delete": {"operationId": "repos/delete", "tags": ["repos"]}},
            "/user": {"get": {"operationId": "users/me", "tags": ["users"]}},
            "/alias": {"$ref": "#/x-items/alias"},
        }, "x-items": {"alias": {"post": {"operationId": "alias/make", "tags": ["repos"]}}}});
        let mut table = config.as_object().cloned().unwrap_or_default();
        let selection = Selection::take(&mut table).expect("a selection");
        assert!(table.is_empty(), "its keys are taken out: {table:?}");
        let applied = selection.apply(&mut doc);
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for m in METHODS {
                if item.get(m).is_some() {
                    ops.push(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
        ops.sort();
        (ops, applied)
    }

    #[test]
    fn tags_operations_and_exclude_choose_together() {
        let (ops, applied) = served(json!({"tags": ["repos"], "exclude": ["delete /repos/*"]}));
        assert_eq!(ops, ["GET /repos/{o}", "POST /alias"]);
        assert_eq!(applied.dropped, 2);
        let (ops, _) = served(json!({"operations": ["users/*", "get /repos/*"]}));
        assert_eq!(ops, ["GET /repos/{o}", "GET /user"]);
        // A chooser that chooses nothing is named.
        let (ops, applied) = served(json!({"tags": ["nope", "users"], "exclude": ["zzz"]}));
        assert_eq!(ops, ["GET /user"]);
        assert_eq!(applied.unmatched, ["tags: \"nope\"", "exclude: \"zzz\""]);
        // Nothing asked: the document as it is (the `$ref` path item left
        // for the adapter to follow).
        let (ops, applied) = served(json!({}));
        assert_eq!(ops, ["DELETE /repos/{o}", "GET /repos/{o}", "GET /user"]);
        assert_eq!(applied, Applied::default());
    }

    #[test]
    fn a_bad_selection_is_refused() {
        for (config, want) in [
            (json!({"tags": "repos"}), "`tags` must be a list of strings"),
            (
                json!({"operations": [3]}),
                "`operations` must be a list of strings",
            ),
            (
                json!({"exclude": ["a[b"]}),
                "`exclude`: \"a[b\" is not a glob",
            ),
        ] {
            let mut table = config.as_object().cloned().unwrap_or_default();
            let e = Selection::take(&mut table).err().map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.starts_with(want)), "{e:?}");
        }
    }
}
