//! A canary secret appears in no output of any kind, in no form.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_secret_appears_in_no_output() {
    let mut rig = Rig::start("", "", &[]);
    let d = rig.dir.path().to_path_buf();
    let acme = rig.client(&rig.acme).await;
    let mut seen: Vec<(String, String)> = Vec::new();

    // A tool result that carries it, an error that carries it, a policy's
    // output that carries it.
    let r = call(&acme, "alpha__env", json!({"name": "CANARY"})).await;
    assert_eq!(text_of(&r), "[REDACTED]", "the server did send it");
    seen.push(("a tool result".into(), serde_json::to_string(&r).unwrap()));
    let r = call(&acme, "alpha__fail", json!({"text": "x"})).await;
    assert!(text_of(&r).contains("(leak: CANARY=[REDACTED])"), "{r:?}");
    seen.push(("a tool error".into(), serde_json::to_string(&r).unwrap()));
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [{"server": "alpha", "tool": "env", "args": {"name": "CANARY"}}]}),
    )
    .await;
    assert!(
        serde_json::to_string(&r).unwrap().contains("[REDACTED]"),
        "{r:?}"
    );
    seen.push((
        "a policy's output".into(),
        serde_json::to_string(&r).unwrap(),
    ));
    // A server that prints it on stderr and crashes: its stderr tail is in
    // the status, once the crash is seen.
    let _ = call(&acme, "leaky__echo", json!({"text": "x"})).await;
    let r = &rig;
    until("leaky's crash in /status", EXCHANGE, || async move {
        admin_get(r, "/status")
            .await
            .contains("leak: CANARY=[REDACTED]")
    })
    .await;
    let status = admin_get(&rig, "/status").await;
    // The server that died printing every encoded form: each one masked.
    assert!(
        status.contains("spill: https://api.invalid/v1?token=[REDACTED]"),
        "{status}"
    );
    seen.push(("/status".into(), status));
    // /status is for admin tenants only.
    let denied = within(
        "/status",
        reqwest::Client::new()
            .get(format!("{}/status", rig.base))
            .bearer_auth(&rig.acme)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    let metrics = admin_get(&rig, "/metrics").await;
    assert!(metrics.contains("weft_calls_total"), "{metrics}");
    seen.push(("/metrics".into(), metrics));

    // Over stdio, as a tenant, through the rmcp client.
    let stdio = stdio_as(&d, "acme").await;
    let r = call(&stdio, "alpha__env", json!({"name": "CANARY"})).await;
    assert_eq!(text_of(&r), "[REDACTED]", "{r:?}");
    assert!(
        !tool_names(&stdio)
            .await
            .iter()
            .any(|n| n.starts_with("beta__"))
    );
    seen.push(("stdio".into(), serde_json::to_string(&r).unwrap()));
    let _ = within("stdio cancel", stdio.cancel()).await;

    // The command line: a call, a failing call, a call to the server that
    // dies printing it (an exit path), the secrets list, check, status,
    // the audit log.
    for (args, ok) in [
        (
            vec!["call", "alpha", "env", r#"{"name":"CANARY"}"#, "--json"],
            true,
        ),
        (vec!["call", "alpha", "fail", r#"{"text":"x"}"#], false),
        (vec!["call", "spilled", "echo", r#"{"text":"x"}"#], false),
        (vec!["secrets", "list"], true),
        // check fails: spilled does not start, and says why, masked.
        (vec!["--log-level", "debug", "check"], false),
        (vec!["status", "--json"], true),
        (vec!["audit", "tail", "-n", "0"], true),
    ] {
        let out = weft_in(&d).args(&args).output_timed().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), ok, "weft {args:?}: {text}");
        if args[1] == "spilled" || args.contains(&"check") {
            assert!(
                text.contains("spill: https://api.invalid/v1?token=[REDACTED]"),
                "the exit path shows the server's stderr, masked: {text}"
            );
        }
        seen.push((format!("weft {args:?}"), text));
    }
    seen.push((
        "the audit log".into(),
        std::fs::read_to_string(d.join("audit.jsonl")).unwrap(),
    ));
    seen.push(("weft serve's own log".into(), rig.stop()));
    for (label, output) in &seen {
        assert_no_canary(label, output);
    }
    // And the secrets file itself is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("weft.secrets.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
