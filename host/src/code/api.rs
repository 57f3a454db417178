//! The description of `weft_run_code`: how to write code for it, then the
//! API of the tools the caller's code may use, as Python stubs and as
//! TypeScript declarations, so a model can write correct calls without a
//! second round trip.
//!
//! Names are spelt as the interpreters resolve them (the casings of `weft
//! bindings`); types come from each tool's schemas reduced by
//! [`crate::schema`], written inline and cut off at a fixed depth. Tool
//! names, descriptions and schemas are an upstream's and hostile: docs are
//! cleaned to one short line, keys that are not identifiers are quoted,
//! and the whole is capped at [`MAX_DESCRIPTION_BYTES`], whole tools at a
//! time.

use crate::catalog::ToolEntry;
use crate::names::{Case, cased, clean_doc, string_literal};
use crate::schema::{self, Object, Params, Ty};

/// The most bytes of the description.
pub const MAX_DESCRIPTION_BYTES: usize = 16 << 10;
/// The most characters of one tool's description kept.
const MAX_TOOL_DOC: usize = 120;
/// How deep object types are written out; deeper ones are `dict`/`object`.
const MAX_INLINE_DEPTH: usize = 2;
/// The most enum values written; more are just `str`/`string`.
const MAX_ENUM_SHOWN: usize = 8;

const HEAD: &str = "Run Python or JavaScript in weft's sandbox instead of many tool calls: \
the code is the body of a function of `input`, and `return` gives the result. \
In scope: `tools.call(server, tool, args)` returns a tool's structured content, else its \
text parsed as JSON, else its text, and raises `CallError` (`.kind`, `.message`) on failure; \
`tools.call_all([(server, tool, args), ...])` (JavaScript: `tools.callAll([[server, tool, args], ...])`) \
runs calls at once and returns values or CallError objects in order; `tools.list()` and \
`tools.search(query)` list the callable tools. print and console.log are captured. There is \
no file system, network or environment. Calls are synchronous (no await). \
The tools this code may call, as Python stubs and TypeScript declarations:";

/// The description for code that may call `tools`, with their count.
pub fn describe<'a>(tools: impl Iterator<Item = &'a ToolEntry>) -> (String, usize) {
    let mut tools: Vec<&ToolEntry> = tools.collect();
    tools.sort_by(|a, b| (&*a.server, a.name()).cmp(&(&*b.server, b.name())));
    let total = tools.len();
    let mut py = String::from("\n\n# Python: tools.SERVER.TOOL(name=value, ...)\n");
    let mut ts = String::from("\n\n// JavaScript: tools.SERVER.TOOL({name: value, ...})\n");
    let mut server: Option<&str> = None;
    let mut shown = 0;
    for t in &tools {
        let same = server == Some(&*t.server);
        let (p, j) = stubs(t, !same);
        let tail = more(total - shown);
        let closing = "}\n".len();
        if HEAD.len() + py.len() + ts.len() + p.len() + j.len() + closing + tail.len()
            > MAX_DESCRIPTION_BYTES
        {
            break;
        }
        if !same && server.is_some() {
            ts.push_str("}\n");
        }
        py.push_str(&p);
        ts.push_str(&j);
        server = Some(&t.server);
        shown += 1;
    }
    if server.is_some() {
        ts.push_str("}\n");
    }
    let mut out = format!("{HEAD}{py}{ts}");
    if shown < total {
        out.push_str(&more(total - shown));
    }
    (out, total)
}

fn more(n: usize) -> String {
    format!("\n({n} more: find them with tools.search)")
}

