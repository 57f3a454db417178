//! weft's OpenAPI adapter: given an OpenAPI 3.0 or 3.1 document, it
//! offers one tool per operation and calls the API through the host's
//! egress.
//!
//! weft readies its config before the component sees it
//! (`host/src/config/openapi.rs`): `spec` is the document as JSON (read
//! from `spec_file` or fetched from `spec_url` by weft, from JSON or
//! YAML), already cut to the operations the server serves, and
//! `base_url` is where requests go (the document's `servers` URL with its
//! variables filled in, when the config names none). The credentials of
//! the document's security schemes are added by weft to each request; the
//! component never holds them.
//!
//! A tool's arguments are the operation's path, query and header
//! parameters by name, and its request body as `body`. A 2xx answer is the
//! result (JSON as JSON, anything else as text); any other status is a
//! tool error that carries the status and the start of the body.

mod http;
mod multipart;
mod request;
mod schema;
mod spec;
mod style;

use std::rc::Rc;

use weft_guest::adapter::*;
use weft_guest::prelude::*;

use spec::{Operation, cut};

/// The most characters of an error answer's body a tool error carries.
const MAX_ERROR_BODY: usize = 2048;

/// The document and where to send requests, from the config.
struct Api {
    base: String,
    /// For a call: the called tool's name. weft hands over the document
    /// cut to that one operation (and what it refers to), so a call does
    /// not read a large API's whole description.
    tool: Option<String>,
}

/// The key of a listed tool's input schema that tells weft which
/// operation the tool is (`GET /path`); weft takes it out before agents
/// see the schema.
const OPERATION_KEY: &str = "x-weft-operation";

/// Stops loading with `message`: it goes to weft's log, then the
/// component traps, so the server is `failed` and says it crashed.
fn fatal(message: &str) -> ! {
    log("error", format!("openapi adapter: {message}"));
    panic!("openapi adapter: {message}");
}

fn load() -> Result<(Api, Vec<Operation>), String> {
    let config = config();
    let doc = document(config.get("spec"))?;
    let base = match config.get("base_url") {
        Some(Value::String(b)) => b.clone(),
        Some(_) => return Err("`base_url` must be a string".into()),
        None => return Err("no `base_url`: weft sets it from the config or the document".into()),
    };
    request::split_base(&base).map_err(|e| format!("`base_url`: {e}"))?;
    let (ops, skipped) = spec::read(&doc)?;
    for why in &skipped {
        log("warn", format!("openapi adapter: skipped {why}"));
    }
    let tool = config
        .get("tool")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((Api { base, tool }, ops))
}

/// The document weft handed over as `spec`.
fn document(spec: Option<&Value>) -> Result<Value, String> {
    match spec {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("`spec` is not a JSON document: {e}")),
        Some(doc @ Value::Object(_)) => Ok(doc.clone()),
        Some(_) => Err("`spec` must be a table or JSON text".into()),
        None => Err(
            "no document: set `spec_url`, `spec_file = \"PATH\"` or `spec` in [servers.NAME.config]"
                .into(),
        ),
    }
}

/// Calls `op` with `args`: the answer, or a tool error.
fn call(api: &Api, op: &Operation, args: Value) -> Result<Value, Error> {
    let empty = Map::new();
    let args = args.as_object().unwrap_or(&empty);
    let req = request::build(op, &api.base, args).map_err(Error::msg)?;
    let answer = http::send(&req).map_err(Error::msg)?;
    let text = String::from_utf8_lossy(&answer.body);
    if !(200..300).contains(&answer.status) {
        let body = cut(text.trim(), MAX_ERROR_BODY);
        return Err(Error::msg(format!(
            "HTTP {} from {} {}: {body}",
            answer.status,
            req.method,
            req.url()
        )));
    }
    if answer.body.is_empty() {
        return Ok(Value::String(format!(
            "HTTP {} (no content)",
            answer.status
        )));
    }
    let json = answer.content_type.contains("json") || answer.content_type.is_empty();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if json => Ok(v),
        _ => Ok(Value::String(text.into_owned())),
    }
}

fn tools() -> Tools {
    let (api, mut ops) = load().unwrap_or_else(|e| fatal(&e));
    if let (Some(name), [op]) = (&api.tool, ops.as_mut_slice()) {
        op.tool = name.clone();
    }
    let api = Rc::new(api);
    let mut tools = Tools::new();
    for op in ops {
        let mut schema = op.schema.clone();
        if let Value::Object(s) = &mut schema {
            s.insert(
                OPERATION_KEY.into(),
                Value::String(format!("{} {}", op.method, op.path)),
            );
        }
        let (name, description, read_only) =
            (op.tool.clone(), op.description.clone(), op.read_only);
        let api = api.clone();
        tools = tools.tool_with_schema(&name, &description, schema, move |args| {
            call(&api, &op, args)
        });
        if read_only {
            tools = tools.read_only();
        }
    }
    tools
}

weft_guest::adapter!(tools);
