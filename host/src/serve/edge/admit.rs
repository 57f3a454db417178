//! The guard every request to `weft serve --http` passes ([`guard`]):
//! the tenant's key (or an agent's OAuth token), the admin check of
//! `/status`, `/metrics` and the console, the tenant's requests in flight
//! and its rate, the body's time, size and shape, and the audit record
//! and count of each refusal. See `super::http` for the routes.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::shared_sessions::SharedSessions;

use crate::serve::Gateway;
use crate::tenant::Caller;

/// Whether `path` is the console's: it admits its own viewers
/// (`crate::serve::console`).
pub(in crate::serve) fn is_console(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// A plain refusal with a JSON body.
pub(in crate::serve) fn refuse(status: StatusCode, message: &str) -> Response {
    crate::serve::refusal::response(status, message, None, None)
}

/// 401 with the challenge RFC 6750 asks for.
fn unauthorized(error: Option<&str>, message: &str) -> Response {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"weft\", error=\"{e}\""),
        None => "Bearer realm=\"weft\"".to_string(),
    };
    let mut r = refuse(StatusCode::UNAUTHORIZED, message);
    if let Ok(v) = http::HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// [`admit`], then the audit record and the count of a refusal it made
/// (each refusal of the edge's own is marked with
/// [`crate::serve::refusal::Refused`]).
pub(in crate::serve) async fn guard<F, Fut>(edge: &Edge, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    // Kept for a refusal's record: reference-counted clones, read only
    // when there is a refusal.
    let auth = request.headers().get(http::header::AUTHORIZATION).cloned();
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let gw = &edge.gw;
    let response = admit(edge, request, next).await;
    if let Some(refused) = response
        .extensions()
        .get::<crate::serve::refusal::Refused>()
    {
        let mut kept = http::HeaderMap::new();
        if let Some(v) = auth {
            kept.insert(http::header::AUTHORIZATION, v);
        }
        let key = bearer(&kept);
        let caller = key.and_then(|k| gw.hub.tenants().authenticate(k));
        let tenant = caller.as_ref().map_or("", |c| c.tenant_name());
        // A key that is not known is recorded by a short fingerprint: the
        // same bad key shows as the same line, and nothing of it is kept.
        let key_id = match (&caller, key) {
            (Some(c), _) => c.key_id.clone(),
            (None, Some(k)) => Some(format!(
                "unknown {}",
                crate::tenant::keys::hash(k).get(..19).unwrap_or_default()
            )),
            (None, None) => None,
        };
        let target = format!("{method} {}", uri.path());
        gw.hub.metrics().refusal(tenant, "", "", refused.outcome);
        if let Some(audit) = gw.hub.audit() {
            audit.refusal(tenant, key_id, &target, refused.outcome);
        }
    }
    response
}