/// One tool's Python stub and TypeScript declaration, each opening its
/// server's class or namespace when `open`.
fn stubs(t: &ToolEntry, open: bool) -> (String, String) {
    let server = (cased(&t.server, Case::Snake), cased(&t.server, Case::Camel));
    let tool = (cased(t.name(), Case::Snake), cased(t.name(), Case::Camel));
    let mut doc = clean_doc(t.tool.description.as_deref().unwrap_or(""));
    doc = doc.lines().next().unwrap_or("").trim().to_string();
    if doc.chars().count() > MAX_TOOL_DOC {
        doc = doc.chars().take(MAX_TOOL_DOC).collect::<String>() + "…";
    }
    let result = t
        .tool
        .output_schema
        .as_deref()
        .and_then(schema::result)
        .map(|o| ("dict".to_string(), ts_object(&o, 1)));
    let (py_result, ts_result) = result.unwrap_or(("Any".into(), "any".into()));
    let (py_args, ts_args) = match schema::params(&t.tool.input_schema) {
        Params::None => ((String::new(), None), String::new()),
        Params::Free => (
            ("**args: Any".to_string(), None),
            "args?: object".to_string(),
        ),
        Params::Fields(o) => (py_params(&o), format!("args: {}", ts_object(&o, 0))),
    };
    let (py_args, keys) = py_args;
    let mut py = String::new();
    let mut ts = String::new();
    if open {
        py.push_str(&format!("class {}:\n", server.0));
        ts.push_str(&format!("declare namespace tools.{} {{\n", server.1));
    }
    let comment = match (keys, doc.is_empty()) {
        (None, true) => String::new(),
        (None, false) => format!("  # {doc}"),
        (Some(keys), true) => format!("  # keys: {keys}"),
        (Some(keys), false) => format!("  # keys: {keys}. {doc}"),
    };
    py.push_str(&format!(
        "    def {}({py_args}) -> {py_result}: ...{comment}\n",
        tool.0
    ));
    if !doc.is_empty() {
        ts.push_str(&format!("  /** {} */\n", doc.replace("*/", "*\\/")));
    }
    ts.push_str(&format!("  function {}({ts_args}): {ts_result};\n", tool.1));
    (py, ts)
}

/// Keyword parameters, required first; keys that cannot be keywords make
/// the whole `**args`, with the keys to name in the stub's comment.
fn py_params(o: &Object) -> (String, Option<String>) {
    if o.fields.iter().any(|f| !is_identifier(&f.key)) {
        let keys: Vec<String> = o.fields.iter().map(|f| string_literal(&f.key)).collect();
        return ("**args: Any".into(), Some(keys.join(", ")));
    }
    let mut fields: Vec<_> = o.fields.iter().collect();
    fields.sort_by_key(|f| !f.required);
    let parts: Vec<String> = fields
        .iter()
        .map(|f| {
            let ty = py_type(&f.ty);
            if f.required {
                format!("{}: {ty}", f.key)
            } else {
                format!("{}: {ty} = ...", f.key)
            }
        })
        .collect();
    (format!("*, {}", parts.join(", ")), None)
}

/// Whether `key` is an identifier in Python and JavaScript alike (and no
/// keyword of Python's that would break a stub).
fn is_identifier(key: &str) -> bool {
    const PY_KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut chars = key.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !PY_KEYWORDS.contains(&key)
}

fn py_type(ty: &Ty) -> String {
    match ty {
        Ty::Any => "Any".into(),
        Ty::Bool => "bool".into(),
        Ty::Int => "int".into(),
        Ty::Number => "float".into(),
        Ty::String => "str".into(),
        Ty::Enum(values) if values.len() <= MAX_ENUM_SHOWN => {
            let v: Vec<String> = values.iter().map(|v| string_literal(v)).collect();
            format!("Literal[{}]", v.join(", "))
        }
        Ty::Enum(_) => "str".into(),
        Ty::List(t) => format!("list[{}]", py_type(t)),
        Ty::Map(t) => format!("dict[str, {}]", py_type(t)),
        Ty::Object(_) => "dict".into(),
        Ty::Nullable(t) => format!("{} | None", py_type(t)),
    }
}

fn ts_type(ty: &Ty, depth: usize) -> String {
    match ty {
        Ty::Any => "any".into(),
        Ty::Bool => "boolean".into(),
        Ty::Int | Ty::Number => "number".into(),
        Ty::String => "string".into(),
        Ty::Enum(values) if values.len() <= MAX_ENUM_SHOWN => {
            let v: Vec<String> = values.iter().map(|v| string_literal(v)).collect();
            v.join(" | ")
        }
        Ty::Enum(_) => "string".into(),
        Ty::List(t) => {
            let item = ts_type(t, depth + 1);
            if item.contains(' ') {
                format!("({item})[]")
            } else {
                format!("{item}[]")
            }
        }
        Ty::Map(t) => format!("{{ [key: string]: {} }}", ts_type(t, depth + 1)),
        Ty::Object(o) => ts_object(o, depth),
        Ty::Nullable(t) => format!("{} | null", ts_type(t, depth)),
    }
}

