//! A daily stand-up report from four servers:
//! recent commits (`git`), the project's files (`files`), the date (`time`),
//! and the finished report stored in the knowledge graph (`memory`) so
//! tomorrow's run can refer to it.
//!
//! Input: `{"repo": "/path/to/repo", "dir": "/path/to/project", "timezone": "UTC"}`.

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let repo = input["repo"].as_str().ok_or_else(|| Error::msg("input.repo is required"))?;
    let dir = input["dir"].as_str().unwrap_or(repo);
    let zone = input["timezone"].as_str().unwrap_or("UTC");

    // The three reads are independent: ask all at once.
    let mut results = call_all([
        ("time", "get_current_time", json!({ "timezone": zone })),
        ("git", "git_log", json!({ "repo_path": repo, "max_count": 5 })),
        ("files", "list_directory", json!({ "path": dir })),
    ])
    .into_iter();
    let now = results.next().ok_or_else(|| Error::msg("no time result"))??;
    let commits_result = results.next().ok_or_else(|| Error::msg("no git result"))??;
    let files = results.next().ok_or_else(|| Error::msg("no files result"))??;

    let date = now.value().and_then(|v| v["datetime"].as_str().map(|d| d.chars().take(10).collect::<String>())).unwrap_or_default();
    let commits: Vec<String> = commits_result
        .text()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Message:").map(|m| m.trim().trim_matches('\'').to_string()))
        .collect();
    let file_count = files.text().lines().filter(|l| l.starts_with("[FILE]")).count();
    let dir_count = files.text().lines().filter(|l| l.starts_with("[DIR]")).count();

    let mut report = format!("Stand-up {date}\n\nYesterday's commits:\n");
    for c in &commits {
        report.push_str(&format!("- {c}\n"));
    }
    report.push_str(&format!("\nThe project has {file_count} files and {dir_count} folders at the top level.\n"));

    let entity = format!("standup {date}");
    call(
        "memory",
        "create_entities",
        json!({ "entities": [{ "name": entity, "entityType": "standup", "observations": [report] }] }),
    )?;
    log("info", format!("stored the report as {entity:?}"));
    Ok(json!({ "date": date, "commits": commits, "files": file_count, "report": report, "stored_as": entity }))
}

weft_guest::policy!(run);
