//! Which runs may be resumed, and which of a run's calls in doubt may be
//! sent again: shared by `weft runs resume` and `weft serve`'s resume of
//! the runs it owned.

use std::collections::HashSet;

use super::model::{CallRequest, Event, Kind, Resolution, RunRecord};
use crate::catalog::Catalog;
use crate::config::Config;

/// Whether the process that ran a run of a journal file an older weft
/// wrote (schema 1, before leases) is still alive: its pid names a live
/// process other than this one. Such a run is never this process's (this
/// weft holds its runs through leases), and weft restarted in a container
/// is often the very pid the run recorded.
pub fn alive(pid: Option<u32>) -> bool {
    pid.is_some_and(|p| {
        p != std::process::id() && std::path::Path::new(&format!("/proc/{p}")).exists()
    })
}

/// Whether a run is held by a live process: by its lease (a journal
/// file's holder that this process can see is asked directly, see
/// `file_lease`), or, for a run recorded before leases, by its pid.
pub fn held(run: &RunRecord) -> bool {
    match &run.lease {
        Some(lease) => lease.live,
        None => alive(run.pid),
    }
}

/// A call in doubt that may not be sent again on its own.
#[derive(Debug, thiserror::Error)]
pub enum InDoubt {
    /// The call's stored request cannot be read; holds its sequence number.
    #[error("call #{0} has an unreadable request")]
    Unreadable(u64),
    /// The call is not safe to repeat and nobody has settled it.
    #[error("call #{seq} ({call}) was sent or about to be, and its result was never recorded")]
    Unsettled {
        /// The call's sequence number in its run.
        seq: u64,
        /// The call as `server.tool {args}`, its args cut short.
        call: String,
    },
}

/// The calls in doubt that may be sent again: each is safe to repeat
/// (read-only, idempotent, or in `idempotent_tools`) or settled as not
/// done. `Err` names the first that is neither.
/// `catalog` and `config` are the hub's current ones.
pub fn in_doubt(
    catalog: &Catalog,
    config: &Config,
    events: &[Event],
) -> Result<HashSet<u64>, InDoubt> {
    let mut resend = HashSet::new();
    for e in events.iter().filter(|e| e.kind == Kind::Call) {
        if e.result.is_some() {
            continue;
        }
        if e.resolution == Some(Resolution::NotDone) {
            resend.insert(e.seq);
            continue;
        }
        let Some(call) = CallRequest::from_json(&e.request) else {
            return Err(InDoubt::Unreadable(e.seq));
        };
        if repeatable(catalog, config, &call.server, &call.tool) {
            resend.insert(e.seq);
        } else {
            return Err(InDoubt::Unsettled {
                seq: e.seq,
                call: call.describe(),
            });
        }
    }
    Ok(resend)
}

/// Whether sending `server`.`tool` twice is harmless: the tool is
/// annotated read-only or idempotent in the current catalog, or listed in
/// the server's `idempotent_tools`.
pub fn repeatable(catalog: &Catalog, config: &Config, server: &str, tool: &str) -> bool {
    catalog.tool(server, tool).is_some_and(|t| t.repeatable())
        || config
            .server(server)
            .is_some_and(|s| s.idempotent_tools.iter().any(|t| t == tool))
}

/// The first 12 hex digits of a digest.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