/// `{ a: string; b?: number }`, or `object` past [`MAX_INLINE_DEPTH`].
fn ts_object(o: &Object, depth: usize) -> String {
    if depth > MAX_INLINE_DEPTH {
        return "object".into();
    }
    let fields: Vec<String> = o
        .fields
        .iter()
        .map(|f| {
            let key = if is_identifier(&f.key) {
                f.key.clone()
            } else {
                string_literal(&f.key)
            };
            let q = if f.required { "" } else { "?" };
            format!("{key}{q}: {}", ts_type(&f.ty, depth + 1))
        })
        .collect();
    if fields.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", fields.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rmcp::model::Tool;
    use serde_json::json;

    use super::*;
    use crate::catalog::ArgsCheck;

    fn entry(server: &str, tool: serde_json::Value) -> ToolEntry {
        let tool: Tool = serde_json::from_value(tool).unwrap();
        ToolEntry {
            exposed: format!("{server}__{}", tool.name),
            server: Arc::from(server),
            tool,
            read_only: false,
            args: ArgsCheck::default(),
        }
    }

    #[test]
    fn stubs_and_declarations() {
        let tools = [
            entry(
                "my-crm",
                json!({"name": "getCustomer", "description": "Find a customer.\nMore text.",
                    "inputSchema": {"type": "object", "required": ["id"], "properties": {
                        "id": {"type": "string"},
                        "fields": {"type": "array", "items": {"type": "string", "enum": ["name", "email"]}},
                        "limit": {"type": "integer"}}},
                    "outputSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
            ),
            entry(
                "my-crm",
                json!({"name": "odd", "description": "bad */ doc",
                    "inputSchema": {"type": "object", "properties": {"a-b": {"type": "number"}}}}),
            ),
            entry(
                "time",
                json!({"name": "now", "inputSchema": {"type": "object"}}),
            ),
        ];
        let (text, n) = describe(tools.iter());
        assert_eq!(n, 3);
        let api = &text[HEAD.len()..];
        assert_eq!(
            api,
            concat!(
                "\n\n# Python: tools.SERVER.TOOL(name=value, ...)\n",
                "class my_crm:\n",
                "    def get_customer(*, id: str, fields: list[Literal[\"name\", \"email\"]] = ..., limit: int = ...) -> dict: ...  # Find a customer.\n",
                "    def odd(**args: Any) -> Any: ...  # keys: \"a-b\". bad */ doc\n",
                "class time:\n",
                "    def now() -> Any: ...\n",
                "\n\n// JavaScript: tools.SERVER.TOOL({name: value, ...})\n",
                "declare namespace tools.myCrm {\n",
                "  /** Find a customer. */\n",
                "  function getCustomer(args: { fields?: (\"name\" | \"email\")[]; id: string; limit?: number }): { name?: string };\n",
                "  /** bad *\\/ doc */\n",
                "  function odd(args: { \"a-b\"?: number }): any;\n",
                "}\n",
                "declare namespace tools.time {\n",
                "  function now(): any;\n",
                "}\n",
            )
        );
    }

    #[test]
    fn the_cap_keeps_whole_tools_and_counts_the_rest() {
        let tools: Vec<ToolEntry> = (0..2000)
            .map(|i| {
                entry(
                    "s",
                    json!({"name": format!("tool{i:04}"), "description": "x".repeat(500),
                        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}),
                )
            })
            .collect();
        let (text, n) = describe(tools.iter());
        assert_eq!(n, 2000);
        assert!(text.len() <= MAX_DESCRIPTION_BYTES, "{}", text.len());
        let shown = text.matches("  function tool").count();
        assert_eq!(text.matches("    def tool").count(), shown);
        assert!(shown > 10, "{shown}");
        assert!(text.ends_with(&format!(
            "}}\n\n({} more: find them with tools.search)",
            2000 - shown
        )));
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("timezone"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("class"));
        assert!(!is_identifier(""));
    }
}
