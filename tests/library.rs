//! weft as a library: the book's embedding example (`examples/embed.rs`,
//! quoted in `docs/library.md`) is the file that runs here, and it runs:
//! a hub over server-everything, a call, a call whose sampling request the
//! program answers, a policy component, and `weft serve --http` in-process.

use crate::support::*;

#[test]
fn the_library_chapter_quotes_the_embedding_example() {
    let doc = std::fs::read_to_string(repo_root().join("docs/library.md")).unwrap();
    let quoted = crate::book::quoted_files(&doc);
    let paths: Vec<&str> = quoted.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["examples/embed.rs"]);
    let file = std::fs::read_to_string(repo_root().join("examples/embed.rs")).unwrap();
    assert_eq!(
        quoted[0].1, file,
        "docs/library.md's copy of examples/embed.rs differs"
    );
}

#[test]
fn the_embedding_example_runs_each_entry_point() {
    let dir = temp_dir();
    let config = dir.path().join("weft.toml");
    std::fs::write(
        &config,
        npm_entry("everything", "server-everything", &["stdio"]),
    )
    .unwrap();
    let example = example_bin("embed");
    let mut cmd = std::process::Command::new(&example);
    isolate(&mut cmd);
    cmd.arg(&config)
        .arg(guest_wasm("weft-policy-template"))
        .env("WEFT_LOG", "error")
        .stdin(std::process::Stdio::null());
    let out = cmd.output_timed().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog = npm_tool_count(&config);
    assert_eq!(
        stdout,
        format!(
            "catalog: {catalog} tools\necho: Echo: hi\nsampling answered: true\n\
             policy: \"Echo: from a policy\"\nserving: /health 200\n"
        )
    );
}

/// How many tools `weft tools` lists for `config`, as the example's own
/// count is checked against it.
fn npm_tool_count(config: &std::path::Path) -> usize {
    let out = weft()
        .arg("-c")
        .arg(config)
        .args(["tools", "--format", "mcp"])
        .output_timed()
        .unwrap();
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    tools["tools"].as_array().map_or(0, Vec::len)
}
