//! The redaction pass: no secret value leaves the host.
//!
//! Every value of the loaded secret store is installed here once, and every
//! way out of the process goes through it: log lines (the tracing writer),
//! what `weft serve` sends agents (the stdio writer and the HTTP response
//! bodies), the command line's output, `/status`, `/metrics` and the audit
//! log. Each value is also matched in its JSON-escaped form, since most of
//! what leaves is JSON. A replacement never breaks JSON: it is plain text
//! inside a string.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Values shorter than this are not matched: they would blank out ordinary
/// words. `weft check` warns about them.
pub const MIN_LEN: usize = 4;

static ACTIVE: RwLock<Option<Arc<AhoCorasick>>> = RwLock::new(None);
static PATTERNS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Installs the secret values to redact, adding to any installed before.
pub fn install(values: &[String]) {
    let mut patterns: Vec<String> = Vec::new();
    for v in values.iter().filter(|v| v.len() >= MIN_LEN) {
        patterns.push(v.clone());
        let escaped = serde_json::to_string(v).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        if escaped != v {
            patterns.push(escaped.to_string());
        }
    }
    let mut all = PATTERNS.write().unwrap_or_else(|p| p.into_inner());
    all.extend(patterns);
    all.sort();
    all.dedup();
    if all.is_empty() {
        return;
    }
    // Leftmost-longest: a secret that contains another is masked whole.
    let patterns = all.clone();
    drop(all);
    let mut active = ACTIVE.write().unwrap_or_else(|p| p.into_inner());
    match AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(&patterns)
    {
        Ok(ac) => *active = Some(Arc::new(ac)),
        Err(e) => tracing::error!(error = %e, "cannot build the redaction matcher"),
    }
}

fn active() -> Option<Arc<AhoCorasick>> {
    ACTIVE.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Text with every secret masked.
pub fn text(s: &str) -> Cow<'_, str> {
    match active() {
        Some(ac) if ac.is_match(s) => Cow::Owned(ac.replace_all(s, &vec![MASK; ac.patterns_len()])),
        _ => Cow::Borrowed(s),
    }
}

/// Bytes with every secret masked.
pub fn bytes(b: &[u8]) -> Cow<'_, [u8]> {
    match active() {
        Some(ac) if ac.is_match(b) => {
            Cow::Owned(ac.replace_all_bytes(b, &vec![MASK.as_bytes(); ac.patterns_len()]))
        }
        _ => Cow::Borrowed(b),
    }
}

/// Whether anything is installed (so callers can skip copying).
pub fn enabled() -> bool {
    active().is_some()
}

/// Prints a line on stdout with secrets masked.
#[macro_export]
macro_rules! outln {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::redact::text(&format!($($arg)*))) };
}

/// Prints a line on stderr with secrets masked.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { eprintln!("{}", $crate::redact::text(&format!($($arg)*))) };
}

/// Prints on stdout (no newline) with secrets masked.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { print!("{}", $crate::redact::text(&format!($($arg)*))) };
}

/// A writer that masks secrets in what passes through it, a line at a
/// time (log lines and newline-delimited JSON-RPC are both line-shaped).
pub struct Writer<W: std::io::Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            line: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        if let Some(end) = self.line.iter().rposition(|&b| b == b'\n') {
            let rest = self.line.split_off(end + 1);
            let done = std::mem::replace(&mut self.line, rest);
            self.inner.write_all(&bytes(&done))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            let done = std::mem::take(&mut self.line);
            self.inner.write_all(&bytes(&done))?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// The async form of [`Writer`], for `weft serve --stdio`'s stdout: bytes
/// are held until a newline or a flush, then masked and written.
pub struct AsyncWriter<W> {
    inner: W,
    pending: Vec<u8>,
    /// Masked bytes not yet accepted by `inner`.
    out: Vec<u8>,
}

impl<W> AsyncWriter<W> {
    pub fn new(inner: W) -> Self {
        AsyncWriter {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
        }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> AsyncWriter<W> {
    fn drain(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while !self.out.is_empty() {
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Masks and writes everything held, a partial line included.
    fn write_out(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stage(true);
        self.drain(cx)
    }

    fn stage(&mut self, all: bool) {
        let end = if all {
            Some(self.pending.len())
        } else {
            self.pending
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|i| i + 1)
        };
        if let Some(end) = end.filter(|&e| e > 0) {
            let rest = self.pending.split_off(end);
            let done = std::mem::replace(&mut self.pending, rest);
            self.out.extend_from_slice(&bytes(&done));
        }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for AsyncWriter<W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        // Back-pressure: do not take more while earlier output waits.
        if this.drain(cx)?.is_pending() {
            return std::task::Poll::Pending;
        }
        this.pending.extend_from_slice(buf);
        this.stage(false);
        let _ = this.drain(cx)?;
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.write_out(cx))?;
        std::pin::Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.write_out(cx))?;
        std::pin::Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn masks_plain_and_json_escaped_values() {
        install(&[
            "canary-XYZ-123".into(),
            "quo\"te-secret".into(),
            "abc".into(),
        ]);
        assert_eq!(text("a canary-XYZ-123 b"), "a [REDACTED] b");
        let json = serde_json::to_string(&serde_json::json!({"v": "x quo\"te-secret y"})).unwrap();
        assert_eq!(text(&json), r#"{"v":"x [REDACTED] y"}"#);
        // Too short to mask safely.
        assert_eq!(text("abc"), "abc");
        let mut out = Vec::new();
        {
            let mut w = Writer::new(&mut out);
            w.write_all(b"first canary-X").unwrap();
            w.write_all(b"YZ-123 line\nsecond").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "first [REDACTED] line\nsecond"
        );
    }
}
