//! Durable runs' journal on the command line: opening it, starting a
//! journaled `weft run` or `weft exec`, running its blocking calls off the
//! async workers, and how a run's state and holder are shown. Shared by
//! `run`, `exec`, `call`, `runs` and `resume`, and using none of them.

use std::sync::Arc;

use anyhow::Context;

use crate::Hub;
use crate::config::Config;
use crate::journal::{self, Backend, Recorder, RunRecord, Status};
use crate::policy::Loaded;

/// Opens the config's journal, off the async workers: the shared database
/// of `settings.state` if there is one, else the `journal` file.
pub(super) async fn open(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    let settings = config.settings.clone();
    let opened = tokio::task::spawn_blocking(move || journal::open_configured(&settings))
        .await
        .context("the journal's opening task failed")??;
    opened.ok_or_else(|| anyhow::anyhow!(
        "the journal is off (journal = false in [settings], or no home folder to keep it in); set journal = \"PATH\" in [settings]"
    ))
}

/// Gives `hub` the journal when a server it runs is durable (`weft call`,
/// `weft run`); `Err` says why it cannot be opened.
pub(super) async fn journal_for_durable_adapters(hub: &crate::Hub) -> anyhow::Result<()> {
    if hub.has_durable_adapters() {
        hub.set_journal(open(hub.config()).await?);
    }
    Ok(())
}

/// Runs a blocking journal read or write off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    backend: &Arc<dyn Backend>,
    work: impl FnOnce(&dyn Backend) -> Result<T, journal::JournalError> + Send + 'static,
) -> anyhow::Result<T> {
    let backend = backend.clone();
    let done = tokio::task::spawn_blocking(move || work(&*backend))
        .await
        .context("a journal task failed")??;
    Ok(done)
}

pub(super) use journal::resumable::held;

/// Who holds a run, for messages.
pub(super) fn holder(run: &RunRecord) -> String {
    match &run.lease {
        Some(lease) => format!(
            "{} (its lease expires at {})",
            lease.owner,
            chrono::DateTime::from_timestamp_micros(lease.expires_at)
                .map(|t| t.format("%H:%M:%S%.3f UTC").to_string())
                .unwrap_or_default()
        ),
        None => format!("process {}", run.pid.unwrap_or_default()),
    }
}

/// The status to show: a running run whose process is gone (or whose
/// lease has expired) is `interrupted`.
pub(super) fn shown_status(run: &RunRecord) -> &'static str {
    match run.status {
        Status::Running if !held(run) => "interrupted",
        s => s.as_str(),
    }
}

/// Starts the journal of a new `weft run` or `weft exec`: its row is
/// stored before the component starts. `spec` is how a resume finds the
/// component again: a policy's name or absolute path, or `code:LANGUAGE`.
pub(super) async fn begin(
    hub: &Hub,
    loaded: &Loaded,
    spec: &str,
    input: &str,
    options: journal::RunOptions,
) -> anyhow::Result<Option<Arc<Recorder>>> {
    let backend = open(hub.config()).await?;
    let record = RunRecord::start(&loaded.name, spec, loaded.wasm.digest(), input, options)?;
    let recorder = Arc::new(Recorder::new(backend.clone(), &record));
    recorder
        .create(record)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the run's journal: {e}"))?;
    tracing::info!(run = recorder.run_id(), journal = %backend.location().display(), "durable run");
    Ok(Some(recorder))
}
