//! An OpenAPI 3.0 or 3.1 document read into operations: one per method
//! of each path, each with a tool name, a description, the arguments it
//! takes (path, query and header parameters, and the request body) and
//! the input schema those make.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::schema::{Expander, resolve};

/// The most operations a document may have (weft serves at most 1024
/// tools per adapter).
pub const MAX_OPERATIONS: usize = 1000;
/// The most parameters one operation may take.
const MAX_PARAMETERS: usize = 200;
/// The longest tool name (many agents accept no more).
const MAX_NAME: usize = 64;
/// The longest description.
const MAX_DESCRIPTION: usize = 2048;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Path,
    Query,
    Header,
    Cookie,
}

/// One argument of a tool that becomes a parameter of the request.
#[derive(Debug, Clone)]
pub struct Param {
    /// The argument's name in the tool's input (the parameter's own name,
    /// unless two parameters share it).
    pub arg: String,
    /// The parameter's name in the request.
    pub name: String,
    pub place: Place,
    /// How the value is written (`style`), by OpenAPI's defaults when the
    /// document says nothing: `form` in the query, `simple` elsewhere.
    pub style: Style,
    /// `explode`: arrays and objects as one pair per item (the default
    /// for `form`).
    pub explode: bool,
}

/// OpenAPI's parameter styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `a,b` (path and header).
    Simple,
    /// `.a.b` or `.a,b` (path).
    Label,
    /// `;id=a;id=b` or `;id=a,b` (path).
    Matrix,
    /// `id=a&id=b` or `id=a,b` (query).
    Form,
    /// `id=a%20b` (query arrays).
    SpaceDelimited,
    /// `id=a|b` (query arrays).
    PipeDelimited,
    /// `id[key]=value` (query objects).
    DeepObject,
}

impl Style {
    /// The style a parameter has in `place` when the document names `text`
    /// (or nothing).
    fn read(text: Option<&str>, place: Place) -> Result<Style, String> {
        Ok(match (text, place) {
            (None, Place::Query | Place::Cookie) => Style::Form,
            (None, _) => Style::Simple,
            (Some("simple"), Place::Path | Place::Header) => Style::Simple,
            (Some("label"), Place::Path) => Style::Label,
            (Some("matrix"), Place::Path) => Style::Matrix,
            (Some("form"), Place::Query | Place::Cookie) => Style::Form,
            (Some("spaceDelimited"), Place::Query) => Style::SpaceDelimited,
            (Some("pipeDelimited"), Place::Query) => Style::PipeDelimited,
            (Some("deepObject"), Place::Query) => Style::DeepObject,
            (Some(other), _) => {
                return Err(format!(
                    "the style {:?} is not one a {} parameter takes",
                    cut(other, 30),
                    match place {
                        Place::Path => "path",
                        Place::Query => "query",
                        Place::Header => "header",
                        Place::Cookie => "cookie",
                    }
                ));
            }
        })
    }
}

/// How a request body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON (`application/json`, `*+json`).
    Json,
    /// `application/x-www-form-urlencoded`: the object's fields as pairs.
    Form,
    /// `multipart/form-data`: one part per field.
    Multipart,
    /// Anything else: the argument's text as it is.
    Text,
}

impl Encoding {
    fn of(content_type: &str) -> Encoding {
        let t = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if t == "application/json" || t.ends_with("+json") {
            Encoding::Json
        } else if t == "application/x-www-form-urlencoded" {
            Encoding::Form
        } else if t == "multipart/form-data" {
            Encoding::Multipart
        } else {
            Encoding::Text
        }
    }
}

/// The request body an operation takes.
#[derive(Debug, Clone)]
pub struct Body {
    /// The argument that holds it (`body`, unless a parameter has that name).
    pub arg: String,
    pub content_type: String,
    /// How it is written.
    pub encoding: Encoding,
    /// A multipart body's fields that are files (`format: binary`, or a
    /// `contentMediaType`): each is sent as a file part.
    pub files: Vec<String>,
}

/// One operation: what a tool sends.
#[derive(Debug, Clone)]
pub struct Operation {
    pub tool: String,
    pub method: String,
    /// The path template, as the document has it (`/items/{id}`).
    pub path: String,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub description: String,
    pub read_only: bool,
    pub schema: Value,
}

