//! Task requests passed on to the replica that holds the task: behind a
//! load balancer, an agent's `tasks/get`, `tasks/update` or `tasks/cancel`
//! may reach a replica other than the one running the task (a policy or
//! code run taken as a task, with its questions and progress), or the one
//! whose upstream made it (a stdio server's task lives in that replica's
//! process). The guard asks here before anything else serves the request:
//! a task this replica does not hold, whose row in the shared database
//! (`crate::serve::task_homes`) names another replica, is sent there as
//! it came (the same body, the agent's own credential, its session id),
//! and that replica's answer goes back to the agent.
//!
//! The other replica checks the request as this one would: its guard
//! authenticates the key, and its session and task checks apply. A passed
//! request carries [`FORWARDED`] and is never passed on again. When the
//! other replica cannot be reached (it died, or its address is wrong),
//! the request is answered here, as with one replica: a run from the
//! journal, an upstream's task as unknown. `mcp_posts_total{path=
//! "forwarded"}` counts the requests passed on.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderValue;

use crate::serve::Gateway;
use crate::serve::task_homes::{TaskHomes, advertised};
use crate::tenant::Caller;

/// The header a passed-on request carries; such a request is answered
/// where it arrives.
pub const FORWARDED: &str = "weft-forwarded";

/// The methods that name a task.
const METHODS: &[&str] = &["tasks/get", "tasks/update", "tasks/cancel"];

/// The request headers passed on besides the credential.
const PASSED: &[&str] = &[
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
];

/// How long reaching the other replica may take before the request is
/// answered here.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the other replica may take to start its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Passes task requests on to the replicas that hold their tasks.
pub struct Forwarder {
    homes: Arc<TaskHomes>,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct Message {
    params: Params,
}

#[derive(serde::Deserialize)]
struct Params {
    #[serde(rename = "taskId")]
    task_id: String,
}

/// Whether a request of `method` names a task (and so may be passed on).
pub fn names_a_task(method: Option<&str>) -> bool {
    method.is_some_and(|m| METHODS.contains(&m))
}

impl Forwarder {
    pub fn new(homes: Arc<TaskHomes>) -> anyhow::Result<Forwarder> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(ANSWER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Forwarder { homes, http })
    }

    /// The answer of the replica that holds the task `body` names, when
    /// `method` names a task, and another replica holds it for `caller`.
    /// `None`: this replica answers.
    pub async fn answer(
        &self,
        gw: &Gateway,
        caller: &Caller,
        method: Option<&str>,
        parts: &http::request::Parts,
        body: &Bytes,
        credential: Option<&HeaderValue>,
    ) -> Option<Response> {
        if !names_a_task(method) || parts.headers.contains_key(FORWARDED) {
            return None;
        }
        let id = serde_json::from_slice::<Message>(body).ok()?.params.task_id;
        if gw.run_tasks.holds(caller, &id) || !gw.tasks.find(caller, &id).is_empty() {
            return None;
        }
        let tenant = caller.tenant.as_ref().map(|t| t.name.as_str());
        let home = self.homes.elsewhere(tenant, &id).await.ok()??;
        // The row is the database's: checked again before it is used.
        let home = advertised(&home).ok()?;
        let mut request = self
            .http
            .post(format!("{home}{}", parts.uri.path()))
            .header(FORWARDED, "1")
            .body(body.clone());
        for name in PASSED {
            if let Some(value) = parts.headers.get(*name) {
                request = request.header(*name, value);
            }
        }
        if let Some(credential) = credential {
            request = request.header(http::header::AUTHORIZATION, credential);
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(
                    replica = %home,
                    "cannot reach the replica that holds a task ({e}); answering here"
                );
                return None;
            }
        };
        let mut response = Response::builder().status(answer.status().as_u16());
        for name in [http::header::CONTENT_TYPE, http::header::CACHE_CONTROL] {
            if let Some(value) = answer.headers().get(name.as_str()) {
                response = response.header(name, value.as_bytes());
            }
        }
        let response = response
            .body(Body::from_stream(answer.bytes_stream()))
            .ok()?;
        gw.hub.metrics().mcp_post("forwarded");
        Some(response)
    }
}
