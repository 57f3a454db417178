//! Cosign-compatible signatures with a key: what `cosign sign --key`
//! writes and `cosign verify --key` reads, made and checked here with
//! ECDSA P-256.
//!
//! A component at manifest digest `sha256:HEX` is signed by an artifact
//! tagged `sha256-HEX.sig` in the same repository. Each of its layers (of
//! type `application/vnd.dev.cosign.simplesigning.v1+json`) is a small JSON
//! payload naming the digest, with the signature over the payload's bytes
//! in the layer's `dev.cosignproject.cosign/signature` annotation (base64
//! of an ASN.1 ECDSA signature). A signature counts when a trusted key
//! verifies it *and* its payload names this digest.
//!
//! What a registry sends is kept in the cache by digest (and the
//! signature artifact found for a component is noted beside it), so a
//! component pinned and cached is verified again at every start, the
//! registry reachable or not.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::RegistryOperation;
use oci_client::manifest::{OciDescriptor, OciImageManifest};

use super::OciError;
use super::client::{Connected, connect};
use super::keyfile::SigningKey;
use super::keyless::{self, Evidence};
use super::layout::{MAX_MANIFEST, OCI_MANIFEST, check_manifest_size, image_manifest};
use super::store::{Blobs, sha256};
use crate::config::oci::{OciRef, Signed};
use crate::config::registries::{Registries, Trust, TrustedKey};

/// The media type of a cosign signature payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a payload's signature.
pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The payload's `type`.
const PAYLOAD_TYPE: &str = "cosign container image signature";
/// The config media type of a signature artifact.
const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The manifest media types a signature artifact may have.
const MANIFEST_TYPES: [&str; 2] = [
    OCI_MANIFEST,
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// The largest signature payload read.
const MAX_PAYLOAD: u64 = 64 << 10;
/// The most signatures on one component looked at.
const MAX_SIGNATURES: usize = 32;

/// Whether a component with signatures `signed` may run: refused under
/// `require_signatures` unless a trusted key signed it; otherwise run,
/// with a warning when it was not verified.
pub(super) fn admit(
    trust: &Trust,
    reference: &OciRef,
    digest: &str,
    signed: &Signed,
) -> Result<(), OciError> {
    let why = match signed {
        Signed::NotChecked | Signed::Verified(_) => return Ok(()),
        Signed::Unsigned => "it has no signature".to_string(),
        Signed::Untrusted(why) => format!("it is not signed by a trusted key: {why}"),
    };
    if trust.require_signatures {
        return Err(OciError::Unsigned {
            reference: reference.canonical(),
            digest: digest.to_string(),
            why,
        });
    }
    tracing::warn!(reference = %reference.canonical(), digest, "{why}; it runs, since [settings.trust] require_signatures is off");
    Ok(())
}

/// The signature tag of manifest `digest`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// What the signatures of `digest` show, read from the registry (`client`)
/// or, without one, from the cache.
pub(super) async fn check(
    client: Option<&Connected>,
    blobs: &Blobs,
    reference: &OciRef,
    digest: &str,
    trust: &Trust,
) -> Result<Signed, OciError> {
    if trust.is_off() {
        return Ok(Signed::NotChecked);
    }
    let signatures = match client {
        Some(c) => fetch(c, blobs, reference, digest).await?,
        None => cached(blobs, digest),
    };
    if signatures.is_empty() {
        return Ok(Signed::Unsigned);
    }
    let mut why = if trust.keys.is_empty() && trust.keyless.is_some() {
        format!(
            "{} signature(s), none keyless and no [settings.trust] keys",
            signatures.len()
        )
    } else {
        "no trusted key is configured ([settings.trust] keys)".to_string()
    };
    for found in &signatures {
        let (payload, signature) = (&found.payload, &found.signature);
        let over_this = payload_digest(payload).as_deref() == Some(digest);
        for key in &trust.keys {
            if !key.verifies(payload, signature) {
                why = format!(
                    "{} signature(s), none made by a trusted key ({})",
                    signatures.len(),
                    names(trust)
                );
                continue;
            }
            if over_this {
                return Ok(Signed::Verified(key.name()));
            }
            why = format!("a signature by {} is over another digest", key.name());
        }
        if let (Some(keyless), Some(evidence)) = (&trust.keyless, &found.evidence) {
            match keyless::verify(keyless, payload, signature, evidence) {
                Ok(who) if over_this => return Ok(Signed::Verified(who)),
                Ok(who) => why = format!("a signature by {who} is over another digest"),
                Err(e) => why = format!("a keyless signature: {e}"),
            }
        }
    }
    Ok(Signed::Untrusted(why))
}

fn names(trust: &Trust) -> String {
    let names: Vec<String> = trust.keys.iter().map(TrustedKey::name).collect();
    names.join(", ")
}

/// The digest a payload names, if it is a cosign signature payload.
fn payload_digest(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if v["critical"]["type"] != PAYLOAD_TYPE {
        return None;
    }
    v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .map(str::to_string)
}

/// Whether the registry said the manifest is not there.
fn not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode};
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

