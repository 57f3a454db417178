//! Code mode on a fresh machine (issue 17): with no componentize-py and no
//! componentize-js anywhere weft looks, the first `weft exec` of each
//! language installs the pinned toolchain into weft's data folder by
//! itself, builds the interpreter with it and runs the code. The next
//! build finds the installed toolchain and installs nothing.
//!
//! The registries' downloads come from the caches `.ci/setup-tools` filled
//! (pip's and npm's), so the test exercises weft's install, not the
//! network's speed.

use std::path::{Path, PathBuf};

use crate::support::code::EXEC_DEADLINE;
use crate::support::*;

/// The PATH of this test process without any folder holding a
/// componentize-py, so weft cannot find one there.
fn path_without_componentize_py() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.join("componentize-py").exists())
        .collect();
    std::env::join_paths(dirs).expect("PATH joins")
}

/// The real home's caches of pip and npm (this process's own `HOME`, not
/// the test home weft gets).
fn registry_caches(cmd: &mut std::process::Command) {
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        cmd.env("PIP_CACHE_DIR", home.join(".cache/pip"))
            .env("npm_config_cache", home.join(".npm"));
    }
}

/// `weft exec --lang LANG FILE` of `code` with `{"n": 41}` on a machine with
/// no toolchain but the ones under `data`; (stdout, stderr), asserting
/// success.
fn exec_fresh(data: &Path, cache: &Path, lang: &str, code: &str) -> (String, String) {
    let cfg = data.parent().unwrap().join("weft.toml");
    std::fs::write(&cfg, "").unwrap();
    let file = data.parent().unwrap().join(format!("code.{lang}"));
    std::fs::write(&file, code).unwrap();
    let mut cmd = weft();
    cmd.env_remove("WEFT_TOOLS")
        .env_remove("WEFT_COMPONENTIZE_JS")
        .env_remove("WEFT_INTERPRETER_DIR")
        .env_remove("WEFT_NO_INSTALL")
        .env("PATH", path_without_componentize_py())
        .env("XDG_DATA_HOME", data)
        .env("WEFT_CACHE_DIR", cache)
        .arg("-c")
        .arg(&cfg)
        .args(["exec", "--lang", lang])
        .arg(&file)
        .args(["--input", r#"{"n": 41}"#]);
    registry_caches(&mut cmd);
    let out = cmd.output_within(EXEC_DEADLINE).expect("weft exec runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{lang}: {stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn code_mode_installs_its_toolchains_on_a_fresh_machine() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let cache = dir.path().join("cache");
    // What is fresh is the toolchains. The caches start with the compiled
    // functions of both engines (`support::seed`): each interpreter is still
    // built and compiled here, in seconds rather than a minute each.
    crate::support::code::interpreters("python");
    crate::support::code::interpreters("js");
    for cache in [&cache, &dir.path().join("cache-2")] {
        assert!(crate::support::seed::functions_into(cache));
    }
    for (lang, code, tool, folder) in [
        (
            "python",
            "return input['n'] + 1",
            "componentize-py 0.25.1",
            "componentize-py-0.25.1",
        ),
        (
            "js",
            "return input.n + 1;",
            "componentize-js 0.23.0",
            "componentize-js-0.23.0",
        ),
    ] {
        let (stdout, stderr) = exec_fresh(&data, &cache, lang, code);
        assert_eq!(stdout, "42", "{lang}: {stderr}");
        let home = data.join("weft").join(folder);
        assert!(
            stderr.contains(&format!(
                "weft: installing {tool} into {} (once; set WEFT_NO_INSTALL=1 to refuse)",
                home.display()
            )),
            "{lang}: {stderr}"
        );
        assert!(home.is_dir(), "{lang}: {} exists", home.display());
    }
    assert!(
        data.join("weft/componentize-py-0.25.1/componentize_py")
            .is_dir()
    );
    assert!(
        data.join("weft/componentize-js-0.23.0/node_modules/@bytecodealliance/componentize-js/package.json")
            .is_file()
    );
    // Beside the installs (and the config's own journal, in `journals`),
    // no scratch folder is left.
    let mut left: Vec<String> = std::fs::read_dir(data.join("weft"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "componentize-js-0.23.0",
            "componentize-py-0.25.1",
            "journals"
        ]
    );

    // A new cache makes weft build the Python interpreter again: it uses
    // the toolchain it installed, and installs nothing.
    let (stdout, stderr) = exec_fresh(
        &data,
        &dir.path().join("cache-2"),
        "python",
        "return input['n'] - 1",
    );
    assert_eq!(stdout, "40", "{stderr}");
    assert!(!stderr.contains("installing"), "{stderr}");
}
