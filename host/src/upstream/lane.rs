//! A fast lane for `tools/call` to a stdio server.
//!
//! rmcp's client sends every request through its service task: the caller
//! hands the request over a channel, the service task spawns a task that
//! writes it, and when the answer comes back the whole line is parsed as
//! an untagged union of every message kind before the caller is woken. For
//! the call agents make most, that is two task hops and a parse that tries
//! each message kind in turn.
//!
//! The lane skips them. The caller writes its `tools/call` line to the
//! server's stdin itself (under the lock that keeps lines whole), with an
//! id of its own (`weft-lane-N`, a string, so it never collides with
//! rmcp's numeric ids). The server's stdout passes through [`LaneReader`]
//! on its way to rmcp's transport: a line answering a lane id goes to the
//! waiting caller, which parses its `result` itself
//! ([`super::call_result`]); every other byte
//! reaches rmcp as it came, so notifications, the server's own requests
//! and every other answer are rmcp's as before, with rmcp's line limits,
//! its compatibility rules and its replies to malformed messages. rmcp's
//! own writes go through [`LaneWriter`], which writes each flushed frame
//! whole under the same lock.
//!
//! A line longer than [`MAX_LINE`] reaches neither: it is dropped as it
//! streams by, holding at most the cap, and the request it answers (its
//! `id` read from the line's start or end, see [`overlong`]) fails with an
//! error that says so: a lane call through its waiting caller, one of
//! rmcp's through an error answer put in the line's place. The server
//! keeps running. (rmcp's own reader would drop the line too, but leave
//! its request waiting until it timed out.)
//!
//! When the server's stdout ends, every call still waiting is answered
//! "transport closed".

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use rmcp::ServiceError;
use rmcp::model::{
    ErrorData, InputResponses, JsonObject, NumberOrString, ProgressToken, RequestId, ServerResult,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;

#[path = "overlong.rs"]
mod overlong;

use overlong::Dropping;

/// The prefix of a lane request's id.
const PREFIX: &str = "weft-lane-";
/// What a line must contain to be looked at as a lane answer.
const NEEDLE: &[u8] = b"\"weft-lane-";
/// The longest line read from a server's stdout, newline included: rmcp's
/// own limit, and the most an HTTP server's answer may be.
pub const MAX_LINE: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
/// A held line's buffer bigger than this is let go once the line is done.
const KEEP: usize = 1024 * 1024;
/// How much is read from the server's stdout at a time.
const CHUNK: usize = 16 * 1024;

/// What the server answered a lane request.
enum Answer {
    Result(Box<RawValue>),
    Error(ErrorData),
}

/// The calls waiting for an answer; `open` is false once stdout ended.
struct Waiting {
    open: bool,
    calls: HashMap<u64, oneshot::Sender<Answer>>,
}

/// The server's stdin (a child's pipe; any writer in tests).
type Pipe = Box<dyn AsyncWrite + Send + Unpin>;
type Stdin = Arc<tokio::sync::Mutex<Option<Pipe>>>;

struct Shared {
    stdin: Stdin,
    waiting: parking_lot::Mutex<Waiting>,
    next: AtomicU64,
}

impl Shared {
    /// Ends the lane: every waiting call learns the transport closed.
    fn close(&self) {
        let mut w = self.waiting.lock();
        w.open = false;
        w.calls.clear();
    }
}

/// The caller's side of the lane of one server process.
#[derive(Clone)]
pub struct Lane(Arc<Shared>);

/// A request on its way: its id and progress token, and the answer to
/// come. Dropping it forgets the call (a late answer is discarded).
pub struct Sent {
    shared: Arc<Shared>,
    n: u64,
    answer: Option<oneshot::Receiver<Answer>>,
    pub id: RequestId,
    pub progress_token: ProgressToken,
}

/// Wraps a server's stdin and stdout: the lane for callers, a reader and a
/// writer for rmcp's transport.
pub fn split<R>(stdin: Pipe, stdout: R) -> (Lane, LaneReader<R>, LaneWriter) {
    let shared = Arc::new(Shared {
        stdin: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
        waiting: parking_lot::Mutex::new(Waiting {
            open: true,
            calls: HashMap::new(),
        }),
        next: AtomicU64::new(1),
    });
    let reader = LaneReader {
        inner: stdout,
        shared: shared.clone(),
        chunk: vec![0; CHUNK].into_boxed_slice(),
        line: Vec::new(),
        max_line: MAX_LINE,
        dropping: None,
        ready: Vec::new(),
        at: 0,
        eof: false,
    };
    let writer = LaneWriter {
        shared: shared.clone(),
        frame: Vec::new(),
        writing: None,
    };
    (Lane(shared), reader, writer)
}

/// A `tools/call` for the lane, borrowed from the caller's request: the
/// tool's name on the server, the arguments and, for a retry with the
/// agent's input, its responses and the server's state.
#[derive(Clone, Copy)]
pub struct LaneCall<'a> {
    pub name: &'a str,
    pub arguments: Option<&'a JsonObject>,
    pub input_responses: Option<&'a InputResponses>,
    pub request_state: Option<&'a str>,
}

