//! weft's OpenAPI adapter: given an OpenAPI 3.0 or 3.1 document, it
//! offers one tool per operation and calls the API through the host's
//! egress.
//!
//! Its config (`[servers.NAME.config]`):
//! - `spec`: the document, as a table or as JSON text; or `spec_file`,
//!   a JSON file weft reads (relative to the config file) and hands over
//!   as `spec` (the component itself has no file system);
//! - `base_url`: where the API is (`http://HOST:PORT/PREFIX`); without
//!   it, the document's first `servers` URL.
//!
//! A tool's arguments are the operation's path, query and header
//! parameters by name, and its request body as `body`. A 2xx answer is the
//! result (JSON as JSON, anything else as text); any other status is a
//! tool error that carries the status and the start of the body.

mod http;
mod request;
mod schema;
mod spec;

use std::rc::Rc;

use weft_guest::adapter::*;
use weft_guest::prelude::*;

use spec::{Operation, cut};

/// The most characters of an error answer's body a tool error carries.
const MAX_ERROR_BODY: usize = 2048;

/// The document and where to send requests, from the config.
struct Api {
    base: String,
}

/// Stops loading with `message`: it goes to weft's log, then the
/// component traps, so the server is `failed` and says it crashed.
fn fatal(message: &str) -> ! {
    log("error", format!("openapi adapter: {message}"));
    panic!("openapi adapter: {message}");
}

fn load() -> Result<(Api, Vec<Operation>), String> {
    let config = config();
    let doc = match config.get("spec") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("`spec` is not a JSON document: {e}"))?,
        Some(doc @ Value::Object(_)) => doc.clone(),
        Some(_) => return Err("`spec` must be a table or JSON text".into()),
        None => {
            return Err(
                "no document: set `spec_file = \"PATH.json\"` or `spec` in [servers.NAME.config]"
                    .into(),
            );
        }
    };
    let base = match config.get("base_url") {
        Some(Value::String(b)) => b.clone(),
        Some(_) => return Err("`base_url` must be a string".into()),
        None => doc
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .map(str::to_string)
            .ok_or("no `base_url` in the config, and the spec names no absolute `servers` URL")?,
    };
    request::split_base(&base).map_err(|e| format!("`base_url`: {e}"))?;
    let ops = spec::operations(&doc)?;
    Ok((Api { base }, ops))
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
    let (api, ops) = load().unwrap_or_else(|e| fatal(&e));
    let api = Rc::new(api);
    let mut tools = Tools::new();
    for op in ops {
        let (name, description, schema, read_only) = (
            op.tool.clone(),
            op.description.clone(),
            op.schema.clone(),
            op.read_only,
        );
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
