//! The description of `weft_run_code`: how to write code for it, and the
//! typed calls of the tools the caller's code may use, one line each, in
//! Python and in JavaScript, so a model can write correct calls without a
//! second round trip. Names are spelt as the interpreters resolve them
//! (the casings of `weft bindings`), and the whole is capped in size.

use serde_json::{Map, Value};

use crate::catalog::ToolEntry;
use crate::names::{Case, cased, clean_doc};

/// The most bytes of the description.
pub const MAX_DESCRIPTION_BYTES: usize = 16 << 10;
/// The most characters of one tool's description kept on its line.
const MAX_TOOL_DOC: usize = 120;

const HEAD: &str = "Run Python or JavaScript in weft's sandbox instead of many tool calls: \
the code is the body of a function of `input`, and `return` gives the result. \
In scope: `tools.call(server, tool, args)` returns a tool's structured content, else its \
text parsed as JSON, else its text, and raises `CallError` (`.kind`, `.message`) on failure; \
`tools.call_all([(server, tool, args), ...])` (JavaScript: `tools.callAll([[server, tool, args], ...])`) \
runs calls at once and returns values or CallError objects in order; `tools.list()` and \
`tools.search(query)` list the callable tools. print and console.log are captured. There is \
no file system, network or environment. The tools this code may call, as typed calls \
(Python | JavaScript):";

/// The description for code that may call `tools`, with their count.
pub fn describe<'a>(tools: impl Iterator<Item = &'a ToolEntry>) -> (String, usize) {
    let mut out = String::from(HEAD);
    let mut tools: Vec<&ToolEntry> = tools.collect();
    tools.sort_by(|a, b| (&*a.server, a.name()).cmp(&(&*b.server, b.name())));
    let total = tools.len();
    for (i, t) in tools.iter().enumerate() {
        let line = line(t);
        let rest = total - i;
        let tail = format!("\n({rest} more: find them with tools.search)");
        if out.len() + line.len() + tail.len() > MAX_DESCRIPTION_BYTES {
            out.push_str(&tail);
            return (out, total);
        }
        out.push_str(&line);
    }
    (out, total)
}

/// `\n- tools.S.f(a: str, b: int = ...) | tools.S.f({a, b?}): doc`
fn line(t: &ToolEntry) -> String {
    let server = (cased(&t.server, Case::Snake), cased(&t.server, Case::Camel));
    let tool = (cased(t.name(), Case::Snake), cased(t.name(), Case::Camel));
    let empty = Map::new();
    let props = t
        .tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = t
        .tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut py = Vec::new();
    let mut js = Vec::new();
    for (name, schema) in props {
        let optional = !required.contains(&name.as_str());
        let (p, j) = types(schema);
        py.push(format!(
            "{name}: {p}{}",
            if optional { " = ..." } else { "" }
        ));
        js.push(format!("{name}{}: {j}", if optional { "?" } else { "" }));
    }
    let mut doc = clean_doc(t.tool.description.as_deref().unwrap_or(""));
    doc = doc.lines().next().unwrap_or("").to_string();
    if doc.chars().count() > MAX_TOOL_DOC {
        doc = doc.chars().take(MAX_TOOL_DOC).collect::<String>() + "…";
    }
    format!(
        "\n- tools.{}.{}({}) | tools.{}.{}({{{}}}){}{}",
        server.0,
        tool.0,
        py.join(", "),
        server.1,
        tool.1,
        js.join(", "),
        if doc.is_empty() { "" } else { ": " },
        doc
    )
}

/// A JSON Schema's type in Python and in TypeScript.
fn types(schema: &Value) -> (&'static str, &'static str) {
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => ("str", "string"),
        Some("integer") => ("int", "number"),
        Some("number") => ("float", "number"),
        Some("boolean") => ("bool", "boolean"),
        Some("array") => ("list", "any[]"),
        Some("object") => ("dict", "object"),
        _ => ("Any", "any"),
    }
}