/// The line a lane call is written as: the JSON-RPC request rmcp would
/// write for the same call (a test holds the two equal), serialised
/// straight from borrowed parts. rmcp's own path copies the arguments
/// into its request and turns the parameters into a `serde_json::Value`
/// to merge `_meta` into them.
#[derive(serde::Serialize)]
struct Line<'a> {
    jsonrpc: &'static str,
    id: &'a str,
    method: &'static str,
    params: LineParams<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LineParams<'a> {
    #[serde(rename = "_meta")]
    meta: LineMeta<'a>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a JsonObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_responses: Option<&'a InputResponses>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_state: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LineMeta<'a> {
    progress_token: &'a str,
}

/// `call` as one line to the server, with `id` as its id and progress
/// token.
fn call_line(call: LaneCall<'_>, id: &str) -> serde_json::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(&Line {
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: LineParams {
            meta: LineMeta { progress_token: id },
            name: call.name,
            arguments: call.arguments,
            input_responses: call.input_responses,
            request_state: call.request_state,
        },
    })?;
    line.push(b'\n');
    Ok(line)
}

impl Lane {
    /// Writes `call` to the server with a lane id, which is also its
    /// progress token.
    pub async fn send(&self, call: LaneCall<'_>) -> Result<Sent, ServiceError> {
        self.send_after(call, |_| ()).await.map(|(sent, ())| sent)
    }

    /// [`Lane::send`], calling `before_write` with the progress token
    /// before a byte is written: whatever must be in place when the
    /// server's first message about the call arrives (the agent's relay
    /// for its sampling or elicitation requests) is registered there, as
    /// the server may answer before this returns. Its result comes back
    /// beside the call.
    pub async fn send_after<R>(
        &self,
        call: LaneCall<'_>,
        before_write: impl FnOnce(&ProgressToken) -> R,
    ) -> Result<(Sent, R), ServiceError> {
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{n}");
        let line = call_line(call, &name).map_err(|e| {
            ServiceError::McpError(ErrorData::internal_error(
                format!("weft cannot encode the tool call: {e}"),
                None,
            ))
        })?;
        let id = NumberOrString::String(Arc::from(name));
        let progress_token = ProgressToken(id.clone());
        let (tx, rx) = oneshot::channel();
        {
            let mut w = self.0.waiting.lock();
            if !w.open {
                return Err(ServiceError::TransportClosed);
            }
            w.calls.insert(n, tx);
        }
        let sent = Sent {
            shared: self.0.clone(),
            n,
            answer: Some(rx),
            id,
            progress_token,
        };
        let before = before_write(&sent.progress_token);
        if let Err(e) = write_whole(self.0.stdin.clone(), line).await {
            tracing::debug!(target: "weft::upstream", "writing a tool call to the server: {e}");
            return Err(ServiceError::TransportClosed);
        }
        Ok((sent, before))
    }
}

