//! A document cut to one operation and everything it refers to, for a
//! call of `builtin:openapi`: each call runs in a fresh instance, which
//! reads its config, and a large API's whole description (GitHub's is
//! 5.7 MB) made every call cost over 100 ms of parsing.
//!
//! The cut holds `openapi`, `servers`, the one path with its shared
//! `parameters` and the one method, and every `#/...` target the kept
//! parts name, followed through the targets' own references: the same
//! operation, read the same way, from a document a few kilobytes long.

use serde_json::{Map, Value};

use super::document::METHODS;

/// The most references followed for one cut; past it the rest are left
/// out (their schemas read as open ones, which a call does not need).
const MAX_TARGETS: usize = 10_000;

/// `doc` cut to `method` of `path`, or `None` when it has no such
/// operation.
pub fn cut(doc: &Value, method: &str, path: &str) -> Option<Value> {
    let method = method.to_ascii_lowercase();
    if !METHODS.contains(&method.as_str()) {
        return None;
    }
    let item = doc.get("paths")?.get(path)?;
    let item = match item.get("$ref").and_then(Value::as_str) {
        Some(r) => target(doc, r)?,
        None => item,
    };
    let mut kept_item = Map::new();
    kept_item.insert(method.clone(), item.get(&method)?.clone());
    for shared in ["parameters", "servers"] {
        if let Some(v) = item.get(shared) {
            kept_item.insert(shared.into(), v.clone());
        }
    }
    let mut out = Map::new();
    for top in ["openapi", "servers"] {
        if let Some(v) = doc.get(top) {
            out.insert(top.into(), v.clone());
        }
    }
    let mut paths = Map::new();
    paths.insert(path.to_string(), Value::Object(kept_item));
    out.insert("paths".into(), Value::Object(paths));
    let mut out = Value::Object(out);
    // Copy in every target the kept parts name, and theirs in turn.
    let mut queue = Vec::new();
    refs(&out, &mut queue);
    let mut seen = std::collections::HashSet::new();
    while let Some(reference) = queue.pop() {
        if seen.len() >= MAX_TARGETS || !seen.insert(reference.clone()) {
            continue;
        }
        let Some(found) = target(doc, &reference) else {
            continue;
        };
        refs(found, &mut queue);
        place(&mut out, &reference, found.clone());
    }
    Some(out)
}

/// What the in-document reference `#/a/b` names.
fn target<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(&percent_encoding::percent_decode_str(pointer).decode_utf8_lossy())
}

/// Every `$ref` string within `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) if r.starts_with('#') => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

/// Puts `value` at the place `reference` names in `out`, making the
/// objects on the way. A place already holding something (the kept path
/// itself, say) is left as it is.
fn place(out: &mut Value, reference: &str, value: Value) {
    let Some(pointer) = reference.strip_prefix("#/") else {
        return;
    };
    let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
    let parts: Vec<String> = decoded
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut at = out;
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = at else {
            return;
        };
        if i + 1 == parts.len() {
            map.entry(part.clone()).or_insert(value);
            return;
        }
        at = map
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cut_holds_the_operation_and_what_it_names_only() {
        let doc = json!({
            "openapi": "3.1.0",
            "servers": [{"url": "https://api.test"}],
            "paths": {
                "/a/{id}": {
                    "parameters": [{"$ref": "#/components/parameters/Id"}],
                    "get": {"operationId": "get_a", "requestBody": {"$ref": "#/components/requestBodies/B"}},
                    "post": {"operationId": "post_a"},
                },
                "/b": {"get": {"operationId": "get_b"}},
            },
            "components": {
                "parameters": {"Id": {"name": "id", "in": "path", "schema": {"$ref": "#/components/schemas/Id"}}},
                "requestBodies": {"B": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}},
                "schemas": {
                    "Id": {"type": "string"},
                    "Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}},
                    "Unused": {"type": "integer"},
                },
            },
        });
        let cut = cut(&doc, "GET", "/a/{id}").expect("an operation");
        assert_eq!(
            cut,
            json!({
                "openapi": "3.1.0",
                "servers": [{"url": "https://api.test"}],
                "paths": {"/a/{id}": {
                    "parameters": [{"$ref": "#/components/parameters/Id"}],
                    "get": {"operationId": "get_a", "requestBody": {"$ref": "#/components/requestBodies/B"}},
                }},
                "components": {
                    "parameters": {"Id": {"name": "id", "in": "path", "schema": {"$ref": "#/components/schemas/Id"}}},
                    "requestBodies": {"B": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}},
                    "schemas": {
                        "Id": {"type": "string"},
                        "Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}},
                    },
                },
            })
        );
        assert!(super::cut(&doc, "PUT", "/a/{id}").is_none());
        assert!(super::cut(&doc, "GET", "/c").is_none());
        assert!(super::cut(&doc, "CONNECT", "/b").is_none());
    }
}
