//! Code mode: source an agent submits at run time, run in the sandbox by
//! an interpreter component, as a policy whose input is the code.
//!
//! The interpreters are ordinary policies over weft's guest SDKs
//! (`interpreters/python/app.py`, `interpreters/js/policy.js`, built into
//! this binary). Each is built with the language's toolchain the first
//! time it is needed and kept, named by a fingerprint of everything that
//! goes into it, in a folder beside the component cache; the sandbox's own
//! cache then keeps its compiled artifact. A run gets a fresh instance, so
//! nothing one submission does reaches the next.
//!
//! What code may call: the grants given, or by default every read-only tool
//! (by its `readOnlyHint`) that the catalog lists now, named exactly.

mod api;
mod grants;

pub use api::{MAX_DESCRIPTION_BYTES, describe};
pub use grants::{GrantsCache, read_only_grants};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::sandbox::Wasm;

/// The Python interpreter's source.
const PYTHON: &str = include_str!("../../../interpreters/python/app.py");
/// The JavaScript interpreter's source.
const JS: &str = include_str!("../../../interpreters/js/policy.js");

pub use crate::config::code::Language;

/// The interpreter's file in its source folder, and its text.
fn source(lang: Language) -> (&'static str, &'static str) {
    match lang {
        Language::Python => ("app.py", PYTHON),
        Language::JavaScript => ("policy.js", JS),
    }
}

/// The code-mode settings that hold for `caller`: its tenant's own
/// `[tenants.NAME.code]`, else the top-level `[code]`.
pub fn settings_for<'a>(
    config: &'a crate::config::Config,
    caller: &'a crate::tenant::Caller,
) -> &'a crate::config::CodeConfig {
    caller
        .tenant
        .as_ref()
        .and_then(|t| t.code.as_ref())
        .unwrap_or(&config.code)
}

/// The start of a code-mode run's spec in the journal (`code:python`).
const SPEC_PREFIX: &str = "code:";

/// The spec a code-mode run is journaled under: `code:LANGUAGE`, by which
/// a resume finds the interpreter.
pub fn spec(lang: Language) -> String {
    format!("{SPEC_PREFIX}{}", lang.name())
}

/// The language of a code-mode run's spec: `None` for a policy's spec,
/// `Some(Err(_))` for a language code mode does not know.
pub fn spec_language(spec: &str) -> Option<Result<Language, UnknownLanguage>> {
    let name = spec.strip_prefix(SPEC_PREFIX)?;
    Some(Language::parse(name).ok_or_else(|| UnknownLanguage(name.to_string())))
}

/// A code-mode run's language that code mode does not know (its name).
#[derive(Debug, thiserror::Error)]
#[error("the language {0:?} is not one code mode knows")]
pub struct UnknownLanguage(pub String);