/// The key of `Authorization: Bearer KEY`, if any.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Authentication, the tenant's request cap, the body checks, and the
/// redaction of what goes back (see the module doc); a session's DELETE
/// answers 204, and a quick answer leaves in one write
/// ([`super::coalesce`]).
async fn admit<F, Fut>(edge: &Edge, mut request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let gw = &edge.gw;
    let path = request.uri().path().to_string();
    let tenants = gw.hub.tenants();
    let mut _slot = None;
    let mut opener: Option<(String, Option<String>)> = None;
    let mut reserved = false;
    let mut own = None;
    let mut forwarded = None;
    // The agent's credential, for a task request passed on to another
    // replica (which checks it again); nothing else passes it on.
    let mut credential = None;
    let closing = request.method() == http::Method::DELETE;
    let asked_session = session_id(request.headers()).map(str::to_string);
    // With `[oauth]`, weft's protected-resource metadata. Without, every
    // discovery document is absent (404), never "unauthorized", which
    // would start a client's OAuth flow that cannot succeed and hide the
    // real problem.
    if path.starts_with("/.well-known/") {
        if let Some(v) = &edge.oauth
            && path.starts_with("/.well-known/oauth-protected-resource")
        {
            return axum::Json(v.metadata()).into_response();
        }
        return (
            http::StatusCode::NOT_FOUND,
            [(http::header::CONTENT_TYPE, "application/json")],
            r#"{"error":"weft serves no OAuth metadata: send a tenant's key as `Authorization: Bearer KEY`"}"#,
        )
            .into_response();
    }
    if !tenants.is_empty() && path != "/health" && !is_console(&path) {
        let Some(key) = bearer(request.headers()) else {
            if let Some(v) = &edge.oauth {
                return super::agent_auth::refusal(v, None);
            }
            return unauthorized(
                None,
                "this weft serves tenants: send a tenant's key as `Authorization: Bearer KEY`",
            );
        };
        let caller = match (tenants.authenticate(key), &edge.oauth) {
            (Some(caller), _) => caller,
            (None, Some(v)) if super::agent_auth::Verifier::looks_like_jwt(key) => {
                match super::agent_auth::caller(v, key, tenants).await {
                    Ok(caller) => caller,
                    Err(refusal) => {
                        tracing::warn!(%path, "refused an OAuth token: {refusal}");
                        return super::agent_auth::refusal(v, Some(&refusal));
                    }
                }
            }
            (None, _) => {
                tracing::warn!(%path, "refused a request with an unknown key");
                return unauthorized(Some("invalid_token"), "the key is not a key of any tenant");
            }
        };
        let Some(tenant) = caller.tenant.clone() else {
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "a key without a tenant");
        };
        if (path == "/status" || path.starts_with("/status/") || path == "/metrics")
            && !tenant.admin
        {
            return refuse(
                StatusCode::FORBIDDEN,
                &format!(
                    "tenant {:?} is not an admin tenant (tenants.NAME.admin = true)",
                    tenant.name
                ),
            );
        }
        match tenant.start_request() {
            Ok(slot) => _slot = slot,
            Err(max) => {
                return crate::serve::refusal::response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!(
                        "rate-limited: tenant {:?} already has {max} requests in flight (its limit); retry after 1 s",
                        tenant.name
                    ),
                    None,
                    Some(std::time::Duration::from_secs(1)),
                );
            }
        }
        // A session belongs to the tenant that opened it: to any other
        // tenant it does not exist (the same 404 as an unknown id).
        if let Some(id) = session_id(request.headers())
            && !gw.sessions.owned_by(id, &tenant.name)
            && !adopted(edge, id, &tenant.name).await
        {
            tracing::warn!(tenant = %tenant.name, "refused a session id of another tenant, or none known");
            return refuse(
                StatusCode::NOT_FOUND,
                "unknown session id: initialize a new session",
            );
        }
        opener = Some((tenant.name.clone(), caller.key_id.clone()));
        // The agent's credential stops here: nothing past the guard can
        // pass it on to an upstream.
        credential = request.headers_mut().remove(http::header::AUTHORIZATION);
        request.extensions_mut().insert(caller);
    }
    // What goes back is redacted for this tenant: its own credentials
    // pass, every other tenant's and the operator's are masked.
    let mut redactor = crate::redact::for_tenant(opener.as_ref().map(|(t, _)| t.as_str()));
    if request.method() == http::Method::POST && path.starts_with("/mcp") {
        let settings = &gw.hub.config().settings;
        let limit = usize::try_from(settings.max_body).unwrap_or(usize::MAX);
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > settings.max_body) {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the body is larger than {} bytes (settings.max_body)",
                    settings.max_body
                ),
            );
        }
        // A large body from a tenant over its rate is not read: reading
        // (and parsing) megabytes only to refuse them would spend on that
        // tenant what the others need. It waits, unread, up to
        // `TOKEN_WAIT` for a token of its rate, and is refused if none
        // comes. The wait also keeps a client that resends at once (a
        // loop, hostile or broken) from costing a new connection each
        // time. A small body is read as before, so a notification (a
        // cancellation, say), which costs no token, is not held up.
        if let Some(tenant) = request
            .extensions()
            .get::<Caller>()
            .and_then(|c| c.tenant.clone())
            && declared.is_none_or(|n| n > SMALL_BODY)
            && let Err(wait) = await_token(&tenant).await
        {
            let tenant = &tenant;
            let mut r = over_rate(tenant, wait, None);
            // The unread body stays on the connection: it cannot be reused.
            r.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return r;
        }
        let (mut parts, body) = request.into_parts();
        let bytes =
            match tokio::time::timeout(settings.body_timeout, axum::body::to_bytes(body, limit))
                .await
            {
                Err(_) => {
                    return refuse(
                        StatusCode::REQUEST_TIMEOUT,
                        &format!(
                            "the body did not arrive within {} (settings.body_timeout)",
                            crate::util::fmt_duration(settings.body_timeout)
                        ),
                    );
                }
                Ok(Err(e)) => {
                    let too_big = std::error::Error::source(&e)
                        .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                    return if too_big {
                        refuse(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            &format!(
                                "the body is larger than {} bytes (settings.max_body)",
                                settings.max_body
                            ),
                        )
                    } else {
                        refuse(
                            StatusCode::BAD_REQUEST,
                            &format!("the body could not be read: {e}"),
                        )
                    };
                }
                Ok(Ok(b)) => b,
            };
        // A value the agent itself sent is not masked in the answer to it
        // (no redaction oracle; see `Redactor::sparing`).
        redactor = redactor.sparing(&bytes);
        // A plain stateless call read strictly needs no first look (see
        // `crate::serve::calls::call_body`).
        let plain = crate::serve::calls::direct::plain_call(&parts.headers, &bytes);
        let first_look = plain
            .as_ref()
            .and_then(crate::serve::calls::direct::PlainCall::first_look);
        let crate::serve::intake::Intake { method, id } =
            match first_look.map_or_else(|| crate::serve::intake::check(&bytes), Ok) {
                Ok(found) => found,
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        [(http::header::CONTENT_TYPE, "application/json")],
                        e.to_json(),
                    )
                        .into_response();
                }
            };
        let tenant = parts
            .extensions
            .get::<Caller>()
            .and_then(|c| c.tenant.clone());
        // Every request (not a notification, not an answer to weft) takes
        // a token from its tenant's rate here, before any work: a burst
        // from one tenant costs the others almost nothing. A call's token
        // is the one the router's admission then uses.
        let charged = method
            .as_deref()
            .is_some_and(|m| !m.starts_with("notifications/"));
        if let Some(tenant) = &tenant
            && charged
        {
            if let Err(wait) = tenant.take_call().await {
                return over_rate(tenant, wait, id.as_ref());
            }
            if let Some(caller) = parts.extensions.get_mut::<Caller>() {
                caller.prepay();
            }
        }
        // A new session takes a place in its tenant's quota.
        if let Some(tenant) = &tenant
            && method.as_deref() == Some("initialize")
            && asked_session.is_none()
        {
            if let Err(full) = reserve_session(edge, &tenant.name).await {
                tracing::warn!(tenant = %tenant.name, "refused a new session: {full}");
                return crate::serve::refusal::response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &full.to_string(),
                    id.as_ref(),
                    None,
                );
            }
            reserved = true;
        }
        // A task another replica holds is answered there.
        if let Some(forward) = &edge.forward
            && super::forward::names_a_task(method.as_deref())
        {
            let caller = super::shortcut::caller_of(&parts, tenants);
            forwarded = forward
                .answer(
                    gw,
                    &caller,
                    method.as_deref(),
                    &parts,
                    &bytes,
                    credential.as_ref(),
                )
                .await;
        }
        // What weft answers itself, before rmcp (see `super::shortcut`).
        own = super::shortcut::take(gw, &edge.sessions, &parts, &bytes, method.as_deref(), plain)
            .await;
        request = Request::from_parts(parts, Body::from(bytes));
    }
    let post = request.method() == http::Method::POST;
    let metrics = gw.hub.metrics();
    let mut response = match (forwarded, own) {
        (Some(response), _) => response,
        (None, Some(own)) => own.answer(gw).await,
        (None, None) => {
            if post && path.starts_with("/mcp") {
                metrics.mcp_post("rmcp");
            }
            // The rest of a session call's stream weft wrote itself.
            let resumed = (request.method() == http::Method::GET)
                .then(|| crate::serve::calls::session_call::resume(gw, request.headers()))
                .flatten();
            match resumed {
                Some(response) => response,
                None => next(request).await,
            }
        }
    };
    if let Some((tenant, key_id)) = opener {
        match (session_id(response.headers()), asked_session.as_deref()) {
            // A new session: it is this tenant's, on every replica before
            // the agent learns its id.
            (Some(id), None) if reserved => {
                gw.sessions.bind(id, &tenant, key_id.as_deref());
                if let Some(shared) = &edge.shared {
                    let owner = super::shared_sessions::Owner {
                        tenant: Some(tenant.clone()),
                        key_id,
                    };
                    let _ = shared.own(id, &owner).await;
                }
            }
            (_, Some(id)) if closing && response.status().is_success() => gw.sessions.end(id),
            _ if reserved => gw.sessions.cancel(&tenant),
            _ => {}
        }
    }
    // A session the agent ended here ends on the other replicas too.
    if closing
        && response.status().is_success()
        && let Some(id) = &asked_session
    {
        gw.peers.ended(id);
        crate::serve::calls::session_call::session_ended(gw, id);
    }
    // rmcp answers a session's DELETE with 202 Accepted, which clients
    // read as a failure (the session is gone at once): 204 says it is done.
    if closing && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    let response = super::coalesce::finish(response, post, redactor).await;
    // A POST's answer is the request in flight until its body has ended
    // (a streamed answer outlives its head). A GET's stream is the agent
    // listening, not a request: its slot was only for opening it.
    match _slot {
        Some(permit) if post => super::held::hold(response, permit),
        _ => response,
    }
}

