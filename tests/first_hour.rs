//! What new users tripped on in their first hour (issue 27), kept fixed:
//! the policy template works when copied out of the repository, and the
//! Markdown tables they read render whole.

use crate::support::*;
use std::path::{Path, PathBuf};

/// Copies the files of `from` (not `target/`) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// The README's promise: copy `plugins/template` anywhere, change the one
/// line that points at `weft-guest`, build, and `weft run` the component
/// at the path the template's README gives. The copy keeps its
/// size-optimised release profile (it is not inherited from a workspace).
#[test]
fn template_copied_out_of_the_repository_builds_and_runs() {
    let dir = temp_dir();
    let copy = dir.path().join("my-policy");
    copy_tree(&repo_root().join("plugins/template"), &copy);

    // Exactly one line names where weft-guest is; point it at the checkout.
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    let sdk_lines: Vec<&str> = manifest
        .lines()
        .filter(|l| l.starts_with("weft-guest"))
        .collect();
    assert_eq!(
        sdk_lines,
        ["weft-guest = { path = \"../../guest-sdk/rust\" }"]
    );
    let sdk = repo_root().join("guest-sdk/rust");
    let manifest = manifest.replace(
        sdk_lines[0],
        &format!("weft-guest = {{ path = {} }}", q(sdk.display().to_string())),
    );
    std::fs::write(copy.join("Cargo.toml"), manifest).unwrap();

    // A user names their policy: the package name decides the file name.
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    std::fs::write(
        copy.join("Cargo.toml"),
        manifest.replace("name = \"weft-policy-template\"", "name = \"my-policy\""),
    )
    .unwrap();

    // Built in the guests' target dir (.ci/build-guests fills it), so the
    // dependencies are not compiled again; the crate and its profile are
    // the copy's own.
    let target = repo_root().join("target/wasm");
    let out = std::process::Command::new("cargo")
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--release",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(&copy)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output_timed()
        .expect("cargo runs (install Rust and `rustup target add wasm32-wasip2`)");
    assert!(
        out.status.success(),
        "the copied template must build on its own:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm: PathBuf = target.join("wasm32-wasip2/release/my_policy.wasm");
    let size = std::fs::metadata(&wasm)
        .unwrap_or_else(|e| {
            panic!(
                "the package name gives the file name {}: {e}",
                wasm.display()
            )
        })
        .len();
    // With the template's own profile (opt-level "s", LTO, strip) the
    // component is about 100 KB; without it, it is several times larger.
    assert!(
        size < 200_000,
        "the component is {size} bytes: the size profile was lost"
    );

    let cfg = dir.path().join("weft.toml");
    std::fs::write(
        &cfg,
        npm_entry("everything", "server-everything", &["stdio"]),
    )
    .unwrap();
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .arg("run")
        .arg(&wasm)
        .args(["--grant", "everything.echo", "--json"])
        .args(["--input", r#"{"message": "copied"}"#])
        .output_timed()
        .expect("weft runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["output"]["echo"], "Echo: copied", "{report}");
    assert_eq!(
        report["output"]["granted"],
        serde_json::json!(["everything.echo"])
    );
}

/// The cells of one table row: split on unescaped `|`, without the outer
/// pipes.
fn cells(line: &str) -> usize {
    let body = line.trim();
    let body = body.strip_prefix('|').unwrap_or(body);
    let body = body.strip_suffix('|').unwrap_or(body);
    let mut n = 1;
    let mut escaped = false;
    for c in body.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
    }
    n
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('|') && t.contains("---") && t.chars().all(|c| "|-: ".contains(c))
}

/// Problems with the tables of one Markdown text: a row whose cell count
/// differs from its header's, or a row cut off from its table (a blank line
/// inside a table makes the rest render as text).
fn table_problems(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut fenced = false;
    let mut header: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let row = !fenced && line.trim_start().starts_with('|');
        if !row {
            header = None;
            continue;
        }
        match header {
            Some(n) => {
                if !is_separator(line) && cells(line) != n {
                    problems.push(format!(
                        "{name}:{}: {} cells, the header has {n}: {line}",
                        i + 1,
                        cells(line)
                    ));
                }
            }
            None => {
                if lines.get(i + 1).is_some_and(|next| is_separator(next)) {
                    header = Some(cells(line));
                } else {
                    problems.push(format!(
                        "{name}:{}: a table row outside any table (a blank line above it?): {line}",
                        i + 1
                    ));
                    header = Some(cells(line));
                }
            }
        }
    }
    problems
}

#[test]
fn the_table_checker_finds_a_cut_table_and_a_short_row() {
    let cut = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n";
    assert_eq!(
        table_problems("x", cut).len(),
        1,
        "{:?}",
        table_problems("x", cut)
    );
    let short = "| a | b |\n|---|---|\n| 1 |\n";
    assert_eq!(table_problems("x", short).len(), 1);
    let fine = "| a | `b \\| c` |\n|---|---|\n| 1 | 2 |\n\ntext | not a row\n";
    assert_eq!(table_problems("x", fine), Vec::<String>::new());
}

/// Every Markdown table in README.md and docs/ renders whole.
#[test]
fn markdown_tables_render_whole() {
    let root = repo_root();
    let files = crate::book::book_pages();
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        problems.extend(table_problems(&name, &text));
    }
    assert!(
        problems.is_empty(),
        "broken tables:\n{}",
        problems.join("\n")
    );
}

/// docs/serving.md's MCP Inspector lines, run as written: over stdio (weft's
/// arguments after `--`, so the Inspector does not take `--config` for its
/// own) and over HTTP, with `npx @modelcontextprotocol/inspector` being the
/// pinned Inspector and `weft` this build.
#[test]
fn the_inspector_lines_work_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("docs/serving.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("npx @modelcontextprotocol/inspector "))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "docs/serving.md shows a stdio and an HTTP line: {lines:?}"
    );
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("weft.toml"),
        "[servers.echo]\nbuiltin = \"echo\"\n",
    )
    .unwrap();
    let launcher = tools()
        .join("npm/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    assert!(
        launcher.exists(),
        "the MCP Inspector is missing at {}: run `bash .ci/setup-tools`",
        launcher.display()
    );
    let mut served = weft();
    served.arg("-c").arg(dir.path().join("weft.toml"));
    let (_weft, url) = serve_weft_http(&mut served);
    let weft_dir = target_bin("weft").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        weft_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in lines {
        let words: Vec<String> = line
            .split_whitespace()
            .skip(2) // npx @modelcontextprotocol/inspector
            .map(|w| w.replace("http://127.0.0.1:8765/mcp", &format!("{url}/mcp")))
            .collect();
        let mut cmd = std::process::Command::new(node22());
        isolate(&mut cmd);
        cmd.arg(&launcher)
            .args(&words)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("MCP_CATALOG_PATH", dir.path().join("catalog.json"))
            .env("MCP_CLIENT_CONFIG_PATH", dir.path().join("clients.json"))
            .env("WEFT_LOG", "error")
            .stdin(std::process::Stdio::null());
        let out = cmd.output_timed().expect("the Inspector runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{line}\n{}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let names: Vec<&str> = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names[0], "echo__echo", "{line}: {names:?}");
    }
}

