//! Rust bindings: a module per server with serde structs for arguments
//! and typed results, and a function per tool calling `weft_guest::call`
//! (`everything::echo(&EchoArgs { message: "hi".into() })`).
//!
//! Every function returns `Result<_, weft_guest::CallError>`, so a policy
//! still branches on the error's kind; a tool with a typed `outputSchema`
//! returns its structured content as that struct, any other the
//! `ToolResult`. The crate needs `serde` (with `derive`) and `serde_json`
//! beside `weft-guest`.

use std::fmt::Write;

use super::model::{Planned, Server, Tool, Types, enum_note, plan};
use super::names::{Case, Scope, clean_doc, doc_lines};
use super::schema::{Object, Params, Ty};

/// Rust's keywords, strict and reserved.
pub const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];
/// Keywords that cannot be raw identifiers.
pub const NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// Names the module's own code uses at its top level.
const MODULE_NAMES: &[&str] = &[
    "SERVER",
    "args_json",
    "typed_result",
    "error",
    "CallError",
    "ErrorKind",
    "ToolResult",
    "Value",
    "mod",
];

/// `mod.rs`, declaring every module.
pub fn index(modules: &[(String, String)]) -> String {
    let mut out = String::from(
        "//! Typed bindings of weft's catalog, one module per server, written by\n//! `weft bindings`. Do not edit: run `weft bindings --lang rust` again when a\n//! server changes.\n\n",
    );
    for (module, server) in modules {
        let _ = writeln!(
            out,
            "/// The server {}.\npub mod {module};",
            doc_text(&format!("{server:?}"))
        );
    }
    out
}

/// The module for one server.
pub fn module(server: &Server) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! Typed bindings of the MCP server {}, written by `weft bindings` from\n//! its live catalog. Do not edit: run `weft bindings --lang rust` again when\n//! the server changes.\n",
        doc_text(&format!("{:?}", server.name))
    );
    out += "#![allow(dead_code, unused_imports, non_camel_case_types, non_snake_case, clippy::all)]\n\n";
    out += "use weft_guest::{CallError, ErrorKind, ToolResult, Value};\n\n";
    let _ = writeln!(out, "const SERVER: &str = {:?};", server.name);
    out += HELPER;

    let mut scope = Scope::raw(KEYWORDS, "r#", NOT_RAW);
    scope.reserve(MODULE_NAMES);
    for Planned { tool, func, types } in plan(server, scope, Case::Snake) {
        for (name, obj, root) in &types.declared {
            out += &structure(name, obj, &types, *root);
        }
        out += &function(tool, &func, &types);
    }
    out
}

/// The module's helpers: arguments to JSON, results from JSON, and the
/// errors those make.
const HELPER: &str = r#"
fn error(tool: &str, kind: ErrorKind, message: String) -> CallError {
    CallError { kind, message, server: SERVER.into(), tool: tool.into() }
}

fn args_json<T: ::serde::Serialize>(tool: &str, args: &T) -> Result<Value, CallError> {
    ::serde_json::to_value(args)
        .map_err(|e| error(tool, ErrorKind::InvalidArgs, format!("the arguments do not serialise: {e}")))
}

fn typed_result<T: ::serde::de::DeserializeOwned>(tool: &str, result: ToolResult) -> Result<T, CallError> {
    let value = match result.structured() {
        Some(v) => v.clone(),
        None => result
            .value()
            .ok_or_else(|| error(tool, ErrorKind::Internal, "the tool returned no structured content".into()))?,
    };
    ::serde_json::from_value(value).map_err(|e| {
        error(tool, ErrorKind::Internal, format!("the result does not match the tool's outputSchema: {e}"))
    })
}
"#;

