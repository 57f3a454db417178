//! A loop with error handling: call a tool for every item, retry a tool
//! error a few times, and give up cleanly with a partial result instead of
//! failing the whole run.
//!
//! Input: `{"server": "time", "tool": "convert_time", "attempts": 3,
//!          "items": [{...args...}, ...]}`.
//! Output: `{"done": [...], "failed": [{"item": i, "kind": ..., "attempts": n}], "partial": bool}`.

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let server = input["server"].as_str().ok_or_else(|| Error::msg("input.server is required"))?;
    let tool = input["tool"].as_str().ok_or_else(|| Error::msg("input.tool is required"))?;
    let attempts = input["attempts"].as_u64().unwrap_or(3).max(1);
    let items = input["items"].as_array().cloned().unwrap_or_default();
    let mut done = vec![];
    let mut failed = vec![];
    for (i, args) in items.iter().enumerate() {
        let mut last = None;
        for attempt in 1..=attempts {
            match call(server, tool, args.clone()) {
                Ok(r) => {
                    done.push(json!({ "item": i, "attempts": attempt, "result": r.value().unwrap_or(Value::String(r.text())) }));
                    last = None;
                    break;
                }
                // Only a tool error or a passing fault is worth another try;
                // a denied or unknown tool will not change its mind.
                Err(e) if matches!(e.kind, ErrorKind::ToolError | ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::RateLimited) => {
                    log("warn", format!("item {i}, attempt {attempt}: {e}"));
                    last = Some((e, attempt));
                }
                Err(e) => {
                    last = Some((e, attempt));
                    break;
                }
            }
        }
        if let Some((e, n)) = last {
            failed.push(json!({ "item": i, "kind": e.kind.to_string(), "message": e.message, "attempts": n }));
        }
        progress((i + 1) as f64, Some(items.len() as f64), None);
    }
    let partial = !failed.is_empty();
    Ok(json!({ "done": done, "failed": failed, "partial": partial }))
}

weft_guest::policy!(run);