/// The (payload, signature) pairs of `digest`'s signature artifact in the
/// registry; what was read is kept in the cache.
async fn fetch(
    (client, auth): &Connected,
    blobs: &Blobs,
    reference: &OciRef,
    digest: &str,
) -> Result<Vec<Found>, OciError> {
    let tag = reference.tagged(&signature_tag(digest));
    let body = match client.pull_manifest_raw(&tag, auth, &MANIFEST_TYPES).await {
        Ok((body, _)) => body,
        Err(e) if not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(OciError::registry(reference, "read the signatures from", e)),
    };
    check_manifest_size(reference, "signature manifest", &body)?;
    let sig_digest = sha256(&body);
    let manifest: OciImageManifest =
        serde_json::from_slice(&body).map_err(|e| OciError::Registry {
            reference: reference.canonical(),
            doing: "read the signatures from".into(),
            why: format!("the signature artifact is not an image manifest: {e}"),
        })?;
    let mut out = Vec::new();
    for layer in signature_layers(&manifest) {
        if annotation_signature(layer).is_none() {
            continue;
        }
        let payload = match blobs.get(&layer.digest, MAX_PAYLOAD) {
            Some(p) => p,
            None => {
                let mut bytes = Vec::new();
                client
                    .pull_blob(&reference.at(&layer.digest), layer, &mut bytes)
                    .await
                    .map_err(|e| OciError::registry(reference, "read a signature from", e))?;
                if bytes.len() as u64 > MAX_PAYLOAD || sha256(&bytes) != layer.digest {
                    continue;
                }
                let _ = blobs.put(&layer.digest, &bytes);
                bytes
            }
        };
        out.extend(found(layer, payload));
    }
    // Kept for starts without the registry: every part is checked again
    // by its digest, and the signatures by the keys.
    if blobs.put(&sig_digest, &body).is_ok() {
        let _ = blobs.note(digest, &sig_digest);
    }
    Ok(out)
}

/// The cached signatures of `digest`, if a start with the registry kept
/// them.
fn cached(blobs: &Blobs, digest: &str) -> Vec<Found> {
    let Some(sig_digest) = blobs.noted(digest) else {
        return Vec::new();
    };
    let Some(body) = blobs.get(&sig_digest, MAX_MANIFEST) else {
        return Vec::new();
    };
    let Ok(manifest) = serde_json::from_slice::<OciImageManifest>(&body) else {
        return Vec::new();
    };
    signature_layers(&manifest)
        .filter_map(|l| found(l, blobs.get(&l.digest, MAX_PAYLOAD)?))
        .collect()
}

/// One signature found on a component.
struct Found {
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// A keyless signature's certificate and Rekor bundle.
    evidence: Option<Evidence>,
}

