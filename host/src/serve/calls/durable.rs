//! Durable runs through `weft serve`: a policy run (a policy exposed as a
//! tool, or `weft_run_policy`) and a code-mode run (`weft_run_code`, its
//! component the language's interpreter) are journaled as `weft run`'s
//! runs are, and its run id goes back to the agent in the result's
//! `_meta` ([`RUN_ID_META`]). With `settings.resume = true`, a starting `weft
//! serve` resumes the unfinished runs that a `weft serve` started: in a
//! journal file, those whose process is gone; in a shared database, those
//! whose lease has expired, looked for again every half lease so that a
//! replica takes over the runs of one that died. A run goes on as exactly
//! the caller it was made for (stored with it: `journal::caller`), never
//! as its tenant's whole view.

use std::sync::Arc;
use std::time::Duration;

use crate::code::Language;
use crate::journal::{
    self, Backend, Filter, JournalError, Recorder, RunCaller, RunOptions, RunRecord, Status,
    resumable,
};
use crate::policy::Loaded;
use crate::tenant::Caller;

use crate::serve::Gateway;

use super::RUN_ORIGIN as ORIGIN;

/// The key of a durable run's id in a `tools/call` result's `_meta`.
pub const RUN_ID_META: &str = "weft/run-id";

/// The shortest pause between two looks for runs to take over.
const MIN_SWEEP: Duration = Duration::from_secs(1);

impl Gateway {
    /// Journals the policy runs of this gateway in `backend`. Call it
    /// before the first session; a second call changes nothing.
    pub fn enable_journal(&self, backend: Arc<dyn Backend>) {
        self.hub.set_journal(backend.clone());
        let _ = self.journal.set(backend);
    }

    /// The journal policy runs go to, when there is one.
    pub fn journal(&self) -> Option<&Arc<dyn Backend>> {
        self.journal.get()
    }
}

/// Starts the journal of a policy run for `caller`: its row is stored
/// before the policy starts. `Ok(None)` without a journal (or for a
/// caller the run will be refused to, which leaves no row).
pub(in crate::serve) async fn begin(
    gw: &Gateway,
    caller: &Caller,
    loaded: &Loaded,
    input: &str,
) -> anyhow::Result<Option<Arc<Recorder>>> {
    if !crate::authz::allowed(caller, &crate::authz::Resource::Policy(&loaded.name)) {
        return Ok(None);
    }
    begin_run(gw, caller, loaded, &loaded.name, input).await
}

/// Starts the journal of a code-mode run (`weft_run_code`) for `caller`,
/// whose `[code]` settings the edge has checked: the component is the
/// language's interpreter, the input the code with its own input, and the
/// run's spec `code:LANGUAGE`, by which a resume finds the interpreter.
pub(in crate::serve) async fn begin_code(
    gw: &Gateway,
    caller: &Caller,
    loaded: &Loaded,
    lang: Language,
    request: &str,
) -> anyhow::Result<Option<Arc<Recorder>>> {
    begin_run(gw, caller, loaded, &crate::code::spec(lang), request).await
}

async fn begin_run(
    gw: &Gateway,
    caller: &Caller,
    loaded: &Loaded,
    spec: &str,
    input: &str,
) -> anyhow::Result<Option<Arc<Recorder>>> {
    let Some(backend) = gw.journal() else {
        return Ok(None);
    };
    let options = RunOptions {
        origin: Some(ORIGIN.into()),
        tenant: caller.tenant.as_ref().map(|t| t.name.clone()),
        caller: Some(RunCaller::of(caller)),
        ..RunOptions::default()
    };
    let record = RunRecord::start(&loaded.name, spec, loaded.wasm.digest(), input, options)
        .map_err(|e| anyhow::anyhow!("cannot start the run's journal: {e}"))?;
    let recorder = Arc::new(Recorder::new(backend.clone(), &record));
    recorder.create(record).await.map_err(|e| {
        anyhow::anyhow!("cannot start the run's journal, so the run did not start: {e}")
    })?;
    tracing::info!(run = recorder.run_id(), policy = %loaded.name, "durable run");
    Ok(Some(recorder))
}

/// Resumes, in the background, the unfinished runs a `weft serve` started
/// that nobody holds; with a shared journal, looks again every half lease.
pub fn resume_owned(gw: Arc<Gateway>) {
    let Some(backend) = gw.journal().cloned() else {
        tracing::warn!(
            "settings.resume is on, but the journal is off (journal = false): no run is resumed"
        );
        return;
    };
    tokio::spawn(async move {
        loop {
            match sweep(&gw, &backend).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "resumed the unfinished runs of weft serve"),
                Err(e) => tracing::error!("cannot look for runs to resume: {e}"),
            }
            let Some(lease) = backend.lease() else {
                return;
            };
            tokio::time::sleep((lease / 2).max(MIN_SWEEP)).await;
        }
    });
}

