//! HTTP upstreams: server-everything in its streamable HTTP mode and in its
//! legacy HTTP+SSE mode, through one hub.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::*;
use weft::Hub;
use weft::upstream::State;

fn everything_http(mode: &str) -> (Background, u16) {
    everything_http_on(mode, free_port())
}

fn everything_http_on(mode: &str, port: u16) -> (Background, u16) {
    let bg = Background::spawn(
        Command::new("node")
            .arg(npm_server("server-everything"))
            .arg(mode)
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    wait_for_port(port, Duration::from_secs(20));
    (bg, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_and_legacy_sse_upstreams() {
    let (_http, http_port) = everything_http("streamableHttp");
    let (_sse, sse_port) = everything_http("sse");
    let dir = temp_dir();
    let text = format!(
        "[servers.remote]\nurl = \"http://127.0.0.1:{http_port}/mcp\"\nheaders = {{ X-Test = \"weft\" }}\n\
         [servers.legacy]\nurl = \"http://127.0.0.1:{sse_port}/sse\"\ntransport = \"sse\"\n"
    );
    let hub = Hub::start(config(dir.path(), &text)).await;
    for name in ["remote", "legacy"] {
        let s = hub.upstream(name).unwrap().status();
        assert_eq!(s.state, State::Up, "{name}: {:?}", s.state);
        assert!(s.tools >= 10, "{name} lists its tools");
    }
    assert_eq!(hub.upstream("remote").unwrap().status().transport, "http");
    assert_eq!(hub.upstream("legacy").unwrap().status().transport, "sse");
    for server in ["remote", "legacy"] {
        for i in 0..3 {
            let msg = format!("{server} {i}");
            let r = hub
                .call_tool(server, "echo", json!({"message": msg}).as_object().cloned())
                .await
                .unwrap();
            assert_eq!(text_of(&r), format!("Echo: {msg}"));
        }
        let sum = hub
            .call_tool(
                server,
                "get-sum",
                json!({"a": 2, "b": 40}).as_object().cloned(),
            )
            .await
            .unwrap();
        assert!(text_of(&sum).contains("42"), "{}", text_of(&sum));
    }
    assert!(hub.catalog().tool_by_exposed("legacy__echo").is_some());
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_is_not_there_is_reported() {
    let dir = temp_dir();
    let port = free_port();
    let text = format!(
        "[settings]\nstartup_timeout = \"5s\"\n[servers.gone]\nurl = \"http://127.0.0.1:{port}/mcp\"\n\
         [servers.gone_sse]\nurl = \"http://127.0.0.1:{port}/sse\"\ntransport = \"sse\"\n"
    );
    let hub = Hub::start_unsupervised(config(dir.path(), &text)).await;
    for name in ["gone", "gone_sse"] {
        let State::Failed { error } = hub.upstream(name).unwrap().state() else {
            panic!("{name} should fail")
        };
        assert!(
            error.reason.contains(&port.to_string()),
            "{name}: {}",
            error.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_goes_away_is_reconnected() {
    let (server, port) = everything_http("streamableHttp");
    let dir = temp_dir();
    let text = format!(
        "[servers.remote]\nurl = \"http://127.0.0.1:{port}/mcp\"\n\
         [servers.remote.restart]\ninitial = \"200ms\"\nmax = \"1s\"\nmax_attempts = 0\n"
    );
    let hub = Hub::start(config(dir.path(), &text)).await;
    let echo = |m: &str| json!({"message": m}).as_object().cloned();
    let r = hub
        .call_tool("remote", "echo", echo("before"))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "Echo: before");

    drop(server);
    let e = hub
        .call_tool("remote", "echo", echo("gone"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, weft::ErrorKind::Unavailable, "{e}");
    let up = hub.upstream("remote").unwrap().clone();
    let start = std::time::Instant::now();
    while !matches!(up.state(), State::BackingOff { .. }) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            up.state()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The server comes back on the same address; so does the connection.
    let (_server, _) = everything_http_on("streamableHttp", port);
    let start = std::time::Instant::now();
    while up.state() != State::Up {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            up.state()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up.status().restarts >= 1);
    let r = hub
        .call_tool("remote", "echo", echo("after"))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "Echo: after");
    hub.shutdown().await;
}
