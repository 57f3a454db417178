//! Tracing setup: logs go to stderr only, because stdout carries results
//! (and, for `serve --stdio`, the protocol itself), with secrets masked;
//! panic messages are masked too.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::args::Args;

/// Installs the stderr logger for this process.
pub fn init(args: &Args) {
    // A panic message can quote a credential: print it through the
    // redaction pass.
    crate::redact::install_panic_hook();
    let spec = args
        .log_level
        .clone()
        .or_else(|| std::env::var("WEFT_LOG").ok())
        .unwrap_or_else(|| "warn".into());
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| {
        eprintln!("weft: ignoring the log filter {spec:?}: not a level or tracing filter");
        EnvFilter::new("warn")
    });
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(colour(
            &args.color,
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::io::stderr().is_terminal(),
        ))
        // Every log line passes the redaction pass on its way out.
        .with_writer(|| crate::redact::Writer::new(std::io::stderr()));
    let fmt = match args.log_format.as_str() {
        "json" => fmt.json().with_filter(filter).boxed(),
        _ => fmt.with_target(false).with_filter(filter).boxed(),
    };
    // The OpenTelemetry layer, off until the config names a collector
    // (`crate::telemetry::start`); the log filter does not limit it.
    let _ = tracing_subscriber::registry()
        .with(crate::telemetry::layer())
        .with(fmt)
        .try_init();
}

/// Whether log lines carry ANSI colour: `--color always|never` decides;
/// `auto` colours a terminal only, and not when `NO_COLOR` is set (see
/// no-color.org: any non-empty value).
fn colour(when: &str, no_color: bool, terminal: bool) -> bool {
    match when {
        "always" => true,
        "never" => false,
        _ => terminal && !no_color,
    }
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_unless_told() {
        assert!(colour("auto", false, true));
        assert!(!colour("auto", false, false));
        assert!(!colour("auto", true, true));
        assert!(colour("always", true, false));
        assert!(!colour("never", false, true));
    }
}
