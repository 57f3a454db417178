//! weft's OpenAPI adapter: given an OpenAPI 3.0 or 3.1 document, it
//! offers one tool per operation and calls the API through the host's
//! egress.
//!
//! Its config (`[servers.NAME.config]`):
//! - `spec`: the document, as a table or as JSON text; or `spec_file`,
//!   a JSON file weft reads (relative to the config file) and hands over
//!   as `spec` (the component itself has no file system); or `spec_url`,
//!   where the service publishes it, fetched by this component through
//!   the host's egress like any call (so it must be in `egress`, and the
//!   headers weft injects for that host go with it);
//! - `base_url`: where the API is (`http://HOST:PORT/PREFIX`); without
//!   it, the document's first `servers` URL (a path such as `/api` taken
//!   on the origin of `spec_url`).
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
    let spec_url = match config.get("spec_url") {
        Some(Value::String(url)) => Some(url.clone()),
        Some(_) => return Err("`spec_url` must be a URL, as a string".into()),
        None => None,
    };
    let fetched = match &spec_url {
        Some(url) => Some(fetch_spec(url)?),
        None => None,
    };
    let doc = match (fetched, config.get("spec")) {
        (Some(_), Some(_)) => return Err("`spec_url` cannot be combined with `spec`".into()),
        (Some(doc), None) => doc,
        (None, spec) => document(spec)?,
    };
    let base = match config.get("base_url") {
        Some(Value::String(b)) => b.clone(),
        Some(_) => return Err("`base_url` must be a string".into()),
        None => base_from(&doc, spec_url.as_deref()).ok_or(
            "no `base_url` in the config, and the spec names no `servers` URL to call",
        )?,
    };
    request::split_base(&base).map_err(|e| format!("`base_url`: {e}"))?;
    let (ops, skipped) = spec::read(&doc)?;
    for why in &skipped {
        log("warn", format!("openapi adapter: skipped {why}"));
    }
    Ok((Api { base }, ops))
}

/// The document written in the config (`spec`, or `spec_file` as weft
/// handed it over).
fn document(spec: Option<&Value>) -> Result<Value, String> {
    let doc = match spec {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("`spec` is not a JSON document: {e}"))?,
        Some(doc @ Value::Object(_)) => doc.clone(),
        Some(_) => return Err("`spec` must be a table or JSON text".into()),
        None => {
            return Err(
                "no document: set `spec_url`, `spec_file = \"PATH.json\"` or `spec` in [servers.NAME.config]"
                    .into(),
            );
        }
    };
    Ok(doc)
}

/// The document at `url`, fetched through the host's egress; a JSON
/// answer with a 2xx status.
fn fetch_spec(url: &str) -> Result<Value, String> {
    let req = request::get(url).map_err(|e| format!("`spec_url`: {e}"))?;
    let answer = http::send(&req).map_err(|e| format!("`spec_url`: {e}"))?;
    if !(200..300).contains(&answer.status) {
        let text = String::from_utf8_lossy(&answer.body);
        return Err(format!(
            "`spec_url`: HTTP {} from {}: {}",
            answer.status,
            req.url(),
            cut(text.trim(), 200)
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        format!(
            "`spec_url`: {} is not a JSON document ({e}); the adapter reads OpenAPI as JSON",
            req.url()
        )
    })
}

/// Where to call when the config does not say: the document's first
/// `servers` URL, an absolute one as it is, a path on `spec_url`'s origin.
fn base_from(doc: &Value, spec_url: Option<&str>) -> Option<String> {
    let url = doc.pointer("/servers/0/url").and_then(Value::as_str)?;
    if url.starts_with("http://") || url.starts_with("https://") {
        return Some(url.to_string());
    }
    let path = url.strip_prefix('/')?;
    let (scheme, authority, _) = request::split_base(spec_url?.split(['?', '#']).next()?).ok()?;
    Some(format!("{scheme}://{authority}/{path}"))
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
