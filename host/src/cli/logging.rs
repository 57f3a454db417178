//! Tracing setup: logs go to stderr only, because stdout carries results
//! (and, for `serve --stdio`, the protocol itself), with secrets masked;
//! panic messages are masked too.

use tracing_subscriber::EnvFilter;

use super::args::Args;

pub fn init(args: &Args) {
    // A panic message can quote a credential: print it through the
    // redaction pass.
    weft::redact::install_panic_hook();
    let spec = args
        .log_level
        .clone()
        .or_else(|| std::env::var("WEFT_LOG").ok())
        .unwrap_or_else(|| "warn".into());
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| {
        eprintln!("weft: ignoring the log filter {spec:?}: not a level or tracing filter");
        EnvFilter::new("warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every log line passes the redaction pass on its way out.
        .with_writer(|| weft::redact::Writer::new(std::io::stderr()));
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}
