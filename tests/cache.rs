//! The compiled-component cache treats its directory as hostile storage: a
//! tampered artifact is recompiled, never loaded, and a directory others can
//! write is not used.

use std::os::unix::fs::PermissionsExt;

use weft::sandbox::{Origin, Sandbox, Wasm};

use crate::support::*;

/// The artifacts (`*.cwasm`) in a cache directory.
fn artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("list the cache")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[test]
fn a_tampered_artifact_is_recompiled_never_loaded() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let wasm = Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).expect("guest"));

    let first = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(first.prepare(&wasm).expect("compile"), Origin::Compiled);
    let mode = std::fs::metadata(&cache)
        .expect("cache dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the cache directory is private");
    let files = artifacts(&cache);
    assert_eq!(files.len(), 1, "one artifact: {files:?}");
    let artifact = &files[0];
    let file_mode = std::fs::metadata(artifact)
        .expect("artifact")
        .permissions()
        .mode();
    assert_eq!(file_mode & 0o777, 0o600, "the artifact is private");

    // Untouched, a new engine loads it from disk.
    let second = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(second.prepare(&wasm).expect("load"), Origin::Disk);

    // One flipped byte in the middle of the native code: recompiled.
    let mut bytes = std::fs::read(artifact).expect("read artifact");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(artifact, &bytes).expect("tamper");
    let third = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(third.prepare(&wasm).expect("recompile"), Origin::Compiled);
    // The recompiled artifact replaced the tampered one and loads again.
    let fourth = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(fourth.prepare(&wasm).expect("load"), Origin::Disk);

    // A truncated artifact, and one copied over from another name: recompiled.
    let bytes = std::fs::read(artifact).expect("read artifact");
    std::fs::write(artifact, &bytes[..bytes.len() - 100]).expect("truncate");
    let fifth = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(fifth.prepare(&wasm).expect("recompile"), Origin::Compiled);

    let other = Wasm::new(std::fs::read(guest_wasm("weft-policy-template")).expect("guest"));
    assert_eq!(fifth.prepare(&other).expect("compile"), Origin::Compiled);
    let files = artifacts(&cache);
    assert_eq!(files.len(), 2);
    let (a, b) = (&files[0], &files[1]);
    std::fs::copy(a, b).expect("swap an artifact in under another name");
    let sixth = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    let origins = [
        sixth.prepare(&wasm).expect("hostile"),
        sixth.prepare(&other).expect("echo"),
    ];
    assert_eq!(
        origins.iter().filter(|o| **o == Origin::Compiled).count(),
        1,
        "exactly the artifact under the wrong name is recompiled: {origins:?}"
    );
}

#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    let dir = temp_dir();
    let cache = dir.path().join("shared");
    std::fs::create_dir(&cache).expect("mkdir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let wasm = Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).expect("guest"));
    let first = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(first.prepare(&wasm).expect("compile"), Origin::Compiled);
    assert!(artifacts(&cache).is_empty(), "nothing is written there");
    let second = Sandbox::with_cache_dir(Some(cache.clone())).expect("sandbox");
    assert_eq!(
        second.prepare(&wasm).expect("compile"),
        Origin::Compiled,
        "nothing is loaded from there"
    );
}
