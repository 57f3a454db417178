//! Write weft policies in Rust.
//!
//! A policy is one function from JSON input to JSON output that calls MCP
//! tools on the servers weft connects to:
//!
//! ```no_run
//! use weft_guest::prelude::*;
//!
//! fn run(input: Value) -> Result<Value, Error> {
//!     let now = call("time", "get_current_time", json!({"timezone": "UTC"}))?;
//!     let log = call("git", "git_log", json!({"repo_path": input["repo"], "max_count": 5}))?;
//!     Ok(json!({"time": now.text(), "commits": log.text()}))
//! }
//!
//! weft_guest::policy!(run);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the
//! `.wasm` in `target/wasm32-wasip2/release/` is the component to run with
//! `weft run`. Calls go through the host's router, so grants, timeouts and
//! error kinds are the host's: a call outside the policy's grants fails
//! with [`ErrorKind::Denied`] and never reaches the server.
//!
//! The examples in these docs are compiled as doctests. The ones that call
//! the host are marked `no_run`: outside a weft sandbox there is no host to
//! answer.

#![deny(missing_docs)]

use std::fmt;

pub use serde_json::{Map, Value, json};

/// The generated bindings of the `weft:mcp/policy` world.
#[cfg(not(feature = "adapter"))]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_policy",
        default_bindings_module: "weft_guest::bindings",
    });
}

/// The generated bindings of the `weft:mcp/adapter` world (the `adapter`
/// feature): the same imports as a policy's, other exports.
#[cfg(feature = "adapter")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "adapter",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_adapter",
        default_bindings_module: "weft_guest::bindings",
    });
}

#[cfg(feature = "adapter")]
pub mod adapter;

#[cfg(not(feature = "adapter"))]
#[doc(hidden)]
pub use bindings::__export_policy;
#[cfg(feature = "adapter")]
#[doc(hidden)]
pub use bindings::__export_adapter;
/// A failed call: its [`ErrorKind`], a message, and the server and tool
/// that were called. It converts into [`Error`] with `?`.
///
/// ```no_run
/// use weft_guest::prelude::*;
///
/// fn run(_: Value) -> Result<Value, Error> {
///     let e: CallError = call("nowhere", "nothing", Value::Null).unwrap_err();
///     assert_eq!(e.kind, ErrorKind::NotFound);
///     assert_eq!((e.server.as_str(), e.tool.as_str()), ("nowhere", "nothing"));
///     Err(e)? // the run fails with the call's error
/// }
/// ```
pub use bindings::weft::mcp::types::CallError;
/// Why a call failed. Printed (`{}`) as the host prints it:
///
/// | kind | meaning | retry? |
/// |---|---|---|
/// | `not-found` | no such server or tool, or one outside the caller's view | no |
/// | `denied` | the policy's grants do not allow the tool; the server never saw the call | no |
/// | `invalid-args` | the arguments do not fit the tool's schema | no: fix them |
/// | `timeout` | the server did not answer in time, or the run's time ran out | yes, later |
/// | `rate-limited` | the server or the tenant asked to slow down | yes, after a pause |
/// | `unavailable` | the server is down, crashed or unreachable | yes, later |
/// | `tool-error` | the tool ran and returned `isError: true` | depends on the tool |
/// | `limit-exceeded` | a limit of this run was hit (calls, fuel, memory, output) | no |
/// | `internal` | anything else | no |
///
/// ```
/// assert_eq!(weft_guest::ErrorKind::RateLimited.to_string(), "rate-limited");
/// ```
pub use bindings::weft::mcp::types::ErrorKind;
/// A tool a policy may call, as [`list_tools`] returns it.
///
/// ```no_run
/// let read_only: Vec<String> = weft_guest::list_tools(None)
///     .into_iter()
///     .filter(|t| t.read_only)
///     .map(|t| format!("{}.{}", t.server, t.name))
///     .collect();
/// ```
pub use bindings::weft::mcp::types::ToolInfo;
use bindings::weft::mcp::{host_log, tools};

