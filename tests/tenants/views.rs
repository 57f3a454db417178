//! Each tenant sees and calls only its own view, and every route to a
//! tool outside it is refused before the server hears of it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_see_and_call_only_their_own() {
    let mut rig = Rig::start("", "", &[]);
    // No key, or a key of nobody's: 401 with a challenge.
    let (status, headers, _) = raw(&format!("{}/mcp", rig.base), None, None, b"{}".to_vec()).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"weft\"");
    let (status, headers, _) = raw(
        &format!("{}/mcp", rig.base),
        Some("weft_0000"),
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"weft\", error=\"invalid_token\""
    );

    let acme = rig.client(&rig.acme).await;
    let globex = rig.client(&rig.globex).await;
    let a = tool_names(&acme).await;
    let g = tool_names(&globex).await;
    assert!(
        a.contains(&"alpha__echo".into()) && a.contains(&"time__convert_time".into()),
        "{a:?}"
    );
    assert!(
        a.contains(&"script".into()),
        "acme may run the policy: {a:?}"
    );
    assert!(!a.iter().any(|n| n.starts_with("beta__")), "{a:?}");
    assert!(
        g.contains(&"beta__echo".into()) && g.contains(&"time__get_current_time".into()),
        "{g:?}"
    );
    assert!(!g.contains(&"time__convert_time".into()), "excluded: {g:?}");
    assert!(
        !g.iter().any(|n| n.starts_with("alpha__") || n == "script"),
        "{g:?}"
    );

    // Each calls its own, and both the shared server.
    let r = call(&acme, "alpha__whoami", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert_eq!(text_of(&r), "alpha");
    let r = call(&globex, "beta__echo", json!({"text": "hi"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    for c in [&acme, &globex] {
        let r = call(c, "time__get_current_time", json!({"timezone": "UTC"})).await;
        assert_eq!(r.is_error, Some(false), "{r:?}");
    }
    // Resources, templates and prompts: each sees only its own servers'.
    let ra: Vec<String> = within("resources/list", acme.list_all_resources())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    let rg: Vec<String> = within("resources/list", globex.list_all_resources())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert!(
        !ra.is_empty()
            && ra
                .iter()
                .all(|u| u.starts_with("alpha+") || u.starts_with("leaky+")),
        "{ra:?}"
    );
    assert!(
        !rg.is_empty() && rg.iter().all(|u| u.starts_with("beta+")),
        "{rg:?}"
    );
    let pa: Vec<String> = within("prompts/list", acme.list_all_prompts())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(
        !pa.is_empty() && pa.iter().all(|p| !p.starts_with("beta")),
        "{pa:?}"
    );

    // The audit log names tenant and key of every call.
    let audit = weft_in(rig.dir.path())
        .args(["audit", "tail", "-n", "0", "--json"])
        .output_timed()
        .unwrap();
    assert!(audit.status.success());
    let records: Vec<Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let whoami = records
        .iter()
        .find(|r| r["tool"] == "whoami")
        .expect("the whoami call is recorded");
    assert_eq!(whoami["tenant"], "acme");
    assert_eq!(whoami["server"], "alpha");
    assert_eq!(whoami["outcome"], "ok");
    assert!(whoami["key"].as_str().unwrap().starts_with('k'));
    assert_eq!(whoami["args_hmac"].as_str().unwrap().len(), 64);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["tenant"] == "globex" && r["tool"] == "echo")
            .count(),
        1
    );
    let _ = rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_to_an_ungranted_tool_is_denied_and_never_reaches_the_server() {
    let mut rig = Rig::start("", "", &[]);
    let d = rig.dir.path().to_path_buf();
    let acme = rig.client(&rig.acme).await;
    let globex = rig.client(&rig.globex).await;

    // 1. A direct call, by the name globex sees (a guessed exposed name):
    // answered as a name that exists nowhere is (see `probing` for the
    // byte-for-byte comparison).
    let (code, _, message) = rpc_error(
        within(
            "tools/call",
            acme.call_tool(CallToolRequestParams::new("beta__echo")),
        )
        .await,
    );
    assert_eq!(code, -32602, "{message}");
    assert!(
        message.starts_with("Unknown tool: \"beta__echo\""),
        "{message}"
    );
    let (code, _, message) = rpc_error(
        within(
            "tools/call",
            globex.call_tool(CallToolRequestParams::new("time__convert_time")),
        )
        .await,
    );
    assert_eq!(code, -32602, "excluded tool: {message}");
    assert!(
        message.starts_with("Unknown tool: \"time__convert_time\""),
        "{message}"
    );
    // A name that exists nowhere gets no hint drawn from other tenants' tools.
    let (code, _, message) = rpc_error(
        within(
            "tools/call",
            acme.call_tool(CallToolRequestParams::new("beta__ech")),
        )
        .await,
    );
    assert_eq!(code, -32602, "{message}");
    assert!(!message.contains("beta__echo"), "{message}");

    // 2. Search finds nothing outside the view.
    let r = call(
        &acme,
        "weft_search_tools",
        json!({"query": "echo", "limit": 100}),
    )
    .await;
    let found = r.structured_content.clone().unwrap();
    let names: Vec<&str> = found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"alpha__echo"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("beta__")), "{names:?}");

    // 3. call-tool from a policy: the policy's grants allow everything,
    // the tenant's view does not. 4. @domain calls from it: beta is the
    // only server of `solo`, so to acme that domain does not exist; in
    // `echoes` beta has the higher priority, but acme's call goes to alpha.
    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [
            {"server": "beta", "tool": "echo", "args": {"text": "via policy"}},
            {"server": "alpha", "tool": "echo", "args": {"text": "mine"}},
            {"server": "@solo", "tool": "whoami"},
            {"server": "@echoes", "tool": "whoami"}
        ]}),
    )
    .await;
    let out = r.structured_content.clone().unwrap_or_else(|| {
        serde_json::from_str(&text_of(&r)).expect("the policy's output is JSON")
    });
    let steps = out.as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 4, "{r:?}");
    assert_eq!(steps[0]["kind"], "not-found", "{steps:?}");
    assert_eq!(
        steps[0]["message"], "no server named \"beta\"; configured servers: alpha, leaky, time",
        "{steps:?}"
    );
    assert_eq!(steps[1]["ok"], true, "{steps:?}");
    assert_eq!(steps[2]["kind"], "not-found", "{steps:?}");
    assert_eq!(
        steps[2]["message"], "no enabled server is in the domain \"solo\"; domains: echoes",
        "{steps:?}"
    );
    assert_eq!(steps[3]["ok"], true, "{steps:?}");
    assert_eq!(steps[3]["text"], "alpha", "{steps:?}");
    // globex may not run the policy at all: to globex it does not exist.
    let (code, _, message) = rpc_error(
        within(
            "tools/call",
            globex.call_tool(CallToolRequestParams::new("script")),
        )
        .await,
    );
    assert_eq!(code, -32602, "{message}");
    assert!(message.starts_with("Unknown tool: \"script\""), "{message}");

    // 5. Resources, prompts and completions of a server outside the view,
    // by the names globex sees.
    let prompt = within("prompts/list", globex.list_all_prompts())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .find(|n| n.starts_with("beta") && n.ends_with("greet"))
        .expect("globex sees beta's prompt");
    let template = within("templates/list", globex.list_all_resource_templates())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.uri_template.clone())
        .find(|u| u.starts_with("beta+"))
        .expect("globex sees beta's template");
    let uri = "beta+fixture://item/0";
    assert_hidden(
        "resources/read",
        -32002,
        &format!("no server offers the resource {uri:?}"),
        within(
            "resources/read",
            acme.read_resource(ReadResourceRequestParams::new(uri)),
        )
        .await,
    );
    let mut args = serde_json::Map::new();
    args.insert("name".into(), json!("acme"));
    assert_hidden(
        "prompts/get",
        -32602,
        &format!("no prompt named {prompt:?}"),
        within(
            "prompts/get",
            acme.get_prompt(GetPromptRequestParams::new(&prompt).with_arguments(args)),
        )
        .await,
    );
    assert_hidden(
        "completion/complete of a prompt",
        -32602,
        &format!("no prompt named {prompt:?}"),
        within(
            "completion/complete",
            acme.complete(CompleteRequestParams::new(
                Reference::for_prompt(&prompt),
                ArgumentInfo::new("name", "a"),
            )),
        )
        .await,
    );
    assert_hidden(
        "completion/complete of a template",
        -32602,
        &format!("no resource template {template:?}"),
        within(
            "completion/complete",
            acme.complete(CompleteRequestParams::new(
                Reference::for_resource(&template),
                ArgumentInfo::new("id", "1"),
            )),
        )
        .await,
    );
    // 6. Subscriptions, both eras: `resources/subscribe` in a handshake
    // session, and a 2026-07-28 `subscriptions/listen` naming the URI
    // (acknowledged, as the filter is the agent's own, but nothing is
    // subscribed upstream and weft logs the refusal).
    let session = open_session(&rig.base, &rig.acme).await;
    let subscribe = |id: u32| {
        json!({"jsonrpc": "2.0", "id": id, "method": "resources/subscribe",
            "params": {"uri": uri}})
        .to_string()
        .into_bytes()
    };
    let (s, _, body) = within(
        "resources/subscribe",
        raw(
            &format!("{}/mcp", rig.base),
            Some(&rig.acme),
            Some(&session),
            subscribe(2),
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let answer = message_of(&body);
    assert_eq!(answer["error"]["code"], -32002, "{body}");
    assert_eq!(
        answer["error"]["message"],
        format!("no server offers the resource {uri:?}"),
        "{body}"
    );
    let refusals = |log: String| {
        log.lines()
            .filter(|l| l.contains("denied") && l.contains("acme") && l.contains(uri))
            .count()
    };
    let before = refusals(rig.log());
    // The hidden URI beside one of acme's own: acknowledged exactly as an
    // unknown URI beside it is, and only acme's own is subscribed.
    let own = "alpha+fixture://item/0";
    let unknown = "nothing+fixture://item/0";
    let mut listening = super::listen::Stream::open(&rig.base, &rig.acme, &[uri, own]).await;
    until("weft to refuse acme's listen", EXCHANGE, || {
        let n = refusals(rig.log());
        async move { n == before + 1 }
    })
    .await;
    let probe = super::listen::Stream::open(&rig.base, &rig.acme, &[unknown, own]).await;
    let ack = |s: &super::listen::Stream, named: &str| {
        s.messages()
            .into_iter()
            .find(|m| m["method"] == "notifications/subscriptions/acknowledged")
            .expect("an acknowledgment")
            .to_string()
            .replace(named, "URI")
    };
    assert_eq!(
        ack(&listening, uri),
        ack(&probe, unknown),
        "hidden and unknown"
    );
    drop(probe);

    // Nothing of it reached beta.
    for what in [
        "echo",
        "whoami",
        "resources/read",
        "prompts/get",
        "completion/complete",
        "resources/subscribe",
    ] {
        assert_eq!(recorded(&d, "beta", what), 0, "{what} reached beta");
    }
    // globex's own requests by the same routes do, each exactly once.
    let r = call(&globex, "beta__echo", json!({"text": "mine"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    within(
        "resources/read",
        globex.read_resource(ReadResourceRequestParams::new(uri)),
    )
    .await
    .expect("globex reads its own resource");
    within(
        "prompts/get",
        globex.get_prompt(GetPromptRequestParams::new(&prompt)),
    )
    .await
    .expect("globex gets its own prompt");
    within(
        "completion/complete",
        globex.complete(CompleteRequestParams::new(
            Reference::for_prompt(&prompt),
            ArgumentInfo::new("name", "a"),
        )),
    )
    .await
    .expect("globex completes its own prompt");
    let globex_listening = listen(&rig.base, &rig.globex, uri).await;
    until("globex's subscription to reach beta", EXCHANGE, || {
        let n = recorded(&d, "beta", "resources/subscribe");
        async move { n > 0 }
    })
    .await;
    for what in [
        "echo",
        "resources/read",
        "prompts/get",
        "completion/complete",
    ] {
        assert_eq!(recorded(&d, "beta", what), 1, "{what}");
    }
    assert_eq!(
        records(&d, "beta", "resources/subscribe"),
        [json!({"uri": "fixture://item/0"})]
    );
    // beta's update reaches globex, and never acme, whose own update
    // (announced after it) does.
    let globex_client_touch =
        call(&globex, "beta__touch", json!({"uri": "fixture://item/0"})).await;
    assert_eq!(globex_client_touch.is_error, Some(false));
    let r = call(&acme, "alpha__touch", json!({"uri": "fixture://item/0"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let updates = listening.until_update(own).await;
    assert!(!updates.iter().any(|u| u == uri), "{updates:?}");
    drop((listening, globex_listening));

    // The denials are in the audit log, the policy's with its name.
    let records: Vec<Value> = std::fs::read_to_string(d.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let denied = |server: &str, policy: Value| {
        records
            .iter()
            .filter(|r| {
                r["tenant"] == "acme"
                    && r["server"] == server
                    && r["outcome"] == "denied"
                    && r["policy"] == policy
            })
            .count()
    };
    assert_eq!(denied("beta", Value::Null), 1, "{records:?}");
    assert_eq!(denied("beta", json!("script")), 1, "{records:?}");
    assert_eq!(denied("@solo", json!("script")), 1, "{records:?}");
    let _ = rig.stop();
}

/// The tool names of a stateless (2026-07-28) `tools/list` with `key`, and
/// the body as it came: the request weft answers from its serialised list.
async fn stateless_list(base: &str, key: &str) -> (Vec<String>, String) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answer = post_modern(base, key, "tools/list", &body).await;
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    // The era's cache hints, as rmcp gives every 2026-07-28 list.
    assert_eq!(
        (&v["result"]["ttlMs"], &v["result"]["cacheScope"]),
        (&json!(0), &json!("private")),
        "{text}"
    );
    let names = v["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {text}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect();
    (names, text)
}

/// Stateless `tools/list` answers come from a list serialised once per
/// catalog version and tenant: two tenants with different views each get
/// their own list, again and again in any order, with the names rmcp lists
/// on their sessions; and a catalog change (a server down for good) is in
/// the next list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_its_own_cached_tool_list_until_the_catalog_changes() {
    let rig = Rig::start("", "", &[]);
    let (a, a_body) = stateless_list(&rig.base, &rig.acme).await;
    let (g, g_body) = stateless_list(&rig.base, &rig.globex).await;
    assert_ne!(a, g);
    assert!(a.contains(&"leaky__echo".into()), "{a:?}");
    assert!(!a.iter().any(|n| n.starts_with("beta__")), "{a:?}");
    assert!(
        !g.iter().any(|n| n.starts_with("alpha__") || n == "script"),
        "{g:?}"
    );
    for _ in 0..3 {
        assert_eq!(stateless_list(&rig.base, &rig.globex).await.1, g_body);
        assert_eq!(stateless_list(&rig.base, &rig.acme).await.1, a_body);
    }
    // The same names as rmcp serves each tenant's session.
    let mut on_session = tool_names(&rig.client(&rig.acme).await).await;
    let mut listed = a.clone();
    on_session.sort();
    listed.sort();
    assert_eq!(listed, on_session);

    // leaky exits on each call, and is restarted once: called until it
    // stays down, its tools leave acme's catalog, and acme's list.
    let acme = rig.client(&rig.acme).await;
    let (base, key, acme) = (&rig.base, &rig.acme, &acme);
    until(
        "leaky's tools to leave acme's list",
        EXCHANGE,
        || async move {
            let mut p = CallToolRequestParams::new("leaky__echo");
            p.arguments = json!({"text": "x"}).as_object().cloned();
            let _ = tokio::time::timeout(Duration::from_secs(5), acme.call_tool(p)).await;
            let (names, _) = stateless_list(base, key).await;
            !names.iter().any(|n| n.starts_with("leaky__"))
        },
    )
    .await;
    let (now, _) = stateless_list(&rig.base, &rig.acme).await;
    assert!(now.contains(&"alpha__echo".into()), "{now:?}");
    assert_eq!(stateless_list(&rig.base, &rig.globex).await.1, g_body);
}
