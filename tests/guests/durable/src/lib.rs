//! A durable-run test policy. Input `{"server", "writes": N, "stamp": bool,
//! "parallel": bool}`: it makes N writes, `tool_0` … `tool_{N-1}` of
//! `server`, one after another (or all at once in one `call-tools` with
//! `parallel`), logging each, and returns `{"results": [texts]}`.
//!
//! With `stamp`, it first reads the wall clock and the order in which a
//! `HashMap` (seeded from `wasi:random`) lists 0..16, puts both in every
//! write's text and in the output, and branches on the clock: an even
//! nanosecond count writes `even`, an odd one `odd`. A replay that read a
//! fresh clock would then differ from the journal.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let server = input["server"].as_str().unwrap_or("w").to_string();
    let writes = input["writes"].as_u64().unwrap_or(3);
    let mut out = json!({});
    let mut tag = String::new();
    if input["stamp"].as_bool().unwrap_or(false) {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let map: HashMap<u32, ()> = (0..16).map(|i| (i, ())).collect();
        let order: Vec<String> = map.keys().map(|k| k.to_string()).collect();
        let order = order.join(",");
        let branch = if nanos % 2 == 0 { "even" } else { "odd" };
        tag = format!(" {branch} {nanos} {order}");
        out["stamp"] = json!(nanos.to_string());
        out["order"] = json!(order);
        out["branch"] = json!(branch);
    }
    let texts: Vec<(String, Value)> = (0..writes)
        .map(|i| {
            (
                format!("tool_{i}"),
                json!({"text": format!("write {i}{tag}")}),
            )
        })
        .collect();
    let mut results = Vec::new();
    if input["parallel"].as_bool().unwrap_or(false) {
        let calls = texts
            .iter()
            .map(|(tool, args)| (server.as_str(), tool.as_str(), args.clone()));
        for r in call_all(calls) {
            results.push(json!(r.map_err(|e| Error::msg(e.message))?.text()));
        }
    } else {
        for (tool, args) in &texts {
            log("info", format!("writing {tool}"));
            let r = call(&server, tool, args.clone()).map_err(|e| Error::msg(e.message))?;
            results.push(json!(r.text()));
        }
    }
    out["results"] = json!(results);
    Ok(out)
}

weft_guest::policy!(run);
