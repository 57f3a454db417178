//! A name outside the caller's view gets the very answer a name that does
//! not exist gets, on every route (tools, `weft_call_tool` in `expose =
//! search` mode, policies, `@domain` members, prompts, resources,
//! templates, completions, subscriptions), with hints drawn only from the
//! caller's own view; and hostile names and queries are refused cheaply
//! without being echoed back.

use super::*;

/// A tenant that sees one tool of the shared time server and nothing else,
/// so no hint can come from its view for the names below.
const PROBE: &str = "\n[tenants.probe]\ninclude = [\"time.get_current_time\"]\n";

/// What an agent got: (JSON-RPC code, data, message), or the tool result's
/// error kind and text for a call answered with `isError`.
type Answer = (i32, Option<Value>, String);

/// Asserts that `hidden`'s answer is `unknown`'s with the name swapped.
fn same_answer(what: &str, hidden: (&str, Answer), unknown: (&str, Answer)) {
    let (h, (h_code, h_data, h_msg)) = hidden;
    let (u, (u_code, u_data, u_msg)) = unknown;
    assert!(h_msg.contains(h), "{what}: the answer names {h:?}: {h_msg}");
    assert_eq!(
        (h_code, h_data, h_msg.replace(h, "NAME")),
        (u_code, u_data, u_msg.replace(u, "NAME")),
        "{what}: a hidden {h:?} and an unknown {u:?} are told apart"
    );
}

async fn call_answer(client: &Client, name: &str, args: Value) -> Answer {
    let mut p = CallToolRequestParams::new(name.to_string());
    p.arguments = args.as_object().cloned();
    rpc_error(within(name, client.call_tool(p)).await)
}

async fn prompt_answer(client: &Client, name: &str) -> Answer {
    rpc_error(
        within(
            "prompts/get",
            client.get_prompt(GetPromptRequestParams::new(name)),
        )
        .await,
    )
}

async fn read_answer(client: &Client, uri: &str) -> Answer {
    rpc_error(
        within(
            "resources/read",
            client.read_resource(ReadResourceRequestParams::new(uri)),
        )
        .await,
    )
}

async fn complete_answer(client: &Client, reference: Reference) -> Answer {
    rpc_error(
        within(
            "completion/complete",
            client.complete(CompleteRequestParams::new(
                reference,
                ArgumentInfo::new("name", "a"),
            )),
        )
        .await,
    )
}

