//! `builtin:openapi`'s `spec_url`: weft fetches the document when the
//! server starts, through the server's own egress (its allow-list, its
//! injected headers, its limits), keeps it on disk with its `ETag`, and
//! asks again with `If-None-Match` next time: a `304 Not Modified` reuses
//! the copy. Then the document is readied like one in the config
//! (`config/openapi.rs`): cut, checked, its base URL and credentials
//! decided.
//!
//! The copy's key holds everything the answer depends on: the server,
//! the URL, and a digest of the headers weft sends with it (so a new key
//! in `egress_headers` never reads a document fetched with the old one).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::egress::EgressConfig;
use crate::sandbox::egress::Egress;

/// The folder under the cache folder that holds fetched documents.
const DIR: &str = "openapi";
/// The longest `ETag` kept.
const MAX_ETAG: usize = 256;

/// Where the copy of `url`, fetched for `server` under `config`, is kept.
fn copy_path(
    cache: Option<&Path>,
    server: &str,
    url: &str,
    config: &EgressConfig,
) -> Option<PathBuf> {
    let dir = cache?.join(DIR);
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let mut digest = Sha256::new();
    for part in [server, url] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    for (name, value) in config.headers_for(&host) {
        digest.update(name.as_str().as_bytes());
        digest.update([0]);
        digest.update(value.as_bytes());
        digest.update([0]);
    }
    let key: String = digest.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(dir.join(key))
}

/// A kept copy: its ETag and the document's text.
fn read_copy(path: &Path) -> Option<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).ok()?;
    let at = bytes.iter().position(|b| *b == b'\n')?;
    let tag = std::str::from_utf8(&bytes[..at]).ok()?.to_string();
    Some((tag, bytes[at + 1..].to_vec()))
}

fn write_copy(path: &Path, tag: &str, text: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::debug!(target: "weft::adapter", error = %e, "cannot keep the OpenAPI document");
        return;
    }
    let mut bytes = Vec::with_capacity(tag.len() + 1 + text.len());
    bytes.extend_from_slice(tag.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(text);
    if let Err(e) = crate::util::write_private(path, &bytes) {
        tracing::debug!(target: "weft::adapter", error = %e, "cannot keep the OpenAPI document");
    }
}

/// The document at `url`, fetched through `egress` (or its copy kept in
/// `cache`, when the server says it has not changed), parsed.
pub(super) async fn fetch(
    cache: Option<&Path>,
    server: &str,
    url: &str,
    egress: &Egress,
    config: &EgressConfig,
) -> Result<Value, String> {
    let path = copy_path(cache, server, url, config);
    let kept = match &path {
        Some(p) => {
            let p = p.clone();
            tokio::task::spawn_blocking(move || read_copy(&p))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let (status, headers, body) = egress
        .get(url, kept.as_ref().map(|(tag, _)| tag.as_str()))
        .await
        .map_err(|e| format!("spec_url: {e}"))?;
    let text = match (status.as_u16(), kept) {
        (304, Some((_, text))) => {
            tracing::debug!(target: "weft::adapter", server, "spec_url not modified; using the kept copy");
            text
        }
        (200..=299, _) => {
            let tag = headers
                .get(http::header::ETAG)
                .and_then(|t| t.to_str().ok())
                .filter(|t| t.len() <= MAX_ETAG && !t.contains(['\n', '\r']))
                .map(str::to_string);
            if let (Some(tag), Some(path)) = (tag, path) {
                let body = body.clone();
                let _ = tokio::task::spawn_blocking(move || write_copy(&path, &tag, &body)).await;
            }
            body
        }
        (code, _) => {
            let mut said = String::from_utf8_lossy(&body).trim().to_string();
            crate::util::truncate(&mut said, 200);
            return Err(format!("spec_url: HTTP {code} from {url}: {said}"));
        }
    };
    tokio::task::spawn_blocking(move || crate::openapi::parse(&text))
        .await
        .map_err(|e| format!("spec_url: reading the document stopped: {e}"))?
        .map_err(|e| format!("spec_url: the document at {url} {e}"))
}
