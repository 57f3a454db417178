//! A benchmark policy: `{"n", "server", "tool"}` makes `n` sequential calls
//! of `server.tool` with `{"message": i}`, timing each one with the
//! guest's monotonic clock (WASI), and returns `{"ns": [nanoseconds per
//! call]}`: the latency of `call-tool` as the guest sees it, from building
//! the arguments to holding the parsed result.

use std::time::Instant;

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let n = input["n"].as_u64().unwrap_or(100);
    let server = input["server"].as_str().unwrap_or("echo");
    let tool = input["tool"].as_str().unwrap_or("echo");
    let mut ns = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = Instant::now();
        let r = call(server, tool, json!({"message": i.to_string()}))?;
        std::hint::black_box(r);
        ns.push(t.elapsed().as_nanos() as u64);
    }
    Ok(json!({ "ns": ns }))
}

weft_guest::policy!(run);
