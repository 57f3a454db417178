//! Unit tests of config loading and its error messages.

use std::path::{Path, PathBuf};

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, Path::new("/cfg/weft.toml"))
}

#[test]
fn toml_servers_of_both_kinds() {
    let c = parse(
        r#"
[settings]
separator = "__"
[servers.time]
command = "mcp-server-time"
args = ["--local-timezone", "UTC"]
timeout = "5s"
priority = 3
domains = ["clock"]
include = ["get_*"]
[servers.remote]
url = "http://127.0.0.1:9/mcp"
transport = "sse"
enabled = false
"#,
    )
    .unwrap();
    assert_eq!(c.servers.len(), 2);
    let time = c.server("time").unwrap();
    assert_eq!(time.timeout, Duration::from_secs(5));
    assert_eq!(time.priority, 3);
    assert!(
        matches!(&time.transport, Transport::Stdio { command, .. } if command == "mcp-server-time")
    );
    let remote = c.server("remote").unwrap();
    assert!(!remote.enabled);
    assert!(matches!(
        &remote.transport,
        Transport::Http {
            legacy_sse: true,
            ..
        }
    ));
}

#[test]
fn unknown_key_names_file_key_and_fix() {
    let e = parse("[servers.git]\ncomand = \"x\"\n").unwrap_err();
    assert_eq!(e.key, "servers.git");
    assert_eq!(
        e.to_string(),
        "/cfg/weft.toml:2:1: servers.git: unknown key \"comand\"; did you mean \"command\"?"
    );
}

#[test]
fn missing_command_and_url() {
    let e = parse("[servers.git]\nargs = []\n").unwrap_err();
    assert_eq!(e.key, "servers.git");
    assert!(e.to_string().contains("neither `command` nor `url`"));
}

#[test]
fn references_only_in_env_and_headers() {
    let e = parse("[servers.a]\ncommand = \"x\"\nargs = [\"${secret:K}\"]\n").unwrap_err();
    assert_eq!(e.key, "servers.a.args");
    let ok = parse("[servers.a]\ncommand = \"x\"\nargs = [\"${env:WEFT_SURELY_UNSET:-/data}\"]\n")
        .unwrap();
    assert!(
        matches!(&ok.servers[0].transport, Transport::Stdio { args, .. } if args == &["/data"])
    );
    let e = parse("[servers.a]\ncommand = \"x\"\nenv = { K = \"${env:WEFT_SURELY_UNSET_VAR}\" }\n")
        .unwrap_err();
    assert_eq!(e.key, "servers.a.env.K");
    assert!(e.to_string().contains("not set"));
}

#[test]
fn secret_without_file_is_explained() {
    let e = parse("[servers.a]\nurl = \"https://x/mcp\"\nheaders = { Authorization = \"Bearer ${secret:TOKEN}\" }\n")
        .unwrap_err();
    assert!(e.to_string().contains("secrets file"), "{e}");
}

#[test]
fn claude_desktop_json() {
    let c = parse(
        r#"{"globalShortcut": "x", "mcpServers": {
            "mem": {"command": "npx", "args": ["-y", "server-memory"], "env": {"A": "b"}, "autoApprove": []},
            "web": {"type": "http", "url": "https://example.invalid/mcp"}}}"#,
    )
    .unwrap();
    assert_eq!(c.servers.len(), 2);
    assert!(
        matches!(&c.server("mem").unwrap().transport, Transport::Stdio { env, .. } if env["A"] == "b")
    );
}

