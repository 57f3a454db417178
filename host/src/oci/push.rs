//! Publishing a component: its bytes as one `application/wasm` layer, a
//! small `application/vnd.wasm.config.v0+json` config, and an OCI image
//! manifest, in the CNCF Wasm artifact layout that `wkg` and other Wasm
//! OCI tools read. The manifest is serialised here, so the digest printed
//! is the digest of exactly the bytes pushed.

use std::path::Path;

use oci_client::RegistryOperation;
use oci_client::manifest::OciDescriptor;

use super::OciError;
use super::client::connect;
use super::layout::{MAX_COMPONENT, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER, image_manifest};
use super::store::sha256;
use crate::config::oci::OciRef;
use crate::config::registries::Registries;

/// What a push made.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest's digest: pin it with `REFERENCE@DIGEST`.
    pub digest: String,
    /// The component layer's digest.
    pub layer: String,
    /// The component's size in bytes.
    pub size: u64,
}

/// Pushes the component at `file` as `reference` (a tag, usually).
pub async fn push(
    registries: &Registries,
    file: &Path,
    reference: &OciRef,
) -> Result<Pushed, OciError> {
    let wasm = read_component(file)?;
    let layer_digest = sha256(&wasm);
    let config = serde_json::to_vec(&serde_json::json!({
        "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    }))
    .map_err(|e| OciError::Setup { why: e.to_string() })?;
    let layer = OciDescriptor {
        media_type: WASM_LAYER.to_string(),
        digest: layer_digest.clone(),
        size: wasm.len() as i64,
        ..OciDescriptor::default()
    };
    let manifest = image_manifest(WASM_CONFIG, &config, vec![layer]);
    let config_digest = manifest.config.digest.clone();
    let body = serde_json::to_vec(&manifest).map_err(|e| OciError::Setup { why: e.to_string() })?;
    let (client, _) = connect(registries, reference, RegistryOperation::Push).await?;
    let target = reference.client_ref();
    let size = wasm.len() as u64;
    client
        .push_blob(target, wasm, &layer_digest)
        .await
        .map_err(|e| OciError::registry(reference, "push the component to", e))?;
    client
        .push_blob(target, config, &config_digest)
        .await
        .map_err(|e| OciError::registry(reference, "push the config to", e))?;
    let digest = sha256(&body);
    client
        .push_manifest_raw(target, body, http::HeaderValue::from_static(OCI_MANIFEST))
        .await
        .map_err(|e| OciError::registry(reference, "push the manifest to", e))?;
    Ok(Pushed {
        digest,
        layer: layer_digest,
        size,
    })
}

/// The component's bytes, or why `file` is not one.
fn read_component(file: &Path) -> Result<Vec<u8>, OciError> {
    let not = |why: String| OciError::File {
        path: file.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(file).map_err(|e| not(e.to_string()))?;
    if meta.len() > MAX_COMPONENT {
        return Err(not(format!(
            "is {} bytes, over the {MAX_COMPONENT}-byte limit",
            meta.len()
        )));
    }
    let wasm = std::fs::read(file).map_err(|e| not(e.to_string()))?;
    match wasm.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => Ok(wasm),
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(not(
            "is a core Wasm module, not a component (build it with `weft build`, or wrap it with `wasm-tools component new`)".into(),
        )),
        _ => Err(not("is not a Wasm component".into())),
    }
}
