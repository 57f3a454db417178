//! Fan-out/fan-in: ask several servers at once and merge their answers into
//! one snapshot. All calls go out concurrently (`call_all`), so the run
//! takes as long as the slowest server, not the sum.
//!
//! Input: `{"repo": "/path/to/repo", "timezones": ["UTC", "Asia/Tokyo"]}`.

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let repo = input["repo"].as_str().ok_or_else(|| Error::msg("input.repo (a git repository path) is required"))?;
    let zones: Vec<String> = match input["timezones"].as_array() {
        Some(z) => z.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        None => vec!["UTC".into()],
    };
    let mut calls: Vec<(&str, &str, Value)> = vec![
        ("git", "git_status", json!({ "repo_path": repo })),
        ("git", "git_log", json!({ "repo_path": repo, "max_count": 3 })),
        ("memory", "read_graph", json!({})),
    ];
    for zone in &zones {
        calls.push(("time", "get_current_time", json!({ "timezone": zone })));
    }
    progress(0.0, Some(calls.len() as f64), Some("asking every server at once"));
    let results = call_all(calls.clone());
    let mut merged = Map::new();
    let mut times = Map::new();
    let mut failures = vec![];
    for ((server, tool, _), result) in calls.iter().zip(results) {
        match result {
            Ok(r) if *tool == "get_current_time" => {
                let v = r.value().unwrap_or(Value::String(r.text()));
                let zone = v["timezone"].as_str().unwrap_or("?").to_string();
                times.insert(zone, v["datetime"].clone());
            }
            Ok(r) => {
                merged.insert(format!("{server}.{tool}"), r.value().unwrap_or(Value::String(r.text())));
            }
            Err(e) => failures.push(json!({ "call": format!("{server}.{tool}"), "kind": e.kind.to_string(), "message": e.message })),
        }
    }
    merged.insert("times".into(), Value::Object(times));
    merged.insert("failures".into(), Value::Array(failures));
    Ok(Value::Object(merged))
}

weft_guest::policy!(run);
