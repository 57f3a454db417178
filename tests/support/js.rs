//! JavaScript policies for the tests: built with `weft build` (the pinned
//! componentize-js from `.ci/setup-tools`) once per source, and shared.
//!
//! A build takes most of a minute, so each component is kept in
//! `target/js-guests/<hash>.wasm`, keyed by the SHA-256 of the policy's
//! files, the JS SDK and the build's own sources; a lock file makes
//! concurrent tests wait for one build instead of each making its own.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{OutputWithin, node22, repo_root, tools, weft};

/// The toolchain folder `.ci/setup-tools` installs componentize-js into.
pub fn componentize_js() -> PathBuf {
    let dir = tools().join("componentize-js");
    assert!(
        dir.join("node_modules/@bytecodealliance/componentize-js")
            .is_dir(),
        "componentize-js is not installed in {}: run `bash .ci/setup-tools`",
        dir.display()
    );
    dir
}

/// A `weft` command that finds the JavaScript toolchain of the tests, run
/// by the tool-local Node 22.
pub fn weft_with_js() -> std::process::Command {
    let mut cmd = weft();
    cmd.env("WEFT_COMPONENTIZE_JS", componentize_js())
        .env("WEFT_NODE", node22());
    cmd
}

/// The files of a policy folder (not `node_modules`), sorted, hashed with
/// everything else a build reads from this repository.
fn source_hash(dir: &Path) -> String {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .expect("read the policy folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                if entry.file_name() != "node_modules" {
                    stack.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let root = repo_root();
    files.extend(
        [
            "guest-sdk/js/index.js",
            "host/src/cli/build/js-build.mjs",
            "host/src/cli/build/js.rs",
            ".ci/componentize-js/package-lock.json",
            "wit/weft.wit",
        ]
        .map(|f| root.join(f)),
    );
    let mut hash = Sha256::new();
    for file in files {
        hash.update(
            file.strip_prefix(dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(std::fs::read(&file).expect("read a source file"));
    }
    hash.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The component of the JavaScript policy in `dir` (relative to the
/// repository root, or absolute), built once per source.
pub fn js_component(dir: impl AsRef<Path>) -> PathBuf {
    let dir = repo_root().join(dir.as_ref());
    let cache = repo_root().join("target/js-guests");
    std::fs::create_dir_all(&cache).expect("create target/js-guests");
    let hash = source_hash(&dir);
    let wasm = cache.join(format!("{hash}.wasm"));
    let lock = std::fs::File::create(cache.join(format!("{hash}.lock"))).expect("lock file");
    // SAFETY: flock on a descriptor this function owns; it is released when
    // `lock` is closed at the end of the function.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    if !wasm.exists() {
        let partial = cache.join(format!("{hash}.{}.partial.wasm", std::process::id()));
        let out = weft_with_js()
            .arg("build")
            .arg(&dir)
            .arg("-o")
            .arg(&partial)
            .output_within(std::time::Duration::from_secs(300))
            .expect("weft build runs");
        assert!(
            out.status.success(),
            "weft build {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        // The bundled source stays beside the component, so that a stack
        // trace's lines of policy.bundle.js can be read.
        let bundle = std::fs::read_to_string(partial.with_extension("bundle.js"))
            .expect("weft build keeps NAME.bundle.js beside NAME.wasm");
        assert!(
            bundle.contains("__runPolicy") || bundle.contains("__listTools"),
            "the kept bundle is the component's source"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!(
                "stack traces name lines of policy.bundle.js: they are the lines of {}",
                partial.with_extension("bundle.js").display()
            )),
            "weft build says where the bundle is"
        );
        std::fs::rename(&partial, &wasm).expect("keep the component");
        std::fs::rename(
            partial.with_extension("bundle.js"),
            wasm.with_extension("bundle.js"),
        )
        .expect("keep the bundle");
    }
    drop(lock);
    wasm
}
