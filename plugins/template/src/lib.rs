//! The smallest useful policy: copy this crate to start a new one.
//!
//! Input: `{"message": "..."}`. Output: what server-everything's `echo`
//! tool (granted as `everything.echo`) answers, and the tools this policy
//! may call.

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let message = input["message"].as_str().unwrap_or("hello from a weft policy");
    let echoed = call("everything", "echo", json!({ "message": message }))?;
    let tools: Vec<String> = list_tools(None).into_iter().map(|t| format!("{}.{}", t.server, t.name)).collect();
    Ok(json!({ "echo": echoed.text(), "granted": tools }))
}

weft_guest::policy!(run);
