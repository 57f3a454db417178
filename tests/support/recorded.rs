//! What the trust-on-the-wire tests share: the shifting server (a Python
//! SDK server whose tools come from a file and which records every call it
//! gets, `tests/fixtures/python/shifting_server.py`), the lines a recording
//! server wrote, and weft's audit records by route.

use std::path::Path;

use serde_json::Value;

use super::{command_entry, repo_root, venv_bin};

/// A `[servers.NAME]` table for the shifting server: it offers the tools in
/// the JSON object at `tools` (name to description), read at each start,
/// and writes one line per call it gets to `record`.
pub fn shifting_entry(name: &str, tools: &Path, record: &Path) -> String {
    let server = repo_root().join("tests/fixtures/python/shifting_server.py");
    command_entry(
        name,
        &venv_bin("python"),
        &[
            &server.display().to_string(),
            &tools.display().to_string(),
            "--record",
            &record.display().to_string(),
        ],
    )
}

/// The lines a recording server wrote to `record` (none if it never
/// wrote).
pub fn recorded(record: &Path) -> Vec<String> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// weft's audit log at `path`, one JSON record per line.
pub fn audit_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the audit log {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The records of one route (`approval`, `tool-call`, ...).
pub fn on_route<'a>(records: &'a [Value], route: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["route"] == route).collect()
}
