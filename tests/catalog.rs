//! One merged catalog across real MCP servers of all three protocol
//! revisions, two instances of one server, cross-server calls, pagination,
//! and tool errors told apart from protocol errors.

use crate::support::*;
use serde_json::json;
use weft::State;
use weft::{ErrorKind, Hub};

fn obj(v: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
    v.as_object().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_catalog_across_three_protocol_revisions() {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git_repo(&repo);
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("hello.txt"),
        "hello from the filesystem server\n",
    )
    .unwrap();
    let pg = Postgres::start();

    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry(
        "files",
        "server-filesystem",
        &[&files.display().to_string()],
    );
    text += &sandbox_write(&[&files]);
    text += &memory_entry("mem_a", &dir.path().join("a"));
    text += &memory_entry("mem_b", &dir.path().join("b"));
    text += &npm_entry("postgres", "server-postgres", &[&pg.url()]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text += &command_entry(
        "git",
        &venv_bin("mcp-server-git"),
        &["--repository", &repo.display().to_string()],
    );
    text += &sandbox_write(&[&repo]);
    let hub = Hub::start(config(dir.path(), &text)).await;

    // Every server is up, and each era was detected.
    let status = hub.status();
    for s in &status {
        assert_eq!(s.state, State::Up, "{} is not up: {:?}", s.name, s.state);
    }
    let protocol = |name: &str| {
        status
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.protocol.clone())
            .unwrap()
    };
    assert_eq!(protocol("postgres"), "2024-11-05");
    assert_eq!(protocol("everything"), "2025-11-25");
    assert_eq!(protocol("time"), "2026-07-28");
    assert_eq!(protocol("git"), "2026-07-28");

    // One catalog with every server's tools under server__tool names.
    let catalog = hub.catalog();
    for name in [
        "everything__echo",
        "files__read_text_file",
        "mem_a__create_entities",
        "mem_b__create_entities",
        "postgres__query",
        "time__get_current_time",
        "git__git_log",
    ] {
        assert!(
            catalog.tool_by_exposed(name).is_some(),
            "{name} missing from the catalog"
        );
    }
    let servers: std::collections::BTreeSet<&str> =
        catalog.tools().iter().map(|t| &*t.server).collect();
    assert_eq!(servers.len(), 7);
    for t in catalog.tools() {
        assert!(
            t.exposed.len() <= 64
                && t.exposed
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }
    // Read-only classification comes from the servers' annotations.
    assert!(catalog.tool("files", "read_text_file").unwrap().read_only);
    assert!(!catalog.tool("files", "write_file").unwrap().read_only);
    // Resources are namespaced reversibly.
    let pg_res = catalog
        .resources()
        .iter()
        .find(|r| &*r.server == "postgres")
        .expect("postgres lists table schemas");
    assert!(pg_res.exposed.starts_with("postgres+"));
    assert_eq!(
        catalog.resolve_uri(&pg_res.exposed),
        Some((pg_res.server.clone(), pg_res.item.uri.clone()))
    );
    assert!(
        !catalog.prompts().is_empty(),
        "server-everything offers prompts"
    );

    // Calls across servers, with nothing of the result lost.
    let echo = hub
        .call_tool("everything", "echo", obj(json!({"message": "hi"})))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "Echo: hi");
    let rows = hub
        .call_tool(
            "postgres",
            "query",
            obj(json!({"sql": "select name from widgets order by id"})),
        )
        .await
        .unwrap();
    assert!(
        text_of(&rows).contains("alpha") && text_of(&rows).contains("gamma"),
        "{}",
        text_of(&rows)
    );
    let now = hub
        .call_exposed("time__get_current_time", obj(json!({"timezone": "UTC"})))
        .await
        .unwrap();
    assert!(text_of(&now).contains("UTC"), "{}", text_of(&now));
    let log = hub
        .call_tool(
            "git",
            "git_log",
            obj(json!({"repo_path": repo.display().to_string(), "max_count": 5})),
        )
        .await
        .unwrap();
    assert!(
        text_of(&log).contains("fix typo in notes"),
        "{}",
        text_of(&log)
    );
    let file = hub
        .call_tool(
            "files",
            "read_text_file",
            obj(json!({"path": files.join("hello.txt").display().to_string()})),
        )
        .await
        .unwrap();
    assert_eq!(text_of(&file).trim(), "hello from the filesystem server");
    let structured = hub
        .call_tool(
            "everything",
            "get-structured-content",
            obj(json!({"location": "New York"})),
        )
        .await
        .unwrap();
    assert!(
        structured.structured_content.is_some(),
        "structuredContent is kept"
    );

    // Two instances of one server are independent.
    hub.call_tool("mem_a", "create_entities", obj(json!({"entities": [{"name": "weft", "entityType": "project", "observations": ["a gateway"]}]})))
        .await
        .unwrap();
    let a = hub
        .call_tool("mem_a", "read_graph", obj(json!({})))
        .await
        .unwrap();
    let b = hub
        .call_tool("mem_b", "read_graph", obj(json!({})))
        .await
        .unwrap();
    assert!(text_of(&a).contains("weft"));
    assert!(
        !text_of(&b).contains("weft"),
        "mem_b must not see mem_a's graph: {}",
        text_of(&b)
    );

    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_errors_protocol_errors_and_unknown_names() {
    let dir = temp_dir();
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry(
        "files",
        "server-filesystem",
        &[&dir.path().display().to_string()],
    );
    text += &sandbox_read(&[dir.path()]);
    let hub = Hub::start(config(dir.path(), &text)).await;

    // A tool error: the tool ran and said isError; the whole result is kept.
    let missing = dir.path().join("no-such-file.txt").display().to_string();
    let e = hub
        .call_tool("files", "read_text_file", obj(json!({"path": missing})))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ToolError, "{e}");
    assert_eq!(
        (e.server.as_str(), e.tool.as_str()),
        ("files", "read_text_file")
    );
    let result = serde_json::to_value(
        e.result
            .expect("the tool's own result travels with the error"),
    )
    .expect("a result serialises");
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-file"),
        "{result}"
    );

    // Arguments that fail the tool's input schema are refused by weft
    // before they go out (`validate_args`, on by default), with the JSON
    // pointer of each bad value; the server never sees them.
    for (tool, args, why) in [
        (
            "get-sum",
            obj(json!({"a": "not a number"})),
            r#"at /: "b" is a required property; at /a: "not a number" is not of type "number""#,
        ),
        ("echo", None, r#"at /: "message" is a required property"#),
    ] {
        let e = hub.call_tool("everything", tool, args).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgs, "{tool}: {e}");
        assert_eq!(
            e.message,
            format!("the arguments do not fit the tool's inputSchema: {why}"),
            "{tool}"
        );
        assert!(e.result.is_none(), "{tool}: nothing came from the server");
    }

    // Unknown names never reach a server, and say what was meant.
    let e = hub.call_tool("everything", "ecko", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("did you mean \"echo\""), "{}", e.message);
    let e = hub.call_tool("everythin", "echo", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("everything"), "{}", e.message);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginated_lists_are_followed_to_the_end() {
    let dir = temp_dir();
    let text = command_entry(
        "paged",
        &target_bin("weft-faulty-server"),
        &["--tools", "120", "--page-size", "7"],
    );
    let hub = Hub::start(config(dir.path(), &text)).await;
    let catalog = hub.catalog();
    // 120 numbered tools (beside the fixture's fixed ones), 7 a page:
    // every page was followed, and each tool is there once.
    let mut numbered: Vec<&str> = catalog
        .tools()
        .iter()
        .map(|t| t.name())
        .filter(|n| n.starts_with("tool_"))
        .collect();
    numbered.sort_unstable();
    numbered.dedup();
    assert_eq!(numbered.len(), 120);
    assert!(catalog.tool("paged", "tool_119").is_some());
    assert_eq!(catalog.resources().len(), 120);
    let r = hub
        .call_tool("paged", "tool_118", obj(json!({"text": "x"})))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "tool_118: x");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_exclude_globs_and_no_prefix_collisions() {
    let dir = temp_dir();
    let server = target_bin("weft-faulty-server");
    let mut text = String::from("[settings]\nnames = \"none\"\n");
    text += &command_entry("low", &server, &["--tools", "2", "--name", "low"]);
    text += "priority = 1\nexclude = [\"tool_*\"]\n";
    text += &command_entry("high", &server, &["--tools", "3", "--name", "high"]);
    text += "priority = 9\ninclude = [\"echo\", \"tool_*\"]\n";
    let hub = Hub::start(config(dir.path(), &text)).await;
    let catalog = hub.catalog();
    // `echo` is on both: the higher priority wins, and the clash is reported.
    assert_eq!(&*catalog.tool_by_exposed("echo").unwrap().server, "high");
    let c = catalog
        .collisions()
        .iter()
        .find(|c| c.name == "echo")
        .expect("collision reported");
    assert_eq!(c.hidden, vec!["low".to_string()]);
    // Filters: high offers only echo and tool_*; low offers no tool_*.
    assert!(catalog.tool("high", "fail").is_none());
    assert_eq!(&*catalog.tool_by_exposed("fail").unwrap().server, "low");
    assert_eq!(&*catalog.tool_by_exposed("tool_2").unwrap().server, "high");
    let e = hub.call_tool("high", "fail", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("filter"), "{}", e.message);
    hub.shutdown().await;
}
