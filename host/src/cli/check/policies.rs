//! `weft check`'s look at the policies: each configured component is read
//! and readied for runs as `weft run` would (from the compiled-component
//! cache, or compiled now and kept there), so a missing file, a core
//! module or a component for another world is reported before an agent
//! calls the policy, and the first run does not pay for the compile.

use std::sync::Arc;
use std::time::Instant;

use crate::config::PolicyConfig;
use crate::sandbox::{Origin, Sandbox, Wasm};

/// One policy as `weft check` reports it.
#[derive(Debug, serde::Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub path: String,
    /// Whether it is ready to run.
    pub ok: bool,
    /// `compiled`, `disk` (from the cache) or `memory`, when it is ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// How long readying it took, in milliseconds.
    pub ms: u64,
    /// Why it cannot run, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For an `oci://` component: its reference, digest, source and
    /// signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
}

/// Readies every policy of the config, one at a time (a compile keeps a
/// blocking thread busy, never a runtime worker).
pub async fn check(policies: &[PolicyConfig]) -> Vec<PolicyReport> {
    if policies.is_empty() {
        return Vec::new();
    }
    let sandbox = Sandbox::shared().map_err(|e| e.to_string());
    let mut out = Vec::new();
    for p in policies {
        let started = Instant::now();
        let failure = p.oci.as_ref().and_then(|o| o.failure.clone());
        let outcome = match (&sandbox, failure) {
            (_, Some(why)) => Err(why),
            (Err(e), None) => Err(format!("the sandbox is not available: {e}")),
            (Ok(sandbox), None) => ready(sandbox.clone(), p).await.map_err(|e| e.to_string()),
        };
        let ms = started.elapsed().as_millis() as u64;
        let (origin, error) = match outcome {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(e)),
        };
        out.push(PolicyReport {
            name: p.name.clone(),
            path: p.path.display().to_string(),
            ok: error.is_none(),
            origin,
            ms,
            error,
            component: p.oci.as_ref().map(crate::oci::OciComponent::describe),
        });
    }
    out
}

/// Why a configured policy is not ready to run.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    #[error("cannot read {path}: {error}")]
    Unreadable {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("the compile stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Load(#[from] crate::sandbox::RunError),
}

async fn ready(sandbox: Arc<Sandbox>, p: &PolicyConfig) -> Result<Origin, NotReady> {
    let bytes = tokio::fs::read(&p.path)
        .await
        .map_err(|error| NotReady::Unreadable {
            path: p.path.clone(),
            error,
        })?;
    Ok(tokio::task::spawn_blocking(move || sandbox.prepare(&Wasm::new(bytes))).await??)
}

/// The report's line for one policy (and its component's, if it is an
/// `oci://` one).
pub fn line(r: &PolicyReport) -> String {
    let first = first_line(r);
    match &r.component {
        Some(c) if r.error.is_none() => format!("{first}\n    component: {c}"),
        _ => first,
    }
}

fn first_line(r: &PolicyReport) -> String {
    match (&r.origin, &r.error) {
        (Some(Origin::Compiled), _) => format!(
            "✓ policy {:<12} compiled in {:.1} s and cached",
            r.name,
            r.ms as f64 / 1000.0
        ),
        (Some(_), _) => format!("✓ policy {:<12} ready (compiled before)", r.name),
        (None, error) => format!(
            "✗ policy {:<12} {}",
            r.name,
            error.as_deref().unwrap_or("cannot run")
        ),
    }
}
