//! Python bindings: one module per server, a function per tool taking
//! keyword arguments (`crm.get_customer(id="42")`), `TypedDict`s for
//! object types, and `weft_guest.call` underneath.
//!
//! A tool with a typed `outputSchema` returns its structured content as
//! that `TypedDict`; any other tool returns the `weft_guest.ToolResult`.
//! An optional argument left at `None` is not sent.

use std::fmt::Write;

use super::model::{Planned, Server, Tool, Types, plan};
use super::names::{Case, Scope, doc_lines, string_literal};
use super::schema::{Field, Object, Params, Ty};

/// Python's keywords and the constants that cannot be assigned.
pub const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Names the module's own code uses at its top level, with the builtins
/// it uses (a function named `str` would hide the type).
const MODULE_NAMES: &[&str] = &[
    "_t",
    "_weft",
    "_SERVER",
    "_typed",
    "annotations",
    "dict",
    "list",
    "str",
    "int",
    "float",
    "bool",
    "isinstance",
    "TypeError",
];
/// Names a function's body uses, builtins included.
const LOCALS: &[&str] = &[
    "_args", "kwargs", "dict", "list", "str", "int", "float", "bool",
];

/// The package's `__init__.py`, importing every module.
pub fn index(modules: &[(String, String)]) -> String {
    let mut out = String::from(
        "\"\"\"Typed bindings of weft's catalog, one module per server, written by `weft bindings`.\n\nDo not edit: run `weft bindings --lang python` again when a server changes.\n\"\"\"\n\n",
    );
    for (module, _) in modules {
        let _ = writeln!(out, "from . import {module} as {module}");
    }
    let names: Vec<String> = modules.iter().map(|(m, _)| string_literal(m)).collect();
    let _ = writeln!(out, "\n__all__ = [{}]", names.join(", "));
    out
}

/// The module for one server.
pub fn module(server: &Server) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "\"\"\"Typed bindings of the MCP server {}, written by `weft bindings` from its live catalog.\n\nDo not edit: run `weft bindings --lang python` again when the server changes.\n\"\"\"\n\n",
        docstring_text(&string_literal(&server.name))
    );
    out += "from __future__ import annotations\n\nimport typing as _t\n\nimport weft_guest as _weft\n\n";
    let _ = writeln!(out, "_SERVER = {}\n", string_literal(&server.name));
    out += HELPER;

    let mut scope = Scope::new(KEYWORDS);
    scope.reserve(MODULE_NAMES);
    for Planned { tool, func, types } in plan(server, scope, Case::Snake) {
        for (name, obj, root) in &types.declared {
            if *root == 1 || !obj.path.is_empty() {
                out += &typed_dict(name, obj, &types, *root);
            }
        }
        out += &function(tool, &func, &types);
    }
    out
}

/// Turns a result into its structured object, for tools with a typed result.
const HELPER: &str = r#"
def _typed(result: _weft.ToolResult, tool: str) -> dict[str, _t.Any]:
    value = result.structured
    if value is None:
        value = result.value()
    if not isinstance(value, dict):
        raise TypeError(f"{_SERVER}.{tool} returned no structured object")
    return value

"#;

fn typed_dict(name: &str, obj: &Object, types: &Types, root: usize) -> String {
    let fields: Vec<String> = obj
        .fields
        .iter()
        .map(|f| {
            let ty = py_type(&f.ty, types, root);
            let ty = if f.required {
                ty
            } else {
                format!("_t.NotRequired[{ty}]")
            };
            format!("{}: {ty}", string_literal(&f.key))
        })
        .collect();
    format!(
        "\n{name} = _t.TypedDict({}, {{{}}})\n\n",
        string_literal(name),
        fields.join(", ")
    )
}

fn function(tool: &Tool, func: &str, types: &Types) -> String {
    let mut out = String::new();
    let mut locals = Scope::new(KEYWORDS);
    locals.reserve(LOCALS);
    let (signature, build, idents) = match &tool.params {
        Params::None => (
            String::new(),
            "    _args: dict[str, _t.Any] = {}\n".to_string(),
            Vec::new(),
        ),
        Params::Free => (
            "**kwargs: _t.Any".to_string(),
            "    _args: dict[str, _t.Any] = dict(kwargs)\n".to_string(),
            Vec::new(),
        ),
        Params::Fields(o) => arguments(o, types, &mut locals),
    };
    let returns = match &tool.result {
        Some(r) => types.name(r, 1).to_string(),
        None => "_weft.ToolResult".to_string(),
    };
    let _ = writeln!(out, "\ndef {func}({signature}) -> {returns}:");
    out += &docstring(tool, &idents);
    out += &build;
    let call = format!("_weft.call(_SERVER, {}, _args)", string_literal(&tool.name));
    match &tool.result {
        Some(_) => {
            let _ = writeln!(
                out,
                "    return _t.cast({returns}, _typed({call}, {}))",
                string_literal(&tool.name)
            );
        }
        None => {
            let _ = writeln!(out, "    return {call}");
        }
    }
    out + "\n"
}

