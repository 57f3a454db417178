//! The `weft` command. Everything it does is in the library
//! ([`weft::cli_main`]): the command line is one more user of the same
//! internals, kept private there.

/// mimalloc instead of glibc's malloc: a proxied call allocates and frees
/// many small buffers across worker threads (hyper, rmcp, serde), and
/// glibc's arenas spent about a fifth of weft's CPU on that under load
/// (`malloc_consolidate`, `_int_free`, `unlink_chunk` in the profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weft::cli_main()
}