fn structure(name: &str, obj: &Object, types: &Types, root: usize) -> String {
    let what = if root == 0 {
        "Arguments"
    } else {
        "Structured result"
    };
    let mut out = format!(
        "\n/// {what}: `{name}`.\n#[derive(Debug, Clone, Default, PartialEq, ::serde::Serialize, ::serde::Deserialize)]\npub struct {name} {{\n"
    );
    let mut fields = Scope::raw(KEYWORDS, "r#", NOT_RAW);
    let keys: Vec<&str> = obj.fields.iter().map(|f| f.key.as_str()).collect();
    let idents = fields.assign(&keys, Case::Snake, "field");
    for (f, ident) in obj.fields.iter().zip(&idents) {
        let mut doc = f.description.clone().unwrap_or_default();
        if let Some(note) = enum_note(&f.ty) {
            doc = format!("{doc}\n\n{note}");
        }
        out += &doc_comment(&doc, "    ");
        let inner = rust_type(&f.ty, types, root);
        let (ty, mut attrs) = match (&f.ty, f.required) {
            (Ty::Nullable(_), true) => (inner, vec!["default"]),
            (Ty::Nullable(_), false) => (
                inner,
                vec!["default", "skip_serializing_if = \"Option::is_none\""],
            ),
            (_, true) => (inner, vec![]),
            (_, false) => (
                format!("Option<{inner}>"),
                vec!["default", "skip_serializing_if = \"Option::is_none\""],
            ),
        };
        let rename = format!("rename = {:?}", f.key);
        if ident.as_str() != f.key {
            attrs.insert(0, &rename);
        }
        if !attrs.is_empty() {
            let _ = writeln!(out, "    #[serde({})]", attrs.join(", "));
        }
        let _ = writeln!(out, "    pub {ident}: {ty},");
    }
    out + "}\n"
}

fn function(tool: &Tool, func: &str, types: &Types) -> String {
    let name = format!("{:?}", tool.name);
    let (arg, value) = match (&tool.params, tool.fields()) {
        (Params::None, _) => (String::new(), "weft_guest::json!({})".to_string()),
        (Params::Fields(_), Some(o)) => (
            format!("args: &{}", types.name(o, 0)),
            format!("args_json({name}, args)?"),
        ),
        _ => ("args: &Value".to_string(), "args.clone()".to_string()),
    };
    let call = format!("weft_guest::call(SERVER, {name}, {value})");
    let (returns, body) = match &tool.result {
        Some(r) => (
            types.name(r, 1).to_string(),
            format!("typed_result({name}, {call}?)"),
        ),
        None => ("ToolResult".to_string(), call),
    };
    let doc = doc_comment(tool.description.as_deref().unwrap_or(""), "");
    format!("\n{doc}pub fn {func}({arg}) -> Result<{returns}, CallError> {{\n    {body}\n}}\n")
}

fn rust_type(ty: &Ty, types: &Types, root: usize) -> String {
    match ty {
        Ty::Any => "Value".into(),
        Ty::Bool => "bool".into(),
        Ty::Int => "i64".into(),
        Ty::Number => "f64".into(),
        Ty::String | Ty::Enum(_) => "String".into(),
        Ty::List(t) => format!("Vec<{}>", rust_type(t, types, root)),
        Ty::Map(t) => format!(
            "::std::collections::BTreeMap<String, {}>",
            rust_type(t, types, root)
        ),
        Ty::Object(o) => types.name(o, root).to_string(),
        Ty::Nullable(t) => format!("Option<{}>", rust_type(t, types, root)),
    }
}

/// `///` lines. Rust docs are Markdown and code blocks in them become
/// doctests, so lines lose their indentation (no indented code blocks)
/// and backticks and tildes are escaped (no fences).
fn doc_comment(text: &str, indent: &str) -> String {
    let mut out = String::new();
    for l in doc_lines(Some(text)) {
        let l = doc_text(l.trim_start());
        if l.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {l}");
        }
    }
    out
}

fn doc_text(text: &str) -> String {
    clean_doc(text)
        .replace('\n', " ")
        .replace('\\', "\\\\")
        .replace('`', "\\`")
        .replace('~', "\\~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::bindings::schema;
    use serde_json::json;

    #[test]
    fn structs_rename_and_skip_optional_fields() {
        let server = Server {
            name: "files".into(),
            tools: vec![Tool {
                name: "read-file".into(),
                description: Some("```\nfn main() {}\n```".into()),
                params: schema::params(
                    json!({"type": "object", "properties": {
                        "type": {"type": "string"}, "head-lines": {"type": "integer"}
                    }, "required": ["type"]})
                    .as_object()
                    .unwrap(),
                ),
                result: None,
            }],
        };
        let text = module(&server);
        assert!(
            text.contains("    #[serde(rename = \"type\")]\n    pub r#type: String,"),
            "{text}"
        );
        assert!(text.contains(
            "    #[serde(rename = \"head-lines\", default, skip_serializing_if = \"Option::is_none\")]\n    pub head_lines: Option<i64>,"
        ), "{text}");
        assert!(
            text.contains(
                "pub fn read_file(args: &ReadFileArgs) -> Result<ToolResult, CallError> {"
            ),
            "{text}"
        );
        assert!(text.contains("/// \\`\\`\\`"), "{text}");
    }
}
