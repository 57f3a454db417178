//! Write weft policies in Rust.
//!
//! A policy is one function from JSON input to JSON output that calls MCP
//! tools on the servers weft connects to:
//!
//! ```ignore
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

use std::fmt;

pub use serde_json::{Map, Value, json};

/// The generated bindings of the `weft:mcp/policy` world.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_policy",
        default_bindings_module: "weft_guest::bindings",
    });
}

#[doc(hidden)]
pub use bindings::__export_policy;
pub use bindings::weft::mcp::types::{CallError, ErrorKind, ToolInfo};
use bindings::weft::mcp::{host_log, tools};

/// What a policy author imports.
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
#[derive(Debug, Clone)]
pub struct ToolResult {
    raw: Value,
}

impl ToolResult {
    /// The whole result as JSON (`content`, `structuredContent`, `_meta`).
    pub fn json(&self) -> &Value {
        &self.raw
    }

    /// The text of every text block, joined by newlines.
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
    pub fn structured(&self) -> Option<&Value> {
        self.raw.get("structuredContent").filter(|v| !v.is_null())
    }

    /// The structured content, or else the text parsed as JSON.
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
pub fn call(server: &str, tool: &str, args: Value) -> Result<ToolResult, CallError> {
    to_result(tools::call_tool(server, tool, &args_text(&args)))
}

/// Calls several tools concurrently; results come back in the same order.
pub fn call_all<'a>(calls: impl IntoIterator<Item = (&'a str, &'a str, Value)>) -> Vec<Result<ToolResult, CallError>> {
    let calls: Vec<tools::ToolCall> = calls
        .into_iter()
        .map(|(server, tool, args)| tools::ToolCall { server: server.into(), tool: tool.into(), args: args_text(&args) })
        .collect();
    tools::call_tools(&calls).into_iter().map(to_result).collect()
}

/// The tools this policy may call (only granted ones), on one server or all.
pub fn list_tools(server: Option<&str>) -> Vec<ToolInfo> {
    tools::list_tools(server)
}

/// Writes a line to the run's log (`error`, `warn`, `info` or `debug`).
pub fn log(level: &str, message: impl AsRef<str>) {
    host_log::log(level, message.as_ref());
}

/// Reports progress; `weft serve` forwards it to the agent.
pub fn progress(done: f64, total: Option<f64>, message: Option<&str>) {
    host_log::progress(done, total, message);
}

/// A policy's error: any error converts into it with `?`.
#[derive(Debug)]
pub struct Error(String);

impl Error {
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
