//! Adapters that ship with weft, named `component = "builtin:NAME"`: where
//! the built component is found. What weft does for `builtin:openapi`'s
//! config is in `config/openapi.rs`.
//!
//! The components are built from `plugins/` by `.ci/build-guests` into
//! `target/wasm/wasm32-wasip2/release/`. weft looks for them in
//! `WEFT_BUILTIN_DIR`, beside its own executable, then in the `wasm/`
//! build folder of the `target/` it runs from.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The adapters `builtin:NAME` may name, with their component files.
const BUILTIN_ADAPTERS: [(&str, &str); 1] = [("openapi", "weft_openapi.wasm")];

/// The component file of `builtin:NAME` (`spec` is what follows the
/// prefix), or why there is none.
pub(crate) fn locate(spec: &str, file: &Path, key: &str) -> Result<PathBuf, ConfigError> {
    let Some((_, wasm)) = BUILTIN_ADAPTERS.iter().find(|(n, _)| *n == spec) else {
        let names: Vec<String> = BUILTIN_ADAPTERS
            .iter()
            .map(|(n, _)| format!("builtin:{n}"))
            .collect();
        return Err(
            ConfigError::new(file, key, format!("there is no built-in adapter {spec:?}"))
                .hint(format!("built-in adapters: {}", names.join(", "))),
        );
    };
    let dirs = search_dirs();
    if let Some(found) = dirs.iter().map(|d| d.join(wasm)).find(|p| p.is_file()) {
        return Ok(found);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(ConfigError::new(
        file,
        key,
        format!(
            "builtin:{spec} is not built: no {wasm} in {}",
            if looked.is_empty() {
                "any folder weft knows".to_string()
            } else {
                looked.join(", ")
            }
        ),
    )
    .hint(format!(
        "in weft's repository run `bash .ci/build-guests` (or `cargo build --manifest-path plugins/{spec}/Cargo.toml --target wasm32-wasip2 --release --target-dir target/wasm`), or set WEFT_BUILTIN_DIR to a folder holding {wasm}"
    )))
}

/// Where built-in adapters are looked for, in order.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("WEFT_BUILTIN_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.clone());
        // target/debug/weft, or target/debug/deps/TEST: target/wasm/...
        for up in exe_dir.ancestors().skip(1).take(2) {
            dirs.push(up.join("wasm/wasm32-wasip2/release"));
        }
    }
    dirs
}