/// What a policy author imports: `use weft_guest::prelude::*;`.
///
/// ```
/// use weft_guest::prelude::*;
///
/// let args: Value = json!({"message": "hi"});
/// assert_eq!(args["message"], "hi");
/// ```
pub mod prelude {
    pub use crate::{CallError, Error, ErrorKind, Map, ToolResult, Value, call, call_all, json, list_tools, log, progress};
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::Denied => "denied",
            ErrorKind::InvalidArgs => "invalid-args",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ToolError => "tool-error",
            ErrorKind::LimitExceeded => "limit-exceeded",
            ErrorKind::Internal => "internal",
        };
        f.write_str(name)
    }
}

/// A tool's result: the whole MCP `CallToolResult`, with helpers.
///
/// [`call`] returns one; [`ToolResult::from_json`] makes one from JSON, for
/// a policy's own unit tests:
///
/// ```
/// use weft_guest::{ToolResult, json};
///
/// let r = ToolResult::from_json(json!({
///     "content": [{"type": "text", "text": "{\"n\": 3}"}],
/// }));
/// assert_eq!(r.text(), "{\"n\": 3}");
/// assert_eq!(r.structured(), None);
/// assert_eq!(r.value(), Some(json!({"n": 3})));
/// ```
#[derive(Debug, Clone)]
pub struct ToolResult {
    raw: Value,
}

impl ToolResult {
    /// A result from the JSON of an MCP `CallToolResult`.
    ///
    /// ```
    /// let r = weft_guest::ToolResult::from_json(weft_guest::json!({"content": []}));
    /// assert_eq!(r.text(), "");
    /// ```
    pub fn from_json(raw: Value) -> ToolResult {
        ToolResult { raw }
    }

    /// The whole result as JSON (`content`, `structuredContent`, `_meta`).
    ///
    /// ```
    /// let r = weft_guest::ToolResult::from_json(weft_guest::json!({"content": [], "_meta": {"k": 1}}));
    /// assert_eq!(r.json()["_meta"]["k"], 1);
    /// ```
    pub fn json(&self) -> &Value {
        &self.raw
    }

