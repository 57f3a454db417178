//! `weft build` for JavaScript: a policy (`policy.js`, or the `main` of a
//! `package.json`, exporting `run(input)`) built into a component for the
//! world `policy`, or an adapter (`adapter.js`, or with `--adapter` the
//! `main`, registering tools with `tool(...)`) for the world `adapter`.
//!
//! The toolchain is componentize-js with rolldown, run by Node from a folder
//! of its own (see [`toolchain`]). weft writes into the build's scratch
//! folder the `weft-guest` SDK and a driver script (both built into this
//! binary, so an installed weft needs no checkout) and links the
//! toolchain's `node_modules` there. The driver bundles a generated entry
//! module, the author's policy and `weft-guest` (an alias, so the author's
//! `import … from "weft-guest"` needs no install) into one ES module, and
//! componentize-js makes the component of it, without the engine's HTTP
//! support: weft offers no `wasi:http`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};

use super::{Job, World, install};

/// The SDK the author's `import … from "weft-guest"` resolves to.
pub(super) const SDK: &str = include_str!("../../../../guest-sdk/js/index.js");
/// The Node script that bundles and componentizes (see its header).
const DRIVER: &str = include_str!("js-build.mjs");
/// The pinned toolchain, as `.ci/setup-tools` installs it: the install hint
/// is made from its dependencies.
const PINS: &str = include_str!("../../../../.ci/componentize-js/package.json");
/// The componentize-js this weft is built and tested against.
pub(super) const COMPONENTIZE_JS: &str = "0.23.0";
/// The oldest Node rolldown runs on.
const MIN_NODE: (u32, u32) = (20, 19);

pub(super) async fn build(job: &Job) -> anyhow::Result<()> {
    let policy = entry(&job.dir, job.world)?;
    let node = node().await?;
    let tools = toolchain().await?;
    let sdk = job.work.join("weft-guest").join("index.js");
    write(&sdk, SDK)?;
    let driver = job.work.join("js-build.mjs");
    write(&driver, DRIVER)?;
    std::os::unix::fs::symlink(tools.join("node_modules"), job.work.join("node_modules"))
        .context("cannot link the toolchain into the build folder")?;
    eprintln!(
        "weft: building {} with componentize-js {COMPONENTIZE_JS} (10 to 20 s)",
        policy.display()
    );
    // The toolchain's output is progress, not a result: all of it to stderr.
    let stderr = || -> anyhow::Result<Stdio> {
        use std::os::fd::AsFd;
        let fd = std::io::stderr().as_fd().try_clone_to_owned()?;
        Ok(Stdio::from(fd))
    };
    let status = tokio::process::Command::new(&node)
        .arg(&driver)
        .arg(&policy)
        .arg(&sdk)
        .arg(&job.wit)
        .arg(&job.out)
        .arg(job.world.name())
        .current_dir(&job.work)
        .stdin(Stdio::null())
        .stdout(stderr()?)
        .stderr(stderr()?)
        .kill_on_drop(true)
        .status()
        .await
        .with_context(|| format!("cannot run {}", node.display()))?;
    if !status.success() {
        bail!(
            "componentize-js failed ({status}) building {}; its messages are above",
            policy.display()
        );
    }
    keep_bundle(job)
}

