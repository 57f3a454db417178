//! A `weft serve --http` over the recording fixture server
//! (`weft-faulty-server --record`), for the tests that read its status,
//! metrics and logs while they call through it: the fixture's record says
//! which calls reached the server.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use serde_json::Value;

use super::*;

/// The fixture server that fails on demand and records its calls.
pub fn faulty() -> PathBuf {
    target_bin("weft-faulty-server")
}

/// How many `tool` calls the fixture recorded at `path`.
pub fn recorded(path: &Path, tool: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(tool))
        .count()
}

/// A running `weft serve --http` over a recording fixture server.
pub struct Served {
    pub process: Background,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The fixture server's record of the calls it got.
    pub record: PathBuf,
    /// weft's stderr, line by line.
    pub stderr: Receiver<String>,
    _dir: tempfile::TempDir,
}

/// Every line of `pipe`, sent on as it comes, read on a thread of its own.
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `weft serve --http` over the recording fixture server started with
/// `flags`, with `extra` appended to its config.
pub fn serve(flags: &[&str], extra: &str) -> Served {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "fixture",
        &faulty(),
        &[
            &[
                "--record",
                &record.display().to_string(),
                "--name",
                "fixture",
            ],
            flags,
        ]
        .concat(),
    );
    text += extra;
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path())
        .stderr(std::process::Stdio::piped());
    let (mut process, base) = serve_weft_http(&mut cmd);
    let stderr = lines_of(process.0.stderr.take().expect("stderr is piped"));
    Served {
        process,
        base,
        record,
        stderr,
        _dir: dir,
    }
}

impl Served {
    pub async fn get(&self, path: &str) -> (String, String) {
        http_get(&format!("{}{path}", self.base)).await
    }

    pub async fn status(&self) -> Value {
        serde_json::from_str(&self.get("/status").await.1).expect("status is JSON")
    }

    pub async fn client(&self) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        use rmcp::ServiceExt;
        let transport =
            rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", self.base));
        let client = within("the client connects", ().serve(transport))
            .await
            .expect("client connects");
        // The test looks at weft's cache, so the client keeps none of its own.
        within(
            "the client's cache setting",
            client.set_response_cache_config(rmcp::ClientCacheConfig::disabled()),
        )
        .await;
        client
    }
}

/// GET over plain HTTP: (content type, body).
pub async fn http_get(url: &str) -> (String, String) {
    let url = url.to_string();
    let get = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(AWAIT)).unwrap();
        s.set_write_timeout(Some(AWAIT)).unwrap();
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let ctype = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_string)
            })
            .unwrap_or_default();
        // Small bodies; axum sends a length rather than chunks.
        (ctype, body.to_string())
    });
    within("an HTTP GET", get).await.unwrap()
}
