//! Over stdio, a tenant's rate holds for prompts, resource reads and
//! completions as it does for tool calls (over HTTP the edge charges every
//! request; over stdio nothing did but the router's admission).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_a_tenants_rate_holds_for_prompts_reads_and_completions() {
    let dir = temp_dir();
    let d = dir.path();
    let mut text = "[settings]\nstartup_timeout = \"60s\"\n".to_string();
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    // A burst of one, refilled once a minute: one request, then refusals.
    text += "\n[tenants.slow]\ninclude = [\"everything.*\"]\n\
             [tenants.slow.limits]\ncalls_per_minute = 1\nburst = 1\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let client = stdio_as(d, "slow").await;
    // Listing is not charged (as over HTTP's edge, a list costs no
    // upstream call here; the catalog answers it).
    let resource = first_resource(&client).await;

    // The burst's one request.
    within(
        "prompts/get",
        client.get_prompt(GetPromptRequestParams::new("everything__simple-prompt")),
    )
    .await
    .expect("the first request is within the burst");

    // Every route after it is refused, saying when to retry.
    let refused = [
        (
            "prompts/get",
            rpc_error(
                within(
                    "prompts/get",
                    client.get_prompt(GetPromptRequestParams::new("everything__simple-prompt")),
                )
                .await,
            ),
        ),
        (
            "resources/read",
            rpc_error(
                within(
                    "resources/read",
                    client.read_resource(ReadResourceRequestParams::new(&resource)),
                )
                .await,
            ),
        ),
        (
            "completion/complete",
            rpc_error(
                within(
                    "completion/complete",
                    client.complete(CompleteRequestParams::new(
                        Reference::for_prompt("everything__completable-prompt"),
                        ArgumentInfo::new("department", "Eng"),
                    )),
                )
                .await,
            ),
        ),
    ];
    for (route, (code, data, message)) in refused {
        assert_eq!(code, -32029, "{route}: {message}");
        assert!(
            message.starts_with(
                "rate-limited: tenant \"slow\" is over its rate of 1 calls a minute; retry after"
            ),
            "{route}: {message}"
        );
        let data = data.unwrap_or_default();
        assert_eq!(data["httpStatus"], 429, "{route}: {data}");
        assert!(
            data["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0),
            "{route}: {data}"
        );
    }
    // A tool call is refused by the same bucket (the router's admission).
    let call = call(&client, "everything__echo", json!({"message": "x"})).await;
    assert_eq!(
        error_kind(&call).as_deref(),
        Some("rate-limited"),
        "{call:?}"
    );
    let _ = client.cancel().await;
}
