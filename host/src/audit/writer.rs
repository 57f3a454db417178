//! The audit log's writer thread: takes the records queued by [`super::Audit`],
//! masks secrets, and stores them a batch at a time in the log file or the
//! shared database's table.

use std::io::Write;
use std::path::Path;

use tokio::sync::mpsc;

use super::{Job, shared};

/// The most records the writer stores at once.
const BATCH: usize = 1024;

/// Where the writer stores records: the log file, or the shared
/// database's table.
pub(super) enum Sink {
    File(std::io::BufWriter<std::fs::File>),
    Db(Box<shared::Db>),
}

impl Sink {
    /// Stores a batch of lines (secrets masked) and makes it durable as far
    /// as the sink goes (the file is flushed, the rows committed).
    fn store(&mut self, lines: &[String]) -> std::io::Result<()> {
        match self {
            Sink::File(out) => {
                for line in lines {
                    out.write_all(line.as_bytes())?;
                }
                out.flush()
            }
            Sink::Db(db) => db.store(lines),
        }
    }
}

/// The writer thread: stores queued lines, secrets masked, a batch
/// (everything queued so far) at a time; ends when every [`Audit`] handle
/// is gone.
pub(super) fn write_loop(mut jobs: mpsc::Receiver<Job>, mut sink: Sink, path: &Path) {
    let mut failing = false;
    while let Some(first) = jobs.blocking_recv() {
        let mut waiting = Vec::new();
        let mut lines = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Line(line) => lines.push(crate::redact::text(&line).into_owned()),
                Job::Flush(done) => waiting.push(done),
            }
            // A batch is bounded; the rest of the queue is the next one.
            if lines.len() < BATCH {
                next = jobs.try_recv().ok();
            }
        }
        match sink.store(&lines) {
            Ok(()) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::error!(path = %path.display(), error = %e, "cannot write the audit log");
                }
                failing = true;
            }
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}
