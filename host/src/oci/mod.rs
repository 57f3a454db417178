//! Components from OCI registries: `oci://REGISTRY/REPOSITORY:TAG` (or
//! `@sha256:…`) wherever a component file is accepted.
//!
//! The reference (parsed once and used as parsed), the settings and what
//! became of each component are config's (`config/oci.rs`,
//! `config/registries.rs`), re-exported here. This module does the work:
//! - [`client`]: a registry connection (TLS with extra CAs, plain HTTP
//!   where allowed, Docker-config credentials);
//! - [`layout`]: the artifact layout's media types and the size caps;
//! - [`sign`]: cosign-compatible signatures with a key;
//! - [`pull`] and [`push`]: the CNCF Wasm artifact layout, every size
//!   capped and every digest checked;
//! - [`store`]: manifests and components by digest in the cache directory;
//! - [`lock`]: `weft.lock`, the digest each tag resolved to.
//!
//! [`materialize`] pulls what a config names when the hub starts, so the
//! rest of weft sees component files as before.

mod client;
mod keyfile;
mod keyless;
mod layout;
mod lock;
mod pull;
mod push;
mod sign;
mod store;

use std::path::PathBuf;

pub use crate::config::oci::{OciComponent, OciRef, SCHEME, Signed, Source, is_oci};
pub use crate::config::registries::{Identity, Keyless, Registries, Trust, TrustedKey};
pub use keyfile::{PASSWORD_VAR, SigningKey};
pub use lock::{LOCK_FILE, Lock};
pub use pull::{Pulled, pull};
pub use push::{Pushed, push};
pub use sign::{sign, signature_tag};
pub use store::Blobs;

use crate::config::Config;

/// Why an OCI component cannot be had or published. `reference` is the
/// reference's canonical spelling in each.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The registry refused or could not be reached.
    #[error("{reference}: cannot {doing} the registry: {why}")]
    Registry {
        /// The reference.
        reference: String,
        /// What weft was doing.
        doing: String,
        /// The client's or the registry's reason (capped).
        why: String,
    },
    /// A manifest or component over its size cap.
    #[error("{reference}: the {what} is {size} bytes, over the limit of {max}; refused")]
    TooLarge {
        /// The reference.
        reference: String,
        /// Which part.
        what: String,
        /// Its size (so far).
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Bytes that do not hash to the digest they were fetched by.
    #[error(
        "{reference}: the {what} does not match its digest (expected {want}, got {got}); refused"
    )]
    Mismatch {
        /// The reference.
        reference: String,
        /// Which part.
        what: String,
        /// The digest asked for.
        want: String,
        /// The digest of what came.
        got: String,
    },
    /// The artifact is not a Wasm component.
    #[error("{reference} is not a Wasm component artifact: {why}")]
    NotAComponent {
        /// The reference.
        reference: String,
        /// Why not.
        why: String,
    },
    /// A local component file that cannot be pushed.
    #[error("{}: {why}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// `weft.lock` cannot be read or written.
    #[error("the lock file {}: {why}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// Not signed by a trusted key, under `require_signatures`.
    #[error("{reference}@{digest}: refused: {why}, and [settings.trust] require_signatures is on")]
    Unsigned {
        /// The reference.
        reference: String,
        /// The manifest digest it resolved to.
        digest: String,
        /// What the signatures showed.
        why: String,
    },
    /// Local set-up: a CA file, the cache.
    #[error("{why}")]
    Setup {
        /// What went wrong.
        why: String,
    },
}

impl OciError {
    /// A registry client's error, its text capped (it may quote what the
    /// registry sent).
    fn registry(
        reference: &OciRef,
        doing: &str,
        e: oci_client::errors::OciDistributionError,
    ) -> OciError {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode};
        let refused = match &e {
            E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => true,
            E::ServerError { code, .. } => matches!(code, 401 | 403),
            E::RegistryError { envelope, .. } => envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
            _ => false,
        };
        let why = if refused {
            format!(
                "the registry refused access ({}): the login is missing or wrong, or lacks the permission; check [settings.registries.auth] or the Docker config (`docker login {}`)",
                crate::config::oci::cut(&e.to_string(), 200),
                reference.registry()
            )
        } else {
            crate::config::oci::cut(&e.to_string(), 400)
        };
        OciError::Registry {
            reference: reference.canonical(),
            doing: doing.to_string(),
            why,
        }
    }
}

/// Pulls every `oci://` component `config` names, at its locked digest
/// when `weft.lock` (beside the config file) has one, records the digests
/// of newly resolved tags there, and points each one's `path` at the
/// pulled file. A component that cannot be had keeps its failure; the
/// others are unaffected. `refresh` resolves every tag again (`weft pull`)
/// and returns what changed: (reference, old digest, new digest). The
/// registries and the trust policy are the config's own settings.
pub async fn materialize(
    config: &mut Config,
    refresh: bool,
) -> Result<Vec<(String, Option<String>, String)>, OciError> {
    let (registries, trust) = (
        &config.settings.registries.clone(),
        &config.settings.trust.clone(),
    );
    let mut slots: Vec<(&mut PathBuf, &mut OciComponent)> = Vec::new();
    for p in &mut config.policies {
        if let Some(o) = p.oci.as_mut() {
            slots.push((&mut p.path, o));
        }
    }
    for s in &mut config.servers {
        let transports = std::iter::once(&mut s.transport)
            .chain(s.tenant_transports.0.iter_mut().map(|(_, t)| t));
        for t in transports {
            if let crate::config::Transport::Component(a) = t
                && let Some(o) = a.oci.as_mut()
            {
                slots.push((&mut a.path, o));
            }
        }
    }
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let mut lock = Lock::beside(config.source.as_deref())?;
    let blobs = Blobs::open(crate::sandbox::cache::default_dir()).ok_or_else(|| OciError::Setup {
        why: "weft's cache directory cannot be used, so OCI components cannot be kept (see the warning above)".into(),
    })?;
    // Pulled (or failed) already, by an earlier call on this config.
    slots.retain(|(_, c)| refresh || (c.source.is_none() && c.failure.is_none()));
    // Every component at once: each pull waits mostly on its registry.
    let outcomes = futures::future::join_all(slots.iter().map(|(_, component)| {
        let locked = lock
            .get(&component.reference.canonical())
            .map(str::to_string);
        let (blobs, reference) = (&blobs, &component.reference);
        async move {
            let outcome = pull(
                registries,
                blobs,
                reference,
                locked.as_deref(),
                refresh,
                trust,
            )
            .await;
            (locked, outcome)
        }
    }))
    .await;
    let mut changed = Vec::new();
    for ((path, component), (locked, outcome)) in slots.into_iter().zip(outcomes) {
        let canonical = component.reference.canonical();
        match outcome {
            Ok(pulled) => {
                if component.reference.digest().is_none() {
                    let old = lock.set(&canonical, &pulled.digest);
                    if old.as_deref() != Some(pulled.digest.as_str()) {
                        changed.push((canonical.clone(), old, pulled.digest.clone()));
                    }
                }
                tracing::info!(reference = %canonical, digest = %pulled.digest, source = ?pulled.source, "component ready");
                *path = pulled.path;
                component.digest = Some(pulled.digest);
                component.source = Some(pulled.source);
                component.signed = Some(pulled.signed);
            }
            Err(e) => {
                tracing::warn!("{e}");
                component.digest = locked;
                component.failure = Some(e.to_string());
            }
        }
    }
    lock.save()?;
    Ok(changed)
}