/// Every operation of `doc` the adapter can read, or why the document
/// cannot be served at all.
#[cfg(test)]
pub fn operations(doc: &Value) -> Result<Vec<Operation>, String> {
    read(doc).map(|(ops, _)| ops)
}

/// The operations of `doc` the adapter can read, and each one it cannot
/// (`METHOD /path: why`), which the rest of the API is served without; or
/// why the document as a whole cannot be served.
pub fn read(doc: &Value) -> Result<(Vec<Operation>, Vec<String>), String> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        let seen = if doc.get("swagger").is_some() {
            "a Swagger 2.0 document".to_string()
        } else if version.is_empty() {
            "no `openapi` field".to_string()
        } else {
            format!("`openapi: {}`", cut(version, 20))
        };
        return Err(format!(
            "the spec is not an OpenAPI 3.0 or 3.1 document ({seen}); convert it to OpenAPI 3 first"
        ));
    }
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        // OpenAPI 3.1: a document of webhooks or components only.
        if version.starts_with("3.1") && doc.get("paths").is_none() {
            return Ok((Vec::new(), Vec::new()));
        }
        return Err("the spec has no `paths` object, so it has no operations".into());
    };
    let mut ops = Vec::new();
    let mut skipped = Vec::new();
    let mut names = HashSet::new();
    for (path, item) in paths {
        let shown = cut(path, 200);
        let item = match resolve(doc, item) {
            Ok(item) => item,
            Err(e) => {
                skipped.push(format!("{shown}: {e}"));
                continue;
            }
        };
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            if ops.len() == MAX_OPERATIONS {
                return Err(format!(
                    "the spec has more than {MAX_OPERATIONS} operations; serve a smaller document (split it by tag)"
                ));
            }
            match operation(doc, path, method, item, op, &mut names) {
                Ok(operation) => ops.push(operation),
                Err(e) => skipped.push(format!("{} {shown}: {e}", method.to_uppercase())),
            }
        }
    }
    Ok((ops, skipped))
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    item: &Value,
    op: &Value,
    names: &mut HashSet<String>,
) -> Result<Operation, String> {
    let mut expander = Expander::new(doc);
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut params = Vec::new();
    for p in parameters(doc, item, op)? {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let place = match p.get("in").and_then(Value::as_str) {
            Some("path") => Place::Path,
            Some("query") => Place::Query,
            Some("header") => Place::Header,
            Some("cookie") => Place::Cookie,
            _ => continue,
        };
        if name.is_empty() {
            return Err("a parameter has no name".into());
        }
        let arg = free_name(&properties, name, place);
        let mut schema = match p.get("schema") {
            Some(s) => expander.expand(s),
            None => json!({}),
        };
        if let (Some(d), Value::Object(s)) =
            (p.get("description").and_then(Value::as_str), &mut schema)
            && !s.contains_key("description")
        {
            s.insert("description".into(), json!(cut(d, MAX_DESCRIPTION)));
        }
        properties.insert(arg.clone(), schema);
        if place == Place::Path || p.get("required") == Some(&Value::Bool(true)) {
            required.push(json!(arg));
        }
        let style = Style::read(p.get("style").and_then(Value::as_str), place)
            .map_err(|e| format!("the parameter {:?}: {e}", cut(name, 60)))?;
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == Style::Form);
        params.push(Param {
            arg,
            name: name.to_string(),
            place,
            style,
            explode,
        });
    }
    let mut body = None;
    if let Some(rb) = op.get("requestBody") {
        let rb = resolve(doc, rb).map_err(|e| format!("requestBody: {e}"))?;
        if let Some((content_type, media)) = media(rb) {
            let arg = ["body", "request_body", "_body"]
                .into_iter()
                .find(|n| !properties.contains_key(*n))
                .unwrap_or("_body")
                .to_string();
            let encoding = Encoding::of(&content_type);
            let mut schema = match (encoding, media.get("schema")) {
                (Encoding::Text, _) => json!({"type": "string"}),
                (Encoding::Json, Some(s)) => expander.expand(s),
                (Encoding::Json, None) => json!({}),
                (_, Some(s)) => expander.expand(s),
                (_, None) => json!({"type": "object"}),
            };
            if let (Some(d), Value::Object(s)) =
                (rb.get("description").and_then(Value::as_str), &mut schema)
                && !s.contains_key("description")
            {
                s.insert("description".into(), json!(cut(d, MAX_DESCRIPTION)));
            }
            let files = match encoding {
                Encoding::Multipart => file_fields(&mut schema),
                _ => Vec::new(),
            };
            properties.insert(arg.clone(), schema);
            if rb.get("required") == Some(&Value::Bool(true)) {
                required.push(json!(arg));
            }
            body = Some(Body {
                arg,
                content_type,
                encoding,
                files,
            });
        }
    }
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    Ok(Operation {
        tool: tool_name(op, method, path, names),
        method: method.to_uppercase(),
        path: path.to_string(),
        params,
        body,
        description: description(op, method, path),
        read_only: matches!(method, "get" | "head"),
        schema,
    })
}

