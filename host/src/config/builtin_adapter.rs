//! Adapters that ship with weft, named `component = "builtin:NAME"`: where
//! the built component is found, and what the host does for their config
//! (for `builtin:openapi`, reading `spec_file`, since a component has no
//! file system).
//!
//! The components are built from `plugins/` by `.ci/build-guests` into
//! `target/wasm/wasm32-wasip2/release/`. weft looks for them in
//! `WEFT_BUILTIN_DIR`, beside its own executable, then in the `wasm/`
//! build folder of the `target/` it runs from.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ConfigError;

/// The adapters `builtin:NAME` may name, with their component files.
const BUILTIN_ADAPTERS: [(&str, &str); 1] = [("openapi", "weft_openapi.wasm")];
/// The largest OpenAPI document weft reads from `spec_file`, in bytes.
pub const MAX_SPEC: u64 = 4 << 20;
/// The most operations an OpenAPI document may have (the adapter's own
/// cap; weft serves at most 1024 tools per adapter).
pub const MAX_OPERATIONS: usize = 1000;
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

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

/// Readies `builtin:NAME`'s config: for `openapi`, the document from
/// `spec_file` (read here, relative to the config file) or `spec`,
/// checked and handed over as `spec`.
pub(crate) fn prepare(
    name: &str,
    config: &mut Value,
    file: &Path,
    entry: &str,
) -> Result<(), ConfigError> {
    if name != "openapi" {
        return Ok(());
    }
    let Some(table) = config.as_object_mut() else {
        return Ok(());
    };
    let key = |k: &str| format!("{entry}.config.{k}");
    let hint = "set `spec_url` (fetched through the server's egress), `spec_file = \"openapi.json\"` (read by weft) or `spec` (the document itself)";
    if let Some(url) = table.get("spec_url") {
        if table.contains_key("spec_file") || table.contains_key("spec") {
            return Err(ConfigError::new(
                file,
                key("spec_url"),
                "cannot be combined with `spec_file` or `spec`",
            )
            .hint(hint));
        }
        let ok = url
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if !ok {
            return Err(ConfigError::new(
                file,
                key("spec_url"),
                "must be an http:// or https:// URL, as a string",
            ));
        }
        // The component fetches it at start, through the server's egress
        // (its allow-list and injected headers), as it makes every call.
        return Ok(());
    }
    let (doc, field) = match (table.remove("spec_file"), table.remove("spec")) {
        (Some(_), Some(_)) => {
            return Err(
                ConfigError::new(file, key("spec_file"), "cannot be combined with `spec`")
                    .hint(hint),
            );
        }
        (Some(Value::String(p)), None) => (read_spec(&p, file, &key("spec_file"))?, "spec_file"),
        (Some(_), None) => {
            return Err(ConfigError::new(
                file,
                key("spec_file"),
                "must be a path, as a string",
            ));
        }
        (None, Some(Value::String(text))) => {
            let doc = serde_json::from_str(&text).map_err(|e| {
                ConfigError::new(file, key("spec"), format!("is not a JSON document: {e}"))
            })?;
            (doc, "spec")
        }
        (None, Some(doc @ Value::Object(_))) => (doc, "spec"),
        (None, Some(_)) => {
            return Err(ConfigError::new(
                file,
                key("spec"),
                "must be a table or JSON text",
            ));
        }
        (None, None) => {
            return Err(ConfigError::new(
                file,
                format!("{entry}.config"),
                "builtin:openapi needs an OpenAPI document",
            )
            .hint(hint));
        }
    };
    check_spec(&doc).map_err(|m| ConfigError::new(file, key(field), m.to_string()))?;
    table.insert("spec".into(), doc);
    Ok(())
}

/// The document at `path` (relative to the config file), at most
/// [`MAX_SPEC`] bytes of JSON.
fn read_spec(path: &str, file: &Path, key: &str) -> Result<Value, ConfigError> {
    let full = match file.parent() {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => PathBuf::from(path),
    };
    let shown = full.display();
    let size = std::fs::metadata(&full)
        .map_err(|e| ConfigError::new(file, key, format!("cannot read {shown}: {e}")))?
        .len();
    if size > MAX_SPEC {
        return Err(ConfigError::new(
            file,
            key,
            format!("{shown} is {size} bytes, over the cap of {MAX_SPEC}"),
        )
        .hint("serve a smaller document: split the API by tag into several servers"));
    }
    let text = std::fs::read_to_string(&full)
        .map_err(|e| ConfigError::new(file, key, format!("cannot read {shown}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::new(file, key, format!("{shown} is not a JSON document: {e}"))
            .hint("weft reads OpenAPI documents as JSON; convert a YAML one first")
    })
}

/// Why a document is not one the OpenAPI adapter can serve.
#[derive(Debug, thiserror::Error)]
enum SpecError {
    #[error("is not an OpenAPI 3.0 or 3.1 document (its `openapi` field is {0})")]
    Version(String),
    #[error("has no `paths` object, so it has no operations")]
    NoPaths,
    #[error(
        "has {0} operations, over the cap of {MAX_OPERATIONS}: serve a smaller document (split it by tag)"
    )]
    TooMany(usize),
}

/// What the adapter would refuse, said before it loads: not OpenAPI 3.0
/// or 3.1, no `paths`, too many operations.
fn check_spec(doc: &Value) -> Result<(), SpecError> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(SpecError::Version(
            doc.get("openapi")
                .map(|v| {
                    let mut text = v.to_string();
                    crate::util::truncate(&mut text, 40);
                    text
                })
                .unwrap_or_else(|| "missing".into()),
        ));
    }
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err(SpecError::NoPaths);
    };
    let operations: usize = paths
        .values()
        .filter_map(Value::as_object)
        .map(|item| METHODS.iter().filter(|m| item.contains_key(**m)).count())
        .sum();
    if operations > MAX_OPERATIONS {
        return Err(SpecError::TooMany(operations));
    }
    Ok(())
}