/// The `Mcp-Session-Id` header, if any.
pub(in crate::serve) fn session_id(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok())
}

/// What the guard needs: the gateway, and rmcp's sessions (to forget
/// the ones that have ended).
#[derive(Clone)]
pub(in crate::serve) struct Edge {
    pub(in crate::serve) gw: Arc<Gateway>,
    pub(in crate::serve) sessions: Arc<LocalSessionManager>,
    /// Agents' OAuth tokens (`[oauth]`), beside tenants' keys.
    pub(in crate::serve) oauth: Option<Arc<super::agent_auth::Verifier>>,
    /// The sessions every replica can serve (`settings.state`).
    pub(in crate::serve) shared: Option<Arc<SharedSessions>>,
    /// Task requests passed on to the replica that holds the task.
    pub(in crate::serve) forward: Option<Arc<super::forward::Forwarder>>,
}

/// Whether session `id`, unknown here, is one `tenant` opened on another
/// replica (or on this one before a restart): it is then this replica's
/// too, and rmcp restores it from the shared row.
async fn adopted(edge: &Edge, id: &str, tenant: &str) -> bool {
    let Some(shared) = &edge.shared else {
        return false;
    };
    match shared.owner(id, Some(tenant)).await {
        Ok(Some(owner)) => {
            edge.gw.sessions.adopt(id, tenant, owner.key_id.as_deref());
            true
        }
        _ => false,
    }
}