/// Keeps the bundled source beside the component (`NAME.bundle.js` for
/// `NAME.wasm`): a stack trace from the component names lines of
/// `policy.bundle.js`, and those are this file's lines.
fn keep_bundle(job: &Job) -> anyhow::Result<()> {
    let kept = job.out.with_extension("bundle.js");
    std::fs::copy(job.work.join("policy.bundle.js"), &kept)
        .with_context(|| format!("cannot keep the bundled source as {}", kept.display()))?;
    eprintln!(
        "weft: stack traces name lines of policy.bundle.js: they are the lines of {}",
        kept.display()
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The world of a JavaScript folder: an adapter with `--adapter`, or with
/// an `adapter.js` and neither a `policy.js` nor a `package.json` `main`;
/// else a policy.
pub(super) fn world(dir: &Path, adapter: bool) -> anyhow::Result<World> {
    if adapter {
        return Ok(World::Adapter);
    }
    if !dir.join("adapter.js").is_file() {
        return Ok(World::Policy);
    }
    if dir.join("policy.js").is_file() || main_of(dir)?.is_some() {
        bail!(
            "{} holds both an adapter (adapter.js) and a policy (policy.js or package.json's \"main\"): keep each in a folder of its own, or pass --adapter to build the adapter",
            dir.display()
        );
    }
    Ok(World::Adapter)
}

/// The `main` of the folder's `package.json`, if it names one.
fn main_of(dir: &Path) -> anyhow::Result<Option<String>> {
    let manifest = dir.join("package.json");
    if !manifest.is_file() {
        return Ok(None);
    }
    let text = super::read_manifest(&manifest)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", manifest.display()))?;
    Ok(value.get("main").and_then(|m| m.as_str()).map(String::from))
}

/// The author's module. A policy: the `main` of its `package.json`, else
/// `policy.js`. An adapter: `adapter.js`, else that `main`.
fn entry(dir: &Path, world: World) -> anyhow::Result<PathBuf> {
    let main = || -> anyhow::Result<Option<PathBuf>> {
        let Some(main) = main_of(dir)? else {
            return Ok(None);
        };
        let file = dir.join(&main);
        if !file.is_file() {
            bail!(
                "{} names \"main\": {main:?}, which is not a file",
                dir.join("package.json").display()
            );
        }
        Ok(Some(file))
    };
    let (own, what) = match world {
        World::Policy => {
            if let Some(file) = main()? {
                return Ok(file);
            }
            (
                "policy.js",
                "a JavaScript policy is a policy.js exporting `run(input)`",
            )
        }
        World::Adapter => {
            let file = dir.join("adapter.js");
            if file.is_file() {
                return Ok(file);
            }
            if let Some(file) = main()? {
                return Ok(file);
            }
            (
                "adapter.js",
                "a JavaScript adapter is an adapter.js registering tools with `tool(...)` from \"weft-guest\"",
            )
        }
    };
    let file = dir.join(own);
    if !file.is_file() {
        bail!(
            "no {own} in {} ({what}, or a package.json whose \"main\" names one)",
            dir.display()
        );
    }
    Ok(file)
}

/// Where the toolchain may be: `$WEFT_COMPONENTIZE_JS`, then
/// `$WEFT_TOOLS/componentize-js` (where `.ci/setup-tools` installs it),
/// then `$XDG_DATA_HOME/weft/componentize-js` (`~/.local/share/…`, for a
/// hand install), then where weft installs it itself
/// (`…/weft/componentize-js-VERSION`).
fn candidates() -> Vec<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut dirs = vec![];
    dirs.extend(env("WEFT_COMPONENTIZE_JS"));
    dirs.extend(env("WEFT_TOOLS").map(|t| t.join("componentize-js")));
    dirs.extend(default_dir());
    dirs.extend(install::js_dir(COMPONENTIZE_JS));
    dirs
}

fn default_dir() -> Option<PathBuf> {
    install::data_dir().map(|d| d.join("componentize-js"))
}

/// The installed componentize-js version in `dir`, if any.
fn installed(dir: &Path) -> Option<String> {
    let manifest = dir.join("node_modules/@bytecodealliance/componentize-js/package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let rolldown = dir.join("node_modules/rolldown/package.json").is_file();
    rolldown
        .then(|| value["version"].as_str().map(String::from))
        .flatten()
}

/// The first folder with the pinned toolchain, else the toolchain
/// installed now (see [`install`]), else an error that says exactly how
/// to install it.
async fn toolchain() -> anyhow::Result<PathBuf> {
    let dirs = candidates();
    let mut found = vec![];
    for dir in &dirs {
        match installed(dir) {
            Some(v) if v == COMPONENTIZE_JS => return Ok(dir.clone()),
            Some(v) => found.push(format!("{} has componentize-js {v}", dir.display())),
            None => {}
        }
    }
    if let Some(dir) = install::js_dir(COMPONENTIZE_JS).filter(|_| install::allowed()) {
        install::js_toolchain(&dir, PINS, COMPONENTIZE_JS)
            .await
            .with_context(|| format!("or {}", manual_hint()))?;
        if installed(&dir).as_deref() == Some(COMPONENTIZE_JS) {
            return Ok(dir);
        }
        bail!(
            "npm installed into {} but componentize-js {COMPONENTIZE_JS} is not there; {}",
            dir.display(),
            manual_hint()
        );
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let mut message = format!(
        "the JavaScript toolchain (componentize-js {COMPONENTIZE_JS}) is not installed (looked in {})",
        looked.join(", ")
    );
    if !found.is_empty() {
        message += &format!("; {}", found.join("; "));
    }
    if !install::allowed() {
        message += " (WEFT_NO_INSTALL is set, so weft does not install it)";
    }
    message += &format!(".\n{}", manual_hint());
    bail!(message)
}

/// How to install the toolchain by hand.
fn manual_hint() -> String {
    let target = default_dir().unwrap_or_else(|| PathBuf::from("weft-componentize-js"));
    format!(
        "install it (Node {}.{} or later and npm) with:\n  mkdir -p {dir} && npm install --prefix {dir} --save-exact {pkgs}\nor set WEFT_COMPONENTIZE_JS to a folder where it is installed.",
        MIN_NODE.0,
        MIN_NODE.1,
        dir = target.display(),
        pkgs = pinned().join(" ")
    )
}

/// `name@version` of every pinned package of the toolchain.
fn pinned() -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(PINS).unwrap_or_default();
    value["dependencies"]
        .as_object()
        .map(|deps| {
            deps.iter()
                .filter_map(|(name, v)| v.as_str().map(|v| format!("{name}@{v}")))
                .collect()
        })
        .unwrap_or_default()
}

/// Node: `$WEFT_NODE`, else `node` on the PATH, at least [`MIN_NODE`].
async fn node() -> anyhow::Result<PathBuf> {
    let node = std::env::var_os("WEFT_NODE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"));
    let hint = format!(
        "building a JavaScript policy needs Node.js {}.{} or later: install it, or set WEFT_NODE to its path",
        MIN_NODE.0, MIN_NODE.1
    );
    let out = tokio::process::Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {}; {hint}", node.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = parse_node_version(&text);
    match version {
        Some(v) if v >= MIN_NODE => Ok(node),
        _ => bail!(
            "{} --version says {:?}; {hint}",
            node.display(),
            text.trim()
        ),
    }
}

/// `v20.19.1` → (20, 19).
fn parse_node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().strip_prefix('v')?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_comes_from_the_folder_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(world(d, false).unwrap(), World::Policy);
        std::fs::write(d.join("adapter.js"), "").unwrap();
        assert_eq!(world(d, false).unwrap(), World::Adapter);
        assert_eq!(entry(d, World::Adapter).unwrap(), d.join("adapter.js"));
        std::fs::write(d.join("policy.js"), "").unwrap();
        let e = world(d, false).unwrap_err().to_string();
        assert!(e.contains("holds both an adapter"), "{e}");
        assert_eq!(world(d, true).unwrap(), World::Adapter);
        std::fs::remove_file(d.join("adapter.js")).unwrap();
        let e = entry(d, World::Adapter).unwrap_err().to_string();
        assert!(e.starts_with("no adapter.js in"), "{e}");
        std::fs::write(d.join("package.json"), r#"{"main": "policy.js"}"#).unwrap();
        assert_eq!(entry(d, World::Adapter).unwrap(), d.join("policy.js"));
    }

    #[test]
    fn node_versions_are_read() {
        assert_eq!(parse_node_version("v20.19.1\n"), Some((20, 19)));
        assert_eq!(parse_node_version("v22.23.3"), Some((22, 23)));
        assert_eq!(parse_node_version("20.1"), None);
        assert!(parse_node_version("v20.18.0").is_some_and(|v| v < MIN_NODE));
    }

    #[test]
    fn the_hint_names_every_pinned_package() {
        let pins = pinned();
        assert!(
            pins.contains(&format!(
                "@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"
            )),
            "{pins:?}"
        );
        assert!(pins.iter().any(|p| p.starts_with("rolldown@")), "{pins:?}");
    }
}
