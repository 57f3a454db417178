//! The pins over HTTP, for an admin: `GET /status/pins` lists the tool
//! definitions held for review, each with its diff, and
//! `POST /status/pins/approve` approves them, as `weft pins list --held`
//! and `weft pins approve` do; the catalog serves an approved tool at
//! once. The body names what to approve: `{"server": S}` for all of a
//! server's held tools, `"tool"` for one, and `"tenant"` for a per-tenant
//! instance's.
//!
//! Who may: with tenants, the guard ([`super::admit`]) lets only an admin
//! tenant's key reach `/status` and everything under it; without tenants,
//! only a weft listening on a loopback address answers (as the console).

use axum::extract::{Extension, Json};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::Hub;
use crate::error::quote;
use crate::pins::{Def, Filter};
use crate::tenant::Caller;

/// The body of `POST /status/pins/approve`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Approve {
    server: String,
    tool: Option<String>,
    tenant: Option<String>,
}

/// The two routes, for the hub behind the edge.
pub(super) fn routes(hub: Hub, loopback: bool) -> axum::Router {
    let listing = hub.clone();
    axum::Router::new()
        .route(
            "/status/pins",
            axum::routing::get(move || {
                let hub = listing.clone();
                async move { list(&hub, loopback) }
            }),
        )
        .route(
            "/status/pins/approve",
            axum::routing::post(
                move |caller: Option<Extension<Caller>>, body: Json<Approve>| {
                    let hub = hub.clone();
                    async move { approve(&hub, loopback, caller.map(|c| c.0), body.0).await }
                },
            ),
        )
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// Without tenants, only a loopback listener answers.
fn closed(hub: &Hub, loopback: bool) -> Option<Response> {
    (hub.tenants().is_empty() && !loopback).then(|| {
        answer(
            StatusCode::FORBIDDEN,
            json!({"error": "the pins' routes answer a weft without tenants only on a loopback address; configure an admin tenant to reach them from elsewhere"}),
        )
    })
}

fn list(hub: &Hub, loopback: bool) -> Response {
    if let Some(refused) = closed(hub, loopback) {
        return refused;
    }
    let held: Vec<_> = hub
        .held_pins()
        .into_iter()
        .filter_map(|(key, row)| {
            let seen = row.seen.as_ref()?;
            Some(json!({
                "tenant": (!key.scope.is_empty()).then_some(&key.scope),
                "server": key.server,
                "tool": key.tool,
                "state": if row.approved.is_some() { "changed" } else { "new" },
                "pinned": row.approved.as_ref().map(|d: &Def| &d.digest),
                "listed": seen.digest,
                "diff": crate::pins::diff(row.approved.as_ref(), seen),
            }))
        })
        .collect();
    answer(StatusCode::OK, json!({ "held": held }))
}

async fn approve(hub: &Hub, loopback: bool, caller: Option<Caller>, body: Approve) -> Response {
    if let Some(refused) = closed(hub, loopback) {
        return refused;
    }
    let bad = |message: String| answer(StatusCode::BAD_REQUEST, json!({ "error": message }));
    if hub.config().server(&body.server).is_none() {
        return bad(format!(
            "no server named {} in the config",
            quote(&body.server)
        ));
    }
    if let Some(t) = &body.tenant
        && !hub.tenants().names().any(|n| n == t)
    {
        return bad(format!("no tenant named {} in the config", quote(t)));
    }
    if body
        .tool
        .as_ref()
        .is_some_and(|t| t.len() > crate::router::MAX_NAME_BYTES)
    {
        return bad(format!(
            "tool names are at most {} bytes",
            crate::router::MAX_NAME_BYTES
        ));
    }
    let by = match caller.as_ref().and_then(|c| c.tenant.as_ref()) {
        Some(t) => format!("status:{}", t.name),
        None => "status".to_string(),
    };
    let what = match &body.tool {
        Some(t) => format!("{}.{t}", body.server),
        None => body.server.clone(),
    };
    let filter = Filter {
        scope: body.tenant,
        server: Some(body.server),
        tool: body.tool,
    };
    match hub.approve_pins(filter, by).await {
        Ok(0) => answer(
            StatusCode::NOT_FOUND,
            json!({"error": format!("nothing held for {}: GET /status/pins lists what waits", quote(&what))}),
        ),
        Ok(n) => {
            tracing::info!(what = %what, approved = n, "tool definitions approved over /status");
            answer(StatusCode::OK, json!({ "approved": n }))
        }
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}
