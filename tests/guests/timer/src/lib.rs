//! A benchmark policy: `{"n", "server", "tool"}` makes `n` sequential calls
//! of `server.tool` with `{"message": i}` twice over, timing each call with
//! the guest's monotonic clock (WASI), and returns
//! `{"ns": [...], "import_ns": [...]}` in nanoseconds per call:
//! - `ns`: a call through the SDK as a policy makes it, from building the
//!   arguments to holding the parsed result;
//! - `import_ns`: the bare `call-tool` import, its arguments' JSON text
//!   built before the clock starts and its result text left unparsed: the
//!   crossing into the host and everything the host does, without the
//!   guest's own JSON work.

use std::time::Instant;

use weft_guest::bindings::weft::mcp::tools;
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
    let mut import_ns = Vec::with_capacity(n as usize);
    for i in 0..n {
        let args = json!({"message": i.to_string()}).to_string();
        let t = Instant::now();
        let r = tools::call_tool(server, tool, &args);
        import_ns.push(t.elapsed().as_nanos() as u64);
        if let Err(e) = std::hint::black_box(r) {
            return Err(Error::msg(format!("{}: {}", tool, e.message)));
        }
    }
    Ok(json!({ "ns": ns, "import_ns": import_ns }))
}

weft_guest::policy!(run);
