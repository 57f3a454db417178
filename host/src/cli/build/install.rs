//! The guest toolchains weft installs for itself: when `weft build`, or
//! code mode's first run of a language, finds no componentize-py or
//! componentize-js at the pinned version, weft installs that version from
//! the package registries into a folder of its own under the user's data
//! directory (`$XDG_DATA_HOME/weft`, else `~/.local/share/weft`), once,
//! and says so on stderr. A fresh machine with Python 3 and Node.js then
//! needs no manual step.
//!
//! What is installed is exactly what was pinned, and nothing it ships runs
//! while it is installed: pip takes componentize-py only as a wheel whose
//! SHA-256 is one of [`COMPONENTIZE_PY_WHEELS`] (`--require-hashes`), and
//! npm installs the lock, every package pinned by its sha512 integrity,
//! with `npm ci --ignore-scripts` (no package's install scripts run; the
//! toolchain needs none).
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

/// The componentize-py release whose wheels are pinned below.
const COMPONENTIZE_PY_PINNED: &str = "0.25.1";
/// The SHA-256 of every wheel of componentize-py 0.25.1 on PyPI (macOS
/// x86_64 and arm64, Linux aarch64 and x86_64, Windows x64), as PyPI
/// lists them. A new version needs its own.
const COMPONENTIZE_PY_WHEELS: &[&str] = &[
    "65fbc4a94df1de8acf7da50a1f5ed1711230188844e53e6332d99029be4e0afa",
    "a556991534cc496207a9d2ca733c4b0f17ed38ef56a8d6b5f1847fdf1225dd1b",
    "7b6a87c520358166843af0daa86d2312d7af4cbcbbf1e598951085cf7f2991ca",
    "8623cd8cab8453cb0cd8bf03f3c7103420d06f2f3d360186a280a70a1ca5e89f",
    "c7fd552fb0849858b0c1e8981543ed5dff4b0cc1597a8ea0bc26a495786dc0c6",
];

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

/// pip's requirements for componentize-py `version`: the version and the
/// hashes of its wheels.
fn python_requirements(version: &str) -> anyhow::Result<String> {
    if version != COMPONENTIZE_PY_PINNED {
        bail!(
            "weft pins the wheels of componentize-py {COMPONENTIZE_PY_PINNED} by hash, not those of {version}"
        );
    }
    let mut text = format!("componentize-py=={version}");
    for hash in COMPONENTIZE_PY_WHEELS {
        text += &format!(" \\\n    --hash=sha256:{hash}");
    }
    text.push('\n');
    Ok(text)
}

/// Installs componentize-py `version` with pip into `dir`, as a wheel
/// whose hash is pinned.
pub(super) async fn python_toolchain(dir: &Path, version: &str) -> anyhow::Result<()> {
    let python = python();
    let what = format!("componentize-py {version}");
    let requirements = python_requirements(version)?;
    let py = &python;
    into(dir, &what, |scratch| async move {
        // Beside the scratch folder, not in it (that becomes the install).
        let parent = scratch.parent().unwrap_or(&scratch);
        let mut file = tempfile::Builder::new()
            .prefix(".install-")
            .suffix(".txt")
            .tempfile_in(parent)
            .context("cannot write pip's requirements file")?;
        std::io::Write::write_all(&mut file, requirements.as_bytes())
            .context("cannot write pip's requirements file")?;
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
            "--require-hashes",
            "--target",
        ])
        .arg(&scratch)
        .arg("-r")
        .arg(file.path());
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
/// with its integrity-pinned lock) with `npm ci --ignore-scripts` into
/// `dir`.
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
        cmd.args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashes_pinned_are_for_the_version_weft_uses() {
        assert_eq!(
            COMPONENTIZE_PY_PINNED,
            super::super::python::COMPONENTIZE_PY_VERSION
        );
        assert!(python_requirements("0.0.1").is_err());
    }

    #[test]
    fn every_package_of_the_javascript_lock_is_pinned_by_sha512() {
        let lock: serde_json::Value = serde_json::from_str(JS_LOCK).expect("the lock is JSON");
        let packages = lock["packages"].as_object().expect("its packages");
        for (path, package) in packages.iter().filter(|(path, _)| !path.is_empty()) {
            let integrity = package["integrity"].as_str().unwrap_or_default();
            assert!(integrity.starts_with("sha512-"), "{path}: {integrity:?}");
            assert!(
                package.get("hasInstallScript").is_none(),
                "{path} has install scripts"
            );
        }
    }
}
