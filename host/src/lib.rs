#![deny(missing_docs)]
//! weft: a WebAssembly plugin host for the Model Context Protocol.
//!
//! One [`Hub`] owns the connections to many MCP servers (stdio child
//! processes and HTTP servers, in either protocol [`Era`]) and presents
//! them as one namespaced catalog. Every tool call is one [`CallRequest`]
//! and goes through one pipeline, which checks the [`Caller`]'s view and
//! grants, resolves names (and `@domain` routes), applies timeouts,
//! retries and the circuit breaker, and classifies errors into an
//! [`ErrorKind`]. Crashed servers are restarted by a supervisor; status and
//! metrics come from [`Hub::report`] and [`Hub::metrics_text`].
//!
//! Components run in the [`sandbox`]; [`policy::Runner`] runs policies
//! against a hub; [`serve`] is the MCP server face for agents. The `weft`
//! binary is a thin front end ([`cli_main`]); see `docs/cli.md` for the
//! command line and `docs/architecture.md` for the data path.

mod adapter;
mod approval;
mod audit;
mod authz;
mod breaker;
mod cache;
mod catalog;
mod cli;
pub mod code;
pub mod config;
mod era;
mod error;
pub mod formats;
mod hub;
pub mod journal;
#[cfg(test)]
mod layers_test;
mod metrics;
mod migrate;
mod names;
pub mod oci;
mod openapi;
mod pg;
mod phrases;
mod pins;
pub mod policy;
mod recent;
mod redact;
mod router;
pub mod sandbox;
mod scan;
mod schema;
pub mod serve;
mod status;
mod telemetry;
mod tenant;
mod upstream;
mod util;

pub use approval::Asker;
pub use catalog::Change;
pub use config::{Config, ConfigError, Grants, Limits};
pub use era::Era;
pub use error::{CallError, ErrorKind};
pub use hub::{Hub, StartEvent};
pub use router::{CallRequest, Forward, Forwarded};
pub use status::StatusReport;
pub use tenant::Caller;
pub use upstream::{ServerStatus, State};

/// What a call forwarded to an embedding program's agent carries back:
/// progress, logs, and the server's requests for input (sampling,
/// elicitation, roots), each with a reply channel. Give a call a
/// [`Forward`] whose `relay` is the sending end of a channel of
/// [`relay::Message`]s (see [`CallRequest::forwarded`]) to answer them.
pub mod relay {
    pub use crate::upstream::relay::{Relay, RelayMsg as Message};
}

/// Client transports weft uses to reach servers, for embedding programs
/// that want one rmcp does not ship.
pub mod transport {
    /// The legacy HTTP+SSE transport (protocol 2024-11-05): GET for the
    /// event stream, POST to the endpoint it names. A cross-origin
    /// endpoint is refused.
    pub use crate::upstream::sse::connect_default as legacy_sse;
}

/// OAuth to upstreams, for embedding programs: an [`oauth::Authorizer`]
/// installed with [`oauth::set_authorizer`] is asked to approve a login
/// (or a wider scope) when a server wants one mid-run; without one, such
/// a server fails with an error naming `weft auth login`.
pub mod oauth {
    pub use crate::upstream::oauth::{Authorizer, BoxFuture, Loopback, OAuthError, set_authorizer};
}

/// The `weft` command line: parses the arguments, runs the command and
/// gives its exit code. Exit codes mean the same everywhere: 0 the work
/// succeeded, 1 the work failed (a tool error, a server down, a limit
/// hit), 2 bad usage or a bad config.
pub fn cli_main() -> std::process::ExitCode {
    use clap::Parser;
    let args = match cli::args::Args::try_parse() {
        Ok(a) => a,
        Err(e) => return cli::args_error(e),
    };
    cli::logging::init(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weft: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let code = runtime.block_on(cli::run(args));
    // Do not wait for tasks that are blocked on upstream I/O; every child
    // process was already stopped by the command itself.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