/// Log lines on a pipe carry no ANSI colour codes unless asked for.
#[test]
fn logs_on_a_pipe_have_no_colour_codes() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, "[servers.echo]\nbuiltin = \"echo\"\n").unwrap();
    // weft() sets NO_COLOR; these runs decide it themselves.
    let stderr_of = |extra: &[&str]| {
        let out = weft()
            .env_remove("NO_COLOR")
            .arg("-c")
            .arg(&cfg)
            .args(["--log-level", "debug"])
            .args(extra)
            .arg("tools")
            .output_timed()
            .expect("weft runs");
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let plain = stderr_of(&[]);
    assert!(plain.contains("DEBUG"), "debug lines are logged: {plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour codes on a pipe: {plain:?}"
    );
    let forced = stderr_of(&["--color", "always"]);
    assert!(
        forced.contains("\u{1b}["),
        "--color always colours: {forced:?}"
    );
}

/// Without a config, weft says on stderr (a pipe, here) that it is using
/// its built-in demo config.
#[test]
fn without_a_config_weft_says_it_uses_the_demo_config() {
    let dir = temp_dir();
    let out = weft()
        .current_dir(dir.path())
        .args(["keys", "list"])
        .output_timed()
        .expect("weft runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "weft: no --config, no $WEFT_CONFIG and no weft.toml here: using the built-in demo config"
        ),
        "{stderr}"
    );
}

