//! `$ref`s within the document, and OpenAPI schemas turned into the
//! self-contained JSON Schemas a tool's input schema must be.
//!
//! A document is hostile like any input: references may loop, point
//! nowhere, point outside the document or multiply (A names B twice, B
//! names C twice, ...). A reference that loops, or one past the depth or
//! size budget, becomes an open schema (`{}`) that says why in its
//! `description`; one that points nowhere is an error.

use serde_json::{Map, Value, json};

/// The deepest a schema is expanded.
const MAX_DEPTH: usize = 48;
/// The most JSON values one tool's input schema may hold after expansion.
pub const MAX_NODES: usize = 20_000;
/// The longest chain of references that only name other references.
const MAX_HOPS: usize = 16;

/// What a reference resolves to in `doc`, following a reference to a
/// reference up to [`MAX_HOPS`] times. Only references within the
/// document (`#/...`) are followed.
pub fn resolve<'a>(doc: &'a Value, value: &'a Value) -> Result<&'a Value, String> {
    let mut at = value;
    for _ in 0..MAX_HOPS {
        let Some(reference) = at.get("$ref").and_then(Value::as_str) else {
            return Ok(at);
        };
        at = pointer(doc, reference)?;
    }
    Err(format!(
        "a chain of more than {MAX_HOPS} references that name references"
    ))
}

/// The value a `#/...` reference names.
fn pointer<'a>(doc: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let Some(path) = reference.strip_prefix('#') else {
        return Err(format!(
            "the reference {reference:?} points outside the document (not supported)"
        ));
    };
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    doc.pointer(&decoded)
        .ok_or_else(|| format!("the reference {reference:?} names nothing in the document"))
}

/// Expands schemas, sharing one node budget.
pub struct Expander<'a> {
    doc: &'a Value,
    nodes: usize,
    /// The references being expanded now, outermost first.
    stack: Vec<String>,
}

impl<'a> Expander<'a> {
    pub fn new(doc: &'a Value) -> Expander<'a> {
        Expander {
            doc,
            nodes: 0,
            stack: Vec::new(),
        }
    }

    /// `schema` with every reference expanded in place and OpenAPI 3.0's
    /// own keywords turned into JSON Schema's.
    pub fn expand(&mut self, schema: &Value) -> Value {
        self.walk(schema, 0)
    }

    fn open(why: String) -> Value {
        json!({ "description": why })
    }

    fn walk(&mut self, value: &Value, depth: usize) -> Value {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Self::open(format!(
                "(not expanded: the schema is larger than {MAX_NODES} values)"
            ));
        }
        if depth > MAX_DEPTH {
            return Self::open(format!(
                "(not expanded: the schema is nested deeper than {MAX_DEPTH})"
            ));
        }
        match value {
            Value::Object(map) => self.object(map, depth),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.walk(item, depth + 1))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn object(&mut self, map: &Map<String, Value>, depth: usize) -> Value {
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            return self.reference(reference, map, depth);
        }
        let mut out = Map::new();
        for (key, v) in map {
            // `properties` and the like hold names, not keywords: their
            // values are schemas, walked as such.
            out.insert(key.clone(), self.walk(v, depth + 1));
        }
        openapi_30(&mut out);
        Value::Object(out)
    }

    fn reference(&mut self, reference: &str, map: &Map<String, Value>, depth: usize) -> Value {
        if self.stack.iter().any(|r| r == reference) {
            return Self::open(format!("(recursive: {reference}, not expanded again)"));
        }
        let target = match pointer(self.doc, reference) {
            Ok(t) => t,
            Err(e) => return Self::open(format!("(not expanded: {e})")),
        };
        self.stack.push(reference.to_string());
        let mut expanded = self.walk(target, depth + 1);
        self.stack.pop();
        // OpenAPI 3.1 allows keywords beside a reference: they apply too.
        if let Value::Object(out) = &mut expanded {
            for (key, v) in map.iter().filter(|(k, _)| k.as_str() != "$ref") {
                let v = self.walk(v, depth + 1);
                out.insert(key.clone(), v);
            }
        }
        expanded
    }
}

/// OpenAPI 3.0's `nullable` and boolean `exclusiveMinimum`/`Maximum`, in
/// JSON Schema's terms.
fn openapi_30(schema: &mut Map<String, Value>) {
    // Only the boolean: a property may be named `nullable` too.
    if let Some(Value::Bool(nullable)) = schema.get("nullable").cloned() {
        schema.remove("nullable");
        match schema.get_mut("type") {
            Some(Value::String(t)) if nullable => {
                let t = Value::String(t.clone());
                schema.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) if nullable && !types.iter().any(|t| t == "null") => {
                types.push(json!("null"));
            }
            _ => {}
        }
    }
    exclusive_bounds(schema);
}

fn exclusive_bounds(schema: &mut Map<String, Value>) {
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match schema.get(flag) {
            Some(Value::Bool(true)) => {
                if let Some(b) = schema.remove(bound) {
                    schema.insert(flag.into(), b);
                } else {
                    schema.remove(flag);
                }
            }
            Some(Value::Bool(false)) => {
                schema.remove(flag);
            }
            _ => {}
        }
    }
}