/// A body up to this size is read even from a tenant over its rate (a
/// notification costs no token); a larger one waits for a token unread.
const SMALL_BODY: u64 = 64 * 1024;

/// The longest a large body waits, unread, for a token of its tenant's rate.
const TOKEN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `Ok` once `tenant`'s rate has a token (not taken: the request takes it
/// once its method is known), waiting up to `TOKEN_WAIT`; else the wait
/// still left.
async fn await_token(tenant: &crate::tenant::Tenant) -> Result<(), std::time::Duration> {
    match tenant.peek_call().await {
        Ok(()) => Ok(()),
        Err(wait) => {
            tokio::time::sleep(wait.min(TOKEN_WAIT)).await;
            tenant.peek_call().await
        }
    }
}

/// 429 for a tenant over its rate, with `Retry-After` (the request's id
/// when its body was read).
fn over_rate(
    tenant: &crate::tenant::Tenant,
    wait: std::time::Duration,
    id: Option<&serde_json::Value>,
) -> Response {
    crate::serve::refusal::response(
        StatusCode::TOO_MANY_REQUESTS,
        &crate::serve::refusal::over_rate_message(tenant, wait),
        id,
        Some(wait),
    )
}

/// A place for a new session of `tenant`; at its quota, the tenant's
/// sessions that rmcp has since ended are forgotten first.
async fn reserve_session(edge: &Edge, tenant: &str) -> Result<(), super::sessions::Full> {
    use rmcp::transport::streamable_http_server::session::SessionManager;
    let quota = edge.gw.hub.config().settings.edge.max_sessions_per_tenant;
    let sessions = &edge.gw.sessions;
    if sessions.reserve(tenant, quota).is_ok() {
        return Ok(());
    }
    for id in sessions.of(tenant) {
        if !edge
            .sessions
            .has_session(&id.clone().into())
            .await
            .unwrap_or(true)
        {
            sessions.end(&id);
        }
    }
    sessions.reserve(tenant, quota)
}
