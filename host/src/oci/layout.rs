//! The CNCF Wasm OCI artifact layout weft reads and writes, and the size
//! caps on what a registry sends.

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
