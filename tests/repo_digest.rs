//! The composite adapter `plugins/repo-digest`: one tool, `repo_digest`,
//! built on three real servers (mcp-server-git, server-filesystem,
//! mcp-server-time) that it reaches through its grants, called through
//! the router, and by the Python SDK as an agent through `weft serve`.

use serde_json::{Value, json};

use crate::support::*;

/// One call gathers the commits, the status, the listing and the time
/// from the three servers; an entry whose grants leave out a server it
/// needs is refused that call, and the digest fails with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_digest_gathers_git_files_and_time_in_one_call() {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir repo");
    git_repo(&repo);
    let wasm = q(guest_wasm("weft-repo-digest").display().to_string());
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &command_entry(
        "git",
        &venv_bin("mcp-server-git"),
        &["--repository", &repo.display().to_string()],
    );
    text += &sandbox_write(&[&repo]);
    text += &npm_entry("files", "server-filesystem", &[&repo.display().to_string()]);
    text += &sandbox_read(&[&repo]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text += &format!(
        "[servers.digest]\ncomponent = {wasm}\ngrants = [\"git.git_log\", \"git.git_status\", \"files.list_directory\", \"time.get_current_time\"]\n[servers.digest.config]\ncommits = 2\n"
    );
    text += &format!("[servers.nofiles]\ncomponent = {wasm}\ngrants = [\"git.*\", \"time.*\"]\n");
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let hub = within(
        "the hub starts",
        weft::Hub::start(config(dir.path(), &text)),
    )
    .await;
    let args = json!({"repo": repo.display().to_string()});
    let r = within(
        "repo_digest",
        hub.call_tool("digest", "repo_digest", args.as_object().cloned()),
    )
    .await
    .unwrap_or_else(|e| panic!("repo_digest fails: {e}"));
    let digest: Value = serde_json::from_str(&text_of(&r)).expect("a JSON digest");
    assert_eq!(digest["repo"], json!(repo.display().to_string()));
    assert_eq!(
        digest["commits"],
        json!(["fix typo in notes", "add notes"]),
        "{digest}"
    );
    assert_eq!(digest["entries"], json!(["[DIR] .git", "[FILE] notes.txt"]));
    let status = digest["status"].as_str().expect("a status");
    assert!(
        status.contains("nothing to commit, working tree clean"),
        "{status}"
    );
    let when = digest["generated_at"].as_str().expect("a time");
    assert!(
        when.len() >= 19 && when.as_bytes()[10] == b'T',
        "not an ISO time: {when}"
    );

    let e = within(
        "repo_digest without files",
        hub.call_tool("nofiles", "repo_digest", args.as_object().cloned()),
    )
    .await
    .expect_err("the listing is not granted");
    assert_eq!(e.kind, weft::ErrorKind::ToolError, "{e}");
    assert_eq!(
        e.message,
        "files.list_directory: denied: the adapter's grants do not allow files.list_directory \
         (an adapter's grants are servers.nofiles.grants in the config)"
    );
    hub.shutdown().await;

    // The same one tool, as agents call it: the Python SDK through
    // `weft serve` over stdio, in both eras.
    let file = dir.path().join("weft.toml");
    std::fs::write(&file, &text).expect("write the config");
    let argv = json!([
        target_bin("weft").display().to_string(),
        "--config",
        file.display().to_string(),
        "serve"
    ]);
    for mode in ["legacy", "2026-07-28"] {
        let out = tokio::task::spawn_blocking({
            let (argv, args) = (argv.to_string(), args.clone());
            move || {
                crate::serve::agent(
                    &argv,
                    mode,
                    "call",
                    json!({"tool": "digest__repo_digest", "args": args}),
                )
            }
        })
        .await
        .expect("the agent runs");
        assert_eq!(out["error"], false, "{mode}: {out}");
        let digest: Value = serde_json::from_str(out["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            digest["commits"],
            json!(["fix typo in notes", "add notes"]),
            "{mode}: {digest}"
        );
        assert_eq!(
            digest["entries"],
            json!(["[DIR] .git", "[FILE] notes.txt"]),
            "{mode}"
        );
    }
}
