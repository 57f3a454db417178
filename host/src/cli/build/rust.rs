//! Rust policies: `cargo build --target wasm32-wasip2 --release` in the
//! policy's folder, then the `.wasm` cargo reports copied to the output.
//!
//! The artifact's path comes from cargo's own JSON messages, so a
//! `CARGO_TARGET_DIR`, a `build.target-dir` or an enclosing workspace are
//! all honoured. The crate decides its world: an adapter enables
//! weft-guest's `adapter` feature, which [`world`] reads to name it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Job, World, find_program, run_tool};

/// The crate's world: an adapter if its `weft-guest` dependency enables
/// the `adapter` feature. `--adapter` on any other crate is refused (the
/// crate, not weft, decides what it exports).
pub(super) fn world(dir: &Path, adapter: bool) -> anyhow::Result<World> {
    let manifest = dir.join("Cargo.toml");
    let text = super::read_manifest(&manifest)?;
    let doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let found = doc
        .get("dependencies")
        .and_then(|d| d.get("weft-guest"))
        .and_then(|g| g.get("features"))
        .and_then(|f| f.as_array())
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("adapter")));
    match (found, adapter) {
        (true, _) => Ok(World::Adapter),
        (false, false) => Ok(World::Policy),
        (false, true) => bail!(
            "--adapter: {} does not enable weft-guest's `adapter` feature (`weft-guest = {{ ..., features = [\"adapter\"] }}`); a Rust crate's own code decides its world",
            manifest.display()
        ),
    }
}

const TARGET: &str = "wasm32-wasip2";

pub(super) async fn build(job: &Job) -> anyhow::Result<()> {
    let Some(cargo) = find_program("cargo") else {
        bail!("cargo is not on PATH: install Rust with rustup, then `rustup target add {TARGET}`");
    };
    if let Some(rustup) = find_program("rustup") {
        let installed = tokio::process::Command::new(rustup)
            .args(["target", "list", "--installed"])
            .current_dir(&job.dir)
            .kill_on_drop(true)
            .output()
            .await
            .context("cannot run `rustup target list --installed`")?;
        let text = String::from_utf8_lossy(&installed.stdout);
        if installed.status.success() && !text.lines().any(|l| l.trim() == TARGET) {
            bail!("the Rust target {TARGET} is not installed: run `rustup target add {TARGET}`");
        }
    }
    let messages = job.work.join("cargo-messages.json");
    let file = std::fs::File::create(&messages).context("cannot write cargo's messages")?;
    let mut cmd = tokio::process::Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--message-format",
        "json-render-diagnostics",
    ])
    .current_dir(&job.dir);
    run_tool(&mut cmd, "cargo build", Some(file.into())).await?;
    let text = std::fs::read_to_string(&messages).context("cannot read cargo's messages")?;
    let wasm = artifact(&text).with_context(|| {
        format!(
            "cargo built no .wasm: is {} a library crate with crate-type = [\"cdylib\"]?",
            job.dir.join("Cargo.toml").display()
        )
    })?;
    std::fs::copy(&wasm, &job.out)
        .with_context(|| format!("cannot copy {} to {}", wasm.display(), job.out.display()))?;
    Ok(())
}

/// The `.wasm` of the last `compiler-artifact` message that has one.
fn artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .find_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str())
                .map(PathBuf::from)
                .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_with_the_adapter_feature_is_an_adapter() {
        let dir = tempfile::tempdir().unwrap();
        let write = |deps: &str| {
            std::fs::write(
                dir.path().join("Cargo.toml"),
                format!("[package]\nname = \"x\"\n[dependencies]\n{deps}\n"),
            )
            .unwrap()
        };
        write(r#"weft-guest = { path = "g", features = ["adapter"] }"#);
        assert_eq!(world(dir.path(), false).unwrap(), World::Adapter);
        write(r#"weft-guest = { path = "g" }"#);
        assert_eq!(world(dir.path(), false).unwrap(), World::Policy);
        let e = world(dir.path(), true).unwrap_err().to_string();
        assert!(
            e.contains("does not enable weft-guest's `adapter` feature"),
            "{e}"
        );
    }

    #[test]
    fn the_wasm_artifact_is_found_among_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","filenames":["/t/libserde.rlib"]}
{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/my_policy.wasm","/t/x.rlib"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            artifact(messages),
            Some(PathBuf::from("/t/wasm32-wasip2/release/my_policy.wasm"))
        );
        assert_eq!(artifact("not json\n"), None);
    }
}
