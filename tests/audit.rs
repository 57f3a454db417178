//! The audit log across every route an agent can take: one record per
//! resource read, prompt, completion, search and policy run (beside the
//! tool calls), written by the audit writer and flushed when weft stops,
//! hashed with the install's salt, and read back by `weft audit tail`.

use rmcp::ServiceExt;
use rmcp::model::{
    ArgumentInfo, CallToolRequestParams, CompleteRequestParams, GetPromptRequestParams,
    ReadResourceRequestParams, Reference,
};
use serde_json::{Value, json};

use crate::support::recorded::{audit_records, on_route};
use crate::support::*;

fn object(v: Value) -> rmcp::model::JsonObject {
    v.as_object().cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_leaves_one_record_per_route() {
    let dir = temp_dir();
    let mut text =
        "[settings]\nstartup_timeout = \"60s\"\naudit = \"logs/audit.jsonl\"\n".to_string();
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        "[policies.greet]\npath = {}\ngrants = [\"everything.echo\"]\n",
        q(guest_wasm("weft-policy-template").display().to_string())
    );
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (mut served, base) = serve_weft_http(&mut cmd);

    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    let client = within("the client connects", ().serve(transport))
        .await
        .expect("client connects");
    let resource = first_resource(&client).await;
    within(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new(&resource)),
    )
    .await
    .unwrap();
    within(
        "prompts/get",
        client.get_prompt(GetPromptRequestParams::new("everything__simple-prompt")),
    )
    .await
    .unwrap();
    let done = within(
        "completion/complete",
        client.complete(CompleteRequestParams::new(
            Reference::for_prompt("everything__completable-prompt"),
            ArgumentInfo::new("department", "Eng"),
        )),
    )
    .await
    .unwrap();
    assert_eq!(done.completion.values, ["Engineering"]);
    let call = async |name: &str, args: Value| {
        let r = within(
            name,
            client.call_tool(
                CallToolRequestParams::new(name.to_string()).with_arguments(object(args)),
            ),
        )
        .await
        .unwrap();
        assert_ne!(r.is_error, Some(true), "{name}: {r:?}");
    };
    call("weft_search_tools", json!({"query": "echo"})).await;
    call(
        "weft_run_policy",
        json!({"policy": "greet", "input": {"message": "hi"}}),
    )
    .await;
    call("everything__echo", json!({"message": "audited"})).await;
    drop(client);

    // weft flushes the audit writer on its way out.
    served.terminate();

    let log = dir.path().join("logs/audit.jsonl");
    let records = audit_records(&log);
    let of = |route: &str| on_route(&records, route);
    for (route, target) in [
        ("resource-read", resource.as_str()),
        ("prompt-get", "everything__simple-prompt"),
        ("completion", "everything__completable-prompt"),
        ("search", "echo"),
        ("policy-run", "greet"),
    ] {
        let found = of(route);
        assert_eq!(found.len(), 1, "{route}: {records:#?}");
        assert_eq!(found[0]["target"], target, "{route}");
        assert_eq!(found[0]["outcome"], "ok", "{route}");
    }
    // The agent's echo, and the policy's echo under the policy's name.
    let calls = of("tool-call");
    assert_eq!(calls.len(), 2, "{records:#?}");
    assert_eq!(calls.iter().filter(|r| r["policy"] == "greet").count(), 1);
    // The arguments are hashed with this install's salt, not bare SHA-256.
    let agent_echo = calls.iter().find(|r| r["policy"].is_null()).unwrap();
    let hmac = agent_echo["args_hmac"].as_str().unwrap();
    assert_eq!(hmac.len(), 64);
    let salt = dir.path().join("logs").join("weft-audit.salt");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&salt).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // `weft audit tail` shows every route.
    let out = weft()
        .current_dir(dir.path())
        .args(["audit", "tail", "-n", "0"])
        .output_timed()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    for shown in [
        "ROUTE",
        "resource-read",
        "prompt-get",
        "completion",
        "search",
        "policy-run",
        "everything.echo",
    ] {
        assert!(table.contains(shown), "{shown} in\n{table}");
    }
}
