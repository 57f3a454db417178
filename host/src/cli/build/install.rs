//! The guest toolchains weft installs for itself: when `weft build`, or
//! code mode's first run of a language, finds no componentize-py or
//! componentize-js at the pinned version, weft installs that version from
//! the package registries into a folder of its own under the user's data
//! directory (`$XDG_DATA_HOME/weft`, else `~/.local/share/weft`), once,
//! and says so on stderr. A fresh machine with Python 3 and Node.js then
//! needs no manual step.
//!
//! `WEFT_NO_INSTALL=1` refuses: the error then says how to install by hand.
//! An install is made in a scratch folder beside its final place and moved
//! there when complete, so a crash or a concurrent weft never leaves a
//! half-installed toolchain where weft would take it for a whole one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::run_tool;

/// The pinned JavaScript toolchain's lock file (no download addresses in
/// it), so an install gets exactly what CI tests.
const JS_LOCK: &str = include_str!("../../../../.ci/componentize-js/package-lock.json");

/// weft's own folder under the user's data directory.
pub(super) fn data_dir() -> Option<PathBuf> {
    crate::config::data_dir()
}

/// Whether weft may install a toolchain (`WEFT_NO_INSTALL` unset, empty
/// or `0`).
pub(super) fn allowed() -> bool {
    std::env::var("WEFT_NO_INSTALL").map_or(true, |v| v.is_empty() || v == "0")
}

/// The folder componentize-py `version` is installed into (a pip
/// `--target` folder: the package, no scripts).
pub(super) fn python_dir(version: &str) -> Option<PathBuf> {
    data_dir().map(|d| d.join(format!("componentize-py-{version}")))
}

/// The folder the pinned componentize-js toolchain is installed into.
pub(super) fn js_dir(version: &str) -> Option<PathBuf> {
    data_dir().map(|d| d.join(format!("componentize-js-{version}")))
}

/// The Python that installs and runs componentize-py: `$WEFT_PYTHON`, else
/// `python3`.
pub(super) fn python() -> PathBuf {
    std::env::var_os("WEFT_PYTHON")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Installs componentize-py `version` with pip into `dir`.
pub(super) async fn python_toolchain(dir: &Path, version: &str) -> anyhow::Result<()> {
    let python = python();
    let what = format!("componentize-py {version}");
    let py = &python;
    into(dir, &what, |scratch| async move {
        let mut cmd = tokio::process::Command::new(py);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
        ])
        .arg(&scratch)
        .arg(format!("componentize-py=={version}"));
        run_tool(&mut cmd, &format!("{} -m pip", py.display()), None).await
    })
    .await
    .with_context(|| {
        format!(
            "installing {what} needs Python 3 with pip ({} on PATH, or set WEFT_PYTHON) and the Python package registry",
            python.display()
        )
    })
}

/// Installs the pinned JavaScript toolchain (`package.json` text `pins`,
/// with its lock) with `npm ci` into `dir`.
pub(super) async fn js_toolchain(dir: &Path, pins: &str, version: &str) -> anyhow::Result<()> {
    let what = format!("componentize-js {version}");
    let npm = std::env::var_os("WEFT_NPM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("npm"));
    let npm_ref = &npm;
    into(dir, &what, |scratch| async move {
        std::fs::write(scratch.join("package.json"), pins).context("cannot write package.json")?;
        std::fs::write(scratch.join("package-lock.json"), JS_LOCK)
            .context("cannot write package-lock.json")?;
        let mut cmd = tokio::process::Command::new(npm_ref);
        cmd.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&scratch);
        run_tool(&mut cmd, "npm ci", None).await
    })
    .await
    .with_context(|| {
        format!(
            "installing {what} needs npm ({} on PATH, or set WEFT_NPM) and the npm registry",
            npm.display()
        )
    })
}

/// Fills a scratch folder beside `dir` with `fill` and moves it to `dir`.
/// If another weft finished first, its install is kept and ours dropped.
async fn into<F, Fut>(dir: &Path, what: &str, fill: F) -> anyhow::Result<()>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if !allowed() {
        bail!("WEFT_NO_INSTALL is set, so weft does not install {what} itself");
    }
    let parent = dir
        .parent()
        .with_context(|| format!("{} has no parent folder", dir.display()))?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot make a scratch folder in {}", parent.display()))?;
    crate::errln!(
        "weft: installing {what} into {} (once; set WEFT_NO_INSTALL=1 to refuse)",
        dir.display()
    );
    fill(scratch.path().to_path_buf()).await?;
    let scratch = scratch.keep();
    match std::fs::rename(&scratch, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => {
            // Another weft installed it meanwhile: keep that one.
            let _ = std::fs::remove_dir_all(&scratch);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            Err(e).with_context(|| format!("cannot move the install into {}", dir.display()))
        }
    }
}