/// Runs a blocking journal read or write off the async workers.
async fn blocking<T: Send + 'static>(
    backend: &Arc<dyn Backend>,
    work: impl FnOnce(&dyn Backend) -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    let backend = backend.clone();
    tokio::task::spawn_blocking(move || work(&*backend))
        .await
        .unwrap_or_else(|e| Err(JournalError::Stopped(format!("a journal task failed: {e}"))))
}

/// Starts every run there is to resume; returns how many it started.
async fn sweep(gw: &Arc<Gateway>, backend: &Arc<dyn Backend>) -> Result<usize, JournalError> {
    let filter = Filter {
        status: Some(Status::Running),
        ..Filter::default()
    };
    let runs = blocking(backend, move |b| b.list(&filter)).await?;
    let mut started = 0;
    for run in runs {
        if resumable::held(&run) {
            continue;
        }
        if run.options.origin.as_deref() == Some(crate::adapter::durable::ORIGIN) {
            let id = run.id.clone();
            match prepare_adapter(gw, backend, run).await {
                Ok(Some((caller, resumable))) => {
                    started += 1;
                    let (hub, backend) = (gw.hub.clone(), backend.clone());
                    tokio::spawn(async move {
                        let id = resumable.run.id.clone();
                        match crate::adapter::durable::resume(
                            hub.config(),
                            hub.link(),
                            backend,
                            &caller,
                            resumable,
                        )
                        .await
                        {
                            Ok(_) => tracing::info!(run = %id, "resumed adapter call ended"),
                            Err(e) => tracing::warn!(run = %id, "resumed adapter call failed: {e}"),
                        }
                    });
                }
                Ok(None) => {}
                Err(why) => tracing::warn!(run = %id, "cannot resume the adapter call: {why}"),
            }
            continue;
        }
        if run.options.origin.as_deref() != Some(ORIGIN) {
            continue;
        }
        let id = run.id.clone();
        match prepare(gw, backend, run).await {
            Ok(Some(resumed)) => {
                started += 1;
                let id = resumed.recorder.run_id().to_string();
                let caller = resumed.caller.clone();
                let runs = gw.clone();
                super::run_tasks::adopt(gw, &caller, &id, move |asking| {
                    finish(
                        runs,
                        Resumed {
                            caller: asking,
                            ..resumed
                        },
                    )
                });
            }
            Ok(None) => {}
            Err(why) => tracing::warn!(run = %id, "cannot resume the run: {why}"),
        }
    }
    Ok(started)
}

/// A run claimed and ready to go on.
struct Resumed {
    caller: Caller,
    /// A code-mode run (its component is an interpreter).
    code: bool,
    loaded: Loaded,
    input: String,
    recorder: Arc<Recorder>,
}

/// Checks a run as `weft runs resume` does (the same component, no call
/// in doubt that may not be sent again) and claims it. `Ok(None)`: another
/// process claimed it first.
async fn prepare(
    gw: &Gateway,
    backend: &Arc<dyn Backend>,
    run: RunRecord,
) -> anyhow::Result<Option<Resumed>> {
    let caller = run_caller(gw, &run)?;
    let code = crate::code::spec_language(&run.spec);
    let loaded = match &code {
        Some(lang) => {
            let lang = *lang.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
            super::interpreter::interpreter(gw, &caller, lang)
                .await
                .map_err(|e| anyhow::anyhow!("its interpreter cannot be loaded: {e}"))?
        }
        None => gw
            .policy(&run.spec)
            .await
            .map_err(|e| anyhow::anyhow!("its policy {:?} cannot be loaded: {e}", run.spec))?,
    };
    let digest = journal::digest_hex(loaded.wasm.digest());
    if digest != run.digest {
        return Err(anyhow::anyhow!(
            "its component has changed since the run started (digest {} then, {} now); restore that build, or `weft runs prune --unfinished` it",
            resumable::short(&run.digest),
            resumable::short(&digest)
        ));
    }
    let id = run.id.clone();
    let Some((events, resend)) = load_and_claim(gw, backend, &run, &caller).await? else {
        return Ok(None);
    };
    tracing::info!(run = %id, policy = %loaded.name, "resuming a run of weft serve");
    Ok(Some(Resumed {
        caller,
        code: code.is_some(),
        input: run.input.clone(),
        recorder: Arc::new(Recorder::resume(backend.clone(), &run, events, resend)),
        loaded,
    }))
}

