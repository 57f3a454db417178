//! The timer guest (`tests/guests/timer`) run as a policy by an agent.

use rmcp::model::CallToolRequestParams;
use serde_json::json;

use super::within;

/// Calls the policy `timer` through `client`: it makes `n` calls of
/// `server.tool`, twice over; the run must succeed.
pub async fn run_timer(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    server: &str,
    tool: &str,
    n: u64,
) {
    let args = json!({"n": n, "server": server, "tool": tool});
    let params = CallToolRequestParams::new("timer")
        .with_arguments(args.as_object().cloned().expect("an object"));
    let result = within("the policy run", client.call_tool(params))
        .await
        .expect("the policy run answers");
    assert_ne!(result.is_error, Some(true), "{result:?}");
}
