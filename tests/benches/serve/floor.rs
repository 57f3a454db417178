//! The floor under weft's added latency and CPU: a proxy that does nothing
//! but move the bytes. It reads a keep-alive HTTP/1.1 request, writes its
//! body as one line to server-everything's stdin, and answers with the line
//! that comes back: no JSON parsing, no routing, no checks, one thread.
//!
//! It runs as a process of its own (this bench binary, started with
//! `floor-proxy ENTRY`), so that [`super::placement`] can pin it and read
//! its CPU exactly as it does weft's: what weft adds beyond this proxy, in
//! the same placement, is weft's own work; what this proxy adds is the
//! price of the extra hop on this machine, which no gateway avoids.
//!
//! It serves only the lean clients' requests (`GET /health`, and the
//! stateless `echo` call with id 1, one at a time).

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use super::callers::Caller;
use super::lean::{LeanHttp, LeanStdio};
use super::measure::load;
use super::{LATENCY_CALLS, LOAD_CALLS};
use crate::support::Background;

/// The largest request read.
const MAX_REQUEST: usize = 64 * 1024;

/// The floor proxy's own `main`: server-everything (`everything` is its
/// entry script) behind a listener on a free port, whose `http://…/mcp`
/// URL is the first line on stdout.
pub(crate) fn main(everything: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let server = Arc::new(Mutex::new(LeanStdio::start(everything).await));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let address = listener.local_addr().expect("the listener's address");
        println!("floor proxy on http://{address}/mcp");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                if let Err(e) = connection(stream, &server).await {
                    eprintln!("floor proxy: {e}");
                }
            });
        }
    });
}

/// Serves one connection's requests until the client closes it.
async fn connection(mut stream: TcpStream, server: &Mutex<LeanStdio>) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        // One request: the head, then a `content-length` body.
        let (head_end, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break (end, length);
                }
            }
            if buf.len() > MAX_REQUEST {
                return Err(format!("a request over {MAX_REQUEST} bytes"));
            }
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let body_start = head_end + 4;
        let answer = if buf.starts_with(b"GET ") {
            "ok".to_string()
        } else {
            let mut line = buf[body_start..body_start + length].to_vec();
            line.push(b'\n');
            let mut server = server.lock().await;
            server.exchange(&line, "\"id\":1").await?.to_string()
        };
        buf.drain(..body_start + length);
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        stream
            .write_all(response.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
}

/// The floor proxy, started in front of a server-everything of its own
/// (`everything` is its entry script): the process, and a lean client's
/// `echo` call through it, with the proxy's server already warmed up as
/// much as the direct server it is compared with.
pub(super) async fn start(everything: &Path) -> (Background, Arc<Caller>) {
    let exe = std::env::current_exe().expect("this bench binary's path");
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("floor-proxy").arg(everything);
    let (proc, url) = super::spawn_with_url(&mut cmd, "the floor proxy");
    let caller = Arc::new(Caller::LeanHttp(LeanHttp::call_echo(&url).await.into()));
    load(&caller, 1, LATENCY_CALLS + 2 * LOAD_CALLS).await;
    (proc, caller)
}
