//! Tenant keys for the tests, made the way a user makes them.

use std::path::Path;

use super::{OutputWithin, weft};

/// A new key for `tenant`, made with `weft keys add` in `dir` (whose
/// `weft.toml` is the config).
pub fn add_key(dir: &Path, tenant: &str) -> String {
    let out = weft()
        .current_dir(dir)
        .args(["keys", "add", tenant])
        .output_timed()
        .expect("weft keys add runs");
    assert!(
        out.status.success(),
        "weft keys add {tenant}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .expect("a key is text")
        .trim()
        .to_string();
    assert!(key.starts_with("weft_"), "{key}");
    key
}
