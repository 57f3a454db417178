//! The life of a streamable HTTP session beyond single requests: the GET
//! stream for the server's own messages (opened once the session is
//! initialized, reopened while the server keeps it) and starting the
//! session again when the server has expired it.

use std::sync::Arc;

use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::super::answer::{Event, Expect, Framing, HttpError, events, framing};
use super::{RELISTEN_AFTER, SESSION, Shared, Stamp, VERSION};

impl Shared {
    /// Starts the session again after the server expired it (once for all
    /// requests that failed on session `stale`).
    pub(super) async fn renew(self: &Arc<Self>, stale: u64) -> Result<(), HttpError> {
        let _one = self.renewing.lock().await;
        let (initialize, initialized) = {
            let s = self.session.lock();
            if s.generation != stale {
                return Ok(());
            }
            (s.initialize.clone(), s.initialized.clone())
        };
        let initialize =
            initialize.ok_or_else(|| HttpError::SessionLost("no handshake to repeat".into()))?;
        self.stop_listening();
        let lost = |e: HttpError| HttpError::SessionLost(e.to_string());
        let fresh = Stamp {
            id: None,
            version: None,
            generation: stale,
        };
        let response = self.post(&initialize, &fresh, None).await.map_err(lost)?;
        let id = response.headers().get(SESSION).cloned();
        self.answer(response, None, Expect::Any, false)
            .await
            .map_err(lost)?;
        {
            let mut s = self.session.lock();
            s.id = id;
            s.generation += 1;
        }
        if let Some(initialized) = initialized {
            let stamp = self.stamp();
            let response = self.post(&initialized, &stamp, None).await.map_err(lost)?;
            self.answer(response, None, Expect::Any, false)
                .await
                .map_err(lost)?;
            self.listen();
        }
        tracing::info!(url = %self.url, "the server expired the session; started a new one");
        Ok(())
    }

    pub(super) fn stop_listening(&self) {
        if let Some(task) = self.listener.lock().take() {
            task.abort();
        }
    }

    /// Opens the GET stream for the server's own messages, in a task of
    /// its own, replacing any earlier one.
    pub(super) fn listen(self: &Arc<Self>) {
        let shared = self.clone();
        let task = tokio::spawn(async move { shared.listening().await });
        if let Some(old) = self.listener.lock().replace(task.abort_handle()) {
            old.abort();
        }
    }

    async fn listening(&self) {
        // Whatever the first GET comes to, waiting for it is over.
        struct Heard<'a>(&'a tokio::sync::watch::Sender<bool>);
        impl Drop for Heard<'_> {
            fn drop(&mut self) {
                self.0.send_replace(true);
            }
        }
        let mut heard = Some(Heard(&self.heard));
        loop {
            let stamp = self.stamp();
            let mut request = self
                .client
                .get(self.url.clone())
                .header(ACCEPT, "text/event-stream");
            if let Some(id) = stamp.id {
                request = request.header(SESSION, id);
            }
            if let Some(v) = stamp.version {
                request = request.header(VERSION, v);
            }
            let Ok(request) = self.authorized("GET", request).await else {
                return;
            };
            let response = request.send().await;
            heard.take();
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    // The server is gone: end the transport so the
                    // supervisor reconnects at once.
                    tracing::debug!(url = %self.url, error = %e, "the GET stream cannot reconnect");
                    self.ended.cancel();
                    return;
                }
            };
            // A server that offers no stream (405), or a session that has
            // ended (404: the next request renews it and listens again).
            if !response.status().is_success()
                || !matches!(
                    framing(response.headers().get(CONTENT_TYPE)),
                    Ok(Framing::EventStream)
                )
            {
                return;
            }
            let mut stream = std::pin::pin!(events(response, Expect::Any));
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event {
                        message: Some(m), ..
                    }) => self.take(m, true),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(url = %self.url, error = %e, "the GET stream broke");
                        break;
                    }
                }
            }
            tokio::time::sleep(RELISTEN_AFTER).await;
        }
    }
}
