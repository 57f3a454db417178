//! Opening what the hub keeps beyond one process at start-up: the audit
//! log and the tools' pins, each in a file or in `settings.state`'s
//! database. Neither stops the hub: what cannot be opened is said as an
//! error, and the hub runs without it (audit) or for itself (pins).

use std::sync::Arc;

use crate::audit::Audit;

/// How often a running hub looks for pins changed by another process.
pub(super) const PINS_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the pins' store `settings` name; pins last for the process only
/// when there is none, or when it cannot be opened (said as an error).
pub(super) async fn pins(settings: &crate::config::Settings) -> Arc<crate::pins::Pins> {
    use crate::pins::Pins;
    let settings = settings.clone();
    let opened = tokio::task::spawn_blocking(move || {
        crate::pins::open(&settings)?.map(Pins::stored).transpose()
    })
    .await;
    match opened {
        Ok(Ok(Some(pins))) => Arc::new(pins),
        Ok(Ok(None)) => Arc::new(Pins::in_memory()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot open the tool pins; tools are pinned for this process only");
            Arc::new(Pins::in_memory())
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the tool pins; tools are pinned for this process only");
            Arc::new(Pins::in_memory())
        }
    }
}

pub(super) async fn audit(settings: &crate::config::Settings) -> Option<Audit> {
    let path = settings.audit.clone()?;
    let opened = match &settings.state {
        Some(url) => {
            let url = url.expose().to_string();
            let shown = crate::journal::shown_url(&url);
            tokio::task::spawn_blocking(move || Audit::open_shared(&url, &shown))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        }
        None => Audit::open(&path),
    };
    opened
        .map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot open the audit log; calls are not recorded")
        })
        .ok()
}
