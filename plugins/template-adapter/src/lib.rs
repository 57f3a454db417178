//! The smallest useful adapter: copy this crate to start a new one.
//!
//! It offers two tools. `greet` answers from its own code and its config
//! (`[servers.NAME.config] greeting = "..."`); `shout` is built on another
//! server's tool (server-everything's `echo`, granted to the adapter as
//! `grants = ["everything.echo"]`).

use weft_guest::adapter::*;
use weft_guest::prelude::*;

/// `greet`'s arguments; the doc comments become the schema's descriptions.
#[derive(Deserialize, JsonSchema)]
struct Greet {
    /// Whom to greet.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct Shout {
    /// What to say, louder.
    message: String,
}

fn greet(args: Greet) -> Result<Value, Error> {
    let greeting = config()["greeting"].as_str().unwrap_or("Hello").to_string();
    Ok(Value::String(format!("{greeting}, {}!", args.name)))
}

fn shout(args: Shout) -> Result<Value, Error> {
    let echoed = call(
        "everything",
        "echo",
        json!({ "message": args.message.to_uppercase() }),
    )?;
    Ok(json!({ "shouted": echoed.text() }))
}

fn tools() -> Tools {
    Tools::new()
        .tool("greet", "Greets someone by name", greet)
        .read_only()
        .tool(
            "shout",
            "Says a message louder, through server-everything's echo",
            shout,
        )
}

weft_guest::adapter!(tools);
