//! Code mode for the tests: `weft exec` with both toolchains at hand, and
//! the interpreters kept in one folder under `target/` for every test
//! (weft names each by a fingerprint of its source, SDK, WIT and
//! toolchain, so a stale one is never used). A lock file makes concurrent
//! tests wait for one build instead of each making its own.

use std::path::PathBuf;
use std::process::Command;

use super::{OutputWithin, repo_root};

/// `weft exec` may build an interpreter (up to a minute each) and then
/// compile it (the same again on a loaded machine).
pub const EXEC_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// A `weft` that finds componentize-py and componentize-js, with its
/// interpreters in `dir`.
pub fn weft_code(dir: &std::path::Path) -> Command {
    let mut cmd = super::js::weft_with_js();
    cmd.env("PATH", super::python::path_with_componentize_py())
        .env("WEFT_INTERPRETER_DIR", dir);
    cmd
}

/// The shared interpreter folder, with the interpreter for `lang`
/// (`python` or `js`) built, compiled once into the seed cache and copied
/// into this test's own (see [`super::seed`]).
pub fn interpreters(lang: &str) -> PathBuf {
    let dir = repo_root().join("target/code-interpreters");
    std::fs::create_dir_all(&dir).expect("create target/code-interpreters");
    let lock = std::fs::File::create(dir.join(".lock")).expect("lock file");
    // SAFETY: flock on a descriptor this function owns; it is released when
    // `lock` is closed at the end of the function.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    let work = super::temp_dir();
    let cfg = work.path().join("weft.toml");
    std::fs::write(&cfg, "").expect("write an empty config");
    {
        let code = "return 1;\n";
        let file = work.path().join(format!("one.{lang}"));
        std::fs::write(&file, code).expect("write code");
        // The first `weft exec` compiles into the seed cache; later ones
        // load from it.
        let _seed = super::seed::lock();
        let out = weft_code(&dir)
            .env("WEFT_CACHE_DIR", super::seed::seed_dir())
            .arg("-c")
            .arg(&cfg)
            .args(["exec", "--lang", lang])
            .arg(&file)
            .output_within(EXEC_DEADLINE)
            .expect("weft exec runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1",
            "weft exec --lang {lang} of `return 1`: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let prefix = format!("{}-", if lang == "js" { "javascript" } else { "python" });
    for entry in std::fs::read_dir(&dir).expect("read the interpreter folder") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with(".wasm") && !name.contains("partial") {
            let hex = super::seed::hex_digest(&std::fs::read(&path).expect("read an interpreter"));
            super::seed::copy_into(&hex, &super::seed::home_cache());
        }
    }
    dir
}