/// Checks a durable adapter call as [`prepare`] checks a policy run, and
/// claims it. `Ok(None)`: in doubt (marked so), or claimed elsewhere.
async fn prepare_adapter(
    gw: &Gateway,
    backend: &Arc<dyn Backend>,
    run: RunRecord,
) -> anyhow::Result<Option<(Caller, crate::adapter::durable::Resumable)>> {
    let caller = run_caller(gw, &run)?;
    let id = run.id.clone();
    let Some((events, resend)) = load_and_claim(gw, backend, &run, &caller).await? else {
        return Ok(None);
    };
    tracing::info!(run = %id, "resuming a durable adapter call of weft serve");
    Ok(Some((
        caller,
        crate::adapter::durable::Resumable {
            run,
            events,
            resend,
        },
    )))
}

/// A run's events and the calls in doubt that may be sent again (for
/// `caller`, the one the run goes on as), the run claimed; `None` when it
/// is in doubt (marked so) or claimed elsewhere.
async fn load_and_claim(
    gw: &Gateway,
    backend: &Arc<dyn Backend>,
    run: &RunRecord,
    caller: &Caller,
) -> anyhow::Result<Option<(Vec<journal::Event>, std::collections::HashSet<u64>)>> {
    let events = {
        let id = run.id.clone();
        blocking(backend, move |b| b.events(&id))
            .await
            .map_err(anyhow::Error::from)?
    };
    let Some(resend) = settle(gw, backend, run, caller, &events).await? else {
        return Ok(None);
    };
    match claim(backend, run).await? {
        true => Ok(Some((events, resend))),
        false => Ok(None),
    }
}

/// Who a run was made for: exactly the caller stored with it (its tenant,
/// narrowed as it was), or the owner.
fn run_caller(gw: &Gateway, run: &RunRecord) -> anyhow::Result<Caller> {
    journal::caller::resume_as(run, gw.hub.tenants()).map_err(anyhow::Error::from)
}

/// The calls in doubt that may be sent again, as `caller`'s own catalog
/// says (a tenant's instance of a per-tenant server may annotate its tools
/// otherwise than another's); `None` when one may not (the run is then
/// marked `in-doubt`, saying how to settle it).
async fn settle(
    gw: &Gateway,
    backend: &Arc<dyn Backend>,
    run: &RunRecord,
    caller: &Caller,
    events: &[journal::Event],
) -> anyhow::Result<Option<std::collections::HashSet<u64>>> {
    let id = run.id.clone();
    match resumable::in_doubt(&gw.hub.catalog_for(caller), gw.hub.config(), events) {
        Ok(resend) => Ok(Some(resend)),
        Err(doubt) => {
            let message = format!(
                "run {id} is in doubt: {doubt}; settle it with `weft runs resolve {id} --assume done --result JSON` (it happened) or `--assume not-done` (it did not), then `weft runs resume {id}`"
            );
            let stored = message.clone();
            blocking(backend, move |b| {
                b.set_status(&id, Status::InDoubt, Some(&stored))
            })
            .await
            .map_err(anyhow::Error::from)?;
            tracing::warn!(run = %run.id, "{message}");
            Ok(None)
        }
    }
}

/// Claims a run for this process; `false` when another claimed it first.
async fn claim(backend: &Arc<dyn Backend>, run: &RunRecord) -> anyhow::Result<bool> {
    let me = std::process::id();
    let (id, held) = (run.id.clone(), run.pid);
    blocking(backend, move |b| b.claim(&id, held, me))
        .await
        .map_err(anyhow::Error::from)
}

/// Runs a claimed run to its end; the journal stores how it ended.
async fn finish(gw: Arc<Gateway>, resumed: Resumed) {
    let Some(runner) = gw.runner.as_ref() else {
        tracing::error!(
            run = resumed.recorder.run_id(),
            "the sandbox is not available: the run stays interrupted"
        );
        return;
    };
    let id = resumed.recorder.run_id().to_string();
    let (caller, loaded, input) = (&resumed.caller, &resumed.loaded, &resumed.input);
    let journal = Some(resumed.recorder);
    let report = if resumed.code {
        runner
            .run_code_as(caller, loaded, input, None, journal)
            .await
    } else {
        runner
            .run_journaled(caller, loaded, input, None, journal)
            .await
    };
    tracing::info!(run = %id, status = %report.status, "resumed run ended");
}
