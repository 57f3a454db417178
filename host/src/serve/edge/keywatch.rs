//! Reloads tenants' keys when the key file changes, so a key revoked with
//! `weft keys rm` (or added with `weft keys add`) takes effect on a
//! running `weft serve --http` without a restart.
//!
//! A task looks at the file's modification time, size and inode once a
//! second (off the request path: requests only read the current key map)
//! and, when any of them changed, reads the file again and replaces the
//! stored keys; keys written inline in the config stay. A file that
//! cannot be read or parsed leaves the keys as they were, with an error
//! in the log each time it changes; a file that is gone holds no keys.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::admit::Edge;
use crate::config::{KeyEntry, KeyFile};

/// How often the key file is looked at.
pub const EVERY: Duration = Duration::from_secs(1);

/// What is compared to notice a change.
type Stamp = Option<(SystemTime, u64, u64)>;

async fn stamp(path: &Path) -> Stamp {
    let m = tokio::fs::metadata(path).await.ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Watches the key file of `edge`'s hub until `stop` (a no-op without
/// tenants). The sessions opened with a key that is gone end with it, on
/// this replica and, with `settings.state`, on every replica.
pub fn spawn(edge: Edge, stop: CancellationToken) {
    let hub = edge.gw.hub.clone();
    if hub.tenants().is_empty() {
        return;
    }
    let path = hub.config().settings.keys_file.clone();
    tokio::spawn(async move {
        let mut seen = stamp(&path).await;
        // The keys the config holds that the key file did not: inline
        // ones, which a change of the file does not touch.
        let inline: Vec<KeyEntry> = {
            let stored = load(&path).await.unwrap_or_default();
            hub.config()
                .tenants
                .iter()
                .flat_map(|t| t.keys.iter())
                .filter(|k| k.created.is_none() && !stored.iter().any(|s| s.hash == k.hash))
                .cloned()
                .collect()
        };
        let mut ids: HashSet<String> = match load(&path).await {
            Ok(stored) => inline
                .iter()
                .chain(stored.iter())
                .map(|k| k.id.clone())
                .collect(),
            Err(_) => inline.iter().map(|k| k.id.clone()).collect(),
        };
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = stamp(&path).await;
            if now == seen {
                continue;
            }
            seen = now;
            match load(&path).await {
                Ok(stored) => {
                    hub.tenants()
                        .replace_keys(inline.iter().chain(stored.iter()));
                    tracing::info!(file = %path.display(), keys = stored.len(), "reloaded the key file");
                    let now: HashSet<String> = inline
                        .iter()
                        .chain(stored.iter())
                        .map(|k| k.id.clone())
                        .collect();
                    let gone: Vec<String> = ids.difference(&now).cloned().collect();
                    ids = now;
                    if !gone.is_empty() {
                        end_sessions_of(&edge, &gone).await;
                    }
                }
                Err(e) => tracing::error!("{e}; the keys stay as they were"),
            }
        }
    });
}

/// Ends the sessions opened with any of `key_ids`: rmcp's sessions here,
/// their places in the tenants' counts, and their shared rows.
async fn end_sessions_of(edge: &Edge, key_ids: &[String]) {
    use rmcp::transport::streamable_http_server::session::SessionManager;
    let ended = edge.gw.sessions.of_keys(key_ids);
    for id in &ended {
        let _ = edge.sessions.close_session(&id.clone().into()).await;
        edge.gw.sessions.end(id);
    }
    if let Some(shared) = &edge.shared {
        let _ = shared.forget_keys(key_ids).await;
    }
    tracing::info!(
        keys = key_ids.len(),
        sessions = ended.len(),
        "ended the sessions of revoked keys"
    );
}

/// The key file's keys (none when there is no file).
async fn load(path: &Path) -> Result<Vec<KeyEntry>, LoadError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || KeyFile::load(&path).map(|f| f.keys))
        .await
        .map_err(|e| LoadError::Task(e.to_string()))?
        .map_err(LoadError::File)
}

/// The key file could not be read again.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("{0}")]
    File(crate::config::KeyFileError),
    #[error("reading the key file failed: {0}")]
    Task(String),
}