/// A Claude-style JSON config: a top-level `policies` object is read with
/// the keys of `[policies.NAME]`, a server's `envFile` joins its `env` (and
/// its values are masked in what weft prints), and other top-level keys are
/// warned about, not silently dropped.
#[test]
fn json_configs_take_policies_and_env_files() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("server.env"),
        "# from the editor's config\nexport WEFT_DEMO_TOKEN=\"tok-5f2a9c81\"\nWEFT_DEMO_PLAIN=visible\n",
    )
    .unwrap();
    let config = serde_json::json!({
        "mcpServers": {
            "everything": {
                "command": node22(),
                "args": [npm_server("server-everything"), "stdio"],
                "envFile": "server.env",
            }
        },
        "policies": {
            "hello": {
                "path": guest_wasm("weft-policy-template"),
                "grants": ["everything.echo"],
                "description": "echo through everything",
            }
        },
        "inputs": [],
    });
    let cfg = dir.path().join("mcp.json");
    std::fs::write(&cfg, config.to_string()).unwrap();

    let out = weft()
        .env("WEFT_LOG", "warn")
        .arg("-c")
        .arg(&cfg)
        .args([
            "run",
            "hello",
            "--json",
            "--input",
            r#"{"message": "from json"}"#,
        ])
        .output_timed()
        .expect("weft runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["output"]["echo"], "Echo: from json", "{report}");
    assert!(
        stderr.contains("ignoring a top-level key weft does not use")
            && stderr.contains("key=inputs"),
        "{stderr}"
    );

    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["call", "everything", "get-env", "{}", "--json"])
        .output_timed()
        .expect("weft runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // Both reached the server, and neither value is shown: an envFile
    // holds credentials as often as not.
    assert!(
        stdout.contains(r#"\"WEFT_DEMO_PLAIN\": \"[REDACTED]\""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"\"WEFT_DEMO_TOKEN\": \"[REDACTED]\""#),
        "{stdout}"
    );
    assert!(
        !stdout.contains("tok-5f2a9c81") && !stdout.contains("visible"),
        "{stdout}"
    );
}

/// With tenants, `/.well-known/` paths answer 404, not 401: a 401 there
/// makes the MCP Inspector start an OAuth flow weft cannot complete.
#[tokio::test]
async fn well_known_paths_are_absent_not_unauthorized() {
    let dir = temp_dir();
    let cfg = crate::support::edge::write_config(
        dir.path(),
        "[servers.echo]\nbuiltin = \"echo\"\n\n[tenants.acme]\ninclude = [\"echo.*\"]\n",
    );
    let _key = crate::support::edge::add_key(&cfg, "acme");
    let weft = crate::support::edge::serve(&cfg, &[]);
    let http = reqwest::Client::new();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = http
            .get(format!("{}{path}", weft.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND, "{path}");
    }
    // Without a key, the MCP endpoint still says 401.
    let r = http
        .post(format!("{}/mcp", weft.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// docs/first-hour.md's two walks, run as written: each walk's blocks as
/// one `bash -euo pipefail` script in an empty folder, with `weft` on
/// PATH and an `npx` that resolves to the pinned installs.
#[test]
fn the_first_hour_walks_run_as_written() {
    let doc = std::fs::read_to_string(repo_root().join("docs/first-hour.md")).unwrap();
    let walks = walks::walks(&doc, "# first-hour: ");
    let names: Vec<&str> = walks.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(names, ["policy", "tenants"]);
    let dir = temp_dir();
    let path = walks::walk_path(dir.path());
    for (walk, script) in &walks {
        let here = dir.path().join(walk);
        let out = walks::run_walk(script, &here, &path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the {walk} walk failed:\n{stderr}\n{stdout}"
        );
        if walk == "policy" {
            // What the page says it prints.
            let printed = stdout.rsplit_once("\n{").map(|(_, o)| format!("{{{o}"));
            let report: serde_json::Value =
                serde_json::from_str(printed.as_deref().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("no output JSON ({e}): {stdout}"));
            assert_eq!(
                report,
                serde_json::json!({"echo": "Echo: my first policy", "granted": ["everything.echo"]})
            );
        } else {
            let acme: serde_json::Value =
                serde_json::from_slice(&std::fs::read(here.join("acme.json")).unwrap()).unwrap();
            let names: Vec<&str> = acme["tools"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t["name"].as_str())
                .collect();
            assert_eq!(names, ["everything__echo", "weft_search_tools"], "{acme}");
            let globex = std::fs::read_to_string(here.join("globex.json")).unwrap();
            assert!(globex.contains("Echo: hi"), "{globex}");
            assert!(
                stdout.contains("2 tenants: requests need a key"),
                "the banner: {stdout}"
            );
        }
    }
}
