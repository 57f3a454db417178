//! Pulling a component: the manifest (the CNCF Wasm artifact layout: a
//! `application/vnd.wasm.config.v0+json` config and one `application/wasm`
//! layer), then the layer, each capped in size and checked against its
//! digest before it is kept. A pinned digest found in the cache needs no
//! registry.

use futures::StreamExt;
use oci_client::RegistryOperation;
use oci_client::manifest::{OciImageManifest, OciManifest};

use std::path::PathBuf;

use super::OciError;
use super::client::{Connected, connect};
use super::layout::{
    MAX_COMPONENT, MAX_MANIFEST, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER, check_manifest_size,
};
use super::sign;
use super::store::{Blobs, sha256};
use crate::config::oci::{OciRef, Signed, Source, check_digest, cut};
use crate::config::registries::{Registries, Trust};

/// A component on disk, as pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference's canonical spelling.
    pub reference: String,
    /// The manifest's digest: what the reference resolved to.
    pub digest: String,
    /// The component's file (its layer, in the cache).
    pub path: std::path::PathBuf,
    /// Where it came from.
    pub source: Source,
    /// What its signatures showed.
    pub signed: Signed,
}

/// The component `reference` names: at its own digest, else at `locked`
/// (unless `refresh`), else at what its tag resolves to now. A digest
/// found in the cache is used as it is; one that is not is fetched and
/// checked. With `refresh` and the registry down, the locked digest runs
/// from the cache. Then its signatures are checked against `trust`.
pub async fn pull(
    registries: &Registries,
    blobs: &Blobs,
    reference: &OciRef,
    locked: Option<&str>,
    refresh: bool,
    trust: &Trust,
) -> Result<Pulled, OciError> {
    let pinned = reference
        .digest()
        .or(if refresh { None } else { locked })
        .map(str::to_string);
    let cached_pin = pinned
        .as_ref()
        .and_then(|d| cached(blobs, d).map(|path| (d.clone(), path)));
    // A cached pin whose cached signature a trusted key verifies needs no
    // registry: a signature, once verified over this digest, stays so.
    if let Some((digest, path)) = &cached_pin {
        let signed = sign::check(None, blobs, reference, digest, trust).await?;
        if matches!(signed, Signed::NotChecked | Signed::Verified(_)) {
            return Ok(Pulled {
                reference: reference.canonical(),
                digest: digest.clone(),
                path: path.clone(),
                source: Source::Cache,
                signed,
            });
        }
    }
    let needs_registry = cached_pin.is_none() || !trust.is_off();
    let client = match needs_registry {
        true => Some(connect(registries, reference, RegistryOperation::Pull).await),
        false => None,
    };
    let (digest, path, source, client) = match (cached_pin, client) {
        (Some((digest, path)), client) => {
            (digest, path, Source::Cache, client.and_then(Result::ok))
        }
        (None, Some(Ok(client))) => match fetch(&client, blobs, reference, pinned.as_deref()).await
        {
            Ok((digest, path)) => (digest, path, Source::Registry, Some(client)),
            Err(e) => match offline(blobs, refresh, locked, &e) {
                Some((digest, path)) => (digest, path, Source::CacheOffline, None),
                None => return Err(e),
            },
        },
        (None, Some(Err(e))) => match offline(blobs, refresh, locked, &e) {
            Some((digest, path)) => (digest, path, Source::CacheOffline, None),
            None => return Err(e),
        },
        (None, None) => unreachable_registry(reference)?,
    };
    let signed = sign::check(client.as_ref(), blobs, reference, &digest, trust).await?;
    sign::admit(trust, reference, &digest, &signed)?;
    Ok(Pulled {
        reference: reference.canonical(),
        digest,
        path,
        source,
        signed,
    })
}

/// Never reached: without a cached pin the registry is always asked.
fn unreachable_registry(
    reference: &OciRef,
) -> Result<(String, PathBuf, Source, Option<Connected>), OciError> {
    Err(OciError::Setup {
        why: format!("{}: no registry was asked", reference.canonical()),
    })
}

/// The locked digest from the cache, when a refresh found the registry
/// down.
fn offline(
    blobs: &Blobs,
    refresh: bool,
    locked: Option<&str>,
    e: &OciError,
) -> Option<(String, PathBuf)> {
    if !refresh || !matches!(e, OciError::Registry { .. }) {
        return None;
    }
    let digest = locked?;
    cached(blobs, digest).map(|p| (digest.to_string(), p))
}

