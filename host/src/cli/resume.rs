//! `weft runs resume ID`: a durable run continued from its journal.

use std::process::ExitCode;
use std::sync::Arc;

use crate::Caller;
use crate::config::Config;
use crate::journal::resumable::short;
use crate::journal::{self, Backend, Recorder, RunRecord, Status};
use crate::policy::{self, Runner};

use super::run::{print_report, start};
use super::run_journal::{blocking, held, holder, open};
use super::{FAILED, USAGE, finish};

/// `weft runs resume ID`.
pub(super) async fn resume(config: Config, id: String, json: bool, wait: bool) -> ExitCode {
    let fail = |code: u8, message: String| {
        crate::errln!("weft: {message}");
        ExitCode::from(code)
    };
    let backend = match open(&config).await {
        Ok(b) => b,
        Err(e) => return fail(FAILED, format!("{e:#}")),
    };
    if wait && let Err(e) = super::takeover::wait_for_lease(&backend, &id).await {
        return fail(FAILED, format!("{e:#}"));
    }
    let (run, events) = {
        let id = id.clone();
        match blocking(&backend, move |b| Ok((b.run(&id)?, b.events(&id)?))).await {
            Ok(found) => found,
            Err(e) => return fail(FAILED, format!("{e:#}")),
        }
    };
    if run.status.finished() {
        return fail(
            USAGE,
            format!(
                "run {id} already finished ({}); `weft runs show {id}` shows it",
                run.status.as_str()
            ),
        );
    }
    if run.status == Status::Running && held(&run) {
        let next = match run.lease {
            Some(_) => {
                "it is taken over once that lease expires: `weft runs resume --wait` waits for that"
            }
            None => "wait for it, or stop that process first",
        };
        return fail(
            FAILED,
            format!("run {id} is still running in {}; {next}", holder(&run)),
        );
    }
    let code = match crate::code::spec_language(&run.spec).transpose() {
        Ok(lang) => lang,
        Err(crate::code::UnknownLanguage(name)) => {
            return fail(
                FAILED,
                format!("run {id} is code in {name:?}, a language code mode does not know"),
            );
        }
    };
    if let Some(server) = crate::adapter::durable::spec_server(&run.spec) {
        let server = server.to_string();
        return resume_adapter(config, backend, run, events, &server, json).await;
    }
    // The servers its grants reach, as `weft run` and `weft exec` start
    // them.
    let given = (!run.options.grants.is_empty()).then(|| run.options.grants.clone());
    let grant_list = match (&given, config.policy(&run.spec)) {
        (Some(g), _) => g.clone(),
        (None, Some(p)) if code.is_none() => p.grants.clone(),
        _ => vec!["*.*".into()],
    };
    let reach = policy::grants::Grants::new(&grant_list).ok();
    let (hub, sandbox) = match start(config, reach.as_ref()).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let loaded = match code {
        Some(lang) => {
            let given = given
                .as_deref()
                .map(policy::grants::Grants::new)
                .transpose();
            match given {
                Ok(given) => super::exec::interpreter(&hub, lang, given, (None, None, None))
                    .await
                    .map_err(|e| format!("{e:#}")),
                Err(e) => Err(e.to_string()),
            }
        }
        None => policy::load(&hub, &run.spec, &run.options.grants).map_err(|e| e.to_string()),
    };
    let mut loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("weft: cannot load the component of run {id}: {e}");
            return finish(FAILED).await;
        }
    };
    let digest = journal::digest_hex(loaded.wasm.digest());
    if digest != run.digest {
        crate::errln!(
            "weft: refusing to resume run {id}: its component {} has changed since the run started (digest {} then, {} now); a journal replays only against the same component: restore that build, or start a new run",
            run.spec,
            short(&run.digest),
            short(&digest)
        );
        return finish(FAILED).await;
    }
    let opts = &run.options;
    policy::override_limits(
        &mut loaded.limits,
        opts.fuel,
        opts.timeout_ms.map(std::time::Duration::from_millis),
        opts.memory,
    );
    let (resend, caller) = match settle_and_claim(&hub, &backend, &run, &events).await {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let input = run.input.clone();
    let recorder = Arc::new(Recorder::resume(backend, &run, events, resend));
    let runner = Runner::new(hub, sandbox);
    let mut report = runner
        .run_journaled(&caller, &loaded, &input, None, Some(recorder))
        .await;
    if code.is_some() {
        crate::code::for_submitter(&mut report);
    }
    finish(print_report(&report, json)).await
}

