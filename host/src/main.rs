//! The `weft` command: parses the command line and hands each command to
//! its entry point in [`cli`]. Exit codes mean the same everywhere: 0 the
//! work succeeded, 1 the work failed (a tool error, a server down, a limit
//! hit), 2 bad usage or a bad config.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a proxied call allocates and frees
/// many small buffers across worker threads (hyper, rmcp, serde), and
/// glibc's arenas spent about a fifth of weft's CPU on that under load
/// (`malloc_consolidate`, `_int_free`, `unlink_chunk` in the profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::args::Args::parse();
    cli::logging::init(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weft: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(cli::run(args));
    // Do not wait for tasks that are blocked on upstream I/O; every child
    // process was already stopped by the command itself.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
