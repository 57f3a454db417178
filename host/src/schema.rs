//! A tool's JSON Schema reduced to the few types every target language can
//! say: scalars, string enums, lists, maps, objects with named fields, and
//! `Any` for everything else.
//!
//! Schemas come from upstream servers and are hostile input. The reduction
//! is bounded: nesting deeper than [`MAX_DEPTH`], more than [`MAX_NODES`]
//! types per schema, more than [`MAX_FIELDS`] fields in an object, a key
//! longer than [`MAX_KEY`] bytes, a `$ref` that is not local or that loops:
//! each gives `Any` (or a map of `Any`) where it happens, never an error.

use serde_json::{Map, Value};

/// How deep types nest before the rest becomes `Any`.
pub const MAX_DEPTH: usize = 12;
/// How many types one schema may produce before the rest becomes `Any`.
pub const MAX_NODES: usize = 2_000;
/// The most fields an object keeps; more makes it a map.
pub const MAX_FIELDS: usize = 256;
/// The longest property name kept as a field, in bytes.
pub const MAX_KEY: usize = 128;
/// The most values a string enum keeps; more makes it a plain string.
pub const MAX_ENUM: usize = 64;

/// A type, as the generators see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// Anything: what a schema that says nothing, or too much, becomes.
    Any,
    Bool,
    Int,
    Number,
    String,
    /// One of these strings.
    Enum(Vec<String>),
    List(Box<Ty>),
    /// An object with any keys, each value of this type.
    Map(Box<Ty>),
    Object(Object),
    /// The type, or null.
    Nullable(Box<Ty>),
}

/// An object with named fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Where in the schema it sits (`["filter", "range"]` under the root),
    /// from which generators make its type's name.
    pub path: Vec<String>,
    pub fields: Vec<Field>,
}

/// One property of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property's name as the server spells it.
    pub key: String,
    pub ty: Ty,
    pub required: bool,
    pub description: Option<String>,
}

/// What a tool takes: named fields, nothing, or an object the generators
/// cannot name fields for (passed on as it is).
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    None,
    Fields(Object),
    Free,
}

/// The parameters of a tool with this `inputSchema`.
pub fn params(schema: &Map<String, Value>) -> Params {
    match Reducer::new(schema).root() {
        Ty::Object(o) if o.fields.is_empty() => Params::None,
        Ty::Object(o) => Params::Fields(o),
        // Properties too many or too odd to name are passed on as they are.
        Ty::Map(_) if !open(schema) && !has_properties(schema) => Params::None,
        _ => Params::Free,
    }
}

/// The structured result of a tool with this `outputSchema`, when it is an
/// object with fields (anything else is no better than the plain result).
pub fn result(schema: &Map<String, Value>) -> Option<Object> {
    match Reducer::new(schema).root() {
        Ty::Object(o) if !o.fields.is_empty() => Some(o),
        _ => None,
    }
}

fn has_properties(schema: &Map<String, Value>) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// Whether an object schema without properties still takes any keys
/// (`additionalProperties` true or a schema, `patternProperties`).
fn open(schema: &Map<String, Value>) -> bool {
    let extra = matches!(
        schema.get("additionalProperties"),
        Some(Value::Bool(true)) | Some(Value::Object(_))
    );
    extra || schema.get("patternProperties").is_some()
}

/// One reduction, with its budget.
struct Reducer<'a> {
    root: &'a Map<String, Value>,
    nodes: usize,
    /// The `$ref`s being expanded, to stop at a loop.
    refs: Vec<String>,
}

impl<'a> Reducer<'a> {
    fn new(root: &'a Map<String, Value>) -> Reducer<'a> {
        Reducer {
            root,
            nodes: 0,
            refs: Vec::new(),
        }
    }

    /// The type of the whole schema.
    fn root(&mut self) -> Ty {
        self.nodes += 1;
        self.map(self.root, &[], 0)
    }

    fn ty(&mut self, schema: &Value, path: &[String], depth: usize) -> Ty {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Ty::Any;
        }
        match schema {
            Value::Object(s) => self.map(s, path, depth),
            _ => Ty::Any,
        }
    }