impl Sent {
    /// The server's answer: its `result` parsed as rmcp would, or its error.
    pub async fn answer(mut self) -> Result<ServerResult, ServiceError> {
        let Some(rx) = self.answer.take() else {
            return Err(ServiceError::TransportClosed);
        };
        match rx.await {
            Ok(Answer::Result(raw)) => super::call_result::read(raw.get()).map_err(|e| {
                tracing::debug!(target: "weft::upstream", "a tool call's result does not parse: {e}");
                ServiceError::UnexpectedResponse
            }),
            Ok(Answer::Error(error)) => Err(ServiceError::McpError(error)),
            Err(_) => Err(ServiceError::TransportClosed),
        }
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.shared.waiting.lock().calls.remove(&self.n);
    }
}

/// The parts of a line that say whether it answers a lane request.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// The lane number of a lane id (`"weft-lane-N"`, quotes included).
fn lane_number(id: &RawValue) -> Option<u64> {
    id.get()
        .strip_prefix('"')?
        .strip_suffix('"')?
        .strip_prefix(PREFIX)?
        .parse()
        .ok()
}

impl Shared {
    /// Hands `line` to its waiting caller if it answers a lane request;
    /// false if it is for rmcp.
    fn divert(&self, line: &[u8]) -> bool {
        // Built once: `memmem::find` builds its searcher on every call.
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(NEEDLE));
        if FINDER.find(line).is_none() {
            return false;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let Ok(head) = serde_json::from_slice::<Head>(text) else {
            return false;
        };
        let (None, Some(n)) = (head.method, head.id.and_then(lane_number)) else {
            return false;
        };
        let answer = match (head.result, head.error) {
            (Some(result), None) => Answer::Result(result.to_owned()),
            (None, Some(error)) => match serde_json::from_str::<ErrorData>(error.get()) {
                Ok(error) => Answer::Error(error),
                Err(_) => return false,
            },
            _ => return false,
        };
        if let Some(tx) = self.waiting.lock().calls.remove(&n) {
            let _ = tx.send(answer);
        }
        true
    }
}

/// The server's stdout as rmcp's transport reads it, less the lines that
/// answer lane requests.
pub struct LaneReader<R> {
    inner: R,
    shared: Arc<Shared>,
    chunk: Box<[u8]>,
    /// The line read so far (held back until its end is seen).
    line: Vec<u8>,
    /// The longest line passed on or looked at ([`MAX_LINE`]).
    max_line: usize,
    /// The current line outgrew `max_line`: it is being dropped.
    dropping: Option<Dropping>,
    /// Bytes for rmcp, from `at` on.
    ready: Vec<u8>,
    at: usize,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LaneReader<R> {
    /// Sorts freshly read bytes into lines: lane answers are handed over,
    /// overlong lines dropped, everything else goes to `ready`.
    fn sort(&mut self, n: usize) {
        // Out of `self` while it is sorted, for the methods that take it.
        let chunk = std::mem::take(&mut self.chunk);
        self.sort_bytes(&chunk[..n]);
        self.chunk = chunk;
    }

    fn sort_bytes(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).map(|i| i + 1);
            let (part, done) = match end {
                Some(e) => (&rest[..e], true),
                None => (rest, false),
            };
            rest = &rest[part.len()..];
            if let Some(dropping) = self.dropping.as_mut() {
                dropping.see(part);
                if done {
                    self.dropped();
                }
                continue;
            }
            if self.line.len() + part.len() > self.max_line {
                self.overflow(part);
                if done {
                    self.dropped();
                }
                continue;
            }
            if done && self.line.is_empty() {
                // The whole line is in this chunk: no copy to look at it.
                if !self.shared.divert(part) {
                    self.ready.extend_from_slice(part);
                }
                continue;
            }
            if self.line.len() + part.len() > KEEP && self.line.capacity() <= KEEP {
                // A long line: room up to the cap at once (only what is
                // written is touched), not a copy at every doubling.
                self.line
                    .reserve_exact(self.max_line + CHUNK - self.line.len());
            }
            self.line.extend_from_slice(part);
            if done {
                let line = std::mem::take(&mut self.line);
                if !self.shared.divert(&line) {
                    self.ready.extend_from_slice(&line);
                }
                if line.capacity() <= KEEP {
                    self.line = line;
                    self.line.clear();
                }
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LaneReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.at);
                buf.put_slice(&this.ready[this.at..this.at + n]);
                this.at += n;
                if this.at == this.ready.len() {
                    this.ready.clear();
                    this.at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // An unfinished last line goes to rmcp, which drops it.
                if !this.line.is_empty() {
                    this.ready.append(&mut this.line);
                    continue;
                }
                this.shared.close();
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.chunk);
            match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read)) {
                Ok(()) => {
                    let n = read.filled().len();
                    if n == 0 {
                        this.eof = true;
                    } else {
                        this.sort(n);
                    }
                }
                Err(e) => {
                    this.shared.close();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }
}

