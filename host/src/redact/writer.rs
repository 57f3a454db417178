//! Writers that pass everything through the redaction pass on its way
//! out: [`Writer`] (log lines on stderr) and [`AsyncWriter`] (`weft serve
//! --stdio`'s stdout).

use super::bytes;

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
