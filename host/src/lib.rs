//! weft: a WebAssembly plugin host for the Model Context Protocol.
//!
//! One [`Hub`] owns the connections to many MCP servers (stdio child
//! processes and HTTP servers, in either protocol era) and presents them as
//! one namespaced [`catalog::Catalog`]. Every tool call goes through one
//! [`router`], which resolves names (and `@domain` routes), applies timeouts,
//! retries and the circuit breaker, and classifies errors into an
//! [`ErrorKind`]. Crashed servers are restarted by a supervisor; status and
//! metrics come from [`Hub::report`] and [`Hub::metrics_text`].
//!
//! The `weft` binary is a thin front end over this library; see the README
//! for the command line.

pub mod audit;
pub mod authz;
pub mod breaker;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod era;
pub mod error;
pub mod hub;
pub mod metrics;
mod phrases;
pub mod policy;
pub mod redact;
pub mod router;
pub mod sandbox;
pub mod serve;
pub mod status;
pub mod tenant;
pub mod upstream;
pub mod util;

pub use config::{Config, ConfigError};
pub use era::Era;
pub use error::{CallError, ErrorKind};
pub use hub::{Hub, StartEvent};
pub use tenant::Caller;