impl<R> Drop for LaneReader<R> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// Writes `bytes` to the server under the lock. Cancel-safe: dropped
/// half-way, it finishes the write in a task of its own, so no caller's
/// timeout can leave half a line on the pipe.
async fn write_whole(stdin: Stdin, bytes: Vec<u8>) -> io::Result<()> {
    let mut left = Unfinished {
        stdin: Some(stdin.lock_owned().await),
        bytes,
        at: 0,
    };
    while left.at < left.bytes.len() {
        let Some(pipe) = left.stdin.as_mut().and_then(|s| s.as_mut()) else {
            left.at = left.bytes.len();
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server's stdin is closed",
            ));
        };
        match pipe.write(&left.bytes[left.at..]).await {
            Ok(0) => {
                left.at = left.bytes.len();
                return Err(io::ErrorKind::WriteZero.into());
            }
            Ok(n) => left.at += n,
            Err(e) => {
                left.at = left.bytes.len();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A write under way; see [`write_whole`].
struct Unfinished {
    stdin: Option<tokio::sync::OwnedMutexGuard<Option<Pipe>>>,
    bytes: Vec<u8>,
    at: usize,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.at >= self.bytes.len() {
            return;
        }
        let (Some(mut stdin), Ok(runtime)) =
            (self.stdin.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let rest = self.bytes.split_off(self.at);
        runtime.spawn(async move {
            if let Some(pipe) = stdin.as_mut() {
                let _ = pipe.write_all(&rest).await;
            }
        });
    }
}

type Writing = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// rmcp's writer: each flushed frame is written whole under the lane's
/// lock, so rmcp's lines and the lane's never interleave.
pub struct LaneWriter {
    shared: Arc<Shared>,
    frame: Vec<u8>,
    writing: Option<Writing>,
}

impl LaneWriter {
    fn poll_writing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(writing) = self.writing.as_mut() {
            let done = ready!(writing.as_mut().poll(cx));
            self.writing = None;
            done?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for LaneWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_writing(cx))?;
        this.frame.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_writing(cx))?;
        if this.frame.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let frame = std::mem::take(&mut this.frame);
        this.writing = Some(Box::pin(write_whole(this.shared.stdin.clone(), frame)));
        this.poll_writing(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Drop for LaneWriter {
    /// rmcp dropped its writer (the transport closed): close the server's
    /// stdin, as rmcp's own transport would, and end the lane.
    fn drop(&mut self) {
        self.shared.close();
        let shared = self.shared.clone();
        match shared.stdin.try_lock() {
            Ok(mut stdin) => drop(stdin.take()),
            Err(_) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let shared = self.shared.clone();
                    runtime.spawn(async move {
                        drop(shared.stdin.lock().await.take());
                    });
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "lane_tests.rs"]
mod tests;
