//! `weft build [DIR] [-o OUT.wasm] [--lang L] [--adapter]`: one command
//! that turns a policy or adapter folder in Rust, Python or JavaScript
//! into a component.
//!
//! The language is read from the folder (`Cargo.toml`; `app.py`,
//! `adapter.py` or `pyproject.toml`; `policy.js`, `adapter.js` or
//! `package.json`) unless `--lang` names it, and so is the world (see
//! [`World`]) unless `--adapter` says it is an adapter. Each language's toolchain runs as a child process (tokio, so no
//! worker blocks) with its output on stderr, against the copy of
//! `wit/weft.wit` built into this binary. stdout gets one line: the path of
//! the component. The default output is `DIR/<folder name>.wasm`.

mod install;
mod js;
mod python;
mod rust;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{Context, bail};

use super::args::Lang;
use super::{FAILED, USAGE};

/// weft's WIT contract, as this binary was built against it.
pub(crate) const WEFT_WIT: &str = include_str!("../../../../wit/weft.wit");

/// What a component is: which world of `weft.wit` it is built for.
///
/// From the folder: a Python adapter's module is `adapter.py` (or the one
/// `[tool.weft] adapter` names in `pyproject.toml`), a JavaScript
/// adapter's is `adapter.js`, and a Rust adapter enables weft-guest's
/// `adapter` feature; anything else is a policy. `--adapter` makes a
/// Python or JavaScript folder an adapter whatever its files are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum World {
    Policy,
    Adapter,
}

impl World {
    /// Its name in `weft.wit` (and in messages).
    pub(crate) fn name(self) -> &'static str {
        match self {
            World::Policy => "policy",
            World::Adapter => "adapter",
        }
    }
}

/// One build: everything a language's builder needs.
pub(crate) struct Job {
    /// The policy's folder (absolute).
    pub dir: PathBuf,
    /// Where the component goes (absolute); its parent exists.
    pub out: PathBuf,
    /// A folder holding weft's `weft.wit`, written from the copy built into the binary (include_str! of wit/weft.wit).
    pub wit: PathBuf,
    /// A scratch folder for this build only, removed afterwards.
    pub work: PathBuf,
    /// The world the component is built for.
    pub world: World,
}

/// What `weft build` was asked.
pub struct Options {
    pub dir: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub lang: Option<Lang>,
    /// `--adapter`: build for the `adapter` world.
    pub adapter: bool,
}

/// The files that say which language a folder is in, in detection order.
const MARKERS: &[(Lang, &[&str])] = &[
    (Lang::Rust, &["Cargo.toml"]),
    (Lang::Python, &["app.py", "adapter.py", "pyproject.toml"]),
    (Lang::Js, &["policy.js", "adapter.js", "package.json"]),
];

/// The languages whose marker files are in `dir`.
pub(crate) fn detect(dir: &Path) -> Vec<Lang> {
    MARKERS
        .iter()
        .filter(|(_, files)| files.iter().any(|f| dir.join(f).is_file()))
        .map(|(lang, _)| *lang)
        .collect()
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    crate::errln!("weft: {message}");
    ExitCode::from(USAGE)
}

