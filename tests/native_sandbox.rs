//! The OS sandbox of stdio servers (`upstream::confine`): a hostile server
//! of our own (tests/fixtures/hostile_server.py, the official Python SDK)
//! tries every way out, and each attempt fails while weft and the other
//! servers carry on; two tenants' instances cannot reach each other; a real
//! server reaches only the folders its entry gives it.

use std::path::Path;

use serde_json::{Value, json};
use weft::Hub;

use crate::support::*;

/// The entry of the hostile server, named `name`.
fn hostile_entry(name: &str) -> String {
    command_entry(
        name,
        &venv_bin("python"),
        &[&fixture("hostile_server.py").display().to_string()],
    )
}

fn fixture(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(file)
}

fn args(v: Value) -> Option<serde_json::Map<String, Value>> {
    v.as_object().cloned()
}

/// The hostile tool's answer (its text).
async fn ask(hub: &Hub, server: &str, tool: &str, a: Value) -> String {
    let result = hub
        .call_tool(server, tool, args(a))
        .await
        .unwrap_or_else(|e| panic!("{server}.{tool} answers: {e}"));
    text_of(&result)
}

async fn ask_as(hub: &Hub, caller: &weft::Caller, tool: &str, a: Value) -> String {
    let result = hub
        .call_tool_as(caller, "h", tool, args(a))
        .await
        .unwrap_or_else(|e| panic!("h.{tool} answers: {e}"));
    text_of(&result)
}