/// The manifest (at `pinned`, or what the tag names now) and its
/// component, fetched, checked and cached: the manifest digest and the
/// component's file.
async fn fetch(
    (client, auth): &Connected,
    blobs: &Blobs,
    reference: &OciRef,
    pinned: Option<&str>,
) -> Result<(String, PathBuf), OciError> {
    let target = match pinned {
        Some(d) => reference.at(d),
        None => reference.client_ref().clone(),
    };
    let (body, _) = client
        .pull_manifest_raw(&target, auth, &[OCI_MANIFEST])
        .await
        .map_err(|e| OciError::registry(reference, "read the manifest from", e))?;
    check_manifest_size(reference, "manifest", &body)?;
    let digest = sha256(&body);
    if let Some(want) = pinned
        && want != digest
    {
        return Err(OciError::Mismatch {
            reference: reference.canonical(),
            what: "manifest".into(),
            want: want.to_string(),
            got: digest,
        });
    }
    let layer = wasm_layer(reference, &body)?;
    let bytes = fetch_layer(client, reference, &layer).await?;
    blobs
        .put(&layer.digest, &bytes)
        .and_then(|_| blobs.put(&digest, &body))
        .map_err(|e| OciError::Setup {
            why: format!("cannot keep {} in the cache: {e}", reference.canonical()),
        })?;
    Ok((digest, blobs.path(&layer.digest)))
}

/// The component file of manifest `digest`, if the manifest and its layer
/// are both cached and intact.
pub fn cached(blobs: &Blobs, digest: &str) -> Option<std::path::PathBuf> {
    let body = blobs.get(digest, MAX_MANIFEST)?;
    let manifest: OciImageManifest = serde_json::from_slice(&body).ok()?;
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == WASM_LAYER)?;
    check_digest(&layer.digest).ok()?;
    // Hashed again on every use: the file is what runs.
    blobs.get(&layer.digest, MAX_COMPONENT)?;
    Some(blobs.path(&layer.digest))
}

/// The manifest's one component layer, or why it is not a Wasm component
/// artifact.
fn wasm_layer(
    reference: &OciRef,
    body: &[u8],
) -> Result<oci_client::manifest::OciDescriptor, OciError> {
    let not = |why: String| OciError::NotAComponent {
        reference: reference.canonical(),
        why,
    };
    let manifest = match serde_json::from_slice::<OciManifest>(body) {
        Ok(OciManifest::Image(m)) => m,
        Ok(OciManifest::ImageIndex(_)) => {
            return Err(not(
                "it is an image index (several platforms), not one Wasm component".into(),
            ));
        }
        Err(e) => return Err(not(format!("its manifest is not an OCI manifest: {e}"))),
    };
    if manifest.config.media_type != WASM_CONFIG {
        return Err(not(format!(
            "its config is {:?}, not {WASM_CONFIG} (push it with `weft push` or `wkg oci push`)",
            cut(&manifest.config.media_type, 100)
        )));
    }
    let mut wasm = manifest
        .layers
        .into_iter()
        .filter(|l| l.media_type == WASM_LAYER);
    let (Some(layer), None) = (wasm.next(), wasm.next()) else {
        return Err(not(format!(
            "it does not have exactly one {WASM_LAYER} layer"
        )));
    };
    check_digest(&layer.digest).map_err(not)?;
    if layer.size < 0 || layer.size as u64 > MAX_COMPONENT {
        return Err(OciError::TooLarge {
            reference: reference.canonical(),
            what: "component layer".into(),
            size: layer.size.max(0) as u64,
            max: MAX_COMPONENT,
        });
    }
    Ok(layer)
}

/// The layer's bytes, read up to its declared size and checked against
/// its digest.
async fn fetch_layer(
    client: &oci_client::Client,
    reference: &OciRef,
    layer: &oci_client::manifest::OciDescriptor,
) -> Result<Vec<u8>, OciError> {
    let declared = layer.size.max(0) as u64;
    let mut stream = client
        .pull_blob_stream(&reference.at(&layer.digest), layer)
        .await
        .map_err(|e| OciError::registry(reference, "read the component from", e))?;
    let mut bytes = Vec::with_capacity(declared.min(MAX_COMPONENT) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            // The client checks the digest as the last bytes arrive; all
            // of them here means that check failed: say which bytes came.
            Err(_) if bytes.len() as u64 == declared => break,
            Err(e) => {
                return Err(OciError::Registry {
                    reference: reference.canonical(),
                    doing: "read the component from".into(),
                    why: e.to_string(),
                });
            }
        };
        if (bytes.len() + chunk.len()) as u64 > declared {
            return Err(OciError::TooLarge {
                reference: reference.canonical(),
                what: "component layer (more bytes than its manifest declares)".into(),
                size: (bytes.len() + chunk.len()) as u64,
                max: declared,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    let got = sha256(&bytes);
    if got != layer.digest {
        return Err(OciError::Mismatch {
            reference: reference.canonical(),
            what: "component layer".into(),
            want: layer.digest.clone(),
            got,
        });
    }
    Ok(bytes)
}