/// The keyword-only parameters and the lines that build the arguments.
fn arguments(obj: &Object, types: &Types, locals: &mut Scope) -> (String, String, Vec<String>) {
    let keys: Vec<&str> = obj.fields.iter().map(|f| f.key.as_str()).collect();
    let idents = locals.assign(&keys, Case::Snake, "arg");
    let mut params = vec!["*".to_string()];
    let mut required = Vec::new();
    let mut optional = String::new();
    for (f, ident) in obj.fields.iter().zip(&idents) {
        let ty = py_type(&f.ty, types, 0);
        if f.required {
            params.push(format!("{ident}: {ty}"));
            required.push(format!("{}: {ident}", string_literal(&f.key)));
        } else {
            let ty = match &f.ty {
                Ty::Nullable(_) | Ty::Any => ty,
                _ => format!("{ty} | None"),
            };
            params.push(format!("{ident}: {ty} = None"));
            let _ = write!(
                optional,
                "    if {ident} is not None:\n        _args[{}] = {ident}\n",
                string_literal(&f.key)
            );
        }
    }
    let build = format!(
        "    _args: dict[str, _t.Any] = {{{}}}\n{optional}",
        required.join(", ")
    );
    (params.join(", "), build, idents)
}

fn py_type(ty: &Ty, types: &Types, root: usize) -> String {
    match ty {
        Ty::Any => "_t.Any".into(),
        Ty::Bool => "bool".into(),
        Ty::Int => "int".into(),
        Ty::Number => "float".into(),
        Ty::String => "str".into(),
        Ty::Enum(values) => {
            let v: Vec<String> = values.iter().map(|v| string_literal(v)).collect();
            format!("_t.Literal[{}]", v.join(", "))
        }
        Ty::List(t) => format!("list[{}]", py_type(t, types, root)),
        Ty::Map(t) => format!("dict[str, {}]", py_type(t, types, root)),
        Ty::Object(o) => types.name(o, root).to_string(),
        Ty::Nullable(t) => format!("{} | None", py_type(t, types, root)),
    }
}

/// The function's docstring: the tool's description, then its arguments'.
/// `idents` are the parameters' names, in the order of the fields.
fn docstring(tool: &Tool, idents: &[String]) -> String {
    let mut lines = doc_lines(tool.description.as_deref());
    if lines.is_empty() {
        lines.push(format!("Calls the tool {}.", string_literal(&tool.name)));
    }
    if let Params::Fields(o) = &tool.params {
        let described: Vec<(&Field, &String)> = o
            .fields
            .iter()
            .zip(idents)
            .filter(|(f, _)| f.description.is_some())
            .collect();
        if !described.is_empty() {
            lines.push(String::new());
            lines.push("Args:".into());
            for (f, ident) in described {
                for (i, l) in doc_lines(f.description.as_deref()).into_iter().enumerate() {
                    if i == 0 {
                        lines.push(format!("    {ident}: {l}"));
                    } else {
                        lines.push(format!("        {l}"));
                    }
                }
            }
        }
    }
    let mut out = String::from("    \"\"\"");
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out += "\n";
            if !l.is_empty() {
                out += "    ";
            }
        }
        out += &docstring_text(l);
    }
    if lines.len() > 1 {
        out += "\n    ";
    }
    out + "\"\"\"\n"
}

/// Text made safe inside a `"""` string: backslashes and every quote
/// escaped, so nothing in it can end the string.
fn docstring_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::bindings::schema;
    use serde_json::json;

    fn tool(name: &str, description: &str, input: serde_json::Value) -> Tool {
        Tool {
            name: name.into(),
            description: Some(description.into()),
            params: schema::params(input.as_object().unwrap()),
            result: None,
        }
    }

    #[test]
    fn a_hostile_description_stays_in_its_docstring() {
        let server = Server {
            name: "odd\"server".into(),
            tools: vec![tool(
                "class",
                "ends \"\"\" here\\\nimport os",
                json!({"type": "object", "properties": {"from": {"type": "string"}}, "required": ["from"]}),
            )],
        };
        let text = module(&server);
        assert!(
            text.contains("def class_(*, from_: str) -> _weft.ToolResult:"),
            "{text}"
        );
        assert!(text.contains(r#"ends \"\"\" here\\"#), "{text}");
        assert!(
            text.contains(r#"_args: dict[str, _t.Any] = {"from": from_}"#),
            "{text}"
        );
    }
}
