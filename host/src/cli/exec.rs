//! `weft exec [--lang python|js] FILE|-`: code mode from the command line.
//! The source runs in the sandbox as the body of a function of `input`,
//! with `tools` in scope (see [`crate::code`]), under the same limits and
//! with the same report as `weft run`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::code::{Interpreters, Language, MAX_CODE_BYTES};
use crate::config::{Config, Grants};
use crate::policy::{self, Loaded, Runner};

use super::args::RunArgs;
use super::{FAILED, USAGE, finish};

fn usage(message: impl std::fmt::Display) -> ExitCode {
    crate::errln!("weft: {message}");
    ExitCode::from(USAGE)
}

/// The entry point of `weft exec`.
pub async fn run(config: Config, file: PathBuf, lang: Option<Language>, opts: RunArgs) -> ExitCode {
    let path = file.clone();
    let code = match tokio::task::spawn_blocking(move || read_code(&path)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return usage(e),
        Err(e) => return usage(format!("cannot read {}: {e}", file.display())),
    };
    let lang = match lang.or_else(|| language_of(&file)) {
        Some(l) => l,
        None => {
            return usage(format!(
                "say the language of {} with --lang python or --lang js",
                file.display()
            ));
        }
    };
    let input = match super::run::read_input(opts.input) {
        Ok(text) => serde_json::from_str(&text).ok(),
        Err(e) => return usage(e),
    };
    let request = match crate::code::request(lang, &code, input) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let given = if opts.grants.is_empty() {
        None
    } else {
        match Grants::new(&opts.grants) {
            Ok(g) => Some(g),
            Err(e) => return usage(format!("--grant: {e}")),
        }
    };
    let (hub, sandbox) = match super::run::start(config, given.as_ref()).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let interpreters = Interpreters::new(None, Arc::new(super::build::Toolchain));
    let wasm = match interpreters.get(lang).await {
        Ok(w) => w,
        Err(e) => {
            crate::errln!("weft: {e}");
            return finish(FAILED).await;
        }
    };
    let grants = given.unwrap_or_else(|| crate::code::read_only_grants(&hub.catalog()));
    let mut loaded = Loaded {
        name: format!("code ({})", lang.name()),
        wasm,
        grants,
        limits: crate::config::Limits::default(),
    };
    let fuel = opts.fuel.map(|f| f.0);
    policy::override_limits(&mut loaded.limits, fuel, opts.timeout, opts.memory);
    let runner = Runner::new(hub, sandbox);
    let mut report = runner.run(&loaded, &request, None).await;
    crate::code::tidy(&mut report);
    finish(super::run::print_report(&report, opts.json)).await
}

/// The language a file's extension names.
fn language_of(file: &Path) -> Option<Language> {
    match file.extension()?.to_str()? {
        "py" => Some(Language::Python),
        "js" | "mjs" => Some(Language::JavaScript),
        _ => None,
    }
}

/// The source from FILE, or stdin for "-", at most [`MAX_CODE_BYTES`].
fn read_code(file: &Path) -> anyhow::Result<String> {
    let limit = MAX_CODE_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    let read = if file == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    if bytes.len() > MAX_CODE_BYTES {
        anyhow::bail!(
            "{} is over {} KiB; code mode takes at most that much source",
            file.display(),
            MAX_CODE_BYTES >> 10
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", file.display()))
}
