//! `weft new --adapter --lang rust` and `weft build` of the folder it
//! writes: the Rust template (`plugins/template-adapter`, with its own copy
//! of the SDK) builds as an adapter, and weft serves its tools.

use serde_json::{Value, json};

use crate::support::*;

/// Where the real cargo and rustup keep their state: the test's `weft`
/// runs with a HOME of its own, so cargo needs them named.
fn rust_homes(cmd: &mut std::process::Command) -> &mut std::process::Command {
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cargo = std::env::var_os("CARGO_HOME").map_or_else(|| home.join(".cargo"), Into::into);
    let rustup = std::env::var_os("RUSTUP_HOME").map_or_else(|| home.join(".rustup"), Into::into);
    cmd.env("CARGO_HOME", cargo).env("RUSTUP_HOME", rustup)
}

/// The folder `weft new` writes builds with `weft build` into a component
/// of the adapter world; `weft call` then gets exactly what its tools
/// answer: `greet` from the adapter's config, `shout` through
/// server-everything.
#[test]
fn a_new_rust_adapter_builds_and_serves_its_tools() {
    let dir = temp_dir();
    let folder = dir.path().join("hello-rs");
    weft_new_adapter("rust", &folder);
    assert_eq!(
        std::fs::read_to_string(folder.join("src/lib.rs")).expect("written"),
        std::fs::read_to_string(repo_root().join("plugins/template-adapter/src/lib.rs"))
            .expect("the template")
    );

    // Built in the guests' target dir (.ci/build-guests builds the
    // template there with the same profile), so its dependencies are not
    // compiled again.
    let wasm = dir.path().join("hello.wasm");
    let mut build = weft();
    rust_homes(&mut build)
        .env("CARGO_TARGET_DIR", repo_root().join("target/wasm"))
        .env_remove("RUSTFLAGS")
        .arg("build")
        .arg(&folder)
        .arg("-o")
        .arg(&wasm);
    let out = build.output_timed().expect("weft build runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        wasm.display().to_string()
    );
    assert!(
        stderr.contains("weft: built rust adapter ("),
        "stderr names what was built: {stderr}"
    );

    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        "[servers.hello]\ncomponent = {}\ngrants = [\"everything.echo\"]\n[servers.hello.config]\ngreeting = \"Hi\"\n",
        q(wasm.display().to_string())
    );
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, text).expect("write config");
    let call = |tool: &str, args: &str| weft_ok(&cfg, &["call", "hello", tool, args]);
    assert_eq!(call("greet", r#"{"name": "Ada"}"#), "Hi, Ada!");
    let shouted: Value =
        serde_json::from_str(&call("shout", r#"{"message": "hey"}"#)).expect("JSON");
    assert_eq!(shouted, json!({"shouted": "Echo: HEY"}));
}