/// The entry point of `weft build`.
pub async fn run(opts: Options) -> ExitCode {
    let given = opts.dir.unwrap_or_else(|| PathBuf::from("."));
    let dir = match std::fs::canonicalize(&given) {
        Ok(d) if d.is_dir() => d,
        Ok(_) => return usage(format!("{} is not a folder", given.display())),
        Err(e) => return usage(format!("cannot open the folder {}: {e}", given.display())),
    };
    let lang = match opts.lang {
        Some(l) => l,
        None => match detect(&dir)[..] {
            [one] => one,
            [] => {
                let looked: Vec<&str> = MARKERS
                    .iter()
                    .flat_map(|(_, f)| f.iter().copied())
                    .collect();
                return usage(format!(
                    "{} holds no policy or adapter: looked for {} (start one with `weft new [--adapter] --lang rust|python|js NAME`)",
                    dir.display(),
                    looked.join(", ")
                ));
            }
            ref several => {
                let names: Vec<&str> = several.iter().map(|l| l.name()).collect();
                return usage(format!(
                    "{} looks like more than one language ({}): say which with --lang",
                    dir.display(),
                    names.join(", ")
                ));
            }
        },
    };
    let world = match lang {
        Lang::Rust => rust::world(&dir, opts.adapter),
        Lang::Python => python::world(&dir, opts.adapter),
        Lang::Js => js::world(&dir, opts.adapter),
    };
    let world = match world {
        Ok(w) => w,
        Err(e) => return usage(format!("{e:#}")),
    };
    let out = match output_path(&dir, opts.out.as_deref()) {
        Ok(o) => o,
        Err(e) => return usage(format!("{e:#}")),
    };
    match build(lang, world, &dir, &out).await {
        Ok(size) => {
            crate::outln!("{}", out.display());
            crate::errln!(
                "weft: built {} {} ({})",
                lang.name(),
                world.name(),
                bytesize::ByteSize::b(size).display().iec()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::errln!("weft: build failed: {e:#}");
            ExitCode::from(FAILED)
        }
    }
}

/// `-o`, made absolute against the current folder, or `DIR/<folder name>.wasm`.
fn output_path(dir: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let out = match out {
        Some(o) => std::path::absolute(o).with_context(|| format!("-o {}", o.display()))?,
        None => {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("policy");
            dir.join(format!("{name}.wasm"))
        }
    };
    match out.parent() {
        Some(p) if p.is_dir() => Ok(out),
        Some(p) => bail!(
            "-o {}: the folder {} does not exist",
            out.display(),
            p.display()
        ),
        None => bail!("-o {}: not a file path", out.display()),
    }
}

/// `weft build`'s toolchains, for code mode's interpreters.
pub(crate) struct Toolchain;

impl crate::code::Toolchain for Toolchain {
    fn fingerprint(&self, lang: crate::code::Language) -> String {
        let sdk = match lang {
            crate::code::Language::Python => {
                let files: Vec<&str> = python::SDK.iter().map(|(_, text)| *text).collect();
                format!(
                    "componentize-py {}\0{}",
                    python::COMPONENTIZE_PY_VERSION,
                    files.join("\0")
                )
            }
            crate::code::Language::JavaScript => {
                format!("componentize-js {}\0{}", js::COMPONENTIZE_JS, js::SDK)
            }
        };
        format!("{sdk}\0{WEFT_WIT}")
    }

    fn build<'a>(
        &'a self,
        lang: crate::code::Language,
        dir: &'a Path,
        out: &'a Path,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<()>> {
        let lang = match lang {
            crate::code::Language::Python => Lang::Python,
            crate::code::Language::JavaScript => Lang::Js,
        };
        Box::pin(async move { build(lang, World::Policy, dir, out).await.map(|_| ()) })
    }
}

/// Sets up the job (WIT folder, scratch folder), runs the language's
/// builder and returns the component's size.
async fn build(lang: Lang, world: World, dir: &Path, out: &Path) -> anyhow::Result<u64> {
    let scratch = tempfile::Builder::new()
        .prefix("weft-build-")
        .tempdir()
        .context("cannot make a scratch folder")?;
    let wit = scratch.path().join("wit");
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&wit).context("cannot make the WIT folder")?;
    std::fs::create_dir_all(&work).context("cannot make the scratch folder")?;
    std::fs::write(wit.join("weft.wit"), WEFT_WIT).context("cannot write weft.wit")?;
    let job = Job {
        dir: dir.to_path_buf(),
        out: out.to_path_buf(),
        wit,
        work,
        world,
    };
    match lang {
        Lang::Rust => rust::build(&job).await?,
        Lang::Python => python::build(&job).await?,
        Lang::Js => js::build(&job).await?,
    }
    let size = std::fs::metadata(out)
        .with_context(|| format!("the toolchain finished but wrote no {}", out.display()))?
        .len();
    Ok(size)
}

/// The most bytes of a manifest (`Cargo.toml`, `pyproject.toml`,
/// `package.json`) weft reads.
const MAX_MANIFEST: u64 = 1 << 20;

/// A folder's manifest as text, refused past [`MAX_MANIFEST`] bytes.
pub(crate) fn read_manifest(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_MANIFEST {
        bail!(
            "{} is {size} bytes, over the {MAX_MANIFEST} weft reads",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// An executable called `name` on `PATH`.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs a toolchain command to completion with its stderr on weft's
/// stderr, and its stdout there too unless `stdout` says where; fails
/// naming the command if it does not succeed.
pub(crate) async fn run_tool(
    cmd: &mut tokio::process::Command,
    what: &str,
    stdout: Option<Stdio>,
) -> anyhow::Result<()> {
    let stdout = match stdout {
        Some(s) => s,
        None => stderr_stdio()?,
    };
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let status = cmd
        .status()
        .await
        .with_context(|| format!("cannot start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status}); its messages are above");
    }
    Ok(())
}

/// A handle on weft's stderr, for a child's stdout.
fn stderr_stdio() -> anyhow::Result<Stdio> {
    use std::os::fd::AsFd;
    let fd = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot share stderr with the toolchain")?;
    Ok(Stdio::from(fd))
}

/// The first line a program prints for `--version`, if it runs.
pub(crate) async fn version_of(program: &Path) -> Option<String> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}
