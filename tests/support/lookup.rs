//! Finding what a test inspects: a server's tools in a hub's catalog, a
//! built example program.

use std::path::PathBuf;

use super::repo_root;

/// The names of `server`'s tools in `hub`'s catalog, sorted.
pub fn server_tool_names(hub: &weft::Hub, server: &str) -> Vec<String> {
    let mut names: Vec<String> = hub
        .catalog()
        .tools()
        .iter()
        .filter(|t| &*t.server == server)
        .map(|t| t.tool.name.to_string())
        .collect();
    names.sort();
    names
}

/// A built example of the `weft-examples` package (`target/debug/examples/NAME`).
pub fn example_bin(name: &str) -> PathBuf {
    let example = repo_root().join("target/debug/examples").join(name);
    assert!(
        example.exists(),
        "{} is missing: build it with `cargo build -p weft-examples --examples`",
        example.display()
    );
    example
}

/// The hub of the config at `path`, started in process, its components
/// compiled into `dir/cache` (the process's shared sandbox, made here).
pub async fn start_hub_in(dir: &std::path::Path, path: &std::path::Path) -> weft::Hub {
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.join("cache"))).expect("sandbox");
    let config = weft::Config::load(path).expect("the config loads");
    super::within("the hub starts", weft::Hub::start(config)).await
}
