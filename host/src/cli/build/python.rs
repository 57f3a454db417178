//! Python policies and adapters: componentize-py (a pinned version, from
//! PATH, else installed by weft itself: see `install`) turns the author's module and weft's Python SDK into a component
//! for the `policy` or the `adapter` world.
//!
//! The SDK (`guest-sdk/python/weft_guest`) is built into this binary and
//! written to the scratch folder with a generated entry module that wires
//! the policy's `run(input)` (or the adapter's `@tool` functions) to the
//! world's exports, so an installed `weft` needs no checkout. A policy's
//! module is `app` (`app.py`), or the one `pyproject.toml` names in
//! `[tool.weft] app = "..."`; an adapter's is `adapter` (`adapter.py`), or
//! `[tool.weft] adapter = "..."`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Job, World, find_program, install, run_tool, version_of};

/// The componentize-py release weft's Python SDK is built and tested with
/// (also pinned in `.ci/setup-tools`).
pub(crate) const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The SDK's files, as written next to the entry module.
pub(super) const SDK: &[(&str, &str)] = &[
    (
        "weft_guest/__init__.py",
        include_str!("../../../../guest-sdk/python/weft_guest/__init__.py"),
    ),
    (
        "weft_guest/_host.py",
        include_str!("../../../../guest-sdk/python/weft_guest/_host.py"),
    ),
    (
        "weft_guest/_world.py",
        include_str!("../../../../guest-sdk/python/weft_guest/_world.py"),
    ),
    (
        "weft_guest/_adapter.py",
        include_str!("../../../../guest-sdk/python/weft_guest/_adapter.py"),
    ),
    (
        "weft_guest/_schema.py",
        include_str!("../../../../guest-sdk/python/weft_guest/_schema.py"),
    ),
    ("weft_guest/py.typed", ""),
];

/// The module componentize-py is pointed at. (Not `policy`: that name is the
/// world's, and componentize-py generates a module of its own for it.)
const ENTRY: &str = "weft_policy_entry";

fn install_hint() -> String {
    format!(
        "install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (into any Python 3 environment whose bin folder is on PATH)"
    )
}

/// How componentize-py is run: a program on PATH, or the package weft
/// installed for itself, run by Python.
enum Componentize {
    Program(PathBuf),
    Module { python: PathBuf, dir: PathBuf },
}

impl Componentize {
    fn command(&self) -> tokio::process::Command {
        match self {
            Componentize::Program(tool) => tokio::process::Command::new(tool),
            Componentize::Module { python, dir } => {
                let mut cmd = tokio::process::Command::new(python);
                cmd.env("PYTHONPATH", dir).args([
                    "-c",
                    "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
                ]);
                cmd
            }
        }
    }
}

/// componentize-py from PATH (warning when it is not the pinned version),
/// else the one weft installed, else installed now (see [`install`]).
async fn componentize() -> anyhow::Result<Componentize> {
    if let Some(tool) = find_program("componentize-py") {
        let want = format!("componentize-py {COMPONENTIZE_PY_VERSION}");
        match version_of(&tool).await {
            Some(v) if v == want => {}
            Some(v) => crate::errln!(
                "weft: warning: {} is {v}; weft's Python SDK is tested with {COMPONENTIZE_PY_VERSION}",
                tool.display()
            ),
            None => bail!("{} does not run: {}", tool.display(), install_hint()),
        }
        return Ok(Componentize::Program(tool));
    }
    let Some(dir) = install::python_dir(COMPONENTIZE_PY_VERSION) else {
        bail!(
            "componentize-py is not on PATH, and with neither HOME nor XDG_DATA_HOME set weft has nowhere to install it: {}",
            install_hint()
        );
    };
    if !dir.join("componentize_py").is_dir() {
        if !install::allowed() {
            bail!(
                "componentize-py is not on PATH nor in {} (WEFT_NO_INSTALL is set, so weft does not install it): {}",
                dir.display(),
                install_hint()
            );
        }
        install::python_toolchain(&dir, COMPONENTIZE_PY_VERSION)
            .await
            .with_context(|| format!("componentize-py is not on PATH; or {}", install_hint()))?;
    }
    Ok(Componentize::Module {
        python: install::python(),
        dir,
    })
}

