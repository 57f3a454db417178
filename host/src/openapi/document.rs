//! An OpenAPI document's text read into JSON, from JSON or YAML, and
//! checked for what the adapter would refuse.
//!
//! The text is hostile: it is capped at [`MAX_SPEC`] bytes before it is
//! read, YAML is read by serde-saphyr under its default budget (aliases,
//! depth and node counts are bounded, so an alias bomb is refused, not
//! expanded), and nothing here panics on any input.

use serde_json::Value;

/// The largest OpenAPI document weft reads, in bytes (GitHub's own
/// description is 5.7 MB; 16 MiB leaves room for the largest in
/// APIs.guru's directory).
pub const MAX_SPEC: u64 = 16 << 20;
/// The most operations a served document may have after selection (the
/// adapter's own cap; weft serves at most 1024 tools per adapter).
pub const MAX_OPERATIONS: usize = 1000;
/// The HTTP methods a path item may hold operations under.
pub(super) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Why a document cannot be read or served.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Over [`MAX_SPEC`] bytes.
    #[error("is {0} bytes, over the cap of {MAX_SPEC}")]
    TooLarge(u64),
    /// JSON text (it starts with `{`) that does not parse.
    #[error("is not a JSON document: {0}")]
    Json(String),
    /// Neither JSON nor YAML that parses.
    #[error("is neither a JSON nor a YAML document: {0}")]
    Yaml(String),
    /// It parsed, but not to a mapping.
    #[error("is not an object (a mapping) at its top level")]
    NotObject,
    /// Not OpenAPI 3.0 or 3.1.
    #[error(
        "is not an OpenAPI 3.0 or 3.1 document (its `openapi` field is {0}); convert a Swagger 2.0 document to OpenAPI 3 first"
    )]
    Version(String),
    /// No `paths` object.
    #[error("has no `paths` object, so it has no operations")]
    NoPaths,
    /// More operations than the adapter serves.
    #[error(
        "has {0} operations, over the cap of {MAX_OPERATIONS}: serve a part of it with `tags`, `operations` or `exclude` in [servers.NAME.config]"
    )]
    TooMany(usize),
}

/// The document in `text`: JSON when its first character is `{` or `[`, YAML
/// otherwise (JSON is YAML too, but serde_json reads it faster and says
/// where a JSON document is broken in JSON's terms).
pub fn parse(text: &[u8]) -> Result<Value, DocumentError> {
    if text.len() as u64 > MAX_SPEC {
        return Err(DocumentError::TooLarge(text.len() as u64));
    }
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    let doc: Value = if matches!(first, Some(b'{' | b'[')) {
        serde_json::from_slice(text).map_err(|e| DocumentError::Json(e.to_string()))?
    } else {
        let text = std::str::from_utf8(text)
            .map_err(|e| DocumentError::Yaml(format!("it is not UTF-8 text ({e})")))?;
        serde_saphyr::from_str(text).map_err(|e| {
            let mut why = e.to_string();
            crate::util::truncate(&mut why, 500);
            DocumentError::Yaml(why)
        })?
    };
    if !doc.is_object() {
        return Err(DocumentError::NotObject);
    }
    Ok(doc)
}

/// How many operations `doc` has, or what the adapter would refuse: not
/// OpenAPI 3.0 or 3.1, no `paths`, more than [`MAX_OPERATIONS`].
pub fn check(doc: &Value) -> Result<usize, DocumentError> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(DocumentError::Version(
            doc.get("openapi")
                .map(|v| {
                    let mut text = v.to_string();
                    crate::util::truncate(&mut text, 40);
                    text
                })
                .unwrap_or_else(|| "missing".into()),
        ));
    }
    // OpenAPI 3.1 lets a document hold only webhooks or components: it
    // has no operations to serve, and that is not an error.
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        if version.starts_with("3.1") && doc.get("paths").is_none() {
            return Ok(0);
        }
        return Err(DocumentError::NoPaths);
    };
    let operations: usize = paths
        .values()
        .filter_map(Value::as_object)
        .map(|item| METHODS.iter().filter(|m| item.contains_key(**m)).count())
        .sum();
    if operations > MAX_OPERATIONS {
        return Err(DocumentError::TooMany(operations));
    }
    Ok(operations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_json_read_to_the_same_document() {
        let yaml = b"openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n";
        let json = br#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#;
        let from_yaml = parse(yaml).expect("yaml reads");
        assert_eq!(from_yaml, parse(json).expect("json reads"));
        assert_eq!(check(&from_yaml).ok(), Some(1));
    }

    #[test]
    fn hostile_text_is_refused_not_expanded() {
        // A billion laughs: each alias doubles the one before.
        let mut bomb = String::from("a: &a [x, x]\n");
        for i in 1..40 {
            bomb.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", prev(i), prev(i)));
        }
        fn prev(i: usize) -> String {
            if i == 1 {
                String::new()
            } else {
                (i - 1).to_string()
            }
        }
        assert!(matches!(
            parse(bomb.as_bytes()),
            Err(DocumentError::Yaml(_))
        ));
        let big = vec![b' '; MAX_SPEC as usize + 1];
        assert!(matches!(parse(&big), Err(DocumentError::TooLarge(_))));
        assert!(matches!(
            parse(b"{\"openapi\": "),
            Err(DocumentError::Json(_))
        ));
        assert!(matches!(
            parse(b"- a\n- b\n"),
            Err(DocumentError::NotObject)
        ));
        assert!(matches!(parse(b"\xff\xfe"), Err(DocumentError::Yaml(_))));
    }

    #[test]
    fn what_the_adapter_refuses_is_said_first() {
        assert!(matches!(
            check(&json!({"swagger": "2.0", "paths": {}})),
            Err(DocumentError::Version(v)) if v == "missing"
        ));
        assert!(matches!(
            check(&json!({"openapi": "3.0.3"})),
            Err(DocumentError::NoPaths)
        ));
        assert_eq!(
            check(&json!({"openapi": "3.1.0", "webhooks": {}})).ok(),
            Some(0)
        );
        let many: serde_json::Map<String, Value> = (0..1001)
            .map(|i| (format!("/p{i}"), json!({"get": {}})))
            .collect();
        assert!(matches!(
            check(&json!({"openapi": "3.1.0", "paths": many})),
            Err(DocumentError::TooMany(1001))
        ));
    }
}
