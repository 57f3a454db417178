//! Compiled components shared by the tests without sharing a cache.
//!
//! Compiling a 12–18 MB Python or JavaScript component takes a minute or
//! more on two busy cores, and a dozen tests run the same few components.
//! Each is compiled once, into one seed cache under
//! `target/compiled-seed/` (behind a lock file), and a test that runs it
//! gets a *copy* of the artifact and of the seed's key in its own cache
//! folder, so every test still has a cache of its own that nothing else
//! writes. The artifacts are authenticated by weft as any other (the key
//! copied with them); a changed component has another digest and is
//! compiled again. Tests of compiling and caching themselves never seed.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{repo_root, test_home};

/// The seed cache's key file (the name weft gives it).
const KEY_FILE: &str = "artifacts.key";

/// The seed cache folder, made private (weft uses no other kind).
pub fn seed_dir() -> PathBuf {
    let dir = repo_root().join("target/compiled-seed");
    private_dir(&dir);
    dir
}

/// Holds the seed's lock while the returned file is open.
pub fn lock() -> File {
    let file = File::create(repo_root().join("target/compiled-seed.lock")).expect("seed lock file");
    // SAFETY: flock on a descriptor owned by `file`, released when it closes.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    file
}

/// The component cache of this test's home, where every `weft` it starts
/// looks (see [`super::isolate`]).
pub fn home_cache() -> PathBuf {
    test_home().join(".cache/weft/components")
}

/// Puts the compiled artifact of the component at `wasm` into `cache`,
/// compiling it into the seed first if no test has yet.
pub fn seed(wasm: &Path, cache: &Path) {
    let (hex, bytes) = into_seed(wasm);
    let _lock = lock();
    if !copy_into(&hex, cache) {
        // The test's cache already has a key of its own.
        compile(cache, wasm, bytes);
    }
}

/// Compiles the component at `wasm` into the seed unless a test already
/// has; its SHA-256 (hex) and bytes.
pub fn into_seed(wasm: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    let hex = hex_digest(&bytes);
    let _lock = lock();
    let dir = seed_dir();
    if artifacts(&dir, &hex).is_empty() {
        compile(&dir, wasm, bytes.clone());
        assert!(
            !artifacts(&dir, &hex).is_empty(),
            "the seed cache holds no artifact of {} after compiling it",
            wasm.display()
        );
    }
    (hex, bytes)
}

/// Compiles `bytes` (the component at `wasm`, a policy or an adapter)
/// into the cache `dir`.
fn compile(dir: &Path, wasm: &Path, bytes: Vec<u8>) {
    let sandbox =
        weft::sandbox::Sandbox::with_cache_dir(Some(dir.to_path_buf())).expect("a sandbox");
    let component = weft::sandbox::Wasm::new(bytes);
    // A policy or an adapter: either compiles into the cache.
    if let Err(policy) = sandbox.prepare(&component) {
        sandbox
            .prepare_adapter(&component)
            .unwrap_or_else(|adapter| {
                panic!(
                    "{} does not load as a policy ({policy}) nor as an adapter ({adapter})",
                    wasm.display()
                )
            });
    }
}

/// Copies the seed's artifacts of the component whose SHA-256 is `hex`
/// into `cache`, with the seed's key; false when the seed has none, or
/// when `cache` already has a key of its own (its artifacts would not
/// verify under another key: that test then compiles for itself).
pub fn copy_into(hex: &str, cache: &Path) -> bool {
    let dir = seed_dir();
    let found = artifacts(&dir, hex);
    if found.is_empty() {
        return false;
    }
    if !share_key(&dir, cache) {
        return false;
    }
    for name in found {
        std::fs::copy(dir.join(&name), cache.join(&name)).expect("copy an artifact");
    }
    true
}

/// Copies the seed's compiled functions (with its key) into `cache`, for a
/// test that compiles a component no other test has: one it has just built
/// from a template, or an interpreter on a "fresh machine". Its Python or
/// JavaScript engine's functions are then looked up (see weft's
/// `sandbox::fncache`) and only its own are compiled: about 18 s of CPU
/// instead of 50 for a Python component. The component itself is still
/// compiled in the test's own cache, as the test means it to be. The seed
/// holds an engine's functions once a component of its language is in it
/// ([`into_seed`]). False when `cache` has a key of its own (it then
/// compiles everything).
pub fn functions_into(cache: &Path) -> bool {
    let _lock = lock();
    let dir = seed_dir();
    let from = dir.join("functions");
    let Ok(entries) = std::fs::read_dir(&from) else {
        return false;
    };
    if !share_key(&dir, cache) {
        return false;
    }
    let to = cache.join("functions");
    private_dir(&to);
    for entry in entries {
        let entry = entry.expect("a seed function entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a compiled function");
    }
    true
}

/// Makes `cache` private and gives it the key of the seed `dir`; false
/// when it has a key of its own (what the seed holds would not verify
/// under it).
fn share_key(dir: &Path, cache: &Path) -> bool {
    private_dir(cache);
    let key = std::fs::read(dir.join(KEY_FILE)).expect("the seed's key");
    match std::fs::read(cache.join(KEY_FILE)) {
        Ok(own) => own == key,
        Err(_) => {
            std::fs::copy(dir.join(KEY_FILE), cache.join(KEY_FILE)).expect("copy the seed's key");
            true
        }
    }
}

/// The full hex SHA-256 of `bytes` (weft names artifacts by it).
pub fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The names of the artifacts of the component `hex` in `dir`.
fn artifacts(dir: &Path, hex: &str) -> Vec<String> {
    let suffix = format!("-{hex}.cwasm");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(&suffix))
                .collect()
        })
        .unwrap_or_default()
}

fn private_dir(dir: &Path) {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
}