/// A handshake session's `resources/subscribe` of `uri`: its error.
async fn subscribe_answer(rig: &Rig, key: &str, session: &str, uri: &str) -> Answer {
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
        "params": {"uri": uri}});
    let (s, _, body) = within(
        "resources/subscribe",
        raw(
            &format!("{}/mcp", rig.base),
            Some(key),
            Some(session),
            body.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let e = &message_of(&body)["error"];
    (
        e["code"].as_i64().expect("an error code") as i32,
        e.get("data").cloned().filter(|d| !d.is_null()),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_outside_the_view_is_answered_as_an_unknown_name_on_every_route() {
    let mut rig = Rig::start("expose = \"search\"", PROBE, &["probe"]);
    let d = rig.dir.path().to_path_buf();
    let probe_key = rig.extra[0].clone();
    let probe = rig.client(&probe_key).await;
    let globex = rig.client(&rig.globex).await;
    let acme = rig.client(&rig.acme).await;

    // Tools, by a direct call and through weft_call_tool.
    same_answer(
        "tools/call",
        (
            "beta__whoami",
            call_answer(&probe, "beta__whoami", json!({})).await,
        ),
        (
            "beta__whoamz",
            call_answer(&probe, "beta__whoamz", json!({})).await,
        ),
    );
    same_answer(
        "weft_call_tool",
        (
            "beta__whoami",
            call_answer(&probe, "weft_call_tool", json!({"name": "beta__whoami"})).await,
        ),
        (
            "beta__whoamz",
            call_answer(&probe, "weft_call_tool", json!({"name": "beta__whoamz"})).await,
        ),
    );
    // A policy the tenant may not run, by its name and by weft_run_policy.
    same_answer(
        "a policy by name",
        ("script", call_answer(&probe, "script", json!({})).await),
        ("scripz", call_answer(&probe, "scripz", json!({})).await),
    );
    same_answer(
        "weft_run_policy",
        (
            "script",
            call_answer(&probe, "weft_run_policy", json!({"policy": "script"})).await,
        ),
        (
            "scripz",
            call_answer(&probe, "weft_run_policy", json!({"policy": "scripz"})).await,
        ),
    );

    // Prompts, resources, templates and completions: by the names globex
    // sees on beta.
    let prompt = within("prompts/list", globex.list_all_prompts())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .find(|n| n.starts_with("beta"))
        .expect("globex sees beta's prompt");
    let template = within("templates/list", globex.list_all_resource_templates())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.uri_template.clone())
        .find(|u| u.starts_with("beta+"))
        .expect("globex sees beta's template");
    let (prompt_u, template_u) = (format!("{prompt}zz"), format!("{template}zz"));
    same_answer(
        "prompts/get",
        (&prompt, prompt_answer(&probe, &prompt).await),
        (&prompt_u, prompt_answer(&probe, &prompt_u).await),
    );
    let (uri, uri_u) = ("beta+fixture://item/0", "nosuch+fixture://item/0");
    same_answer(
        "resources/read",
        (uri, read_answer(&probe, uri).await),
        (uri_u, read_answer(&probe, uri_u).await),
    );
    same_answer(
        "completion/complete of a prompt",
        (
            &prompt,
            complete_answer(&probe, Reference::for_prompt(&prompt)).await,
        ),
        (
            &prompt_u,
            complete_answer(&probe, Reference::for_prompt(&prompt_u)).await,
        ),
    );
    same_answer(
        "completion/complete of a template",
        (
            &template,
            complete_answer(&probe, Reference::for_resource(&template)).await,
        ),
        (
            &template_u,
            complete_answer(&probe, Reference::for_resource(&template_u)).await,
        ),
    );
    let session = open_session(&rig.base, &probe_key).await;
    same_answer(
        "resources/subscribe",
        (uri, subscribe_answer(&rig, &probe_key, &session, uri).await),
        (
            uri_u,
            subscribe_answer(&rig, &probe_key, &session, uri_u).await,
        ),
    );

    // From a policy: a server outside acme's view, and a domain whose only
    // member is outside it.
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [
            {"server": "beta", "tool": "whoami"},
            {"server": "betz", "tool": "whoami"},
            {"server": "@solo", "tool": "whoami"},
            {"server": "@nosuch", "tool": "whoami"}
        ]}),
    )
    .await;
    let out = r.structured_content.clone().unwrap_or_else(|| {
        serde_json::from_str(&text_of(&r)).expect("the policy's output is JSON")
    });
    let step = |i: usize| -> Answer {
        let s = &out[i];
        assert_eq!(s["ok"], false, "{out}");
        (
            0,
            Some(s["kind"].clone()),
            s["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    same_answer("a policy's call-tool", ("beta", step(0)), ("betz", step(1)));
    same_answer("@domain", ("solo", step(2)), ("nosuch", step(3)));

    // None of it reached beta.
    for what in [
        "whoami",
        "prompts/get",
        "resources/read",
        "completion/complete",
        "resources/subscribe",
    ] {
        assert_eq!(recorded(&d, "beta", what), 0, "{what} reached beta");
    }
    let _ = rig.stop();
}

/// A name just under the default `max_body` of 4 MiB.
fn huge_name() -> String {
    "x".repeat((4 << 20) - 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_tool_name_and_a_long_search_are_refused_without_echo() {
    let mut rig = Rig::start("", "", &[]);
    let session = open_session(&rig.base, &rig.acme).await;
    let url = format!("{}/mcp", rig.base);
    let globex = rig.client(&rig.globex).await;

    let huge = huge_name();
    let call_body = |id: u32, name: &str, args: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}})
        .to_string()
        .into_bytes()
    };
    let shown = format!("\"{}\"…", "x".repeat(64));
    // Hostile requests in flight while another tenant calls: the other
    // tenant's call is answered while they are.
    let hostile = {
        let (url, key, session, huge) =
            (url.clone(), rig.acme.clone(), session.clone(), huge.clone());
        let bodies: Vec<Vec<u8>> = (0..4)
            .map(|i| call_body(10 + i, &huge, json!({})))
            .collect();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for body in bodies {
                answers.push(raw(&url, Some(&key), Some(&session), body).await);
            }
            answers
        })
    };
    let r = call(&globex, "beta__echo", json!({"text": "meanwhile"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    // Arguments that do not fit the tool's schema: a tool error the model
    // can correct (isError, the kind in _meta), refused before beta.
    let r = call(&globex, "beta__echo", json!({"text": 5})).await;
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let text = serde_json::to_value(&r.content).unwrap()[0]["text"].clone();
    assert_eq!(
        text,
        "[invalid-args] beta/echo: the arguments do not fit the tool's inputSchema: at /text: 5 is not of type \"string\"",
        "{r:?}"
    );
    assert_eq!(
        r.meta.as_ref().and_then(|m| m.get("weft/errorKind")),
        Some(&json!("invalid-args")),
        "{r:?}"
    );
    for (status, _, body) in within("the hostile calls", hostile).await.unwrap() {
        assert_eq!(status, 200);
        assert!(body.len() < 1024, "a {} byte answer", body.len());
        let e = &message_of(&body)["error"];
        assert_eq!(e["code"], -32602, "{body}");
        assert_eq!(
            e["message"],
            format!(
                "the tool name {shown} is {} bytes long; names are at most 512",
                huge.len()
            ),
            "{body}"
        );
    }

    // A search of 10,000 words, and one of 17 words.
    let words: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
    let (status, _, body) = raw(
        &url,
        Some(&rig.acme),
        Some(&session),
        call_body(2, "weft_search_tools", json!({"query": words.join(" ")})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.len() < 1024, "a {} byte answer", body.len());
    let e = &message_of(&body)["error"];
    assert_eq!(e["code"], -32602, "{body}");
    assert_eq!(
        e["message"],
        format!(
            "weft_search_tools: the query is {} bytes long; at most 1024 are searched",
            words.join(" ").len()
        ),
        "{body}"
    );
    let (_, _, body) = raw(
        &url,
        Some(&rig.acme),
        Some(&session),
        call_body(
            3,
            "weft_search_tools",
            json!({"query": words[..17].join(" ")}),
        ),
    )
    .await;
    assert_eq!(
        message_of(&body)["error"]["message"],
        "weft_search_tools: the query has more than 16 words",
        "{body}"
    );
    // An accepted query is echoed cut short.
    let long_word = "echo ".repeat(100);
    let r = call(
        &rig.client(&rig.acme).await,
        "weft_search_tools",
        json!({"query": long_word}),
    )
    .await;
    let found = r.structured_content.clone().expect("structured");
    assert_eq!(
        found["query"].as_str().unwrap().chars().count(),
        65,
        "64 characters and the ellipsis: {found}"
    );
    // An unknown name of ordinary length is quoted whole.
    let (code, _, message) = rpc_error(
        within(
            "tools/call",
            globex.call_tool(CallToolRequestParams::new("nothing__here")),
        )
        .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32602, "Unknown tool: \"nothing__here\"")
    );
    let _ = rig.stop();
}