    fn map(&mut self, s: &Map<String, Value>, path: &[String], depth: usize) -> Ty {
        if let Some(r) = s.get("$ref") {
            return self.reference(r, path, depth);
        }
        if let Some(Value::String(c)) = s.get("const") {
            return Ty::Enum(vec![c.clone()]);
        }
        if let Some(Value::Array(values)) = s.get("enum") {
            return enumeration(values);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = s.get(key) {
                return self.union(options, path, depth);
            }
        }
        match s.get("type") {
            Some(Value::String(t)) => self.typed(t, s, path, depth),
            Some(Value::Array(types)) => {
                let named: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = named.iter().copied().filter(|t| *t != "null").collect();
                match non_null.as_slice() {
                    [one] if named.len() == types.len() => {
                        let inner = self.typed(one, s, path, depth);
                        if non_null.len() < named.len() {
                            nullable(inner)
                        } else {
                            inner
                        }
                    }
                    _ => Ty::Any,
                }
            }
            None if s.contains_key("properties") => self.typed("object", s, path, depth),
            _ => Ty::Any,
        }
    }

    fn typed(&mut self, t: &str, s: &Map<String, Value>, path: &[String], depth: usize) -> Ty {
        match t {
            "boolean" => Ty::Bool,
            "integer" => Ty::Int,
            "number" => Ty::Number,
            "string" => Ty::String,
            "null" => Ty::Any,
            "array" => {
                let item = match s.get("items") {
                    Some(items @ Value::Object(_)) => {
                        let mut p = path.to_vec();
                        p.push("item".into());
                        self.ty(items, &p, depth + 1)
                    }
                    _ => Ty::Any,
                };
                Ty::List(Box::new(item))
            }
            "object" => self.object(s, path, depth),
            _ => Ty::Any,
        }
    }

    fn object(&mut self, s: &Map<String, Value>, path: &[String], depth: usize) -> Ty {
        let props = match s.get("properties") {
            Some(Value::Object(p)) if !p.is_empty() => p,
            _ => {
                let value = match s.get("additionalProperties") {
                    Some(extra @ Value::Object(_)) => {
                        let mut p = path.to_vec();
                        p.push("value".into());
                        self.ty(extra, &p, depth + 1)
                    }
                    _ => Ty::Any,
                };
                // A closed object without properties is the empty object.
                if matches!(s.get("additionalProperties"), Some(Value::Bool(false))) {
                    return Ty::Object(Object {
                        path: path.to_vec(),
                        fields: Vec::new(),
                    });
                }
                return Ty::Map(Box::new(value));
            }
        };
        if props.len() > MAX_FIELDS || props.keys().any(|k| k.len() > MAX_KEY) {
            return Ty::Map(Box::new(Ty::Any));
        }
        let required: Vec<&str> = match s.get("required") {
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut fields = Vec::with_capacity(props.len());
        for (key, prop) in props {
            let mut p = path.to_vec();
            p.push(key.clone());
            let ty = self.ty(prop, &p, depth + 1);
            let description = prop
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            fields.push(Field {
                key: key.clone(),
                ty,
                required: required.contains(&key.as_str()),
                description,
            });
        }
        Ty::Object(Object {
            path: path.to_vec(),
            fields,
        })
    }

    /// `anyOf`/`oneOf`: `X or null` is a nullable X; two or more other
    /// options are `Any`, except that string consts make an enum.
    fn union(&mut self, options: &[Value], path: &[String], depth: usize) -> Ty {
        let is_null = |o: &Value| o.get("type").and_then(Value::as_str) == Some("null");
        let rest: Vec<&Value> = options.iter().filter(|o| !is_null(o)).collect();
        let has_null = rest.len() < options.len();
        let inner = match rest.as_slice() {
            [one] => self.ty(one, path, depth + 1),
            many if !many.is_empty()
                && many
                    .iter()
                    .all(|o| o.get("const").is_some_and(Value::is_string)) =>
            {
                let consts: Vec<Value> = many
                    .iter()
                    .filter_map(|o| o.get("const").cloned())
                    .collect();
                enumeration(&consts)
            }
            _ => return Ty::Any,
        };
        if has_null { nullable(inner) } else { inner }
    }

    /// A local `$ref` (`#/$defs/X`, `#/definitions/X`, any JSON pointer into
    /// the same schema); a loop or anything else is `Any`.
    fn reference(&mut self, r: &Value, path: &[String], depth: usize) -> Ty {
        let Some(r) = r.as_str() else {
            return Ty::Any;
        };
        let Some(pointer) = r.strip_prefix('#') else {
            return Ty::Any;
        };
        if self.refs.iter().any(|seen| seen == r) {
            return Ty::Any;
        }
        self.refs.push(r.to_string());
        let ty = match pointer
            .strip_prefix('/')
            .map(|p| p.split_once('/').unwrap_or((p, "")))
        {
            None if pointer.is_empty() => self.map(self.root, path, depth + 1),
            Some((first, rest)) => match self.root.get(&unescape(first)) {
                Some(v) if rest.is_empty() => self.ty(v, path, depth + 1),
                Some(v) => match v.pointer(&format!("/{rest}")) {
                    Some(target) => self.ty(target, path, depth + 1),
                    None => Ty::Any,
                },
                None => Ty::Any,
            },
            None => Ty::Any,
        };
        self.refs.pop();
        ty
    }
}

/// One JSON-pointer token with `~1` and `~0` decoded.
fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// A string enum (capped), or `Any` for enums of other values.
fn enumeration(values: &[Value]) -> Ty {
    let strings: Vec<String> = values
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if strings.is_empty() || strings.len() < values.len() {
        return Ty::Any;
    }
    if strings.len() > MAX_ENUM || strings.iter().any(|s| s.len() > MAX_KEY) {
        return Ty::String;
    }
    Ty::Enum(strings)
}

fn nullable(ty: Ty) -> Ty {
    match ty {
        Ty::Any | Ty::Nullable(_) => ty,
        other => Ty::Nullable(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn fields_required_and_optional() {
        let p = params(&obj(json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "the id"},
                "n": {"type": ["integer", "null"]},
                "mode": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["id"],
        })));
        let Params::Fields(o) = p else {
            panic!("{p:?}")
        };
        let f = |k: &str| o.fields.iter().find(|f| f.key == k).unwrap().clone();
        assert_eq!(f("id").ty, Ty::String);
        assert!(f("id").required);
        assert_eq!(f("id").description.as_deref(), Some("the id"));
        assert_eq!(f("n").ty, Ty::Nullable(Box::new(Ty::Int)));
        assert!(!f("n").required);
        assert_eq!(f("mode").ty, Ty::Enum(vec!["a".into(), "b".into()]));
        assert_eq!(f("tags").ty, Ty::List(Box::new(Ty::String)));
    }

