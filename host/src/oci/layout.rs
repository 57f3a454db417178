//! The CNCF Wasm OCI artifact layout weft reads and writes, and the size
//! caps on what a registry sends.

use oci_client::manifest::{OciDescriptor, OciImageManifest};

use super::OciError;
use super::store::sha256;
use crate::config::oci::OciRef;

/// The config media type of a Wasm component artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm component.
pub const WASM_LAYER: &str = "application/wasm";
/// The manifest media type weft writes and reads.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The largest manifest accepted.
pub const MAX_MANIFEST: u64 = 1 << 20;
/// The largest component accepted (a Python component is about 40 MiB).
pub const MAX_COMPONENT: u64 = 256 << 20;

/// An image manifest of `config` (of media type `config_type`) and
/// `layers`, as weft writes them.
pub fn image_manifest(
    config_type: &str,
    config: &[u8],
    layers: Vec<OciDescriptor>,
) -> OciImageManifest {
    OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: OciDescriptor {
            media_type: config_type.to_string(),
            digest: sha256(config),
            size: config.len() as i64,
            ..OciDescriptor::default()
        },
        layers,
        ..OciImageManifest::default()
    }
}

/// Refuses a manifest (`what`: which one) over [`MAX_MANIFEST`].
pub fn check_manifest_size(reference: &OciRef, what: &str, body: &[u8]) -> Result<(), OciError> {
    if body.len() as u64 > MAX_MANIFEST {
        return Err(OciError::TooLarge {
            reference: reference.canonical(),
            what: what.into(),
            size: body.len() as u64,
            max: MAX_MANIFEST,
        });
    }
    Ok(())
}
