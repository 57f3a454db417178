//! `weft exec [--lang python|js] FILE|-`: code mode from the command line.
//! The source runs in the sandbox as the body of a function of `input`,
//! with `tools` in scope (see [`crate::code`]), under the same limits and
//! with the same report as `weft run`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::audit::{Audit, AuditRoute};
use crate::code::{Interpreters, Language};
use crate::config::{Config, Grants};
use crate::policy::{self, Loaded, Runner};
use crate::tenant::Caller;

use super::args::RunArgs;
use super::{FAILED, USAGE, finish};

fn usage(message: impl std::fmt::Display) -> ExitCode {
    crate::errln!("weft: {message}");
    ExitCode::from(USAGE)
}

/// The top-level entry point for `weft exec`; `durable` journals the run
/// (as `weft run` does, under the spec `code:LANGUAGE`) when the config
/// keeps a journal.
pub async fn run(
    config: Config,
    file: PathBuf,
    lang: Option<Language>,
    opts: RunArgs,
    durable: bool,
) -> ExitCode {
    let settings = config.code.clone();
    if !settings.is_enabled(true) {
        return usage("code mode is off in this config ([code] enabled = false)");
    }
    let path = file.clone();
    let max = settings.max_code_bytes;
    let code = match tokio::task::spawn_blocking(move || read_code(&path, max)).await {
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
    if !settings.offers(lang) {
        return usage(format!(
            "this config's [code] languages do not include {}",
            lang.name()
        ));
    }
    let input = match super::run::read_input(opts.input) {
        Ok(text) => serde_json::from_str(&text).ok(),
        Err(e) => return usage(e),
    };
    let request = match crate::code::request(lang, &code, input, settings.max_code_bytes) {
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
    if let Some(written) = settings.grants.as_ref().filter(|_| given.is_none())
        && let Err(e) = Grants::new(written)
    {
        return usage(format!("[code] grants: {e}"));
    }
    let journaled = durable && config.settings.journal.is_some();
    let (hub, sandbox) = match super::run::start(config, given.as_ref()).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let fuel = opts.fuel.map(|f| f.0);
    let loaded = match interpreter(&hub, lang, given, (fuel, opts.timeout, opts.memory)).await {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("weft: {e:#}");
            return finish(FAILED).await;
        }
    };
    let journal = if journaled {
        let options = crate::journal::RunOptions {
            grants: opts.grants.clone(),
            fuel,
            timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
            memory: opts.memory,
            ..Default::default()
        };
        let spec = crate::code::spec(lang);
        match super::run_journal::begin(&hub, &loaded, &spec, &request, options).await {
            Ok(j) => j,
            Err(e) => {
                crate::errln!("weft: {e:#}");
                return finish(FAILED).await;
            }
        }
    } else {
        None
    };
    // Every code run is in the audit log (when one is configured), with
    // keyed hashes of the code and of the whole request.
    let caller = Caller::owner();
    let audited = hub.clone();
    let mut audit = Audit::begin(
        audited.audit(),
        &caller,
        AuditRoute::PolicyRun,
        &loaded.name,
    )
    .code(&code);
    if let Ok(serde_json::Value::Object(args)) = serde_json::from_str(&request) {
        audit = audit.args(Some(&args));
    }
    let runner = Runner::new(hub, sandbox);
    let mut report = runner
        .run_journaled(&caller, &loaded, &request, None, journal)
        .await;
    audit.outcome(report.status.as_str());
    drop(audit);
    crate::code::for_submitter(&mut report);
    finish(super::run::print_report(&report, opts.json)).await
}

/// The command line's fuel (`Some(None)`: unlimited), timeout and memory.
pub(super) type Overrides = (
    Option<Option<u64>>,
    Option<std::time::Duration>,
    Option<u64>,
);

/// The interpreter of `lang` as `weft exec` runs it: built on first use,
/// with the grants given on the command line, else `[code] grants`, else
/// the read-only tools of the catalog; `[code]`'s limits with the
/// command line's `overrides` (fuel, timeout, memory). `weft runs resume`
/// loads a code run's interpreter the same way.
pub(super) async fn interpreter(
    hub: &crate::Hub,
    lang: Language,
    given: Option<Grants>,
    overrides: Overrides,
) -> anyhow::Result<Loaded> {
    let settings = &hub.config().code;
    let interpreters = Interpreters::new(None, Arc::new(super::build::Toolchain));
    let wasm = interpreters.get(lang).await?;
    let grants = match (given, &settings.grants) {
        (Some(g), _) => g,
        (None, Some(written)) => {
            Grants::new(written).map_err(|e| anyhow::anyhow!("[code] grants: {e}"))?
        }
        (None, None) => crate::code::read_only_grants(&hub.catalog(), &Caller::owner()),
    };
    let mut loaded = Loaded {
        name: lang.run_name(),
        wasm,
        grants,
        limits: settings.limits.clone(),
    };
    let (fuel, timeout, memory) = overrides;
    policy::override_limits(&mut loaded.limits, fuel, timeout, memory);
    Ok(loaded)
}

/// The language a file's extension names.
fn language_of(file: &Path) -> Option<Language> {
    match file.extension()?.to_str()? {
        "py" => Some(Language::Python),
        "js" | "mjs" => Some(Language::JavaScript),
        _ => None,
    }
}

/// The source from FILE, or stdin for "-", at most `max` bytes.
fn read_code(file: &Path, max: u64) -> anyhow::Result<String> {
    let limit = max.saturating_add(1);
    let mut bytes = Vec::new();
    let read = if file == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    if bytes.len() as u64 > max {
        anyhow::bail!(
            "{} is over {max} bytes; code mode takes at most that much source ([code] max_code_bytes)",
            file.display(),
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", file.display()))
}
