//! Python policies for the tests: componentize-py from the tools venv, and
//! `weft build` of a policy folder with the result cached by content.
//!
//! A build takes about 20 s, so each distinct source (the folder's files,
//! weft's Python SDK, WIT and Python build code) is built once and kept under
//! `target/python-guests/<hash>.wasm`, shared by every test process. The
//! tests that check `weft build` itself build afresh.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{OutputWithin, repo_root, tools, weft};

/// How long one `weft build` of a Python policy may take on a loaded machine.
pub const BUILD_DEADLINE: Duration = Duration::from_secs(240);

/// The venv's bin folder, which holds componentize-py.
pub fn venv_bin_dir() -> PathBuf {
    let bin = tools().join("venv/bin");
    assert!(
        bin.join("componentize-py").is_file(),
        "componentize-py is missing in {}: run `bash .ci/setup-tools`",
        bin.display()
    );
    bin
}

/// PATH with componentize-py's folder in front.
pub fn path_with_componentize_py() -> std::ffi::OsString {
    let mut dirs = vec![venv_bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH joins")
}

/// `weft build` with componentize-py on PATH.
pub fn weft_build() -> Command {
    let mut cmd = weft();
    cmd.env("PATH", path_with_componentize_py());
    cmd
}

/// A Python policy folder under the repository (like `plugins/fanout-python`),
/// built with `weft build` once per distinct source.
pub fn python_wasm(folder: &str) -> PathBuf {
    let dir = repo_root().join(folder);
    let mut hash = Sha256::new();
    let sdk = repo_root().join("guest-sdk/python/weft_guest");
    for (label, d) in [("policy", dir.as_path()), ("sdk", sdk.as_path())] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "py" || x == "toml"))
            .collect();
        files.sort();
        for f in files {
            hash.update(label.as_bytes());
            hash.update(f.file_name().unwrap().as_encoded_bytes());
            hash.update(std::fs::read(&f).unwrap());
        }
    }
    // The WIT, and the build's own source (it writes the entry module).
    for file in ["wit/weft.wit", "host/src/cli/build/python.rs"] {
        hash.update(std::fs::read(repo_root().join(file)).unwrap());
    }
    let key: String = hash
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = repo_root().join("target/python-guests");
    std::fs::create_dir_all(&cache).unwrap();
    let name = folder.rsplit('/').next().unwrap();
    let out = cache.join(format!("{name}-{key}.wasm"));
    if out.is_file() {
        return out;
    }
    // Built under a name of this process's own, then renamed: a test that
    // races this one builds too, and either result is the same.
    let partial = cache.join(format!("{name}-{key}.{}.partial", std::process::id()));
    let done = weft_build()
        .arg("build")
        .arg(&dir)
        .arg("-o")
        .arg(&partial)
        .output_within(BUILD_DEADLINE)
        .expect("weft build runs");
    assert!(
        done.status.success(),
        "weft build {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&done.stderr)
    );
    std::fs::rename(&partial, &out).unwrap();
    out
}

/// `weft build DIR` output: the path it printed, checked to be the one file.
pub fn built_path(stdout: &[u8]) -> PathBuf {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "weft build prints one line: {text}");
    PathBuf::from(lines[0])
}
