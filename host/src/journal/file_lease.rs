//! Leases in a journal file: who holds a run when the file is shared by
//! weft processes that cannot see each other's process ids (containers,
//! where weft is often pid 1 on every start).
//!
//! As in the shared database (`lease`), a run being run is held under its
//! holder's id (`host:pid:random`, new at every process start) until an
//! expiry, `lease_until`, that the holder's writer thread renews every
//! third of the lease; a run whose lease has lapsed is one whose holder
//! died, and another process may claim it. Every write of a run is fenced
//! by its holder, so a process that lost a run cannot write behind its
//! successor's back. A file has no clock of its own: expiries are by each
//! process's clock, so the processes sharing a file must keep their clocks
//! within a fraction of the lease of each other (one machine does).
//!
//! Beside its id, the holder records its process: boot, pid namespace, pid
//! and start time. A process in the same boot and pid namespace knows
//! from that at once whether that very process still lives (a pid used
//! again by another process has another start time), so a run of a
//! `weft run` that crashed is interrupted at once rather than a lease
//! later; any other process, in another container or on another machine,
//! goes by the lease alone.

use std::sync::OnceLock;
use std::time::Duration;

use super::model::LeaseHolder;

/// This process as the holder of the runs it runs.
#[derive(Debug, Clone)]
pub struct Holder {
    /// `host:pid:random`, as in the shared journal.
    pub id: String,
    /// `BOOT/PIDNS/PID/START` (see [`process`]); `None` where `/proc`
    /// does not tell, and then the lease alone speaks for this process.
    pub process: Option<String>,
    /// How long a lease lasts unless renewed.
    pub lease: Duration,
}

impl Holder {
    /// This process, holding its runs with leases of `lease`.
    pub fn this(lease: Duration) -> Holder {
        Holder {
            id: super::lease::owner_id(),
            process: process(),
            lease,
        }
    }

    /// When a lease taken or renewed at `now` (µs since the epoch) ends.
    pub fn until(&self, now: i64) -> i64 {
        now.saturating_add(i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX))
    }
}

/// The fields a run's row keeps of its holder, the columns
/// `holder, holder_process, lease_until` of the file.
pub struct Stored {
    pub holder: Option<String>,
    pub process: Option<String>,
    pub until: Option<i64>,
}

/// A run's lease as `weft runs` shows it, from its row: `None` for a run
/// recorded by a weft before leases (its process id decides, see
/// `resumable::held`) and for a finished one.
pub fn shown(stored: Stored, finished: bool, now: i64) -> Option<LeaseHolder> {
    let owner = stored.holder.filter(|_| !finished)?;
    let expires_at = stored.until.unwrap_or(0);
    let live = match stored.process.as_deref().and_then(seen_alive) {
        Some(alive) => alive,
        None => expires_at > now,
    };
    Some(LeaseHolder {
        owner,
        expires_at,
        live,
    })
}

/// This process as `BOOT/PIDNS/PID/START`: the kernel's boot id, the pid
/// namespace, the pid in it and the start time in clock ticks since boot.
fn process() -> Option<String> {
    let place = place()?;
    let pid = std::process::id();
    let (_, start) = stat(pid)?;
    Some(format!("{place}/{pid}/{start}"))
}

/// `BOOT/PIDNS` of this process, read once.
fn place() -> Option<&'static str> {
    static PLACE: OnceLock<Option<String>> = OnceLock::new();
    PLACE
        .get_or_init(|| {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
            let (boot, ns) = (boot.trim(), ns.to_string_lossy().into_owned());
            (!boot.is_empty() && !boot.contains('/') && !ns.contains('/'))
                .then(|| format!("{boot}/{ns}"))
        })
        .as_deref()
}

/// The state letter and start time of process `pid`.
fn stat(pid: u32) -> Option<(char, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The state letter and start time in `/proc/PID/stat`'s text: the fields
/// after the command name, which may hold anything but ends at the last
/// `)`.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `starttime` is field 22; `state`, just taken, is field 3.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether the process a row names still lives, when this process can
/// see it (same boot, same pid namespace); `None` when it cannot tell.
fn seen_alive(process: &str) -> Option<bool> {
    let mut parts = process.rsplitn(3, '/');
    let (start, pid, place) = (parts.next()?, parts.next()?, parts.next()?);
    if Some(place) != self::place() {
        return None;
    }
    let (pid, start): (u32, u64) = (pid.parse().ok()?, start.parse().ok()?);
    Some(match stat(pid) {
        // A zombie has ended; only its parent has yet to reap it.
        Some((state, started)) => started == start && state != 'Z',
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(holder: &str, process: Option<String>, until: i64) -> Stored {
        Stored {
            holder: Some(holder.into()),
            process,
            until: Some(until),
        }
    }

    #[test]
    fn a_process_this_one_can_see_decides_and_the_lease_does_otherwise() {
        let now = super::super::model::now_us();
        let me = process().expect("this test runs where /proc tells");
        let live = |process: &str, until: i64| {
            shown(stored("h", Some(process.to_string()), until), false, now)
                .expect("a lease")
                .live
        };
        // This very process, its lease long lapsed: alive.
        assert!(live(&me, 0));
        // Its pid with another start time (a pid used again), or a pid
        // nobody has: gone, however long their leases run.
        let (place, start) = me.rsplit_once('/').unwrap();
        let later: u64 = start.parse::<u64>().unwrap() + 1;
        assert!(!live(&format!("{place}/{later}"), now + 60_000_000));
        let (boot_ns, _) = place.rsplit_once('/').unwrap();
        assert!(!live(
            &format!("{boot_ns}/{}/1", u32::MAX),
            now + 60_000_000
        ));
        // A process in another pid namespace: its lease decides.
        let far = "another-boot/pid:[1]/1/42";
        assert!(live(far, now + 1_000_000));
        assert!(!live(far, now - 1));
        // No process recorded: the lease decides.
        assert!(!shown(stored("h", None, now - 1), false, now).unwrap().live);
        assert!(
            shown(stored("h", None, now + 1_000), false, now)
                .unwrap()
                .live
        );
        // A run of a weft before leases, and a finished run: no lease.
        let old = Stored {
            holder: None,
            process: None,
            until: None,
        };
        assert_eq!(shown(old, false, now), None);
        assert_eq!(shown(stored("h", None, now + 1), true, now), None);
    }

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces_and_parens() {
        let text =
            "4242 (we ft) (x) S 1 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(text), Some(('S', 987654)));
        assert_eq!(parse_stat("4242 (weft"), None);
        assert!(stat(std::process::id()).is_some_and(|(_, start)| start > 0));
    }
}
