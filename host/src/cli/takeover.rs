//! `weft runs resume --wait`: a second weft process (a replica) waits for
//! the lease of a run whose owner stopped heartbeating, then takes the run
//! over.

use std::sync::Arc;
use std::time::Duration;

use crate::journal::{Backend, Status, model::now_us};

use super::run_journal::{blocking, holder};

/// The longest pause between two looks at the lease.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Returns once run `id` is held by nobody: finished, stopped, or its
/// lease expired. Only a shared journal (with leases) can be waited on.
pub(super) async fn wait_for_lease(backend: &Arc<dyn Backend>, id: &str) -> anyhow::Result<()> {
    if backend.lease().is_none() {
        anyhow::bail!(
            "--wait takes a run over from another weft process sharing the journal; this journal ({}) is one file without leases: set settings.state to a postgres:// URL",
            backend.location().display()
        );
    }
    let mut told = false;
    loop {
        let wanted = id.to_string();
        let run = blocking(backend, move |b| b.run(&wanted)).await?;
        let Some(lease) = run.lease.as_ref().filter(|l| l.live) else {
            return Ok(());
        };
        if run.status != Status::Running {
            return Ok(());
        }
        if !told {
            tracing::info!(target: "weft::journal", run = id, "waiting for the lease of {}", holder(&run));
            told = true;
        }
        // Until the lease would expire unless renewed, then look again.
        let left = u64::try_from(lease.expires_at.saturating_sub(now_us())).unwrap_or(0);
        let pause = Duration::from_micros(left).clamp(Duration::from_millis(20), MAX_PAUSE);
        tokio::time::sleep(pause).await;
    }
}