/// The path item's parameters overridden by the operation's (by name and
/// place), references resolved.
fn parameters<'a>(
    doc: &'a Value,
    item: &'a Value,
    op: &'a Value,
) -> Result<Vec<&'a Value>, String> {
    let mut out: Vec<&Value> = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
    {
        let Some(list) = list.as_array() else {
            return Err("`parameters` is not a list".into());
        };
        for p in list {
            let p = resolve(doc, p).map_err(|e| format!("a parameter: {e}"))?;
            let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
            out.retain(|q| key(q) != key(p));
            out.push(p);
            if out.len() > MAX_PARAMETERS {
                return Err(format!("more than {MAX_PARAMETERS} parameters"));
            }
        }
    }
    Ok(out)
}

/// Whether a schema describes a file's bytes.
fn is_file(schema: &Value) -> bool {
    schema.get("format").and_then(Value::as_str) == Some("binary")
        || schema.get("contentMediaType").is_some()
        || schema.get("contentEncoding").is_some()
}

/// The schema a file field takes instead: its text, or an object with the
/// content (text or base64), a file name and a content type.
fn file_schema(description: Option<&Value>) -> Value {
    let mut said = String::from(
        "A file: its text, or {\"content\": TEXT or \"content_base64\": BASE64, \"filename\": NAME, \"content_type\": TYPE}.",
    );
    if let Some(d) = description.and_then(Value::as_str) {
        said = format!("{} {said}", cut(d, MAX_DESCRIPTION));
    }
    json!({
        "description": said,
        "anyOf": [
            {"type": "string"},
            {"type": "object", "properties": {
                "content": {"type": "string"},
                "content_base64": {"type": "string"},
                "filename": {"type": "string"},
                "content_type": {"type": "string"},
            }, "additionalProperties": false},
        ],
    })
}

/// A multipart body's file fields, their schemas replaced by
/// [`file_schema`] (a list of files too); returns their names.
fn file_fields(schema: &mut Value) -> Vec<String> {
    let mut files = Vec::new();
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return files;
    };
    for (name, prop) in props.iter_mut() {
        if is_file(prop) {
            *prop = file_schema(prop.get("description"));
            files.push(name.clone());
        } else if prop.get("items").is_some_and(is_file) {
            let items = file_schema(prop.get("items").and_then(|i| i.get("description")));
            prop["items"] = items;
            files.push(name.clone());
        }
    }
    files
}

/// The body's media type: JSON if the operation takes it, else a form,
/// else multipart, else the first.
fn media(rb: &Value) -> Option<(String, &Value)> {
    let content = rb.get("content")?.as_object()?;
    [Encoding::Json, Encoding::Form, Encoding::Multipart]
        .into_iter()
        .find_map(|e| content.iter().find(|(t, _)| Encoding::of(t) == e))
        .or_else(|| content.iter().next())
        .map(|(t, m)| (t.clone(), m))
}

/// `name`, or `PLACE_name` when another argument has it already.
fn free_name(taken: &Map<String, Value>, name: &str, place: Place) -> String {
    if !taken.contains_key(name) && name != "body" {
        return name.to_string();
    }
    let prefix = match place {
        Place::Path => "path",
        Place::Query => "query",
        Place::Header => "header",
        Place::Cookie => "cookie",
    };
    let mut candidate = format!("{prefix}_{name}");
    while taken.contains_key(&candidate) {
        candidate.insert(0, '_');
    }
    candidate
}

