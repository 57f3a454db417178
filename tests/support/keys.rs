//! Tenant keys for the tests, made the way a user makes them.

use std::path::Path;
use std::process::Command;

use super::{OutputWithin, weft};

/// A new key for `tenant`, made with `weft keys add` in `dir` (whose
/// `weft.toml` is the config).
pub fn add_key(dir: &Path, tenant: &str) -> String {
    let mut cmd = weft();
    cmd.current_dir(dir);
    made(cmd, tenant)
}

/// A new key for `tenant`, made with `weft --config CONFIG keys add`.
pub fn add_key_at(config: &Path, tenant: &str) -> String {
    let mut cmd = weft();
    cmd.arg("--config").arg(config);
    made(cmd, tenant)
}

fn made(mut weft: Command, tenant: &str) -> String {
    let out = weft
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
    assert!(key.starts_with("weft_"), "not a key: {key:?}");
    key
}
