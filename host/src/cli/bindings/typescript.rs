//! TypeScript bindings: per server, an ES module (`NAME.js`) with a
//! function per tool taking one object of arguments
//! (`crm.getCustomer({id: "42"})`) and calling `call` from `weft-guest`,
//! and its declarations (`NAME.d.ts`), with an interface per object type.
//!
//! Property names stay as the server spells them (quoted), so only the
//! functions' and types' names are made into identifiers. A tool with a
//! typed `outputSchema` returns its structured content as that interface;
//! any other tool returns the `ToolResult`.

use std::fmt::Write;

use super::model::{Planned, Server, Types, plan};
use super::names::{Case, Scope, doc_lines, string_literal};
use super::schema::{Object, Params, Ty};

/// Reserved words of JavaScript and TypeScript, and names that cannot be
/// declared in a module.
pub const KEYWORDS: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "let",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "arguments",
    "eval",
    "undefined",
    "declare",
    "type",
    "any",
    "unknown",
    "never",
    "string",
    "number",
    "boolean",
    "object",
    "symbol",
    "bigint",
];

/// Names the module's own code uses at its top level.
const MODULE_NAMES: &[&str] = &["call", "typed", "SERVER", "ToolResult", "index"];

/// `index.js` and `index.d.ts`, re-exporting every module under its name.
pub fn index(modules: &[(String, String)]) -> (String, String) {
    let mut out = String::from(HEADER);
    for (module, _) in modules {
        let _ = writeln!(out, "export * as {module} from \"./{module}.js\";");
    }
    (out.clone(), out)
}

const HEADER: &str = "// Typed bindings of weft's catalog, written by `weft bindings`.\n// Do not edit: run `weft bindings --lang typescript` again when a server changes.\n";

/// The JavaScript module and its declarations for one server.
pub fn module(server: &Server) -> (String, String) {
    let mut js = String::from(HEADER);
    let mut dts = String::from(HEADER);
    let _ = writeln!(js, "// Server: {}\n", string_literal(&server.name));
    let _ = writeln!(dts, "// Server: {}\n", string_literal(&server.name));
    js += "import { call } from \"weft-guest\";\n\n";
    let _ = writeln!(
        js,
        "const SERVER = {};\n{HELPER}",
        string_literal(&server.name)
    );
    dts += "import type { ToolResult } from \"weft-guest\";\n";

    let mut scope = Scope::new(KEYWORDS);
    scope.reserve(MODULE_NAMES);
    for Planned { tool, func, types } in plan(server, scope, Case::Camel) {
        let params = tool.fields();
        for (name, obj, root) in &types.declared {
            dts += &interface(name, obj, &types, *root);
        }
        let doc = jsdoc(doc_lines(tool.description.as_deref()), "");
        let (arg, required) = match (&tool.params, params) {
            (Params::None, _) => ("Record<string, never>".to_string(), false),
            (Params::Fields(_), Some(o)) => (
                types.name(o, 0).to_string(),
                o.fields.iter().any(|f| f.required),
            ),
            _ => ("{ [key: string]: unknown }".to_string(), false),
        };
        let returns = match &tool.result {
            Some(r) => types.name(r, 1).to_string(),
            None => "ToolResult".to_string(),
        };
        let q = if required { "" } else { "?" };
        let _ = writeln!(
            dts,
            "\n{doc}export declare function {func}(args{q}: {arg}): {returns};"
        );
        let name = string_literal(&tool.name);
        let body = match &tool.result {
            Some(_) => format!("return typed(call(SERVER, {name}, args ?? {{}}), {name});"),
            None => format!("return call(SERVER, {name}, args ?? {{}});"),
        };
        let _ = writeln!(js, "\n{doc}export function {func}(args) {{\n  {body}\n}}");
    }
    (js, dts)
}

/// Turns a result into its structured object, for tools with a typed result.
const HELPER: &str = r#"
function typed(result, tool) {
  let value = result.structured;
  if (value === undefined || value === null) value = result.value();
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${SERVER}.${tool} returned no structured object`);
  }
  return value;
}
"#;

fn interface(name: &str, obj: &Object, types: &Types, root: usize) -> String {
    let mut out = format!("\nexport interface {name} {{\n");
    for f in &obj.fields {
        out += &jsdoc(doc_lines(f.description.as_deref()), "  ");
        let q = if f.required { "" } else { "?" };
        let _ = writeln!(
            out,
            "  {}{q}: {};",
            string_literal(&f.key),
            ts_type(&f.ty, types, root)
        );
    }
    out + "}\n"
}

fn ts_type(ty: &Ty, types: &Types, root: usize) -> String {
    match ty {
        Ty::Any => "unknown".into(),
        Ty::Bool => "boolean".into(),
        Ty::Int | Ty::Number => "number".into(),
        Ty::String => "string".into(),
        Ty::Enum(values) => values
            .iter()
            .map(|v| string_literal(v))
            .collect::<Vec<_>>()
            .join(" | "),
        Ty::List(t) => format!("({})[]", ts_type(t, types, root)),
        Ty::Map(t) => format!("{{ [key: string]: {} }}", ts_type(t, types, root)),
        Ty::Object(o) => types.name(o, root).to_string(),
        Ty::Nullable(t) => format!("{} | null", ts_type(t, types, root)),
    }
}

/// A `/** … */` comment, with `*/` inside the text broken up so the text
/// cannot end it.
fn jsdoc(lines: Vec<String>, indent: &str) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!("{indent}/**\n");
    for l in lines {
        let safe = l.replace("*/", "*\\/");
        if safe.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {safe}");
        }
    }
    out + &format!("{indent} */\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::bindings::model::Tool;
    use crate::cli::bindings::schema;
    use serde_json::json;

    #[test]
    fn names_quoted_and_comments_closed() {
        let server = Server {
            name: "crm".into(),
            tools: vec![Tool {
                name: "get-customer".into(),
                description: Some("a */ b".into()),
                params: schema::params(
                    json!({"type": "object", "properties": {"the id": {"type": "string"}}, "required": ["the id"]})
                        .as_object()
                        .unwrap(),
                ),
                result: None,
            }],
        };
        let (js, dts) = module(&server);
        assert!(js.contains("export function getCustomer(args) {\n  return call(SERVER, \"get-customer\", args ?? {});"), "{js}");
        assert!(
            dts.contains("export declare function getCustomer(args: GetCustomerArgs): ToolResult;"),
            "{dts}"
        );
        assert!(dts.contains("  \"the id\": string;"), "{dts}");
        assert!(dts.contains(" * a *\\/ b"), "{dts}");
    }
}