#[test]
fn bad_names_and_sections() {
    assert_eq!(
        parse("[server.a]\ncommand = \"x\"\n")
            .unwrap_err()
            .to_string(),
        "/cfg/weft.toml:1:2: unknown section \"server\"; did you mean \"servers\"?"
    );
    assert!(
        parse("[servers.\"a b\"]\ncommand = \"x\"\n")
            .unwrap_err()
            .to_string()
            .contains("letters, digits")
    );
    assert!(
        parse("[servers.a__b]\ncommand = \"x\"\n")
            .unwrap_err()
            .to_string()
            .contains("separator")
    );
    assert!(
        parse("[settings]\nnames = \"short\"\n")
            .unwrap_err()
            .to_string()
            .contains("naming mode")
    );
    assert!(
        parse("[servers.a\ncommand")
            .unwrap_err()
            .to_string()
            .contains("not valid TOML")
    );
}

/// A bad name says whether it is a server's, a tenant's or a policy's.
#[test]
fn a_bad_name_says_whose_it_is() {
    let kinds = [
        ("servers", "server", "command = \"x\"\n"),
        ("tenants", "tenant", ""),
        ("policies", "policy", "path = \"p.wasm\"\n"),
    ];
    for (table, what, body) in kinds {
        let e = parse(&format!("[{table}.\"a b\"]\n{body}")).unwrap_err();
        assert_eq!(e.key, format!("{table}.a b"));
        assert_eq!(
            e.message,
            format!("a {what} name may use only letters, digits, '-' and '_'")
        );
    }
    assert_eq!(
        validate_name("tenant", &"x".repeat(33), ""),
        Err(NameError::Length { what: "tenant" })
    );
    assert_eq!(
        validate_name("server", "a__b", "__")
            .unwrap_err()
            .to_string(),
        "a server name must not contain the name separator \"__\""
    );
}

#[test]
fn resilience_tables_and_their_defaults() {
    let c = parse(
        r#"
[settings]
shutdown_timeout = "2s"
[servers.a]
command = "a"
[servers.a.restart]
initial = "1s"
max = "1m"
max_attempts = 0
[servers.a.retry]
max_retries = 1
kinds = ["timeout"]
tools = "all"
[servers.a.breaker]
failures = 0
[servers.a.cache]
ttl = "30s"
[servers.b]
command = "b"
"#,
    )
    .unwrap();
    assert_eq!(c.settings.shutdown_timeout, Duration::from_secs(2));
    let a = &c.server("a").unwrap().resilience;
    assert_eq!(a.restart.initial, Duration::from_secs(1));
    assert_eq!(a.restart.max, Duration::from_secs(60));
    assert_eq!(a.restart.max_attempts, None);
    assert_eq!(a.retry.max_retries, 1);
    assert_eq!(a.retry.kinds, vec![crate::ErrorKind::Timeout]);
    assert!(a.retry.all_tools);
    assert_eq!(a.breaker.failures, 0);
    assert_eq!(a.cache.ttl, Some(Duration::from_secs(30)));
    assert_eq!(a.cache.tool_ttl, None);
    let b = &c.server("b").unwrap().resilience;
    assert_eq!(*b, Resilience::default());
    assert!(!b.retry.all_tools);
    assert_eq!(b.restart.max_attempts, Some(10));
}

