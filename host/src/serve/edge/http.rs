//! The streamable HTTP endpoint: `/mcp` for both protocol eras (sessions
//! for handshake-era clients, stateless requests for 2026-07-28), with
//! Host and Origin checks against DNS rebinding; the legacy HTTP+SSE
//! transport (`/sse`, `/messages`: see `legacy_sse`), `/health`, `/status`
//! (JSON) and `/metrics` (Prometheus) beside it.
//!
//! Every request but `/health` passes the Host and Origin checks first
//! (a 403 otherwise), then the guard (`super::admit`): with tenants
//! configured it must carry a tenant's key (`Authorization: Bearer KEY`, else 401 with
//! `WWW-Authenticate`), `/status` and `/metrics` need an admin tenant, a
//! tenant's requests in flight are capped (429 with `Retry-After`), and a
//! body must arrive within `settings.body_timeout` (408), fit
//! `settings.max_body` (413) and be one JSON-RPC message ([`crate::serve::intake`],
//! 400). The agent's key is taken off the request there, so nothing past
//! the guard can pass it on. Every response body passes the redaction pass
//! for its tenant: that tenant's own credentials pass, every other
//! tenant's and the operator's are masked, and a value the request itself
//! carried is not masked in its answer.
//!
//! Every accepted connection has `TCP_NODELAY`, and an answer that is ready
//! at once leaves in one write ([`super::coalesce`]): a keep-alive client
//! would otherwise wait ~40 ms per call on Nagle's algorithm.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::admit::{Edge, guard, is_console, refuse, session_id};
use crate::serve::Gateway;

/// How the HTTP endpoint is exposed.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Extra `Host` values to accept besides loopback (for a public name).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call; loopback origins always are.
    pub allowed_origins: Vec<String>,
    /// Whether the listener is on a loopback address ([`serve_http`] sets
    /// it): without tenants, only then is the console (`/ui`) open.
    pub loopback: bool,
}

/// What serves `/mcp` and the routes beside it for `gw`.
pub fn front(gw: Arc<Gateway>, options: &HttpOptions, stop: CancellationToken) -> Front {
    let mut hosts: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        "[::1]".into(),
    ];
    hosts.extend(options.allowed_hosts.iter().cloned());
    // The other replicas pass task requests on to the advertised address.
    if let Some(host) = gw.task_homes.get().and_then(|h| h.host()) {
        hosts.push(host);
    }
    let mut origins: Vec<String> = vec![
        "http://localhost:*".into(),
        "http://127.0.0.1:*".into(),
        "http://[::1]:*".into(),
    ];
    origins.extend(options.allowed_origins.iter().cloned());
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        // Stateless (2026-07-28) requests that send nothing before their
        // result get a plain JSON body instead of an SSE stream.
        .with_json_response(true)
        .with_cancellation_token(stop.clone());
    let sessions = Arc::new(LocalSessionManager::default());
    // With a shared database, rmcp stores each session's handshake there
    // and replays it on a replica that does not know the session.
    let shared = gw.shared_sessions.get().cloned();
    if let Some(shared) = &shared {
        config.session_store = Some(Arc::new(super::shared_sessions::Store {
            shared: shared.clone(),
            hub: gw.hub.clone(),
        }));
        super::relay::start(shared, &gw, sessions.clone());
    }
    let hub = gw.hub.clone();
    let metrics_hub = gw.hub.clone();
    let allowed = Arc::new(super::origin::Allowed::new(
        &config.allowed_hosts,
        &config.allowed_origins,
    ));
    let edge = Edge {
        gw: gw.clone(),
        sessions: sessions.clone(),
        oauth: gw
            .hub
            .config()
            .agent_oauth
            .clone()
            .map(|c| Arc::new(super::agent_auth::Verifier::new(c))),
        shared,
        forward: gw.task_homes.get().and_then(|homes| {
            super::forward::Forwarder::new(homes.clone())
                .inspect_err(|e| tracing::warn!("cannot pass task requests to other replicas: {e}"))
                .ok()
                .map(Arc::new)
        }),
    };
    let legacy = super::legacy_sse::routes(gw.clone());
    let console = crate::serve::console::routes(gw.clone(), options.loopback, stop.clone());
    let service = Shared(Arc::new(StreamableHttpService::new(
        move || Ok(gw.session()),
        sessions,
        config,
    )));
    let routes = axum::Router::new()
        .nest_service("/mcp", service)
        .merge(legacy)
        .merge(console)
        .merge(super::status_pins::routes(hub.clone(), options.loopback))
        .route("/health", axum::routing::get(|| async { "ok\n" }))
        .route(
            "/status",
            axum::routing::get(move || {
                let hub = hub.clone();
                async move { axum::Json(hub.report()) }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let hub = metrics_hub.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
                        hub.metrics_text(),
                    )
                }
            }),
        );
    Front(Arc::new(Stages {
        allowed,
        edge,
        routes,
    }))
}

