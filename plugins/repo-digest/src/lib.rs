//! `repo_digest(repo)`: what an agent would otherwise gather in four round
//! trips, as one tool. It asks three servers at once, through the
//! adapter's grants (`git.git_log`, `git.git_status`,
//! `files.list_directory`, `time.get_current_time`), and returns one
//! digest: when it was made, the latest commits, the working tree's state
//! and the top-level entries.
//!
//! The servers are named `git`, `files` and `time` unless
//! `[servers.NAME.config]` says otherwise (`git = "..."`, `files = "..."`,
//! `time = "..."`); `commits` (default 5) is how many commits to list.

use weft_guest::adapter::*;
use weft_guest::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Digest {
    /// The repository's path, as the git and filesystem servers see it.
    repo: String,
}

/// The server a role is served by: the config's name for it, else `role`.
fn server(config: &Value, role: &str) -> String {
    config[role].as_str().unwrap_or(role).to_string()
}

/// The commit messages in mcp-server-git's `git_log` text.
fn messages(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("Message:"))
        .map(|m| m.trim().trim_matches('\'').to_string())
        .collect()
}

fn digest(args: Digest) -> Result<Value, Error> {
    let config = config();
    let (git, files, time) = (
        server(&config, "git"),
        server(&config, "files"),
        server(&config, "time"),
    );
    let commits = config["commits"].as_u64().unwrap_or(5).clamp(1, 50);
    let repo = args.repo;
    let mut results = call_all([
        (
            time.as_str(),
            "get_current_time",
            json!({"timezone": "UTC"}),
        ),
        (
            git.as_str(),
            "git_log",
            json!({"repo_path": repo, "max_count": commits}),
        ),
        (git.as_str(), "git_status", json!({"repo_path": repo})),
        (files.as_str(), "list_directory", json!({"path": repo})),
    ])
    .into_iter();
    let mut next = |what: &str| {
        results
            .next()
            .ok_or_else(|| Error::msg(format!("no answer for {what}")))?
            .map_err(|e| {
                Error::msg(format!(
                    "{}.{}: {}: {}",
                    e.server, e.tool, e.kind, e.message
                ))
            })
    };
    let now = next("the time")?;
    let log = next("the log")?;
    let status = next("the status")?;
    let listing = next("the listing")?;
    let entries: Vec<String> = listing
        .text()
        .lines()
        .filter(|l| l.starts_with("[FILE]") || l.starts_with("[DIR]"))
        .map(str::to_string)
        .collect();
    Ok(json!({
        "repo": repo,
        "generated_at": now.value().map(|v| v["datetime"].clone()).unwrap_or(Value::Null),
        "commits": messages(&log.text()),
        "status": status.text(),
        "entries": entries,
    }))
}

fn tools() -> Tools {
    Tools::new()
        .tool(
            "repo_digest",
            "A digest of a git repository in one call: the latest commits, the working tree's status, the top-level files and the time it was made",
            digest,
        )
        .read_only()
}

weft_guest::adapter!(tools);
