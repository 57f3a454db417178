//! The `weft` command. Everything it does is in the library
//! ([`weft::cli_main`]): the command line is one more user of the same
//! internals, kept private there.

fn main() -> std::process::ExitCode {
    weft::cli_main()
}