pub(super) async fn build(job: &Job) -> anyhow::Result<()> {
    let tool = componentize().await?;
    let module = app_module(&job.dir, job.world)?;
    let sdk = job.work.join("sdk");
    for (name, text) in SDK {
        let path = sdk.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).context("cannot write the Python SDK")?;
        }
        std::fs::write(&path, text).context("cannot write the Python SDK")?;
    }
    std::fs::write(
        sdk.join(format!("{ENTRY}.py")),
        entry_module(&module, job.world),
    )
    .context("cannot write the entry module")?;
    // componentize-py writes bytecode next to the sources it reads: it
    // reads a copy, so the policy's folder is left as it was.
    let app = job.work.join("app");
    let mut budget = MAX_SOURCES;
    copy_sources(&job.dir, &app, 0, &mut budget)?;
    let mut cmd = tool.command();
    cmd.arg("-d")
        .arg(&job.wit)
        .args(["-w", job.world.name(), "componentize", ENTRY, "-p"])
        .arg(&sdk)
        .arg("-p")
        .arg(&app);
    let src = app.join("src");
    if src.is_dir() {
        cmd.arg("-p").arg(src);
    }
    cmd.arg("-o").arg(&job.out).current_dir(&job.work);
    run_tool(&mut cmd, "componentize-py", None).await
}

/// The most bytes of Python source copied from a policy's folder.
const MAX_SOURCES: u64 = 64 << 20;
/// How deep into its folders.
const MAX_DEPTH: usize = 16;

/// Copies the `.py` files under `from` (not hidden folders, `__pycache__`,
/// `target` or `node_modules`) to `to`, within `budget` bytes.
fn copy_sources(from: &Path, to: &Path, depth: usize, budget: &mut u64) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {text}"))?;
        let path = entry.path();
        if kind.is_dir() {
            if text.starts_with('.') || ["__pycache__", "target", "node_modules"].contains(&text) {
                continue;
            }
            copy_sources(&path, &to.join(text), depth + 1, budget)?;
        } else if kind.is_file() && text.ends_with(".py") {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            *budget = budget.checked_sub(size).with_context(|| {
                format!(
                    "{} holds more than {} MiB of Python source",
                    from.display(),
                    MAX_SOURCES >> 20
                )
            })?;
            std::fs::create_dir_all(to)
                .with_context(|| format!("cannot write {}", to.display()))?;
            std::fs::copy(&path, to.join(text))
                .with_context(|| format!("cannot copy {}", path.display()))?;
        }
    }
    Ok(())
}

/// The generated module componentize-py builds from.
fn entry_module(module: &str, world: World) -> String {
    match world {
        World::Policy => format!(
            "\"\"\"Generated by `weft build`: exports {module}.run as the policy's run.\"\"\"\n\
             import {module} as _policy\n\
             from weft_guest._world import world_for\n\
             \n\
             if not callable(getattr(_policy, \"run\", None)):\n\
             \x20   raise SystemExit(\"{module}.py defines no run(input) function\")\n\
             WitWorld = world_for(_policy.run)\n"
        ),
        World::Adapter => format!(
            "\"\"\"Generated by `weft build`: exports the tools {module} registers with @tool.\"\"\"\n\
             import {module} as _adapter  # noqa: F401  (importing it registers its tools)\n\
             from weft_guest._world import adapter_world\n\
             \n\
             WitWorld = adapter_world()\n"
        ),
    }
}

/// The world of a Python folder: an adapter with `--adapter`, with
/// `[tool.weft] adapter` in `pyproject.toml`, or with an `adapter.py` and
/// no `app.py`; else a policy.
pub(super) fn world(dir: &Path, adapter: bool) -> anyhow::Result<World> {
    if adapter {
        return Ok(World::Adapter);
    }
    let weft = tool_weft(dir)?;
    let key = |k: &str| weft.as_ref().is_some_and(|t| t.contains_key(k));
    match (key("app"), key("adapter")) {
        (true, true) => bail!(
            "{}: [tool.weft] names both an app (a policy) and an adapter: keep one",
            dir.join("pyproject.toml").display()
        ),
        (true, false) => return Ok(World::Policy),
        (false, true) => return Ok(World::Adapter),
        (false, false) => {}
    }
    match (
        dir.join("app.py").is_file(),
        dir.join("adapter.py").is_file(),
    ) {
        (true, true) => bail!(
            "{} holds both app.py (a policy) and adapter.py (an adapter): keep each in a folder of its own, or pass --adapter to build the adapter",
            dir.display()
        ),
        (false, true) => Ok(World::Adapter),
        _ => Ok(World::Policy),
    }
}

