//! A call's arguments checked against its tool's `inputSchema` before the
//! call goes out, so a wrong type is refused at once as `invalid-args`,
//! with the JSON pointer of the bad value and what was expected, instead
//! of after a round trip as the server's own `tool-error`.
//!
//! Each tool's validator is compiled once, the first time the tool is
//! called, and kept with its catalog entry: a catalog is rebuilt whenever
//! a server's list changes, and compiling every schema of a large catalog
//! up front would slow every rebuild for tools that may never be called.
//!
//! Schemas come from upstream servers and are hostile like everything
//! else: `pattern` is matched with the linear-time `regex` engine (no
//! backtracking), with a size limit, and nothing is fetched for a `$ref`.
//! A schema that does not compile is not enforced (the server checks its
//! own arguments), and says so once in the log.

use std::sync::{Arc, OnceLock};

use rmcp::model::JsonObject;
use serde_json::Value;

use crate::error::SHOWN_CHARS;

/// The most errors one refusal lists.
const MAX_LISTED: usize = 3;

/// The largest compiled regular expression a schema may ask for.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Arguments that do not fit their tool's `inputSchema`: each problem
/// with the JSON pointer of the value (the first few, then how
/// many more there were).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the arguments do not fit the tool's inputSchema: {}", .problems.join("; "))]
pub struct ArgsMismatch {
    pub problems: Vec<String>,
}

/// A tool's compiled argument check, shared by the clones of its entry.
#[derive(Clone, Default)]
pub struct ArgsCheck(Arc<OnceLock<Option<jsonschema::Validator>>>);

impl std::fmt::Debug for ArgsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0.get() {
            None => "ArgsCheck(not compiled)",
            Some(None) => "ArgsCheck(not enforced)",
            Some(Some(_)) => "ArgsCheck(compiled)",
        })
    }
}

impl ArgsCheck {
    /// `Ok` when `args` fit `schema` (or the schema cannot be enforced);
    /// else what is wrong, each error with the JSON pointer of the value.
    pub fn check(
        &self,
        tool: &str,
        schema: &JsonObject,
        args: Option<&JsonObject>,
    ) -> Result<(), ArgsMismatch> {
        let Some(validator) = self.0.get_or_init(|| compile(tool, schema)) else {
            return Ok(());
        };
        let empty = JsonObject::new();
        // The validator reads a `Value`; the arguments are a map, so they
        // are wrapped (a copy, only for a tool with a schema to enforce).
        let instance = Value::Object(args.unwrap_or(&empty).clone());
        if validator.is_valid(&instance) {
            return Ok(());
        }
        let mut errors = validator.iter_errors(&instance);
        let mut problems: Vec<String> = errors
            .by_ref()
            .take(MAX_LISTED)
            .map(|e| {
                let at = e.instance_path().as_str().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                format!("at {}: {}", cap(&at), cap(&e.to_string()))
            })
            .collect();
        let more = errors.count();
        if more > 0 {
            problems.push(format!("and {more} more"));
        }
        Err(ArgsMismatch { problems })
    }
}

/// The validator for `schema`, or none when it cannot be compiled.
fn compile(tool: &str, schema: &JsonObject) -> Option<jsonschema::Validator> {
    let options = jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(REGEX_SIZE_LIMIT));
    match options.build(&Value::Object(schema.clone())) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(
                tool = %cap(tool),
                "the tool's inputSchema does not compile, so its arguments are not checked: {}",
                cap(&e.to_string())
            );
            None
        }
    }
}

/// `text` cut to a few times [`SHOWN_CHARS`] characters: an error echoes
/// values the agent sent, which may be large.
fn cap(text: &str) -> String {
    const MAX: usize = SHOWN_CHARS * 4;
    match text.char_indices().nth(MAX) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_the_bad_value_and_what_was_expected() {
        let schema = object(json!({
            "type": "object",
            "properties": {"message": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
            "required": ["message"]
        }));
        let check = ArgsCheck::default();
        assert_eq!(
            check.check("echo", &schema, Some(&object(json!({"message": "hi"})))),
            Ok(())
        );
        let e = check
            .check("echo", &schema, Some(&object(json!({"message": 5}))))
            .unwrap_err();
        assert_eq!(e.problems, ["at /message: 5 is not of type \"string\""]);
        assert_eq!(
            e.to_string(),
            "the arguments do not fit the tool's inputSchema: at /message: 5 is not of type \"string\""
        );
        assert_eq!(
            check.check("echo", &schema, None).unwrap_err().to_string(),
            "the arguments do not fit the tool's inputSchema: at /: \"message\" is a required property"
        );
        let huge = "x".repeat(10_000);
        let e = check
            .check(
                "echo",
                &schema,
                Some(&object(json!({"message": huge, "n": huge}))),
            )
            .unwrap_err()
            .to_string();
        assert!(e.len() < 600, "{}", e.len());
    }

    #[test]
    fn a_schema_that_does_not_compile_is_not_enforced() {
        // A look-around: the linear-time engine refuses it.
        let schema = object(json!({
            "type": "object",
            "properties": {"s": {"type": "string", "pattern": "(?=a)b"}}
        }));
        let check = ArgsCheck::default();
        assert_eq!(
            check.check("t", &schema, Some(&object(json!({"s": 1})))),
            Ok(())
        );
    }
}