/// The tool's name: the `operationId`, else the method and path, with
/// anything but letters, digits, `_` and `-` as `_`, cut to [`MAX_NAME`]
/// and made unique.
fn tool_name(op: &Value, method: &str, path: &str, names: &mut HashSet<String>) -> String {
    let raw = match op.get("operationId").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("{method}_{path}"),
    };
    let mut name = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    let mut name = name.trim_matches('_').to_string();
    if name.is_empty() {
        name = method.to_string();
    }
    name.truncate(MAX_NAME);
    let mut unique = name.clone();
    let mut n = 2;
    while names.contains(&unique) {
        let suffix = format!("_{n}");
        let mut base = name.clone();
        base.truncate(MAX_NAME - suffix.len());
        unique = base + &suffix;
        n += 1;
    }
    names.insert(unique.clone());
    unique
}

/// The summary and description, else the method and path.
fn description(op: &Value, method: &str, path: &str) -> String {
    let text = |k: &str| {
        op.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let joined = match (text("summary"), text("description")) {
        (Some(s), Some(d)) => format!("{s}\n\n{d}"),
        (Some(t), None) | (None, Some(t)) => t.to_string(),
        (None, None) => format!("{} {path}", method.to_uppercase()),
    };
    cut(&joined, MAX_DESCRIPTION)
}

/// `text` cut to `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(paths: Value) -> Vec<String> {
        let doc = json!({"openapi": "3.1.0", "paths": paths});
        operations(&doc)
            .map(|ops| ops.into_iter().map(|o| o.tool).collect())
            .unwrap_or_else(|e| vec![e])
    }

    #[test]
    fn names_are_sanitised_cut_and_unique() {
        let long = "x".repeat(100);
        assert_eq!(
            names(json!({
                "/a/{id}": {"get": {}, "head": {}},
                "/b": {"post": {"operationId": "make thing!"}, "put": {"operationId": "make-thing"}},
                "/c": {"get": {"operationId": long}, "put": {"operationId": long}},
                "/d": {"delete": {"operationId": "make thing?"}},
            })),
            [
                "get_a_id".to_string(),
                "head_a_id".into(),
                "make-thing".into(),
                "make_thing".into(),
                "x".repeat(64),
                format!("{}_2", "x".repeat(62)),
                "make_thing_2".into(),
            ]
        );
    }

    #[test]
    fn get_and_head_are_read_only() {
        let doc = json!({"openapi": "3.0.0", "paths": {"/a": {"get": {}, "head": {}, "post": {}, "delete": {}}}});
        let ro: Vec<(String, bool)> = operations(&doc)
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.method, o.read_only))
            .collect();
        assert_eq!(
            ro,
            [
                ("GET".to_string(), true),
                ("POST".into(), false),
                ("DELETE".into(), false),
                ("HEAD".into(), true)
            ]
        );
    }

    /// An operation the adapter cannot read is skipped, named with why;
    /// the rest of the API is served.
    #[test]
    fn an_unreadable_operation_is_skipped_and_the_rest_served() {
        let doc = json!({"openapi": "3.1.0", "paths": {
            "/a": {"get": {"parameters": [{"in": "query", "schema": {"type": "string"}}]}, "post": {}},
            "/b": {"$ref": "#/nowhere"},
            "/c": {"get": {"operationId": "ok"}},
        }});
        let (ops, skipped) = read(&doc).expect("the document serves");
        let names: Vec<&str> = ops.iter().map(|o| o.tool.as_str()).collect();
        assert_eq!(names, ["post_a", "ok"]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(skipped[0], "GET /a: a parameter has no name");
        assert!(skipped[1].starts_with("/b: "), "{skipped:?}");
    }

    #[test]
    fn documents_that_are_not_openapi_3_are_refused() {
        let e = operations(&json!({"swagger": "2.0", "paths": {}})).err();
        assert_eq!(
            e.as_deref(),
            Some(
                "the spec is not an OpenAPI 3.0 or 3.1 document (a Swagger 2.0 document); convert it to OpenAPI 3 first"
            )
        );
    }
}