/// The `[tool.weft]` table of the folder's `pyproject.toml`, if any.
fn tool_weft(dir: &Path) -> anyhow::Result<Option<toml::Table>> {
    let pyproject = dir.join("pyproject.toml");
    if !pyproject.is_file() {
        return Ok(None);
    }
    let text = super::read_manifest(&pyproject)?;
    let mut doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", pyproject.display()))?;
    let weft = doc
        .remove("tool")
        .and_then(|t| match t {
            toml::Value::Table(mut t) => t.remove("weft"),
            _ => None,
        })
        .and_then(|w| match w {
            toml::Value::Table(w) => Some(w),
            _ => None,
        });
    Ok(weft)
}

/// The author's module: `[tool.weft] app` (a policy) or `adapter` (an
/// adapter) in `pyproject.toml`, else `app` or `adapter`; its file must be
/// there.
fn app_module(dir: &Path, world: World) -> anyhow::Result<String> {
    let key = match world {
        World::Policy => "app",
        World::Adapter => "adapter",
    };
    let mut module = key.to_string();
    if let Some(v) = tool_weft(dir)?.and_then(|mut w| w.remove(key)) {
        match v.as_str() {
            Some(name) if valid_module(name) => module = name.to_string(),
            _ => bail!(
                "{}: [tool.weft] {key} must be a module name like \"{key}\" or \"my_{key}\" (got {v})",
                dir.join("pyproject.toml").display()
            ),
        }
    }
    let file = format!("{module}.py");
    let found = [dir.to_path_buf(), dir.join("src")]
        .iter()
        .any(|d| d.join(&file).is_file() || d.join(&module).join("__init__.py").is_file());
    if !found {
        let what = match world {
            World::Policy => "a Python policy is a module with `def run(input: dict) -> dict`",
            World::Adapter => {
                "a Python adapter is a module whose functions are registered with `@tool` (from weft_guest)"
            }
        };
        bail!("{} has no {file}: {what}", dir.display());
    }
    Ok(module)
}

fn valid_module(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && ![
            "weft_guest",
            "wit_world",
            ENTRY,
            "policy",
            "componentize_py_types",
        ]
        .contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_plain_identifiers_not_ours() {
        assert!(valid_module("app"));
        assert!(valid_module("my_policy2"));
        for bad in [
            "",
            "2app",
            "my-policy",
            "a.b",
            "weft_guest",
            "wit_world",
            "policy",
        ] {
            assert!(!valid_module(bad), "{bad}");
        }
    }

    #[test]
    fn the_entry_module_names_the_policy_module() {
        let text = entry_module("app", World::Policy);
        assert!(text.contains("import app as _policy"), "{text}");
        assert!(text.contains("WitWorld = world_for(_policy.run)"), "{text}");
        let text = entry_module("tools", World::Adapter);
        assert!(text.contains("import tools as _adapter"), "{text}");
        assert!(text.contains("WitWorld = adapter_world()"), "{text}");
    }

    #[test]
    fn the_world_comes_from_the_folder_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(world(d, false).unwrap(), World::Policy);
        std::fs::write(d.join("adapter.py"), "").unwrap();
        assert_eq!(world(d, false).unwrap(), World::Adapter);
        std::fs::write(d.join("app.py"), "").unwrap();
        let e = world(d, false).unwrap_err().to_string();
        assert!(e.contains("holds both app.py"), "{e}");
        assert_eq!(world(d, true).unwrap(), World::Adapter);
        std::fs::write(
            d.join("pyproject.toml"),
            "[tool.weft]\nadapter = \"tools\"\n",
        )
        .unwrap();
        assert_eq!(world(d, false).unwrap(), World::Adapter);
        let e = app_module(d, World::Adapter).unwrap_err().to_string();
        assert!(e.contains("has no tools.py"), "{e}");
        std::fs::write(d.join("pyproject.toml"), "[tool.weft]\napp = \"app\"\n").unwrap();
        assert_eq!(world(d, false).unwrap(), World::Policy);
        assert_eq!(app_module(d, World::Policy).unwrap(), "app");
    }
}