/// Why code cannot run.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The submitted source is longer than `[code] max_code_bytes`.
    #[error("the code is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// The source's length, in bytes.
        size: usize,
        /// The most bytes accepted (`[code] max_code_bytes`).
        max: u64,
    },
    /// There is no folder to keep the interpreter in; holds the language's name.
    #[error("no cache folder for the {0} interpreter: set WEFT_CACHE_DIR or HOME")]
    NoCache(&'static str),
    /// Building the interpreter with the toolchain, or loading what it built, failed.
    #[error("cannot build the {lang} interpreter: {message}")]
    Build {
        /// The language's name (`python`, `javascript`).
        lang: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The built interpreter's file could not be read.
    #[error("cannot read the {lang} interpreter at {path}: {source}")]
    Read {
        /// The language's name (`python`, `javascript`).
        lang: &'static str,
        /// The interpreter's `.wasm` file.
        path: PathBuf,
        /// The error reading it.
        source: std::io::Error,
    },
}

/// Builds a policy folder in one language into a component: the toolchain
/// of `weft build`, given to code mode by the command line.
pub trait Toolchain: Send + Sync {
    /// Text that changes whenever what [`Toolchain::build`] makes for
    /// `lang` from the same source would (the SDK, the WIT, the versions).
    fn fingerprint(&self, lang: Language) -> String;
    /// Builds the folder `dir` into `out`.
    fn build<'a>(
        &'a self,
        lang: Language,
        dir: &'a Path,
        out: &'a Path,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// The interpreter components, built on first use and kept, and the
/// code grants compiled per catalog snapshot and caller view.
pub struct Interpreters {
    dir: Option<PathBuf>,
    toolchain: Arc<dyn Toolchain>,
    /// Per language, the component once loaded: one build at a time for
    /// each, and a build of one language never holds up the other.
    python: tokio::sync::OnceCell<Wasm>,
    javascript: tokio::sync::OnceCell<Wasm>,
    grants: GrantsCache,
}

impl Interpreters {
    /// Interpreters kept in `dir` (default: `WEFT_INTERPRETER_DIR`, else
    /// `interpreters/` beside the component cache).
    pub fn new(dir: Option<PathBuf>, toolchain: Arc<dyn Toolchain>) -> Interpreters {
        let dir = dir.or_else(default_dir);
        Interpreters {
            dir,
            toolchain,
            python: tokio::sync::OnceCell::new(),
            javascript: tokio::sync::OnceCell::new(),
            grants: GrantsCache::default(),
        }
    }

    /// The code grants, compiled once per catalog snapshot and caller view.
    pub fn grants(&self) -> &GrantsCache {
        &self.grants
    }

    /// The interpreter for `lang`: loaded, read from its folder, or built.
    /// Callers of one language wait for its one build; a failed build is
    /// tried again by the next caller.
    pub async fn get(&self, lang: Language) -> Result<Wasm, CodeError> {
        let cell = match lang {
            Language::Python => &self.python,
            Language::JavaScript => &self.javascript,
        };
        cell.get_or_try_init(|| self.load(lang)).await.cloned()
    }

    /// Reads `lang`'s interpreter from its folder, building it first when
    /// it is not there.
    async fn load(&self, lang: Language) -> Result<Wasm, CodeError> {
        let dir = self.dir.as_ref().ok_or(CodeError::NoCache(lang.name()))?;
        let path = dir.join(format!("{}-{}.wasm", lang.name(), self.fingerprint(lang)));
        if !path.is_file() {
            self.build(lang, dir, &path).await?;
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| CodeError::Read {
                lang: lang.name(),
                path: path.clone(),
                source,
            })?;
        // Hashing tens of MiB is a blocking thread's work.
        tokio::task::spawn_blocking(move || Wasm::new(bytes))
            .await
            .map_err(|e| CodeError::Build {
                lang: lang.name(),
                message: format!("reading it stopped: {e}"),
            })
    }

    fn fingerprint(&self, lang: Language) -> String {
        let mut hash = Sha256::new();
        hash.update(source(lang).1.as_bytes());
        hash.update([0]);
        hash.update(self.toolchain.fingerprint(lang).as_bytes());
        hash.finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Builds into a scratch name, then renames: another process building
    /// the same interpreter at once writes the same bytes.
    async fn build(&self, lang: Language, dir: &Path, path: &Path) -> Result<(), CodeError> {
        let fail = |message: String| CodeError::Build {
            lang: lang.name(),
            message,
        };
        tracing::info!(lang = lang.name(), path = %path.display(), "building the code-mode interpreter (once)");
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot make {}: {e}", dir.display())))?;
        let src = tempfile::Builder::new()
            .prefix("weft-interpreter-")
            .tempdir()
            .map_err(|e| fail(format!("cannot make a scratch folder: {e}")))?;
        let (file, text) = source(lang);
        let folder = src.path().join(lang.name());
        std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(folder.join(file), text))
            .map_err(|e| fail(format!("cannot write its source: {e}")))?;
        let partial = path.with_extension(format!("{}.partial", std::process::id()));
        self.toolchain
            .build(lang, &folder, &partial)
            .await
            .map_err(|e| fail(format!("{e:#}")))?;
        std::fs::rename(&partial, path)
            .map_err(|e| fail(format!("cannot move it to {}: {e}", path.display())))
    }
}

/// `WEFT_INTERPRETER_DIR`, else `interpreters/` beside the component cache.
fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WEFT_INTERPRETER_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let components = crate::sandbox::cache::default_dir()?;
    Some(components.parent()?.join("interpreters"))
}

/// The interpreter's input for one submission.
/// `max` is the most bytes of source accepted (`[code] max_code_bytes`).
pub fn request(
    lang: Language,
    code: &str,
    input: Option<serde_json::Value>,
    max: u64,
) -> Result<String, CodeError> {
    if code.len() as u64 > max {
        return Err(CodeError::TooLarge {
            size: code.len(),
            max,
        });
    }
    let body = serde_json::json!({"language": lang.name(), "code": code, "input": input});
    Ok(body.to_string())
}

/// A short hash of submitted code, for the audit log and reports.
pub fn code_hash(code: &str) -> String {
    Sha256::digest(code.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A code run's report as its submitter should read it: [`tidy`], then
/// [`explain_limit`].
pub fn for_submitter(report: &mut crate::policy::RunReport) {
    tidy(report);
    explain_limit(report);
}

/// A code run's limit in the submitter's words: the code, not "the
/// policy", hit it, and it is raised in `[code.limits]` (or with the flag
/// of `weft exec`). Other reports are left as they are.
pub fn explain_limit(report: &mut crate::policy::RunReport) {
    use crate::sandbox::LimitError;
    let Some(limit) = &report.limit else {
        return;
    };
    let raise = |key: &str, flag: Option<&str>| match flag {
        Some(flag) => format!("raise `{key}` in [code.limits], or {flag} with weft exec"),
        None => format!("raise `{key}` in [code.limits]"),
    };
    report.error = Some(match limit {
        LimitError::Fuel { fuel } => format!(
            "fuel limit: the code used all {fuel} units of fuel ({})",
            raise("fuel", Some("--fuel"))
        ),
        LimitError::Time { ms } => format!(
            "time limit: the code ran longer than {ms} ms ({})",
            raise("timeout", Some("--timeout"))
        ),
        LimitError::Memory { desired, cap } => format!(
            "memory limit: the code tried to use {desired} bytes of linear memory in all, over the cap of {cap} bytes ({})",
            crate::sandbox::memory_hint(cap, &raise("memory", Some("--memory")))
        ),
        LimitError::Calls { max } => format!(
            "call limit: the code made more than {max} tool calls ({})",
            raise("max_calls", None)
        ),
        LimitError::Output { size, cap } => format!(
            "output limit: the output is {size} bytes, over the cap of {cap} bytes ({})",
            raise("max_output", None)
        ),
        LimitError::Log { cap } => {
            format!("log limit: the code wrote more than {cap} bytes to stdout or stderr")
        }
    });
}

/// What an interpreter's own wiring adds to a failed submission's error.
const WIRING: &str = "the policy failed: CodeError: ";

/// A code run's report as the submitter should read it: the error is the
/// code's own (`SyntaxError: … (line 2)`), without the interpreter's
/// wiring, and without the traceback through it that the guest SDK logs.
/// Lines the code logged itself stay, whatever they say. Other reports
/// are left as they are.
pub fn tidy(report: &mut crate::policy::RunReport) {
    if let Some(e) = report.error.as_mut().filter(|e| e.starts_with(WIRING)) {
        e.drain(..WIRING.len());
        // The SDK writes its line as the run fails, so it is the last one.
        if report.logs.last().is_some_and(is_wiring_line) {
            report.logs.pop();
        }
    }
}

/// Whether `line` is the one a guest SDK logs for the interpreter's
/// `CodeError`: Python's traceback (its last line `app.CodeError: …`, its
/// end possibly cut by the log line cap) or JavaScript's `CodeError: …`
/// followed by the stack.
fn is_wiring_line(line: &crate::sandbox::LogLine) -> bool {
    line.level == "error"
        && (line.message.starts_with("CodeError: ")
            || (line
                .message
                .starts_with("Traceback (most recent call last):")
                && line.message.contains("CodeError")))
}

#[cfg(test)]
mod tests;
