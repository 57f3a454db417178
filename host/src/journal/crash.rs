//! A test hook: crash weft at a named point of a journaled call.
//!
//! `WEFT_TEST_CRASH_AT=POINT:N` makes the process abort (as `kill -9`
//! would stop it: no clean-up, nothing flushed) at POINT of the Nth call
//! it sends, counting from 1. POINT is one of:
//! - `before-intent`: before the call's intent is queued;
//! - `after-intent`: the intent is stored, the call not yet sent;
//! - `after-send`: the call was answered, its result not yet stored;
//! - `after-result`: the result is stored.
//!
//! It exists so that tests can stop weft at each point deterministically;
//! nothing else sets it.

use std::sync::OnceLock;

/// A point of a journaled call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    BeforeIntent,
    AfterIntent,
    AfterSend,
    AfterResult,
}

impl Point {
    fn parse(text: &str) -> Option<Point> {
        Some(match text {
            "before-intent" => Point::BeforeIntent,
            "after-intent" => Point::AfterIntent,
            "after-send" => Point::AfterSend,
            "after-result" => Point::AfterResult,
            _ => return None,
        })
    }
}

fn armed_point() -> Option<(Point, u32)> {
    static AT: OnceLock<Option<(Point, u32)>> = OnceLock::new();
    *AT.get_or_init(|| {
        let text = std::env::var("WEFT_TEST_CRASH_AT").ok()?;
        let (point, n) = text.split_once(':')?;
        Some((Point::parse(point)?, n.parse().ok()?))
    })
}

/// Aborts the process if the hook names this point of call `n`.
pub fn point(at: Point, n: u32) {
    if armed_point() == Some((at, n)) {
        eprintln!("weft: WEFT_TEST_CRASH_AT: aborting at {at:?} of call {n}");
        std::process::abort();
    }
}

/// Whether the hook is set: a call then waits for its result to be stored
/// (see `hooks`), so that each kill point finds exactly the rows it names.
pub fn armed() -> bool {
    armed_point().is_some()
}