fn assert_blocked(what: &str, answer: &str) {
    assert!(
        answer.starts_with("blocked: PermissionError") || answer.starts_with("blocked: Permission"),
        "{what}: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_server_reaches_nothing_of_weft_s_and_weft_carries_on() {
    let dir = temp_dir();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    // weft's own files, where a config puts them: a secrets file, the
    // journal, the audit log, and a compile cache with its key.
    let secrets = d.join("weft.secrets.toml");
    std::fs::write(&secrets, "token = \"s3cr3t-value\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cache = d.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("artifacts.key"), "k".repeat(32)).unwrap();
    std::fs::write(d.join("journal.db"), "journal").unwrap();
    std::fs::write(d.join("audit.jsonl"), "{}\n").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let mut text = format!(
        "[settings]\nstartup_timeout = \"60s\"\nsecrets = {}\njournal = {}\naudit = {}\n",
        q(secrets.display().to_string()),
        q(d.join("journal.db").display().to_string()),
        q(d.join("audit.jsonl").display().to_string()),
    );
    text += &hostile_entry("h");
    text += "env = { SECRET = \"${secret:token}\" }\n";
    text += "[servers.h.sandbox]\nprocesses = 24\nmemory = \"256MiB\"\n";
    text += &hostile_entry("offline");
    text += "[servers.offline.sandbox]\nnetwork = \"none\"\n";
    text += &hostile_entry("port");
    text += &format!(
        "[servers.port.sandbox]\nnetwork = [\"*:{}\"]\n",
        if port == 1 { 2 } else { port - 1 }
    );
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    let hub = Hub::start(config(&d, &text)).await;

    // Every layer, on this kernel, for every server.
    let status = hub.status();
    let sandbox_of = |name: &str| {
        status
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.sandbox.clone())
            .unwrap_or_else(|| panic!("{name} has a sandbox line"))
    };
    assert_eq!(
        sandbox_of("h"),
        "on (files, scope, namespaces, limits, processes)"
    );
    assert_eq!(
        sandbox_of("offline"),
        "on (files, scope, tcp, namespaces, no-network, limits, processes)"
    );
    assert_eq!(
        sandbox_of("port"),
        "on (files, scope, tcp, namespaces, limits, processes)"
    );
    assert_eq!(
        sandbox_of("everything"),
        "on (files, scope, namespaces, limits, processes)"
    );

    // It has its secret (through `env`), and none of weft's files.
    assert_eq!(
        ask(&hub, "h", "secret_env", json!({})).await,
        "s3cr3t-value"
    );
    for file in [
        secrets.clone(),
        cache.join("artifacts.key"),
        d.join("journal.db"),
        d.join("audit.jsonl"),
        d.join("weft.toml"),
    ] {
        let answer = ask(&hub, "h", "read_file", json!({"path": file})).await;
        assert_blocked(&format!("reading {}", file.display()), &answer);
    }
    let answer = ask(&hub, "h", "list_dir", json!({"path": d})).await;
    assert_blocked("listing weft's folder", &answer);
    let answer = ask(
        &hub,
        "h",
        "write_file",
        json!({"path": cache.join("artifacts.key"), "text": "mine"}),
    )
    .await;
    assert_blocked("rewriting the cache key", &answer);
    let answer = ask(
        &hub,
        "h",
        "write_file",
        json!({"path": cache.join("evil.cwasm"), "text": "mine"}),
    )
    .await;
    assert_blocked("writing into the cache", &answer);
    assert_eq!(
        std::fs::read_to_string(cache.join("artifacts.key")).unwrap(),
        "k".repeat(32)
    );
    assert!(!cache.join("evil.cwasm").exists());

    // weft's own process: neither its environment nor a signal.
    let weft_pid = std::process::id();
    let answer = ask(
        &hub,
        "h",
        "read_file",
        json!({"path": format!("/proc/{weft_pid}/environ")}),
    )
    .await;
    assert_blocked("reading weft's environment", &answer);
    let answer = ask(&hub, "h", "signal", json!({"target": weft_pid})).await;
    assert_eq!(
        answer,
        "blocked: PermissionError: [Errno 1] Operation not permitted"
    );
    // Another server's process: its environment holds its secrets.
    let other: u32 = ask(&hub, "offline", "pid", json!({}))
        .await
        .parse()
        .unwrap();
    let answer = ask(
        &hub,
        "h",
        "read_file",
        json!({"path": format!("/proc/{other}/environ")}),
    )
    .await;
    assert_blocked("reading another server's environment", &answer);

    // What it may do: read the system, write its own home and temp folder.
    assert!(
        ask(&hub, "h", "read_file", json!({"path": "/etc/hostname"}))
            .await
            .starts_with("escaped: ")
    );
    let home = ask(&hub, "h", "home", json!({})).await;
    assert!(
        home.contains("HOME=/") && home.matches(" writable").count() == 2,
        "{home}"
    );
    assert!(!home.contains(&d.display().to_string()), "{home}");

    // The network: on by default, off for `none`, by port for a list.
    let reach = json!({"host": "127.0.0.1", "port": port});
    assert_eq!(
        ask(&hub, "h", "connect", reach.clone()).await,
        "escaped: connected"
    );
    let answer = ask(&hub, "offline", "connect", reach.clone()).await;
    assert_blocked("TCP without a network", &answer);
    // UDP, which Landlock does not govern: the network namespace stops it.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let to = json!({"host": "127.0.0.1", "port": udp.local_addr().unwrap().port()});
    assert_eq!(ask(&hub, "h", "udp", to.clone()).await, "escaped: sent");
    let mut got = [0u8; 16];
    let (n, _) = udp.recv_from(&mut got).unwrap();
    assert_eq!(&got[..n], b"hostile");
    assert_eq!(
        ask(&hub, "offline", "udp", to).await,
        "blocked: OSError: [Errno 101] Network is unreachable"
    );
    let answer = ask(&hub, "port", "connect", reach).await;
    assert_blocked("a port not in the list", &answer);

    // A fork bomb and a memory bomb are stopped at the limits.
    let answer = ask(&hub, "h", "fork_bomb", json!({"count": 200})).await;
    assert!(answer.starts_with("blocked after "), "fork bomb: {answer}");
    let started: usize = answer["blocked after ".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        started < 24,
        "{started} processes started under a limit of 24"
    );
    let answer = ask(&hub, "h", "memory_bomb", json!({"mib": 1024})).await;
    assert_eq!(answer, "blocked: MemoryError: ");

    // weft and every server carry on.
    for server in ["h", "offline", "port"] {
        assert_eq!(ask(&hub, server, "alive", json!({})).await, "alive");
    }
    let echo = hub
        .call_tool("everything", "echo", args(json!({"message": "still here"})))
        .await
        .expect("everything answers");
    assert_eq!(text_of(&echo), "Echo: still here");
    hub.shutdown().await;
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_instances_cannot_reach_each_other() {
    let dir = temp_dir();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &hostile_entry("h");
    text += "per_tenant = true\n";
    text += "\n[tenants.a]\ninclude = [\"h.*\"]\n\n[tenants.b]\ninclude = [\"h.*\"]\n";
    let hub = Hub::start(config(&d, &text)).await;
    let a = weft::Caller::tenant(hub.tenants().get("a").unwrap(), "test");
    let b = weft::Caller::tenant(hub.tenants().get("b").unwrap(), "test");

    let pid_a: u32 = ask_as(&hub, &a, "pid", json!({})).await.parse().unwrap();
    let pid_b: u32 = ask_as(&hub, &b, "pid", json!({})).await.parse().unwrap();
    assert_ne!(pid_a, pid_b, "each tenant has its own instance");
    let home_of = |answer: String| {
        answer
            .split(';')
            .next()
            .and_then(|h| h.strip_prefix("HOME="))
            .and_then(|h| h.strip_suffix(" writable"))
            .unwrap_or_else(|| panic!("a writable home: {answer}"))
            .to_string()
    };
    let home_a = home_of(ask_as(&hub, &a, "home", json!({})).await);
    let home_b = home_of(ask_as(&hub, &b, "home", json!({})).await);
    assert_ne!(home_a, home_b);

    // b's files, environment and process, tried from a's instance.
    let answer = ask_as(
        &hub,
        &a,
        "read_file",
        json!({"path": format!("{home_b}/probe.txt")}),
    )
    .await;
    assert_blocked("reading the other tenant's home", &answer);
    let answer = ask_as(
        &hub,
        &a,
        "write_file",
        json!({"path": format!("{home_b}/planted"), "text": "x"}),
    )
    .await;
    assert_blocked("writing the other tenant's home", &answer);
    let answer = ask_as(
        &hub,
        &a,
        "read_file",
        json!({"path": format!("/proc/{pid_b}/environ")}),
    )
    .await;
    assert_blocked("reading the other tenant's environment", &answer);
    let answer = ask_as(&hub, &a, "signal", json!({"target": pid_b})).await;
    assert_eq!(
        answer,
        "blocked: PermissionError: [Errno 1] Operation not permitted"
    );
    // And the other way round.
    let answer = ask_as(
        &hub,
        &b,
        "read_file",
        json!({"path": format!("{home_a}/probe.txt")}),
    )
    .await;
    assert_blocked("reading the first tenant's home", &answer);
    // Each still reads its own.
    assert_eq!(
        ask_as(
            &hub,
            &a,
            "read_file",
            json!({"path": format!("{home_a}/probe.txt")})
        )
        .await,
        "escaped: x"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_filesystem_reaches_only_the_folders_its_entry_gives_it() {
    let dir = temp_dir();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    let (given, other) = (d.join("given"), d.join("other"));
    for (folder, text) in [(&given, "given text"), (&other, "other text")] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("note.txt"), text).unwrap();
    }
    // The server itself is told both folders; its sandbox opens only one.
    let mut text = npm_entry(
        "files",
        "server-filesystem",
        &[&given.display().to_string(), &other.display().to_string()],
    );
    text += &sandbox_write(&[&given]);
    let hub = Hub::start(config(&d, &text)).await;
    let read = |path: std::path::PathBuf| {
        let hub = &hub;
        async move {
            hub.call_tool("files", "read_text_file", args(json!({"path": path})))
                .await
        }
    };
    let ok = read(given.join("note.txt"))
        .await
        .expect("the given folder is read");
    assert_eq!(text_of(&ok), "given text");
    let refused = read(other.join("note.txt"))
        .await
        .expect_err("the other folder is not");
    let message = refused.to_string();
    assert!(
        message.contains("EACCES") || message.contains("permission denied"),
        "{message}"
    );
    hub.shutdown().await;
}

#[test]
fn check_and_status_show_each_server_s_sandbox_and_warn_about_gaps() {
    let dir = temp_dir();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut text = hostile_entry("h");
    text += &hostile_entry("bare");
    text += "sandbox = false\n";
    text += &npm_entry("files", "server-filesystem", &[&data.display().to_string()]);
    let config = d.join("weft.toml");
    std::fs::write(&config, text).unwrap();
    let config = config.display().to_string();
    let out = weft()
        .args(["-c", &config, "check"])
        .output_timed()
        .expect("weft check runs");
    let check = String::from_utf8_lossy(&out.stdout);
    assert!(
        check.contains("    sandbox: on (files, scope, namespaces, limits, processes)\n"),
        "{check}"
    );
    assert!(
        check.contains("    sandbox: off (sandbox = false in its entry)\n"),
        "{check}"
    );
    assert!(
        check.contains("! servers.bare runs without an OS sandbox (sandbox = false)"),
        "{check}"
    );
    assert!(
        check.contains(&format!(
            "! servers.files: its argument {} is a folder its sandbox does not open; add it to sandbox.read or sandbox.write",
            data.display()
        )),
        "{check}"
    );
    let out = weft()
        .args(["-c", &config, "status"])
        .output_timed()
        .expect("weft status runs");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains(
            "\nsandboxes:\n  bare: off (sandbox = false in its entry)\n  \
             files: on (files, scope, namespaces, limits, processes)\n  \
             h: on (files, scope, namespaces, limits, processes)\n"
        ),
        "{status}"
    );
}
