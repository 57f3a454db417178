//! A server run once per tenant gives each tenant its own process and
//! secret.

use super::*;

/// `weft call --tenant T vault env {"name": "TOKEN", "reverse": true}`.
fn call_env_as(dir: &Path, tenant: Option<&str>) -> std::process::Output {
    let mut cmd = weft_in(dir);
    cmd.arg("call");
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    cmd.args(["vault", "env", r#"{"name": "TOKEN", "reverse": true}"#])
        .output_timed()
        .unwrap()
}

fn reversed(s: &str) -> String {
    s.chars().rev().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_run_per_tenant_gives_each_tenant_its_own_process_and_secret() {
    let dir = temp_dir();
    let d = dir.path();
    let (acme_token, globex_token) = ("acme-token-41f0c2", "globex-token-9d7e33");
    let mut text = fixture(d, "vault", &[]);
    text += "per_tenant = true
env = { TOKEN = \"${secret:TOKEN}\" }\n";
    text += &command_entry("time", &venv_bin("mcp-server-time"), &[]);
    text += "\n[tenants.acme]\ninclude = [\"vault.*\"]\n";
    text += "\n[tenants.globex]\ninclude = [\"vault.*\", \"time.*\"]\n";
    text += "\n[tenants.ops]\ninclude = [\"time.*\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    // Each tenant's own value; no shared one exists.
    set_secret_for(d, Some("acme"), "TOKEN", acme_token);
    set_secret_for(d, Some("globex"), "TOKEN", globex_token);

    // One-shot calls: each tenant's process got its own secret.
    for (tenant, token) in [("acme", acme_token), ("globex", globex_token)] {
        let out = call_env_as(d, Some(tenant));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{tenant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), reversed(token), "{tenant}");
    }
    // The owner has no instance to use, and ops's view does not reach it.
    let out = call_env_as(d, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("runs once per tenant"), "{stderr}");
    let out = call_env_as(d, Some("ops"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no server named \"vault\""), "{stderr}");
    let out = call_env_as(d, Some("nobody"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenants: acme, globex, ops"), "{stderr}");

    // Status: one instance per tenant that reaches the server, none for ops.
    let out = weft_in(d)
        .args(["status", "--json"])
        .output_timed()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let vaults: Vec<&Value> = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "vault")
        .collect();
    let tenants: Vec<&str> = vaults.iter().filter_map(|s| s["tenant"].as_str()).collect();
    assert_eq!(tenants, ["acme", "globex"], "{status}");
    assert!(vaults.iter().all(|s| s["state"] == "up"), "{status}");
    assert_ne!(vaults[0]["pid"], vaults[1]["pid"], "{status}");

    // Through `weft serve --http`: the same tool name reaches each
    // tenant's own process; a kill -9 of acme's leaves globex's alone.
    let acme = add_key(d, "acme");
    let globex = add_key(d, "globex");
    let ops = add_key(d, "ops");
    let (weft, base) = serve_in(d, &d.join("weft.stderr"));
    let connect = |key: String| {
        let base = base.clone();
        async move {
            let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
                .auth_header(key);
            within(
                "client connect",
                ().serve(StreamableHttpClientTransport::from_config(config)),
            )
            .await
            .expect("client connects")
        }
    };
    let (a, g) = (connect(acme).await, connect(globex).await);
    let args = json!({"name": "TOKEN", "reverse": true});
    let text_of = |r: &rmcp::model::CallToolResult| {
        r.content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .unwrap_or_default()
    };
    assert!(tool_names(&a).await.contains(&"vault__env".to_string()));
    assert_eq!(
        text_of(&call(&a, "vault__env", args.clone()).await),
        reversed(acme_token)
    );
    assert_eq!(
        text_of(&call(&g, "vault__env", args.clone()).await),
        reversed(globex_token)
    );

    // /status is for admin tenants: refused without a key, and the CLI
    // says how to give one.
    let out = weft_in(d)
        .args(["status", "--url", &base])
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("WEFT_KEY"), "{stderr}");
    // ops is not an admin either: 403, with the same advice.
    let out = weft_in(d)
        .env("WEFT_KEY", &ops)
        .args(["status", "--url", &base])
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("admin"),
        "{stderr}"
    );

    // kill -9 of acme's process: globex's keeps answering, and acme's
    // instance is restarted with acme's secret again.
    let pids: Vec<(String, u32)> = vault_children(weft.0.id())
        .into_iter()
        .map(|pid| (token_of(pid), pid))
        .collect();
    let acme_pid = pids
        .iter()
        .find(|(t, _)| t == acme_token)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no vault process has acme's token: {pids:?}"));
    assert!(
        pids.iter().any(|(t, _)| t == globex_token),
        "no vault process has globex's token: {pids:?}"
    );
    // SAFETY: signals a child of this test's own weft, found above.
    assert_eq!(unsafe { libc::kill(acme_pid as i32, libc::SIGKILL) }, 0);
    assert_eq!(
        text_of(&call(&g, "vault__env", args.clone()).await),
        reversed(globex_token)
    );
    // Acme's instance comes back: a new process of weft's with acme's
    // token, and then the call answers again.
    let weft_pid = weft.0.id();
    until("acme's new vault process", Duration::from_secs(20), || {
        let back = vault_children(weft_pid)
            .into_iter()
            .any(|pid| pid != acme_pid && token_of(pid) == acme_token);
        async move { back }
    })
    .await;
    until("acme's instance to answer", Duration::from_secs(20), || {
        let a = &a;
        let args = args.clone();
        async move { call(a, "vault__env", args).await.is_error == Some(false) }
    })
    .await;
    assert_eq!(
        text_of(&call(&a, "vault__env", args.clone()).await),
        reversed(acme_token)
    );
}

/// The `vault` fixture processes started by the weft of pid `weft`: its
/// own children, not every process on the machine.
fn vault_children(weft: u32) -> Vec<u32> {
    children_of(weft)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"--name" && w[1] == b"vault")
        })
        .collect()
}

/// The `TOKEN` in a process's environment.
fn token_of(pid: u32) -> String {
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    String::from_utf8_lossy(&env)
        .split('\0')
        .find_map(|kv| kv.strip_prefix("TOKEN=").map(str::to_string))
        .unwrap_or_default()
}
