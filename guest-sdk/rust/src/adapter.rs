//! Write weft adapters in Rust: a component that offers tools of its own
//! (the `adapter` feature).
//!
//! Each tool is a plain function whose argument type derives
//! `serde::Deserialize` and `schemars::JsonSchema`; its input schema is
//! derived from that type. Register the tools in a function and export it
//! with [`adapter!`](crate::adapter!):
//!
//! ```ignore
//! use weft_guest::adapter::*;
//! use weft_guest::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Greet {
//!     /// Whom to greet.
//!     name: String,
//! }
//!
//! fn greet(args: Greet) -> Result<Value, Error> {
//!     Ok(json!(format!("Hello, {}!", args.name)))
//! }
//!
//! fn tools() -> Tools {
//!     Tools::new().tool("greet", "Greets someone", greet).read_only()
//! }
//!
//! weft_guest::adapter!(tools);
//! ```
//!
//! A tool's `Ok` value becomes the result: a string as its text, anything
//! else as JSON text and, for an object, its structured content too. An
//! `Err` becomes a result with `isError: true` carrying the message. Inside
//! a tool, [`call`](crate::call) reaches other servers (within the
//! adapter's `grants`), and [`config`] returns `[servers.NAME.config]`.

use serde::de::DeserializeOwned;

pub use schemars::JsonSchema;
pub use serde::Deserialize;

use crate::bindings::weft::mcp::types::{CallError, ErrorKind, ToolInfo};
use crate::{Error, Value};

type Handler = Box<dyn Fn(Value) -> Result<Value, Failure>>;

/// Why a tool did not run: bad arguments, or the tool's own error.
enum Failure {
    Args(String),
    Tool(Error),
}

/// A tool's input schema: derived from its argument type, or given.
/// Deriving is deferred to `list-tools`, since every call is a fresh
/// instance that builds the registry again and needs only the handlers.
enum Schema {
    Derived(fn() -> Value),
    Given(Value),
}

impl Schema {
    fn text(self) -> String {
        match self {
            Schema::Derived(make) => make().to_string(),
            Schema::Given(v) => v.to_string(),
        }
    }
}

/// The JSON Schema of `A`, as JSON.
fn derived<A: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(A))
        .unwrap_or_else(|_| Value::Object(Default::default()))
}

struct Entry {
    /// Everything but the input schema, which `schema` makes on demand.
    info: ToolInfo,
    schema: Schema,
    run: Handler,
}

/// The tools an adapter offers, registered in order.
#[derive(Default)]
pub struct Tools {
    entries: Vec<Entry>,
}

impl Tools {
    /// No tools yet.
    pub fn new() -> Tools {
        Tools::default()
    }

    /// Adds the tool `name`: `run` takes its arguments as `A`, whose JSON
    /// Schema is the tool's input schema.
    pub fn tool<A, F>(self, name: &str, description: &str, run: F) -> Tools
    where
        A: DeserializeOwned + JsonSchema + 'static,
        F: Fn(A) -> Result<Value, Error> + 'static,
    {
        self.push(
            name,
            description,
            Schema::Derived(derived::<A>),
            move |args: Value| {
                let typed: A =
                    serde_json::from_value(args).map_err(|e| Failure::Args(e.to_string()))?;
                run(typed).map_err(Failure::Tool)
            },
        )
    }

    /// Adds the tool `name` with an input schema made at run time (a JSON
    /// Schema object): `run` takes its arguments as JSON, an object. For
    /// an adapter whose tools come from data, such as an API description.
    pub fn tool_with_schema<F>(self, name: &str, description: &str, schema: Value, run: F) -> Tools
    where
        F: Fn(Value) -> Result<Value, Error> + 'static,
    {
        self.push(
            name,
            description,
            Schema::Given(schema),
            move |args: Value| run(args).map_err(Failure::Tool),
        )
    }

    fn push<F>(mut self, name: &str, description: &str, schema: Schema, run: F) -> Tools
    where
        F: Fn(Value) -> Result<Value, Failure> + 'static,
    {
        let info = ToolInfo {
            server: String::new(),
            name: name.to_string(),
            title: None,
            description: description.to_string(),
            input_schema: String::new(),
            output_schema: None,
            read_only: false,
        };
        let run: Handler = Box::new(move |args: Value| {
            let args = if args.is_null() {
                Value::Object(Default::default())
            } else {
                args
            };
            run(args)
        });
        self.entries.push(Entry { info, schema, run });
        self
    }

    /// Marks the tool added last as read-only (`readOnlyHint`).
    pub fn read_only(mut self) -> Tools {
        if let Some(last) = self.entries.last_mut() {
            last.info.read_only = true;
        }
        self
    }

    /// Gives the tool added last a title.
    pub fn title(mut self, title: &str) -> Tools {
        if let Some(last) = self.entries.last_mut() {
            last.info.title = Some(title.to_string());
        }
        self
    }
}

/// The adapter's `[servers.NAME.config]` table, as JSON (`{}` when none).
pub fn config() -> Value {
    serde_json::from_str(&crate::bindings::weft::mcp::config::config()).unwrap_or(Value::Null)
}

fn error(kind: ErrorKind, tool: &str, message: String) -> CallError {
    CallError {
        kind,
        message,
        server: String::new(),
        tool: tool.to_string(),
    }
}

#[doc(hidden)]
pub fn __list(tools: fn() -> Tools) -> Vec<ToolInfo> {
    tools()
        .entries
        .into_iter()
        .map(|e| ToolInfo {
            input_schema: e.schema.text(),
            ..e.info
        })
        .collect()
}

#[doc(hidden)]
pub fn __call(tools: fn() -> Tools, tool: &str, args: &str) -> Result<String, CallError> {
    let all = tools();
    let Some(entry) = all.entries.iter().find(|e| e.info.name == tool) else {
        return Err(error(
            ErrorKind::NotFound,
            tool,
            format!("this adapter has no tool {tool:?}"),
        ));
    };
    let args: Value = if args.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(args).map_err(|e| {
            error(
                ErrorKind::InvalidArgs,
                tool,
                format!("the arguments are not valid JSON: {e}"),
            )
        })?
    };
    let result = match (entry.run)(args) {
        Ok(Value::String(text)) => serde_json::json!({"content": [{"type": "text", "text": text}]}),
        Ok(value) => {
            let mut r =
                serde_json::json!({"content": [{"type": "text", "text": value.to_string()}]});
            if value.is_object() {
                r["structuredContent"] = value;
            }
            r
        }
        Err(Failure::Args(m)) => {
            return Err(error(
                ErrorKind::InvalidArgs,
                tool,
                format!("the arguments do not fit: {m}"),
            ));
        }
        Err(Failure::Tool(e)) => {
            serde_json::json!({"content": [{"type": "text", "text": e.to_string()}], "isError": true})
        }
    };
    Ok(result.to_string())
}

/// Exports `fn() -> Tools` as the adapter's `list-tools` and `call-tool`.
/// Use it once per crate (built with the `adapter` feature).
#[macro_export]
macro_rules! adapter {
    ($tools:path) => {
        struct __WeftAdapter;
        impl $crate::bindings::Guest for __WeftAdapter {
            fn list_tools() -> ::std::vec::Vec<$crate::bindings::weft::mcp::types::ToolInfo> {
                $crate::adapter::__list($tools)
            }
            fn call_tool(
                tool: ::std::string::String,
                args: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::weft::mcp::types::CallError,
            > {
                $crate::adapter::__call($tools, &tool, &args)
            }
        }
        $crate::__export_adapter!(__WeftAdapter);
    };
}
