//! The command-line grammar (see DESIGN.md, "Command line").

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// weft: one MCP endpoint in front of many MCP servers, with sandboxed Wasm
/// policies that script work across them.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, long_about = None, propagate_version = true)]
pub struct Args {
    /// The config file (weft TOML, or Claude-Desktop JSON with "mcpServers").
    /// Default: $WEFT_CONFIG, then ./weft.toml, then the built-in example.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log level for stderr: error, warn, info, debug, trace (or a
    /// tracing filter such as "weft=debug"). Default: $WEFT_LOG or "warn".
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format on stderr.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the merged tool catalog of every configured server.
    Tools {
        /// Only this server's tools (starts only that server).
        #[arg(long, value_name = "NAME")]
        server: Option<String>,
        /// Only tools annotated read-only (readOnlyHint).
        #[arg(long)]
        read_only: bool,
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool on one server and print its result.
    Call {
        /// The server name from the config.
        server: String,
        /// The tool's own name on that server (not the server__tool name).
        tool: String,
        /// Arguments as a JSON object; "-" reads them from stdin.
        #[arg(value_name = "ARGS_JSON")]
        args: Option<String>,
        /// Print the whole MCP result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a policy (a config name or a .wasm path) in the sandbox.
    Run {
        /// A policy name from the config, or a path to a .wasm component (which
        /// runs with every tool granted unless --grant says otherwise).
        policy: String,
        /// The input, as JSON; "-" reads it from stdin. Default: {}.
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
        /// CPU budget in fuel units, or "unlimited" (overrides the config).
        #[arg(long, value_name = "N")]
        fuel: Option<String>,
        /// Wall-time limit, like 500ms or 10s (overrides the config).
        #[arg(long, value_name = "DUR")]
        timeout: Option<String>,
        /// Memory limit, like 64MiB (overrides the config).
        #[arg(long, value_name = "SIZE")]
        memory: Option<String>,
        /// Grant SERVER.TOOL globs instead of the configured grants (repeatable).
        #[arg(long = "grant", value_name = "GLOB")]
        grants: Vec<String>,
        /// Print a JSON report: output, status, calls, fuel, duration, logs.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config and connect to every server; one line per server.
    Check {
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Start every server and report its state, protocol and counts.
    Status {
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}