    /// The text of every text block, joined by newlines.
    ///
    /// ```
    /// let r = weft_guest::ToolResult::from_json(weft_guest::json!({"content": [
    ///     {"type": "text", "text": "a"},
    ///     {"type": "image", "data": "", "mimeType": "image/png"},
    ///     {"type": "text", "text": "b"},
    /// ]}));
    /// assert_eq!(r.text(), "a\nb");
    /// ```
    pub fn text(&self) -> String {
        self.raw["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b["type"] == "text")
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// The structured content, if the tool returned any.
    ///
    /// ```
    /// let r = weft_guest::ToolResult::from_json(weft_guest::json!({
    ///     "content": [], "structuredContent": {"temp": 21},
    /// }));
    /// assert_eq!(r.structured().map(|s| &s["temp"]), Some(&weft_guest::json!(21)));
    /// ```
    pub fn structured(&self) -> Option<&Value> {
        self.raw.get("structuredContent").filter(|v| !v.is_null())
    }

    /// The structured content, or else the text parsed as JSON; `None` when
    /// there is neither.
    ///
    /// ```
    /// let r = weft_guest::ToolResult::from_json(weft_guest::json!({
    ///     "content": [{"type": "text", "text": "not json"}],
    /// }));
    /// assert_eq!(r.value(), None);
    /// ```
    pub fn value(&self) -> Option<Value> {
        self.structured().cloned().or_else(|| serde_json::from_str(&self.text()).ok())
    }
}

fn args_text(args: &Value) -> String {
    if args.is_null() { String::new() } else { args.to_string() }
}

fn to_result(raw: Result<String, CallError>) -> Result<ToolResult, CallError> {
    let text = raw?;
    Ok(ToolResult { raw: serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

/// Calls `tool` on `server` with a JSON object of arguments (or `Value::Null`).
///
/// A result with `isError: true` comes back as `Err` with kind
/// [`ErrorKind::ToolError`]; see [`ErrorKind`] for the others.
///
/// ```no_run
/// use weft_guest::prelude::*;
///
/// match call("everything", "echo", json!({"message": "hi"})) {
///     Ok(result) => assert_eq!(result.text(), "Echo: hi"),
///     Err(e) if e.kind == ErrorKind::Denied => log("warn", format!("not granted: {e}")),
///     Err(e) => log("error", e.to_string()),
/// }
/// ```
pub fn call(server: &str, tool: &str, args: Value) -> Result<ToolResult, CallError> {
    to_result(tools::call_tool(server, tool, &args_text(&args)))
}

/// Calls several tools concurrently; results come back in the same order,
/// one `Result` per call: a failed call does not fail the others.
///
/// ```no_run
/// use weft_guest::prelude::*;
///
/// let results: Vec<Result<ToolResult, CallError>> = call_all([
///     ("time", "get_current_time", json!({"timezone": "UTC"})),
///     ("time", "get_current_time", json!({"timezone": "Asia/Tokyo"})),
/// ]);
/// let ok = results.iter().filter(|r| r.is_ok()).count();
/// log("info", format!("{ok} of {} calls succeeded", results.len()));
/// ```
pub fn call_all<'a>(calls: impl IntoIterator<Item = (&'a str, &'a str, Value)>) -> Vec<Result<ToolResult, CallError>> {
    let calls: Vec<tools::ToolCall> = calls
        .into_iter()
        .map(|(server, tool, args)| tools::ToolCall { server: server.into(), tool: tool.into(), args: args_text(&args) })
        .collect();
    tools::call_tools(&calls).into_iter().map(to_result).collect()
}

/// The tools this policy may call (only granted ones), on one server or all.
///
/// ```no_run
/// for t in weft_guest::list_tools(Some("everything")) {
///     weft_guest::log("debug", format!("{}.{} read-only={}", t.server, t.name, t.read_only));
/// }
/// ```
pub fn list_tools(server: Option<&str>) -> Vec<ToolInfo> {
    tools::list_tools(server)
}

/// Writes a line to the run's log (`error`, `warn`, `info` or `debug`).
///
/// ```no_run
/// weft_guest::log("info", "starting");
/// ```
pub fn log(level: &str, message: impl AsRef<str>) {
    host_log::log(level, message.as_ref());
}

/// Reports progress; `weft serve` forwards it to the agent.
///
/// ```no_run
/// weft_guest::progress(3.0, Some(10.0), Some("3 of 10 items"));
/// ```
pub fn progress(done: f64, total: Option<f64>, message: Option<&str>) {
    host_log::progress(done, total, message);
}

/// A policy's error: any error converts into it with `?`, and its text is
/// the run's error.
///
/// ```
/// use weft_guest::Error;
///
/// fn parse(n: &str) -> Result<i64, Error> {
///     Ok(n.parse::<i64>()?)
/// }
/// assert_eq!(parse("x").unwrap_err().to_string(), "invalid digit found in string");
/// ```
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    ///
    /// ```
    /// let e = weft_guest::Error::msg(format!("no repo {:?}", "x"));
    /// assert_eq!(e.to_string(), "no repo \"x\"");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Error {
        Error(message.to_string())
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error(e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(not(feature = "adapter"))]
#[doc(hidden)]
pub fn __run(input: &str, f: fn(Value) -> Result<Value, Error>) -> Result<String, String> {
    let input: Value = if input.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(input).map_err(|e| format!("the input is not valid JSON: {e}"))?
    };
    f(input).map(|v| v.to_string()).map_err(|e| e.0)
}

/// Exports `fn(Value) -> Result<Value, Error>` as the policy's `run`.
///
/// The input is the JSON the run was given (`Value::Null` for none); the
/// output is serialised back to JSON. Use it once per crate:
///
/// ```no_run
/// use weft_guest::prelude::*;
///
/// fn run(input: Value) -> Result<Value, Error> {
///     Ok(json!({"you sent": input}))
/// }
///
/// weft_guest::policy!(run);
/// ```
#[cfg(not(feature = "adapter"))]
#[macro_export]
macro_rules! policy {
    ($run:path) => {
        struct __WeftPolicy;
        impl $crate::bindings::Guest for __WeftPolicy {
            fn run(input: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::__run(&input, $run)
            }
        }
        $crate::__export_policy!(__WeftPolicy);
    };
}