#[test]
fn resilience_errors_name_the_key() {
    for (table, body, key, words) in [
        (
            "retry",
            "kinds = [\"sometimes\"]",
            "servers.a.retry.kinds",
            "not an error kind",
        ),
        (
            "retry",
            "tools = \"some\"",
            "servers.a.retry.tools",
            "not a choice",
        ),
        (
            "restart",
            "initial = \"5s\"\nmax = \"1s\"",
            "servers.a.restart.max",
            "shorter",
        ),
        (
            "restart",
            "factor = 0.5",
            "servers.a.restart.factor",
            "out of range",
        ),
        (
            "restart",
            "jitter = 2.0",
            "servers.a.restart.jitter",
            "out of range",
        ),
        (
            "cache",
            "ttl = \"soon\"",
            "servers.a.cache.ttl",
            "not a duration",
        ),
        (
            "restart",
            "initail = \"1s\"",
            "servers.a.restart",
            "unknown key \"initail\"; did you mean \"initial\"?",
        ),
    ] {
        let text = format!("[servers.a]\ncommand = \"a\"\n[servers.a.{table}]\n{body}\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, key, "{text}: {e}");
        assert!(e.to_string().contains(words), "{text}: {e}");
    }
}

#[test]
fn per_tenant_servers_resolve_each_tenants_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("s.toml");
    crate::util::write_private(
        &secrets,
        b"TOKEN = \"shared-1\"\n[tenants.acme]\nTOKEN = \"acme-1\"\n",
    )
    .unwrap();
    let text = |extra: &str| {
        format!(
            "[settings]\nsecrets = {secrets:?}\n[servers.vault]\ncommand = \"v\"\nper_tenant = true\n\
             env = {{ TOKEN = \"${{secret:TOKEN}}\" }}\n\
             [tenants.acme]\ninclude = [\"vault.*\"]\n[tenants.globex]\ninclude = [\"vault.read\"]\n\
             [tenants.ops]\ninclude = [\"time.*\"]\n{extra}"
        )
    };
    let c = Config::from_str(&text(""), &dir.path().join("weft.toml")).unwrap();
    let vault = c.server("vault").unwrap();
    assert!(vault.per_tenant);
    // ops cannot reach the server, so it gets no instance.
    let envs: Vec<(&str, String)> = vault
        .tenant_transports
        .0
        .iter()
        .map(|(t, tr)| match tr {
            Transport::Stdio { env, .. } => (t.as_str(), env["TOKEN"].clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        envs,
        vec![("acme", "acme-1".into()), ("globex", "shared-1".into())]
    );
    // The Debug form names the tenants, never a value.
    let debug = format!("{:?}", vault.tenant_transports);
    assert!(
        debug.contains("acme") && !debug.contains("acme-1"),
        "{debug}"
    );

    // A tenant whose secret is set nowhere: the error names it.
    crate::util::write_private(&secrets, b"[tenants.acme]\nTOKEN = \"acme-1\"\n").unwrap();
    let e = Config::from_str(&text(""), &dir.path().join("weft.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("servers.vault.env.TOKEN"), "{msg}");
    assert!(msg.contains("for tenant \"globex\""), "{msg}");
    assert!(msg.contains("--tenant globex"), "{msg}");

    // A built-in server holds no credentials to split.
    let e = parse(
        "[servers.e]\nbuiltin = \"echo\"\nper_tenant = true\n[tenants.a]\ninclude = [\"e.*\"]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("per_tenant"), "{e}");
}

#[test]
fn a_huge_number_of_seconds_is_an_error_not_a_panic() {
    for value in ["1e300", "1.0e10", "-1.0"] {
        let e = parse(&format!(
            "[settings]\nshutdown_timeout = {value}\n[servers.a]\ncommand = \"a\"\ntimeout = 5\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "settings.shutdown_timeout", "{value}");
        assert!(
            e.to_string()
                .contains("is not a valid number of seconds (0 to 1e9)"),
            "{value}: {e}"
        );
    }
    let ok = parse("[settings]\nshutdown_timeout = 1e9\n").unwrap();
    assert_eq!(
        ok.settings.shutdown_timeout,
        Duration::from_secs(1_000_000_000)
    );
}

/// Config is plain data: it imports nothing of the crate but itself and
/// the leaf modules `error` (the error kinds a retry names) and `util`,
/// which import nothing of the crate either.
#[test]
fn config_imports_nothing_above_it() {
    let sources = [
        ("mod.rs", include_str!("mod.rs")),
        ("credentials.rs", include_str!("credentials.rs")),
        ("duration.rs", include_str!("duration.rs")),
        ("egress.rs", include_str!("egress.rs")),
        ("json.rs", include_str!("json.rs")),
        ("oci.rs", include_str!("oci.rs")),
        ("openapi.rs", include_str!("openapi.rs")),
        ("policy.rs", include_str!("policy.rs")),
        ("raw.rs", include_str!("raw.rs")),
        ("registries.rs", include_str!("registries.rs")),
        ("resilience.rs", include_str!("resilience.rs")),
        ("secrets.rs", include_str!("secrets.rs")),
        ("tenant.rs", include_str!("tenant.rs")),
        ("toml_file.rs", include_str!("toml_file.rs")),
        ("view.rs", include_str!("view.rs")),
    ];
    for (file, text) in sources {
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let module: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    ["config", "error", "openapi", "util"].contains(&module.as_str()),
                    "config/{file}:{}: imports crate::{module}: {line}",
                    n + 1
                );
            }
        }
    }
    // `openapi` (what weft does with an OpenAPI document) sits below
    // config and imports only util.
    for (file, text) in [
        ("mod.rs", include_str!("../openapi/mod.rs")),
        ("auth.rs", include_str!("../openapi/auth.rs")),
        ("cut.rs", include_str!("../openapi/cut.rs")),
        ("document.rs", include_str!("../openapi/document.rs")),
        ("select.rs", include_str!("../openapi/select.rs")),
    ] {
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                assert!(
                    line[at..].starts_with("crate::util::"),
                    "openapi/{file} imports more than util: {line}"
                );
            }
        }
    }
    for leaf in [include_str!("../error.rs"), include_str!("../util.rs")] {
        assert!(
            leaf.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .all(|l| !l.contains("crate::") && !l.contains("super::")
                    || l.contains("use super::*")),
            "error.rs and util.rs import nothing of the crate"
        );
    }
}

#[test]
fn a_durable_adapter_with_egress_is_refused_naming_the_key() {
    let e = parse(
        "[servers.pay]\ncomponent = \"pay.wasm\"\negress = [\"http://api.example.com/*\"]\ndurable = true\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/cfg/weft.toml:4:1: servers.pay.durable: cannot be combined with `egress`: weft does not journal an adapter's HTTP requests, so resuming a call cut short would send again a request that may already have been answered\n  hint: remove `durable = true` (a call cut short is then not resumed), or make the requests in an MCP server that the adapter calls through `grants`: those calls are journaled"
    );
    // Each alone is accepted.
    for entry in [
        "durable = true\n",
        "egress = [\"http://api.example.com/*\"]\n",
    ] {
        let c = parse(&format!("[servers.pay]\ncomponent = \"pay.wasm\"\n{entry}")).unwrap();
        assert!(c.server("pay").is_some());
    }
}

#[test]
fn a_servers_era_is_one_weft_knows() {
    let c = parse(
        "[servers.a]\ncommand = \"x\"\n[servers.b]\ncommand = \"x\"\nera = \"handshake\"\n\
         [servers.c]\nurl = \"http://127.0.0.1:9/mcp\"\nera = \"2026-07-28\"\n\
         [servers.d]\ncommand = \"x\"\nera = \"auto\"\n",
    )
    .unwrap();
    let era = |name: &str| c.server(name).map(|s| s.era);
    assert_eq!(era("a"), Some(UpstreamEra::Auto));
    assert_eq!(era("b"), Some(UpstreamEra::Handshake));
    assert_eq!(era("c"), Some(UpstreamEra::Stateless));
    assert_eq!(era("d"), Some(UpstreamEra::Auto));
    for bad in ["2025-11-25", "Handshake", "modern", ""] {
        let e = parse(&format!("[servers.a]\ncommand = \"x\"\nera = {bad:?}\n")).unwrap_err();
        assert_eq!(e.key, "servers.a.era", "{bad}");
        assert!(
            e.to_string().contains(&format!(
                "{bad:?} is not a protocol era weft knows\n  hint: use \"auto\" (the default), \"handshake\" or \"2026-07-28\""
            )),
            "{e}"
        );
    }
    let e = parse("[servers.a]\nurl = \"http://127.0.0.1:9/sse\"\ntransport = \"sse\"\nera = \"2026-07-28\"\n")
        .unwrap_err();
    assert_eq!(e.key, "servers.a.era");
}

#[test]
fn a_stdio_server_s_sandbox_is_read_whole() {
    let c = parse(
        r#"
[servers.a]
command = "a"
[servers.b]
command = "b"
sandbox = false
[servers.c]
command = "c"
[servers.c.sandbox]
read = ["data", "/srv/ro/../shared"]
write = ["/srv/out"]
network = ["*:443", ":80"]
memory = "1GiB"
processes = 64
[servers.d]
command = "d"
sandbox.network = "none"
"#,
    )
    .unwrap();
    let sandbox = |name: &str| match &c.server(name).unwrap().transport {
        Transport::Stdio { sandbox, .. } => sandbox.as_ref().clone(),
        other => panic!("{other:?}"),
    };
    let a = sandbox("a");
    assert!(a.enabled && a.read.is_empty() && a.network == Network::All);
    assert_eq!(
        (a.memory, a.processes),
        (sandbox::DEFAULT_MEMORY, sandbox::DEFAULT_PROCESSES)
    );
    let b = sandbox("b");
    assert!(!b.enabled && b.off_by_entry);
    let cs = sandbox("c");
    assert_eq!(
        cs.read,
        vec![PathBuf::from("/cfg/data"), PathBuf::from("/srv/shared")]
    );
    assert_eq!(cs.write, vec![PathBuf::from("/srv/out")]);
    assert_eq!(cs.network, Network::Ports(vec![443, 80]));
    assert_eq!((cs.memory, cs.processes), (1 << 30, 64));
    assert_eq!(sandbox("d").network, Network::None);
}

#[test]
fn sandbox_mistakes_are_named_with_their_fix() {
    let cases = [
        (
            "[servers.r]\nurl = \"https://x/mcp\"\nsandbox = false\n",
            "servers.r.sandbox: applies only to servers weft starts",
        ),
        (
            "[servers.s]\ncommand = \"s\"\nsandbox.network = [\"api.example.com:443\"]\n",
            "cannot be enforced",
        ),
        (
            "[servers.s]\ncommand = \"s\"\nsandbox.network = \"some\"\n",
            "is not \"all\", \"none\"",
        ),
        (
            "[servers.s]\ncommand = \"s\"\nsandbox.memory = \"1MiB\"\n",
            "under 16 MiB",
        ),
        (
            "[servers.s]\ncommand = \"s\"\nsandbox.processes = 0\n",
            "at least 1",
        ),
        (
            "[servers.s]\ncommand = \"s\"\nsandbox.write = [\"/\"]\n",
            "the whole filesystem",
        ),
        ("[servers.s]\ncommand = \"s\"\nsandbox.reed = []\n", "reed"),
        (
            "[settings]\nsandbox = \"strict\"\n",
            "is not \"auto\", \"require\" or \"off\"",
        ),
    ];
    for (text, expected) in cases {
        let e = parse(text).expect_err(text).to_string();
        assert!(e.contains(expected), "{text}: {e}");
    }
    // A folder holding the config file, which a server could rewrite.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weft.toml");
    std::fs::write(
        &file,
        "[servers.s]\ncommand = \"s\"\nsandbox.write = [\".\"]\n",
    )
    .unwrap();
    let e = Config::load(&file)
        .expect_err("a writable config folder")
        .to_string();
    assert!(e.contains("holds weft's config file"), "{e}");
    std::fs::write(
        &file,
        "[servers.s]\ncommand = \"s\"\nsandbox.read = [\".\"]\n",
    )
    .unwrap();
    Config::load(&file).expect("a readable one is fine");
    let off = parse("[settings]\nsandbox = \"off\"\n[servers.s]\ncommand = \"s\"\n").unwrap();
    match &off.server("s").unwrap().transport {
        Transport::Stdio { sandbox, .. } => assert!(!sandbox.enabled && !sandbox.off_by_entry),
        other => panic!("{other:?}"),
    }
}
