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

/// `weft --config CONFIG keys list --json`: one object per key (`id`,
/// `tenant`, ...), in the order the keys were added.
pub fn key_list(config: &Path) -> Vec<serde_json::Value> {
    let out = weft()
        .arg("--config")
        .arg(config)
        .args(["keys", "list", "--json"])
        .output_timed()
        .expect("weft keys list");
    assert!(
        out.status.success(),
        "weft keys list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    list.as_array().expect("a list").clone()
}

/// Revokes key `id` with `weft --config CONFIG keys rm ID`.
pub fn remove_key(config: &Path, id: &str) {
    let out = weft()
        .arg("--config")
        .arg(config)
        .args(["keys", "rm", id])
        .output_timed()
        .expect("weft keys rm");
    assert!(
        out.status.success(),
        "weft keys rm {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