/// The last checks before a run goes on, shared by policy, code and
/// adapter runs: the caller it was made for, no call in doubt that may not
/// be sent again, as that caller's catalog says (else the run is marked
/// `in-doubt`), and the run claimed by this process.
async fn settle_and_claim(
    hub: &crate::Hub,
    backend: &Arc<dyn Backend>,
    run: &RunRecord,
    events: &[journal::Event],
) -> Result<(std::collections::HashSet<u64>, Caller), ExitCode> {
    let id = run.id.clone();
    let caller = match run_caller(hub, run) {
        Ok(caller) => caller,
        Err(message) => {
            crate::errln!("weft: {message}");
            return Err(finish(FAILED).await);
        }
    };
    let catalog = hub.catalog_for(&caller);
    let resend = match journal::resumable::in_doubt(&catalog, hub.config(), events) {
        Ok(resend) => resend,
        Err(message) => {
            let message = format!(
                "run {id} is in doubt: {message}; settle it with `weft runs resolve {id} --assume done --result JSON` (it happened) or `--assume not-done` (it did not), then resume"
            );
            let stored = message.clone();
            let run_id = id.clone();
            let _ = blocking(backend, move |b| {
                b.set_status(&run_id, Status::InDoubt, Some(&stored))
            })
            .await;
            crate::errln!("weft: {message}");
            return Err(finish(FAILED).await);
        }
    };
    let me = std::process::id();
    let claimed = {
        let (id, held) = (id.clone(), run.pid);
        blocking(backend, move |b| b.claim(&id, held, me)).await
    };
    match claimed {
        Ok(true) => {}
        Ok(false) => {
            crate::errln!(
                "weft: run {id} was taken by another process just now (`weft runs show {id}` shows who holds it)"
            );
            return Err(finish(FAILED).await);
        }
        Err(e) => {
            crate::errln!("weft: {e:#}");
            return Err(finish(FAILED).await);
        }
    }
    Ok((resend, caller))
}

/// A run made for a tenant (`weft run --tenant`, `weft serve`) goes on as
/// exactly the caller stored with it.
fn run_caller(hub: &crate::Hub, run: &RunRecord) -> anyhow::Result<Caller> {
    journal::caller::resume_as(run, hub.tenants()).map_err(anyhow::Error::from)
}

/// `weft runs resume` of a durable adapter call: the adapter's server
/// (and what it may call) started, the call made again under the journal,
/// and its result printed as `weft call` prints one.
async fn resume_adapter(
    config: Config,
    backend: Arc<dyn Backend>,
    run: RunRecord,
    events: Vec<journal::Event>,
    server: &str,
    json: bool,
) -> ExitCode {
    let config = match super::only_server(config, server) {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("weft: cannot resume run {}: {e:#}", run.id);
            return finish(FAILED).await;
        }
    };
    let hub = super::start_hub(config, false, false).await;
    hub.set_journal(backend.clone());
    let (resend, caller) = match settle_and_claim(&hub, &backend, &run, &events).await {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let id = run.id.clone();
    let resumable = crate::adapter::durable::Resumable {
        run,
        events,
        resend,
    };
    let code = match crate::adapter::durable::resume(
        hub.config(),
        hub.link(),
        backend,
        &caller,
        resumable,
    )
    .await
    {
        Ok(result) => {
            super::call::print_result(&result, json);
            0
        }
        Err(e) => {
            crate::errln!("weft: run {id}: {e}");
            FAILED
        }
    };
    finish(code).await
}