/// Every request's way in: the `Host` and `Origin` checks, the guard
/// ([`super::admit`]), the end of unknown sessions, and then the routes.
/// The stages are plain calls in that order, not `axum` middleware: a
/// `from_fn` layer clones the stack of services below it and boxes a
/// future for every request (about twenty allocations per request for
/// these three), and the guard answers the calls agents make most itself
/// ([`crate::serve::calls::direct`], [`crate::serve::view::listing`]) without reaching a route.
#[derive(Clone)]
pub struct Front(Arc<Stages>);

struct Stages {
    allowed: Arc<super::origin::Allowed>,
    /// The guard's state; its rmcp sessions serve the unknown-session
    /// check too.
    edge: Edge,
    routes: axum::Router,
}

impl Stages {
    /// The answer to `request`, through every stage.
    async fn answer(&self, request: Request) -> Response {
        if let Some(refused) = host_and_origin(&self.allowed, &request) {
            return refused;
        }
        guard(&self.edge, request, |request| async move {
            if let Some(id) = deleted_session(&request)
                && !self
                    .edge
                    .sessions
                    .has_session(&id.clone().into())
                    .await
                    .unwrap_or(true)
            {
                // One another replica opened ends everywhere; the guard
                // has checked whose it is.
                let tenant = request
                    .extensions()
                    .get::<crate::tenant::Caller>()
                    .and_then(|c| c.tenant.as_ref().map(|t| t.name.clone()));
                if let Some(shared) = &self.edge.shared
                    && let Ok(Some(_)) = shared.owner(&id, tenant.as_deref()).await
                    && shared.forget(&id).await.is_ok()
                {
                    return StatusCode::NO_CONTENT.into_response();
                }
                return refuse(
                    StatusCode::NOT_FOUND,
                    "unknown session id: it has ended, or never was",
                );
            }
            let routes = self.routes.clone();
            match tower::ServiceExt::oneshot(routes, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
        .await
    }
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for Front {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        let stages = self.0.clone();
        Box::pin(async move { Ok(stages.answer(request.map(axum::body::Body::new)).await) })
    }
}

/// A service behind an `Arc`. axum clones a route's stack of services
/// for every request it routes, while rmcp's service carries its config
/// by value: each copy allocates the host and origin lists again (nine
/// allocations with the default lists). Behind an `Arc` that clone is a
/// count increment, and the service itself is cloned only for a request
/// that reaches it.
#[derive(Clone)]
struct Shared<S>(Arc<S>);

impl<S, R> tower::Service<R> for Shared<S>
where
    S: tower::Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tower::util::Oneshot<S, R>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        // Readiness is the clone's, checked by `Oneshot` before its call.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        tower::ServiceExt::oneshot(S::clone(&self.0), request)
    }
}

/// Every route but `/health` passes the `Host` and `Origin` checks, before
/// anything else: the refusal, if it does not. rmcp makes the same checks
/// for the requests it serves, but weft answers some `/mcp` requests
/// itself (`crate::serve::calls::direct`, `crate::serve::view::listing`), and `/status`, `/metrics`,
/// the console and the legacy SSE transport are weft's own.
fn host_and_origin(allowed: &super::origin::Allowed, request: &Request) -> Option<Response> {
    let path = request.uri().path();
    if !(path.starts_with("/mcp")
        || matches!(path, "/status" | "/metrics" | "/sse" | "/messages")
        || path.starts_with("/status/")
        || is_console(path))
    {
        return None;
    }
    let why = allowed.check(request.headers()).err()?;
    tracing::warn!(%path, "refused: {why} (possible DNS rebinding)");
    Some(refuse(why.status(), &why.to_string()))
}

/// The session a DELETE of `/mcp` names, if it names one: one that does
/// not exist (never did, or has ended) is answered 404, as every other
/// request naming it is; rmcp would answer it as if it had ended
/// something.
fn deleted_session(request: &Request) -> Option<String> {
    (request.method() == http::Method::DELETE && request.uri().path().starts_with("/mcp"))
        .then(|| session_id(request.headers()).map(str::to_string))
        .flatten()
}

/// Binds `addr` and serves until `stop` is cancelled. Calls `on_bound` with
/// the real address (useful with port 0).
pub async fn serve_http(
    gw: Arc<Gateway>,
    addr: SocketAddr,
    options: HttpOptions,
    stop: CancellationToken,
    // Boxed rather than generic, so axum's server is compiled once, here.
    on_bound: Box<dyn FnOnce(SocketAddr) + Send>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().context("no local address")?;
    let limits = gw.hub.config().settings.edge.clone();
    let options = HttpOptions {
        loopback: bound.ip().is_loopback(),
        ..options
    };
    if let Some(homes) = gw.task_homes.get() {
        homes.bound(bound);
    }
    let app = front(gw, &options, stop.clone());
    super::keywatch::spawn(app.0.edge.clone(), stop.clone());
    on_bound(bound);
    // The accept loop is a task of its own, so that a connection's task
    // starts on the worker that accepted it. Awaited here instead, it ran
    // wherever this future runs: for `weft serve`, the main thread's
    // `block_on`, and every new connection cost a wake-up of that thread
    // and one of a worker. Dropping this future still stops the loop.
    let accepting = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(super::listener::serve(
        listener, app, limits, stop,
    )));
    accepting.await.context("the HTTP listener stopped")?;
    Ok(())
}
