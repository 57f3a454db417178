//! The streamable HTTP endpoint: `/mcp` for both protocol eras (sessions
//! for handshake-era clients, stateless requests for 2026-07-28), with
//! Host and Origin checks against DNS rebinding; `/health`, `/status`
//! (JSON) and `/metrics` (Prometheus) beside it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::Gateway;

/// How the HTTP endpoint is exposed.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Extra `Host` values to accept besides loopback (for a public name).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call; loopback origins always are.
    pub allowed_origins: Vec<String>,
}

/// The axum router serving `/mcp` for `gw`.
pub fn router(gw: Arc<Gateway>, options: &HttpOptions, stop: CancellationToken) -> axum::Router {
    let mut hosts: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        "[::1]".into(),
    ];
    hosts.extend(options.allowed_hosts.iter().cloned());
    let mut origins: Vec<String> = vec![
        "http://localhost:*".into(),
        "http://127.0.0.1:*".into(),
        "http://[::1]:*".into(),
    ];
    origins.extend(options.allowed_origins.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        // Stateless (2026-07-28) requests that send nothing before their
        // result get a plain JSON body instead of an SSE stream.
        .with_json_response(true)
        .with_cancellation_token(stop);
    let hub = gw.hub.clone();
    let metrics_hub = gw.hub.clone();
    let service = StreamableHttpService::new(
        move || Ok(gw.session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new()
        .nest_service("/mcp", service)
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
        )
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
    on_bound(bound);
    let app = router(gw, &options, stop.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .context("the HTTP server failed")
}
