//! Bad configs: every error names the file, the key and what to do, and
//! exits with code 2 before any server starts.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

/// Runs `weft check` on a config text; returns (exit code, stderr).
fn check(dir: &std::path::Path, name: &str, text: &str) -> (i32, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = weft()
        .arg("--config")
        .arg(&path)
        .arg("check")
        .output_timed()
        .expect("weft runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_keys_missing_fields_and_bad_values() {
    let dir = temp_dir();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[servers.git]\ncomand = \"mcp-server-git\"\n",
            "servers.git.comand",
            &["unknown key", "command"],
        ),
        (
            "[servers.git]\nargs = [\"x\"]\n",
            "servers.git",
            &["neither `command` nor `url`"],
        ),
        (
            "[servers.web]\nurl = \"ftp://x\"\n",
            "servers.web.url",
            &["http://"],
        ),
        (
            "[servers.t]\ncommand = \"x\"\ntimeout = \"soon\"\n",
            "servers.t.timeout",
            &["not a duration", "30s"],
        ),
        (
            "[servers.t]\ncommand = \"x\"\nurl = \"http://x\"\n",
            "servers.t",
            &["both"],
        ),
        (
            "[sevrers.t]\ncommand = \"x\"\n",
            "sevrers",
            &["unknown section", "servers"],
        ),
        (
            "[servers.t]\ncommand = \"x\"\ninclude = [\"[oops\"]\n",
            "servers.t.include",
            &["glob"],
        ),
        (
            "[servers.t\ncommand = \"x\"\n",
            "(file)",
            &["not valid TOML", "line 1"],
        ),
    ];
    for (i, (text, key, words)) in cases.iter().enumerate() {
        let name = format!("case{i}.toml");
        let (code, err) = check(dir.path(), &name, text);
        assert_eq!(code, 2, "case {i}: exit code; stderr: {err}");
        let file = dir.path().join(&name).display().to_string();
        assert!(
            err.contains(&format!("{file}: {key}:")),
            "case {i}: must name file and key {key}: {err}"
        );
        for w in *words {
            assert!(err.contains(w), "case {i}: must mention {w:?}: {err}");
        }
    }
}

#[test]
fn bad_secret_references() {
    let dir = temp_dir();
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, "TOKEN = \"canary-8d1f\"\n").unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let base =
        "[settings]\nsecrets = \"secrets.toml\"\n[servers.api]\nurl = \"http://127.0.0.1:9/mcp\"\n";

    // A world-readable secrets file is refused, with the fix.
    let (code, err) = check(
        dir.path(),
        "a.toml",
        &format!("{base}headers = {{ Authorization = \"Bearer ${{secret:TOKEN}}\" }}\n"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(
        !err.contains("canary-8d1f"),
        "a secret value leaked into an error: {err}"
    );

    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    // An unknown secret name.
    let (code, err) = check(
        dir.path(),
        "b.toml",
        &format!("{base}headers = {{ Authorization = \"Bearer ${{secret:TOKN}}\" }}\n"),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("servers.api.headers.Authorization") && err.contains("no secret named TOKN"),
        "{err}"
    );
    // An unknown reference kind.
    let (code, err) = check(
        dir.path(),
        "c.toml",
        &format!("{base}headers = {{ X = \"${{vault:TOKEN}}\" }}\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("${env:NAME} or ${secret:NAME}"), "{err}");
    // A secret in command-line arguments is refused: it would show in ps.
    let (code, err) = check(
        dir.path(),
        "d.toml",
        "[settings]\nsecrets = \"secrets.toml\"\n[servers.s]\ncommand = \"x\"\nargs = [\"${secret:TOKEN}\"]\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("servers.s.args") && err.contains("env"),
        "{err}"
    );
    // An unset environment variable.
    let (code, err) = check(
        dir.path(),
        "e.toml",
        "[servers.s]\ncommand = \"x\"\nenv = { K = \"${env:WEFT_TEST_SURELY_UNSET}\" }\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("WEFT_TEST_SURELY_UNSET") && err.contains("not set"),
        "{err}"
    );
}

#[test]
fn a_secret_reaches_only_the_server_that_names_it() {
    let dir = temp_dir();
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, "TOKEN = \"canary-5e7a\"\n").unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let everything = npm_server("server-everything").display().to_string();
    let text = format!(
        "[settings]\nsecrets = \"secrets.toml\"\n\
         [servers.with]\ncommand = \"node\"\nargs = [{e}, \"stdio\"]\nenv = {{ API_TOKEN = \"${{secret:TOKEN}}\" }}\n\
         [servers.without]\ncommand = \"node\"\nargs = [{e}, \"stdio\"]\n",
        e = q(&everything)
    );
    std::fs::write(dir.path().join("weft.toml"), &text).unwrap();
    // server-everything's get-env tool shows the process environment.
    let env_of = |server: &str| {
        let out = weft()
            .current_dir(dir.path())
            .args(["call", server, "get-env"])
            .output_timed()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The server that names it got it (and weft masked it on the way out);
    // the other never did.
    let with = env_of("with");
    assert!(
        with.contains("[REDACTED]") && !with.contains("canary-5e7a"),
        "{with}"
    );
    assert!(
        !env_of("without").contains("canary-5e7a") && !env_of("without").contains("[REDACTED]"),
        "the secret leaked to a server that does not name it"
    );
}

#[test]
fn claude_desktop_json_is_read_unchanged() {
    let dir = temp_dir();
    let everything = npm_server("server-everything").display().to_string();
    let json = format!(
        r#"{{"globalShortcut": "Ctrl+Space", "mcpServers": {{"everything": {{"command": "node", "args": [{e:?}, "stdio"], "env": {{}}, "autoApprove": []}}}}}}"#,
        e = everything
    );
    let path = dir.path().join("claude_desktop_config.json");
    std::fs::write(&path, json).unwrap();
    let out = weft()
        .arg("--config")
        .arg(&path)
        .args(["tools", "--json"])
        .output_timed()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        tools
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "everything__echo")
    );
}
