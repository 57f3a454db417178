//! Bad configs: every error names the file, the line and column, the key
//! and what to do, and exits with code 2 before any server starts.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

/// Runs `weft check` on a config text; returns (exit code, stderr).
fn check(dir: &std::path::Path, name: &str, text: &str) -> (i32, String) {
    let out = check_output(&dir.join(name), text);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `weft check` of `text`, written at `path`.
fn check_output(path: &std::path::Path, text: &str) -> std::process::Output {
    std::fs::write(path, text).unwrap();
    weft()
        .arg("--config")
        .arg(path)
        .arg("check")
        .output_timed()
        .expect("weft runs")
}

/// `dir/secrets.toml` holding `text`, at `mode`.
fn secrets_file(dir: &std::path::Path, text: &str, mode: u32) {
    let secrets = dir.join("secrets.toml");
    std::fs::write(&secrets, text).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The error for a server with neither `command` nor `url`, and its hint.
const NEITHER: &str = "has neither `command` nor `url` (nor `builtin`)\n  hint: add `command = \
                       \"...\"` for a local stdio server or `url = \"https://...\"` for a remote one";

/// Every config error, TOML and JSON, syntax or meaning, starts with
/// `FILE:LINE:COLUMN: KEY:` at the key it is about; an unknown key or
/// section gets the closest known one.
#[test]
fn errors_give_file_line_column_and_key() {
    let dir = temp_dir();
    let cases: &[(&str, &str, &str)] = &[
        (
            "a.toml",
            "[servers.git]\ncomand = \"mcp-server-git\"\n",
            ":2:1: servers.git: unknown key \"comand\"; did you mean \"command\"?",
        ),
        (
            "fr.toml",
            "[servers.fs]\ncommand = \"x\"\nforward_roots = true\n",
            ":3:1: servers.fs.forward_roots: roots go only to a server run once per tenant: a \
             shared server would take whichever agent's roots came last\n  hint: add per_tenant = \
             true, or remove forward_roots",
        ),
        (
            "b.toml",
            "[servers.fs]\ncommand = \"x\"\n    zzzzzzzz = 1\n",
            ":3:5: servers.fs: unknown key \"zzzzzzzz\"\n  hint: the keys here are command, args, \
             env, cwd, url, builtin, component, grants, limits, config, egress, egress_headers, security, headers, ca_file, client_cert, client_key, insecure_skip_verify, oauth, transport, type, enabled, disabled, timeout, \
             priority, scan, pin, approval, domains, include, exclude, restart, retry, breaker, cache, per_tenant, forward_roots, sandbox, era, validateArgs, validate_args, idempotent_tools, durable",
        ),
        (
            "c.toml",
            "[settings]\nbody_timout = \"1s\"\n",
            ":2:1: settings: unknown key \"body_timout\"; did you mean \"body_timeout\"?",
        ),
        (
            "d.toml",
            "[sevrers.t]\ncommand = \"x\"\n",
            ":1:2: unknown section \"sevrers\"; did you mean \"servers\"?",
        ),
        (
            "e.toml",
            "[servers.git]\nargs = [\"x\"]\n",
            &format!(":1:10: servers.git: {NEITHER}"),
        ),
        (
            "f.toml",
            "[servers.web]\nurl = \"ftp://x\"\n",
            ":2:1: servers.web.url: \"ftp://x\" is not an http:// or https:// URL",
        ),
        (
            "g.toml",
            "[servers.t]\ncommand = \"x\"\ntimeout = \"soon\"\n",
            ":3:1: servers.t.timeout: \"soon\" is not a duration; write it like 500ms, 30s, 2m or 1h",
        ),
        (
            "h.toml",
            "# limits\n[settings]\nmax_body = \"8MiB\"\n  body_timeout = \"soon\"\n",
            ":4:3: settings.body_timeout: \"soon\" is not a duration; write it like 500ms, 30s, 2m \
             or 1h",
        ),
        (
            "h2.toml",
            "[settings]\npage_bytes = 512\n",
            ":2:1: settings.page_bytes: 512 bytes is out of range\n  hint: use a page size from \
             1KiB to 64MiB; the default is 64KiB",
        ),
        (
            "h3.toml",
            "[settings]\npage_bytes = \"65MiB\"\n",
            ":2:1: settings.page_bytes: 68157440 bytes is out of range\n  hint: use a page size \
             from 1KiB to 64MiB; the default is 64KiB",
        ),
        (
            "i.toml",
            "[servers.t]\ncommand = \"x\"\nurl = \"http://x\"\n",
            ":1:10: servers.t: has both `command` and `url`\n  hint: a server is either a local \
             process (`command`) or a remote URL (`url`), not both",
        ),
        (
            "j.toml",
            "[servers.t]\ncommand = \"x\"\ninclude = [\"[oops\"]\n",
            ":3:1: servers.t.include: \"[oops\" is not a valid glob: error parsing glob '[oops': \
             unclosed character class; missing ']'",
        ),
        (
            "k.toml",
            "[servers.fs]\ncommand = \"x\"\n[tenants.a]\ninclude = [\"nodot\"]\n",
            ":4:1: tenants.a.include: view entry \"nodot\" must be SERVER.TOOL, like \"git.*\" or \
             \"time.get_current_time\"",
        ),
        (
            "l.toml",
            "[servers.t\ncommand = \"x\"\n",
            ":1:11: not valid TOML: unclosed table, expected `]`\n  hint: weft reads TOML \
             (weft.toml) or Claude-Desktop JSON ({\"mcpServers\": {...}})",
        ),
        (
            "m.json",
            "{\n  \"mcpServers\": {\n    \"fs\": {\n      \"comand\": \"npx\"\n    }\n  }\n}\n",
            ":4:7: mcpServers.fs: unknown key \"comand\"; did you mean \"command\"?",
        ),
        (
            "n.json",
            "{\n  \"mcpServers\": {\n    \"fs\": {\"command\": \"npx\",}\n  }\n}\n",
            ":3:29: not valid JSON: trailing comma",
        ),
        (
            "o.json",
            "{\n  \"mcpServers\": {\n    \"fs\": {\"args\": [\"x\"]}\n  }\n}\n",
            &format!(":3:5: mcpServers.fs: {NEITHER}"),
        ),
        (
            "p.json",
            "{\"mcpServers\": {\"fs\": {\"command\": \"x\", \"timeout\": \"soon\"}}}",
            ":1:40: mcpServers.fs.timeout: \"soon\" is not a duration; write it like 500ms, 30s, \
             2m or 1h",
        ),
        // A value of the wrong type is reported at the value's own key, not
        // at the table around it.
        (
            "q.toml",
            "[servers.e]\n  command = 5\n",
            ":2:3: servers.e.command: invalid type: integer `5`, expected a string",
        ),
        (
            "r.toml",
            "[servers.e]\ncommand = \"x\"\nargs = [\"a\", 3]\n[servers.e.breaker]\nfailurs = 3\n",
            ":5:1: servers.e.breaker: unknown key \"failurs\"; did you mean \"failures\"?",
        ),
        (
            "s.toml",
            "[servers.e]\ncommand = \"x\"\nargs = [\"a\", 3]\n",
            ":3:14: servers.e.args[1]: invalid type: integer `3`, expected a string",
        ),
        (
            "t.json",
            "{\"mcpServers\": {\"e\": {\"command\": \"npx\"}},\n \"policies\": {\"p\": {\"path\": \"x.wasm\", \"grants\": [4]}}}",
            ":2:50: policies.p.grants[0]: invalid type: integer `4`, expected a string",
        ),
    ];
    for (name, text, expected) in cases {
        let (code, err) = check(dir.path(), name, text);
        assert_eq!(code, 2, "{name}: exit code; stderr: {err}");
        let file = dir.path().join(name).display().to_string();
        assert_eq!(err.trim_end(), format!("weft: {file}{expected}"), "{name}");
    }
}

#[test]
fn bad_secret_references() {
    let dir = temp_dir();
    secrets_file(dir.path(), "TOKEN = \"canary-8d1f\"\n", 0o644);
    let secrets = dir.path().join("secrets.toml");
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

/// A registry login's references resolve when the config loads: an
/// unknown secret and a name that is no registry's `host:port` are each
/// refused at their key, and the secret's value is never echoed.
#[test]
fn registry_logins_are_checked_when_the_config_loads() {
    let dir = temp_dir();
    secrets_file(dir.path(), "REG = \"canary-77c1\"\n", 0o600);
    let login = |host: &str, password: &str| {
        format!(
            "[settings]\nsecrets = \"secrets.toml\"\n[settings.registries.auth.\"{host}\"]\nusername = \"ci\"\npassword = \"{password}\"\n"
        )
    };
    let (code, err) = check(
        dir.path(),
        "a.toml",
        &login("reg.internal:5000", "${secret:REGG}"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            ":3:22: settings.registries.auth.\"reg.internal:5000\".password: ${secret:REGG}: no secret named REGG in "
        ),
        "{err}"
    );
    let (code, err) = check(
        dir.path(),
        "b.toml",
        &login("reg internal", "${secret:REG}"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("settings.registries.auth: \"reg internal\" is not a registry's host:port"),
        "{err}"
    );
    assert!(!err.contains("canary-77c1"), "{err}");
    let (code, err) = check(
        dir.path(),
        "c.toml",
        &login("reg.internal:5000", "${secret:REG}"),
    );
    assert_eq!(code, 0, "{err}");
}

/// `[settings.trust.keyless]` is checked when the config loads: a roots
/// file that holds no certificate, and an identity with an empty subject,
/// are refused at their keys.
#[test]
fn keyless_trust_is_checked_when_the_config_loads() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("fulcio.pem"), "not a certificate").unwrap();
    let text = |subject: &str| {
        format!(
            "[settings.trust.keyless]\nroots = [\"fulcio.pem\"]\nrekor_keys = [\"rekor.pub\"]\nidentities = [{{ issuer = \"https://issuer.acme.dev\", subject = \"{subject}\" }}]\n"
        )
    };
    let (code, err) = check(dir.path(), "a.toml", &text("ci@acme.dev"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "settings.trust.keyless.roots: {}: holds no PEM certificate",
            dir.path().join("fulcio.pem").display()
        )),
        "{err}"
    );
    let (code, err) = check(dir.path(), "b.toml", &text(" "));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("settings.trust.keyless.identities: Identity { issuer: \"https://issuer.acme.dev\", subject: \" \" } has an empty issuer or subject"),
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

/// The machine grants' settings (`private_key`, `jwt_bearer`,
/// `enterprise`) are checked when the config loads, each error naming
/// what is missing or what does not fit; a key from the secrets file is
/// resolved without ever being shown.
#[test]
fn oauth_machine_grants_are_checked_when_the_config_loads() {
    let dir = temp_dir();
    secrets_file(dir.path(), "KEY = \"canary-5e2a\"\n", 0o600);
    let base = "[settings]\nsecrets = \"secrets.toml\"\n[servers.api]\nurl = \"http://127.0.0.1:9/mcp\"\n[servers.api.oauth]\n";
    let cases: &[(&str, &str)] = &[
        (
            "grant = \"jwt_bearer\"\n",
            "the jwt_bearer grant needs the workload's token: `assertion_file` or `assertion`",
        ),
        (
            "grant = \"client_credentials\"\nclient_id = \"c\"\nclient_secret = \"s\"\nprivate_key = \"${secret:KEY}\"\n",
            "servers.api.oauth.private_key: give `client_secret` or `private_key`, not both",
        ),
        (
            "grant = \"client_credentials\"\nclient_id = \"c\"\nprivate_key = \"${secret:KEY}\"\nsigning_algorithm = \"HS256\"\n",
            "\"HS256\" is not an algorithm weft signs with\n  hint: use ES256, ES384, RS256, RS384 or RS512",
        ),
        (
            "grant = \"enterprise\"\nclient_id = \"c\"\nidp_issuer = \"https://idp\"\nidp_client_id = \"i\"\nid_token = \"t\"\n",
            "the enterprise grant needs `idp_token_endpoint`",
        ),
        (
            "assertion = \"jwt\"\n",
            "servers.api.oauth.assertion: applies only to grant = jwt_bearer",
        ),
        (
            "grant = \"jwt_bearer\"\nassertion = \"jwt\"\nassertion_file = \"token\"\n",
            "give the token or its file (`_file`), not both",
        ),
        (
            "grant = \"device_code\"\n",
            "\"device_code\" is not a grant weft uses",
        ),
    ];
    for (i, (table, expected)) in cases.iter().enumerate() {
        let (code, err) = check(dir.path(), &format!("g{i}.toml"), &format!("{base}{table}"));
        assert_eq!(code, 2, "{table}: {err}");
        assert!(
            err.contains(expected),
            "{table}: expected {expected:?} in {err}"
        );
        assert!(!err.contains("canary-5e2a"), "a secret leaked: {err}");
    }
    // Each grant, well formed, loads.
    for (i, table) in [
        "grant = \"client_credentials\"\nclient_id = \"c\"\nprivate_key = \"${secret:KEY}\"\nsigning_algorithm = \"ES384\"\n",
        "grant = \"jwt_bearer\"\nassertion_file = \"token\"\n",
        "grant = \"enterprise\"\nclient_id = \"c\"\nclient_secret = \"${secret:KEY}\"\nidp_issuer = \"https://idp\"\nidp_token_endpoint = \"https://idp/token\"\nidp_client_id = \"i\"\nid_token_file = \"id\"\n",
        "dpop = true\n",
    ]
    .iter()
    .enumerate()
    {
        // The config is fine; the server (port 9) is not there (exit 1).
        let path = dir.path().join(format!("ok{i}.toml"));
        let out = check_output(&path, &format!("{base}{table}"));
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{table}: {said}");
        assert!(said.starts_with(&format!("config {}: ok\n", path.display())), "{table}: {said}");
        assert!(!said.contains("canary-5e2a"), "a secret leaked: {said}");
    }
}
