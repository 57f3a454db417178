//! Runs the book's shell blocks as written: the blocks of one walk (those
//! whose first line is `# MARKER WALK`) joined into one `bash -euo
//! pipefail` script, in an empty folder, with `weft` on `PATH` and an
//! `npx` that resolves to the pinned installs instead of downloading.

use super::*;
use std::process::Output;

/// The walks of `doc`: for each `MARKER WALK` first line of a ```sh block,
/// the walk's name and its blocks' bodies joined, in order of first use.
pub fn walks(doc: &str, marker: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line != "```sh" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let Some(walk) = block.first().and_then(|l| l.strip_prefix(marker)) else {
            continue;
        };
        let body = block[1..].join("\n") + "\n";
        match out.iter_mut().find(|(w, _)| w == walk) {
            Some((_, script)) => script.push_str(&body),
            None => out.push((walk.to_string(), body)),
        }
    }
    out
}

/// A `PATH` for walks under `dir`: a `bin/` with the test's `npx` first,
/// then the folder of the `weft` under test, then the inherited `PATH`.
pub fn walk_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let launcher = tools()
        .join("npm/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    let npx = format!(
        "#!/bin/sh\n# npx for the walk: the pinned installs, nothing downloaded.\n\
         [ \"$1\" = -y ] && shift\n\
         case \"$1\" in\n\
         @modelcontextprotocol/server-everything) shift; exec {node} {everything} \"$@\";;\n\
         @modelcontextprotocol/inspector) shift; exec {node} {launcher} \"$@\";;\n\
         *) echo \"npx (test): $1 is not pinned\" >&2; exit 127;;\n\
         esac\n",
        node = q(node22().display().to_string()),
        everything = q(npm_server("server-everything").display().to_string()),
        launcher = q(launcher.display().to_string()),
    );
    let shim = bin.join("npx");
    std::fs::write(&shim, npx).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let weft_dir = target_bin("weft").parent().unwrap().to_path_buf();
    format!(
        "{}:{}:{}",
        bin.display(),
        weft_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs one walk's `script` in `here` (made if missing) with `path` as
/// `PATH`, the test's own home, `WEFT_REPO` set to the checkout, and Rust
/// guests built in the guests' target dir (`.ci/build-guests` fills it,
/// so their dependencies are not compiled again).
pub fn run_walk(script: &str, here: &Path, path: &str) -> Output {
    std::fs::create_dir_all(here).unwrap();
    let mut cmd = Command::new("bash");
    isolate(&mut cmd);
    cmd.args(["-euo", "pipefail", "-c", script])
        .current_dir(here)
        .env("PATH", path)
        .env("WEFT_REPO", repo_root())
        .env("CARGO_TARGET_DIR", repo_root().join("target/wasm"))
        .env_remove("RUSTFLAGS")
        .env_remove("WEFT_CONFIG")
        .env("MCP_CATALOG_PATH", here.join("catalog.json"))
        .env("MCP_CLIENT_CONFIG_PATH", here.join("clients.json"))
        .env("WEFT_LOG", "error")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd.output_timed().expect("bash runs")
}
