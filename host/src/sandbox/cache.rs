//! Compiled components, cached on disk and in memory.
//!
//! A component is compiled once; the native artifact is written under the
//! cache directory, keyed by the SHA-256 of the component and the engine's
//! compatibility hash (wasmtime version and engine settings), so a second
//! `weft run` compiles nothing and a changed engine never loads a stale
//! artifact.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled artifacts go: `$WEFT_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/weft/components`, else `~/.cache/weft/components`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WEFT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("weft").join("components"))
}

/// How a component was obtained, for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Already loaded in this process.
    Memory,
    /// Loaded from a precompiled artifact on disk.
    Disk,
    /// Compiled now.
    Compiled,
    /// Not loaded: the run was refused before it started.
    NotRun,
}

/// The on-disk half of the cache; the sandbox keeps loaded components.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> ComponentCache {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        }
    }

    /// Loads a component whose SHA-256 is `digest`: from disk, or by
    /// compiling it (and saving the artifact).
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Component, Origin), String> {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let file = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{}-{hex}.cwasm", self.engine_key)));
        let from_disk = file.as_deref().filter(|f| f.exists()).and_then(|f| {
            // SAFETY: the file is one this cache wrote with `precompile_component`
            // for an engine with the same compatibility hash (it is in the
            // name); wasmtime checks the header again and refuses a mismatch.
            match unsafe { Component::deserialize_file(engine, f) } {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(file = %f.display(), error = %e, "ignoring an unusable cached artifact");
                    None
                }
            }
        });
        let (component, origin) = match from_disk {
            Some(c) => (c, Origin::Disk),
            None => {
                if wasmparser_is_core_module(wasm) {
                    return Err("this is a core WebAssembly module, not a component; build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)".into());
                }
                let bytes = engine
                    .precompile_component(wasm)
                    .map_err(|e| format!("not a valid component: {e:#}"))?;
                if let Some(f) = &file {
                    save(f, &bytes);
                }
                // SAFETY: the bytes were produced just now by this engine.
                let c = unsafe { Component::deserialize(engine, &bytes) }
                    .map_err(|e| format!("cannot load the compiled component: {e:#}"))?;
                (c, Origin::Compiled)
            }
        };
        Ok((component, origin))
    }
}

/// A core module starts with the version word 1; a component with a
/// different layer/version word.
fn wasmparser_is_core_module(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && &wasm[0..4] == b"\0asm" && wasm[4..8] == [1, 0, 0, 0]
}

/// Writes atomically (temp file + rename) so a crash never leaves a torn
/// artifact; failures only cost a recompile next time.
fn save(file: &Path, bytes: &[u8]) {
    let Some(dir) = file.parent() else { return };
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::debug!(error = %e, "component cache directory unavailable");
        return;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}
