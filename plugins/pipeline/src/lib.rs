//! A pipeline across servers: each step's output is the next step's input.
//!
//! 1. `git.git_log` reads the latest commits of a repository;
//! 2. their messages become entities in `memory` (`create_entities`);
//! 3. `files.write_file` writes a changelog built from them;
//! 4. `memory.search_nodes` finds them again, to prove the round trip.
//!
//! Input: `{"repo": "/path/to/repo", "changelog": "/allowed/dir/CHANGES.md", "max": 5}`.

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let repo = input["repo"].as_str().ok_or_else(|| Error::msg("input.repo is required"))?;
    let changelog = input["changelog"].as_str().ok_or_else(|| Error::msg("input.changelog (a file path) is required"))?;
    let max = input["max"].as_u64().unwrap_or(5);

    let log = call("git", "git_log", json!({ "repo_path": repo, "max_count": max }))?;
    let commits = parse_commits(&log.text());
    if commits.is_empty() {
        return Err(Error::msg("git_log returned no commits"));
    }
    progress(1.0, Some(4.0), Some("read commits"));

    let entities: Vec<Value> = commits
        .iter()
        .map(|(hash, message)| json!({ "name": format!("commit {hash}"), "entityType": "commit", "observations": [message] }))
        .collect();
    call("memory", "create_entities", json!({ "entities": entities }))?;
    progress(2.0, Some(4.0), Some("stored commits in memory"));

    let mut text = String::from("# Changes\n\n");
    for (hash, message) in &commits {
        text.push_str(&format!("- {message} ({hash})\n"));
    }
    call("files", "write_file", json!({ "path": changelog, "content": text }))?;
    progress(3.0, Some(4.0), Some("wrote the changelog"));

    let found = call("memory", "search_nodes", json!({ "query": "commit" }))?;
    let found_count = found.value().and_then(|v| v["entities"].as_array().map(|a| a.len())).unwrap_or(0);
    Ok(json!({ "commits": commits.len(), "changelog": changelog, "entities_found": found_count }))
}

/// mcp-server-git prints `Commit: <hash>` … `Message: <text>` blocks.
fn parse_commits(log: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut hash = None;
    for line in log.lines() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix("Commit:") {
            hash = Some(h.trim().trim_matches('\'').chars().take(8).collect::<String>());
        } else if let Some(m) = line.strip_prefix("Message:") {
            if let Some(h) = hash.take() {
                out.push((h, m.trim().trim_matches('\'').to_string()));
            }
        }
    }
    out
}

weft_guest::policy!(run);