/// The signature `layer` carries over `payload`, if it has one.
fn found(layer: &OciDescriptor, payload: Vec<u8>) -> Option<Found> {
    let signature = annotation_signature(layer)?;
    let note = |name: &str| {
        layer
            .annotations
            .as_ref()?
            .get(name)
            .filter(|v| v.len() <= keyless::MAX_ANNOTATION)
            .cloned()
    };
    let evidence = note(keyless::CERTIFICATE).map(|certificate| Evidence {
        certificate,
        chain: note(keyless::CHAIN).unwrap_or_default(),
        bundle: note(keyless::BUNDLE),
    });
    Some(Found {
        payload,
        signature,
        evidence,
    })
}

fn signature_layers(manifest: &OciImageManifest) -> impl Iterator<Item = &OciDescriptor> {
    manifest
        .layers
        .iter()
        .filter(|l| {
            l.media_type == SIMPLE_SIGNING && crate::config::oci::check_digest(&l.digest).is_ok()
        })
        .take(MAX_SIGNATURES)
}

fn annotation_signature(layer: &OciDescriptor) -> Option<Vec<u8>> {
    let text = layer.annotations.as_ref()?.get(SIGNATURE)?;
    if text.len() > 1024 {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Signs the component `reference` names (at its digest, or what its tag
/// resolves to now) with `key`, adding the signature to its signature
/// artifact. Returns the digest signed.
pub async fn sign(
    registries: &Registries,
    reference: &OciRef,
    key: &SigningKey,
) -> Result<String, OciError> {
    let (client, auth) = connect(registries, reference, RegistryOperation::Push).await?;
    let target = match reference.digest() {
        Some(d) => reference.at(d),
        None => reference.client_ref().clone(),
    };
    let (body, _) = client
        .pull_manifest_raw(&target, &auth, &[OCI_MANIFEST])
        .await
        .map_err(|e| OciError::registry(reference, "read the manifest from", e))?;
    check_manifest_size(reference, "manifest", &body)?;
    let digest = sha256(&body);
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{}", reference.registry(), reference.repository())},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    }))
    .map_err(|e| OciError::Setup { why: e.to_string() })?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signature = key.pair.sign(&rng, &payload).map_err(|_| OciError::Setup {
        why: "signing failed".into(),
    })?;
    let payload_digest = sha256(&payload);
    let tag = reference.tagged(&signature_tag(&digest));
    // Signatures already there are kept; this one is added (or replaces
    // the same payload signed before).
    let mut layers: Vec<OciDescriptor> =
        match client.pull_manifest_raw(&tag, &auth, &MANIFEST_TYPES).await {
            Ok((old, _)) => serde_json::from_slice::<OciImageManifest>(&old)
                .map(|m| m.layers)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
    layers.retain(|l| l.digest != payload_digest);
    layers.push(OciDescriptor {
        media_type: SIMPLE_SIGNING.into(),
        digest: payload_digest.clone(),
        size: payload.len() as i64,
        annotations: Some(BTreeMap::from([(
            SIGNATURE.to_string(),
            base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
        )])),
        ..OciDescriptor::default()
    });
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "created": "0001-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .map_err(|e| OciError::Setup { why: e.to_string() })?;
    let manifest = image_manifest(IMAGE_CONFIG, &config, layers);
    let config_digest = manifest.config.digest.clone();
    let body = serde_json::to_vec(&manifest).map_err(|e| OciError::Setup { why: e.to_string() })?;
    client
        .push_blob(&tag, payload, &payload_digest)
        .await
        .map_err(|e| OciError::registry(reference, "push the signature to", e))?;
    client
        .push_blob(&tag, config, &config_digest)
        .await
        .map_err(|e| OciError::registry(reference, "push the signature to", e))?;
    client
        .push_manifest_raw(&tag, body, http::HeaderValue::from_static(OCI_MANIFEST))
        .await
        .map_err(|e| OciError::registry(reference, "push the signature to", e))?;
    Ok(digest)
}
