//! An adapter with one tool, `echo`, which answers `Echo: MESSAGE` as
//! server-everything's `echo` does.

use weft_guest::adapter::*;
use weft_guest::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Echo {
    /// The text to send back.
    message: String,
}

fn echo(a: Echo) -> Result<Value, Error> {
    Ok(Value::String(format!("Echo: {}", a.message)))
}

fn tools() -> Tools {
    Tools::new()
        .tool("echo", "Echoes back the input", echo)
        .read_only()
}

weft_guest::adapter!(tools);
