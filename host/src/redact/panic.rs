//! A panic hook that masks secrets: a panic message can quote any value
//! in reach (a header, a config entry, an upstream's answer), and the
//! default hook prints it to stderr unmasked.

use std::any::Any;
use std::panic::Location;

/// The longest panic message printed, in bytes.
const MAX_MESSAGE: usize = 8 << 10;

/// Replaces the panic hook with one that prints the panic, secrets masked,
/// to stderr (and a backtrace when `RUST_BACKTRACE` asks for one).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let mut report = panic_report(
            thread.name().unwrap_or("<unnamed>"),
            info.payload(),
            info.location(),
        );
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            report.push_str(&format!("\n{}", super::text(&backtrace.to_string())));
        }
        eprintln!("{report}");
    }));
}

/// What the hook prints for a panic: thread, place and message (capped),
/// with every secret masked.
pub fn panic_report(
    thread: &str,
    payload: &(dyn Any + Send),
    location: Option<&Location<'_>>,
) -> String {
    let mut message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    };
    crate::util::truncate(&mut message, MAX_MESSAGE);
    let place = location.map_or_else(String::new, |l| format!(" at {l}"));
    let report = format!("thread '{thread}' panicked{place}:\n{message}");
    super::text(&report).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_masked_and_capped() {
        super::super::install(&["panic-canary-5e1f0a".into()]);
        let payload: Box<dyn Any + Send> = Box::new(
            r#"header was "Bearer panic-canary-5e1f0a"; {"k":"panic-canary-5e1f0a"}"#.to_string(),
        );
        let report = panic_report("main", payload.as_ref(), Some(Location::caller()));
        assert!(report.starts_with("thread 'main' panicked at "), "{report}");
        assert!(
            report.ends_with("header was \"Bearer [REDACTED]\"; {\"k\":\"[REDACTED]\"}"),
            "{report}"
        );
        let payload: Box<dyn Any + Send> = Box::new("static panic-canary-5e1f0a");
        assert_eq!(
            panic_report("w", payload.as_ref(), None),
            "thread 'w' panicked:\nstatic [REDACTED]"
        );
        let huge: Box<dyn Any + Send> = Box::new("x".repeat(1 << 20));
        assert!(panic_report("w", huge.as_ref(), None).len() < MAX_MESSAGE + 64);
    }
}