    #[test]
    fn empty_and_open_objects() {
        assert_eq!(params(&obj(json!({"type": "object"}))), Params::None);
        assert_eq!(
            params(&obj(json!({"type": "object", "properties": {}}))),
            Params::None
        );
        assert_eq!(
            params(&obj(
                json!({"type": "object", "additionalProperties": true})
            )),
            Params::Free
        );
        assert_eq!(params(&obj(json!({"type": 42}))), Params::Free);
    }

    #[test]
    fn a_recursive_ref_ends_in_any() {
        let s = obj(json!({
            "type": "object",
            "properties": {"node": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        }));
        let Params::Fields(o) = params(&s) else {
            panic!()
        };
        let Ty::Object(node) = &o.fields[0].ty else {
            panic!("{o:?}")
        };
        assert_eq!(node.fields[0].ty, Ty::Any);
    }

    #[test]
    fn deep_and_huge_schemas_are_bounded() {
        let mut deep = json!({"type": "string"});
        for _ in 0..100 {
            deep = json!({"type": "object", "properties": {"x": deep}});
        }
        let mut depth = 0;
        let Params::Fields(mut o) = params(deep.as_object().unwrap()) else {
            panic!()
        };
        while let Ty::Object(inner) = o.fields[0].ty.clone() {
            o = inner;
            depth += 1;
        }
        assert_eq!(o.fields[0].ty, Ty::Any);
        assert!(depth <= MAX_DEPTH, "{depth}");

        let wide: Map<String, Value> = (0..MAX_FIELDS + 1)
            .map(|i| (format!("k{i}"), json!({"type": "string"})))
            .collect();
        let s = obj(
            json!({"type": "object", "properties": {"w": {"type": "object", "properties": wide}}}),
        );
        let Params::Fields(o) = params(&s) else {
            panic!()
        };
        assert_eq!(o.fields[0].ty, Ty::Map(Box::new(Ty::Any)));
    }

    #[test]
    fn result_types_only_for_objects_with_fields() {
        assert!(result(&obj(json!({"type": "object"}))).is_none());
        let r = result(&obj(
            json!({"type": "object", "properties": {"t": {"type": "number"}}}),
        ))
        .unwrap();
        assert_eq!(r.fields[0].ty, Ty::Number);
    }
}
