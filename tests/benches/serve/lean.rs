//! The leanest clients on both sides of the added-latency comparison:
//! one keep-alive HTTP/1.1 connection written and read in the timing task
//! itself (no pool, no connection task, no extra threads), and JSON-RPC
//! lines written straight to a server's stdin. What weft adds is then the
//! gateway and its hop, not the difference between two client libraries
//! (reqwest's dispatch to its connection task on one side, rmcp's service
//! task on the other).

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The body of a stateless `tools/call` of `echo` (2026-07-28: the
/// protocol version, client info and capabilities ride in `_meta`).
pub(super) const PLAIN_BODY: &str = concat!(
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","#,
    r#""arguments":{"message":"bench"},"_meta":{"#,
    r#""io.modelcontextprotocol/protocolVersion":"2026-07-28","#,
    r#""io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"#,
    r#""io.modelcontextprotocol/clientCapabilities":{}}}}"#
);

/// The largest answer read (an echo's is a few hundred bytes).
const MAX_ANSWER: usize = 1 << 20;

/// One keep-alive connection and the request it sends, unchanged, on
/// every call; or, [`LeanHttp::fresh`], a new connection for every call
/// (as rmcp's default HTTP client does).
pub(super) struct LeanHttp {
    stream: TcpStream,
    /// Where to connect when every call has a connection of its own.
    fresh: Option<String>,
    request: Vec<u8>,
    buf: Vec<u8>,
    /// What the answer's body must contain.
    expect: &'static [u8],
}

impl LeanHttp {
    async fn open(url: &str, request: impl FnOnce(&str) -> String, expect: &'static [u8]) -> Self {
        let authority = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("not an http:// URL: {url}"))
            .to_string();
        let stream = connect(&authority)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {authority}: {e}"));
        LeanHttp {
            stream,
            fresh: None,
            request: request(&authority).into_bytes(),
            buf: Vec::with_capacity(8192),
            expect,
        }
    }

    /// A stateless (2026-07-28) `tools/call` of `echo` at `url`, with the
    /// headers that era asks for.
    pub(super) async fn call_echo(url: &str) -> Self {
        let body = PLAIN_BODY;
        Self::open(
            url,
            |host| {
                format!(
                    "POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
                     accept: application/json, text/event-stream\r\n\
                     mcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\n\
                     mcp-name: echo\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            },
            b"\"result\"",
        )
        .await
    }

    /// `GET /health` on the server of `url`.
    pub(super) async fn health(url: &str) -> Self {
        Self::open(
            url,
            |host| format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n"),
            b"ok",
        )
        .await
    }

    /// The same requests, each on a connection of its own: the one before
    /// is closed when the next opens.
    pub(super) fn fresh(mut self) -> Self {
        let authority = self
            .stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|e| panic!("the connection has no peer: {e}"));
        self.fresh = Some(authority);
        self
    }

    /// One request and its whole answer (a `content-length` body).
    pub(super) async fn call(&mut self) -> Result<(), String> {
        if let Some(authority) = &self.fresh {
            self.stream = connect(authority).await.map_err(|e| e.to_string())?;
        }
        self.stream
            .write_all(&self.request)
            .await
            .map_err(|e| e.to_string())?;
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        loop {
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if self.buf.len() > MAX_ANSWER {
                return Err(format!("an answer over {MAX_ANSWER} bytes"));
            }
            let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(format!("{}", String::from_utf8_lossy(&self.buf)));
            }
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no content-length in {head:?}"))?;
            let body_start = head_end + 4;
            if self.buf.len() < body_start + length {
                continue;
            }
            let body = &self.buf[body_start..body_start + length];
            if !body.windows(self.expect.len()).any(|w| w == self.expect) {
                return Err(String::from_utf8_lossy(body).into_owned());
            }
            return Ok(());
        }
    }
}

/// A new connection to `authority` with `TCP_NODELAY`.
async fn connect(authority: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A server over stdio, spoken to in JSON-RPC lines.
pub(super) struct LeanStdio {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
    _child: Child,
}

const CALL_LINE: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"bench\"}}}\n";

impl LeanStdio {
    /// server-everything (`everything` is its entry script) over stdio,
    /// after the handshake.
    pub(super) async fn start(everything: &Path) -> Self {
        let mut child = tokio::process::Command::new("node")
            .arg(everything)
            .arg("stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn server-everything");
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            panic!("server-everything's stdin and stdout are piped");
        };
        let mut lean = LeanStdio {
            stdin,
            stdout: BufReader::new(stdout),
            line: String::new(),
            _child: child,
        };
        let init = b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench-lean\",\"version\":\"1\"}}}\n";
        lean.round_trip(init, "\"id\":0")
            .await
            .expect("server-everything answers initialize");
        lean.stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
            .await
            .expect("send initialized");
        lean
    }

    /// Writes `line`; reads lines until the one holding `id` (a server
    /// may send notifications first), and returns it.
    pub(super) async fn exchange(&mut self, line: &[u8], id: &str) -> Result<&str, String> {
        self.stdin
            .write_all(line)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            self.line.clear();
            let n = self
                .stdout
                .read_line(&mut self.line)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed its stdout".into());
            }
            if self.line.contains(id) {
                return Ok(self.line.trim_end());
            }
        }
    }

    /// [`Self::exchange`], where the answer must be a result.
    async fn round_trip(&mut self, line: &[u8], id: &str) -> Result<(), String> {
        let answer = self.exchange(line, id).await?;
        if answer.contains("\"result\"") {
            Ok(())
        } else {
            Err(answer.to_string())
        }
    }

    /// One `tools/call` of `echo`.
    pub(super) async fn call(&mut self) -> Result<(), String> {
        self.round_trip(CALL_LINE, "\"id\":1").await
    }
}
