//! A test adapter. Well-behaved tools: `echo`, `call` (a nested call),
//! `config` (its own config). Hostile ones, each to be contained to its
//! call: `spin` (loops forever), `hoard` (allocates until stopped), `huge`
//! (returns `bytes` bytes), `flood` (calls `everything.echo` without end).
//! With `trap_at_load = true` in its config, `list-tools` panics, so the
//! component fails to load.

use std::hint::black_box;

use weft_guest::adapter::*;
use weft_guest::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Echo {
    /// The text to send back.
    message: String,
}

#[derive(Deserialize, JsonSchema)]
struct Nested {
    server: String,
    tool: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

#[derive(Deserialize, JsonSchema)]
struct Size {
    bytes: u64,
}

fn echo(a: Echo) -> Result<Value, Error> {
    Ok(Value::String(a.message))
}

fn nested(a: Nested) -> Result<Value, Error> {
    match call(&a.server, &a.tool, a.args.unwrap_or(Value::Null)) {
        Ok(r) => Ok(json!({"ok": true, "text": r.text()})),
        Err(e) => Ok(json!({"ok": false, "kind": e.kind.to_string(), "message": e.message})),
    }
}

fn own_config(_: Nothing) -> Result<Value, Error> {
    Ok(json!({"config": config()}))
}

fn spin(_: Nothing) -> Result<Value, Error> {
    let mut x: u64 = 0;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn hoard(_: Nothing) -> Result<Value, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = 1;
        hoard.push(black_box(chunk));
    }
}

fn huge(a: Size) -> Result<Value, Error> {
    Ok(Value::String("x".repeat(a.bytes as usize)))
}

fn flood(_: Nothing) -> Result<Value, Error> {
    let mut n = 0u64;
    loop {
        let _ = call("everything", "echo", json!({"message": n.to_string()}));
        n += 1;
    }
}

fn tools() -> Tools {
    if config()["trap_at_load"] == json!(true) {
        panic!("trap_at_load is set: this adapter refuses to load");
    }
    Tools::new()
        .tool("echo", "Returns its message", echo)
        .read_only()
        .tool(
            "call",
            "Calls server.tool with args and reports the outcome",
            nested,
        )
        .tool("config", "Returns the adapter's config", own_config)
        .tool("spin", "Loops forever", spin)
        .tool("hoard", "Allocates memory until stopped", hoard)
        .tool("huge", "Returns `bytes` bytes of text", huge)
        .tool("flood", "Calls everything.echo without end", flood)
}

weft_guest::adapter!(tools);
