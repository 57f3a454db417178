//! The console: `/ui` on `weft serve --http`, a read-only page for
//! operators with four views (servers, tools, runs, audit); the tools
//! view shows the definitions held for review first, each with its diff.
//!
//! Who may look: with tenants configured, an admin tenant (the keys that
//! may read `/status`), by `Authorization: Bearer KEY` or by signing in
//! once in the browser (`POST /ui/login`), which sets an `HttpOnly`,
//! `SameSite=Strict` cookie naming a sign-in this process keeps (8 hours;
//! the key is checked again on every request, so a revoked key ends it).
//! The cookie is also `Secure` when the browser came over HTTPS, which
//! weft (listening on plain HTTP) learns from the TLS-terminating proxy
//! in front: `X-Forwarded-Proto: https` or `Forwarded: proto=https`.
//! Without tenants the console is open only when weft listens on a
//! loopback address. Without a key the answer is 401 with a sign-in page;
//! a key of a tenant that is not an admin gets 403.
//!
//! Every page is complete as served (a snapshot, readable without
//! JavaScript); `app.js` then follows `GET /ui/events`, server-sent events
//! carrying each view's fresh HTML when it changes. Every text has been
//! through the redaction pass before it is escaped ([`data`]), and the
//! HTTP edge masks the whole body again. The pages are served under a CSP
//! that allows only the console's own script and style, both embedded in
//! the binary.

mod data;
mod render;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::Markup;
use parking_lot::Mutex;

use super::Gateway;
use render::View;

/// How long a browser sign-in lasts.
const SIGN_IN_FOR: Duration = Duration::from_secs(8 * 3600);
/// Sign-ins kept at most (the oldest go first).
const MAX_SIGN_INS: usize = 1_000;
/// Live streams open at once, across every viewer.
const MAX_STREAMS: usize = 16;
/// How often a live stream looks for a change.
const TICK: Duration = Duration::from_secs(1);
/// The cookie of a browser sign-in.
const COOKIE: &str = "weft_console";
/// A search or filter value is cut to this many bytes.
const MAX_QUERY: usize = 200;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The console's state.
pub(super) struct Console {
    gw: Arc<Gateway>,
    /// Whether a weft without tenants shows the console (it listens on
    /// loopback).
    open: bool,
    sign_ins: Mutex<HashMap<String, SignIn>>,
    streams: Arc<tokio::sync::Semaphore>,
    /// Cancelled when weft stops: live streams end, so that they do not
    /// hold the listener's graceful shutdown open.
    stop: tokio_util::sync::CancellationToken,
}

struct SignIn {
    key_hash: String,
    until: Instant,
}

/// The console's routes; `open` as in [`Console::open`].
pub(super) fn routes(
    gw: Arc<Gateway>,
    open: bool,
    stop: tokio_util::sync::CancellationToken,
) -> axum::Router {
    let console = Arc::new(Console {
        gw,
        open,
        stop,
        sign_ins: Mutex::new(HashMap::new()),
        streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
    });
    axum::Router::new()
        .route("/ui", axum::routing::get(home))
        .route("/ui/", axum::routing::get(home))
        // Static routes (below) come before this one.
        .route("/ui/{view}", axum::routing::get(named))
        .route("/ui/runs/{seq}", axum::routing::get(run))
        .route("/ui/events", axum::routing::get(events))
        .route("/ui/login", axum::routing::post(login))
        .route("/ui/logout", axum::routing::post(logout))
        .route(
            "/ui/app.js",
            axum::routing::get(|| async {
                asset("text/javascript", include_str!("assets/app.js"))
            }),
        )
        .route(
            "/ui/app.css",
            axum::routing::get(|| async { asset("text/css", include_str!("assets/app.css")) }),
        )
        .route(
            "/ui/favicon.svg",
            axum::routing::get(|| async {
                asset("image/svg+xml", include_str!("assets/favicon.svg"))
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(4096))
        .with_state(console)
}

/// The headers every console answer carries.
fn harden(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with
        // the sign-in form, which the Origin check refuses.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    harden(([(header::CONTENT_TYPE, kind)], body).into_response())
}

fn html(status: StatusCode, body: String) -> Response {
    harden(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

/// A refusal, marked for the edge's audit record and count.
fn refused(status: StatusCode, message: &str) -> Response {
    let body = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => render::sign_in(message),
        _ => render::message(status.canonical_reason().unwrap_or("Refused"), message),
    };
    let mut r = html(status, body);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"weft\""),
        );
    }
    r.extensions_mut().insert(super::refusal::Refused {
        outcome: super::refusal::outcome(status),
    });
    r
}

/// The value of cookie `name`, if the request has it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Who is looking: `Ok(signed_in)` (whether by a browser sign-in) or the
/// refusal.
impl Console {
    fn admit(&self, headers: &HeaderMap) -> Result<bool, Box<Response>> {
        let tenants = self.gw.hub.tenants();
        if tenants.is_empty() {
            return match self.open {
                true => Ok(false),
                false => Err(Box::new(refused(
                    StatusCode::FORBIDDEN,
                    "Without tenants the console is served only on a loopback address. Configure an admin tenant ([tenants.NAME] admin = true) to open it to others.",
                ))),
            };
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let (caller, signed_in) = if let Some(key) = bearer {
            (tenants.authenticate(key), false)
        } else if let Some(token) = cookie(headers, COOKIE) {
            let hash = {
                let mut sign_ins = self.sign_ins.lock();
                match sign_ins.get(token) {
                    Some(s) if s.until > Instant::now() => Some(s.key_hash.clone()),
                    Some(_) => {
                        sign_ins.remove(token);
                        None
                    }
                    None => None,
                }
            };
            match hash {
                Some(h) => (tenants.authenticate_hash(&h), true),
                None => {
                    return Err(Box::new(refused(
                        StatusCode::UNAUTHORIZED,
                        "Your sign-in has ended. Sign in again with an admin tenant's key.",
                    )));
                }
            }
        } else {
            return Err(Box::new(refused(
                StatusCode::UNAUTHORIZED,
                "This weft serves tenants: sign in with an admin tenant's key, or send it in an Authorization header (Bearer KEY).",
            )));
        };
        let Some(tenant) = caller.and_then(|c| c.tenant) else {
            return Err(Box::new(refused(
                StatusCode::UNAUTHORIZED,
                "That key is not a key of any tenant.",
            )));
        };
        if !tenant.admin {
            return Err(Box::new(refused(
                StatusCode::FORBIDDEN,
                &format!(
                    "Tenant {:?} is not an admin tenant (tenants.NAME.admin = true): the console is for admins.",
                    tenant.name
                ),
            )));
        }
        Ok(signed_in)
    }
}

type Params = Query<HashMap<String, String>>;

fn param(params: &HashMap<String, String>, name: &str) -> String {
    let mut v = params.get(name).cloned().unwrap_or_default();
    crate::util::truncate(&mut v, MAX_QUERY);
    v
}

/// One view's fragment, as the page and the live stream show it.
async fn fragment(c: &Console, view: View, params: &HashMap<String, String>) -> Markup {
    let hub = &c.gw.hub;
    match view {
        View::Servers => render::servers(&data::servers(hub)),
        View::Tools => {
            let q = param(params, "q");
            let (rows, matched) = data::tools(hub, &q);
            render::tools(&rows, matched, &q, &data::held(hub))
        }
        View::Runs => render::runs(&data::runs(hub)),
        View::Audit => {
            let filter = data::AuditFilter {
                tenant: param(params, "tenant"),
                tool: param(params, "tool"),
                outcome: param(params, "outcome"),
            };
            let tail = data::audit(hub, &filter).await;
            let tenants: Vec<String> = hub.tenants().names().map(str::to_string).collect();
            render::audit(&tail, &filter, &tenants)
        }
    }
}

async fn home(c: State<Arc<Console>>, headers: HeaderMap, params: Params) -> Response {
    view(c, headers, params, View::Servers).await
}

async fn named(
    c: State<Arc<Console>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    params: Params,
) -> Response {
    match View::from_name(&name) {
        Some(v) => view(c, headers, params, v).await,
        None => refused(
            StatusCode::NOT_FOUND,
            "No such page: the console has servers, tools, runs and audit.",
        ),
    }
}

async fn view(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(params): Params,
    view: View,
) -> Response {
    let signed_in = match c.admit(&headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let body = fragment(&c, view, &params).await;
    html(
        StatusCode::OK,
        render::page(view, body, view.name(), signed_in),
    )
}

async fn run(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Response {
    let signed_in = match c.admit(&headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let found = seq
        .parse::<u64>()
        .ok()
        .and_then(|seq| data::run(&c.gw.hub, seq));
    match found {
        // No live stream for one run: it has ended.
        Some(r) => {
            let journal = match &r.run_id {
                Some(id) => Some(data::journal(&c.gw.hub, id).await),
                None => None,
            };
            let body = maud::html! {
                (render::run(&r))
                @if let Some(j) = &journal { (render::journal(j)) }
            };
            html(
                StatusCode::OK,
                render::page(View::Runs, body, "", signed_in),
            )
        }
        None => html(
            StatusCode::NOT_FOUND,
            render::page(
                View::Runs,
                maud::html! { h1 { "No such run" } p.note { "It is not among the last runs kept in memory." } },
                "",
                signed_in,
            ),
        ),
    }
}

/// `GET /ui/events?view=V&…`: the view's HTML as a `view` event now and
/// whenever it changes.
async fn events(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    if let Err(r) = c.admit(&headers) {
        return *r;
    }
    let Some(view) = View::from_name(&param(&params, "view")) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Unknown view: use servers, tools, runs or audit.",
        );
    };
    let Ok(permit) = c.streams.clone().try_acquire_owned() else {
        return harden(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                format!("{MAX_STREAMS} console streams are open already; retry in 5 s"),
            )
                .into_response(),
        );
    };
    let state = (c, params, String::new(), permit, true);
    let stream =
        futures::stream::unfold(state, move |(c, params, last, permit, first)| async move {
            let mut first = first;
            loop {
                if !first {
                    tokio::select! {
                        _ = tokio::time::sleep(TICK) => {}
                        _ = c.stop.cancelled() => return None,
                    }
                }
                first = false;
                let html = fragment(&c, view, &params).await.into_string();
                if html != last {
                    let event = Event::default()
                        .event("view")
                        .json_data(serde_json::json!({ "html": html }))
                        .unwrap_or_default();
                    return Some((Ok::<_, Infallible>(event), (c, params, html, permit, false)));
                }
            }
        });
    harden(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

#[derive(serde::Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let tenants = c.gw.hub.tenants();
    if tenants.is_empty() {
        return see_other("/ui", None);
    }
    let Some(tenant) = tenants.authenticate(form.key.trim()).and_then(|c| c.tenant) else {
        tracing::warn!("console sign-in refused: an unknown key");
        return refused(
            StatusCode::UNAUTHORIZED,
            "That key is not a key of any tenant.",
        );
    };
    if !tenant.admin {
        return refused(
            StatusCode::FORBIDDEN,
            &format!(
                "Tenant {:?} is not an admin tenant: the console is for admins.",
                tenant.name
            ),
        );
    }
    let Ok(token) = crate::util::random_hex(32) else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The system's random source failed; try again.",
        );
    };
    {
        let mut sign_ins = c.sign_ins.lock();
        let now = Instant::now();
        sign_ins.retain(|_, s| s.until > now);
        if sign_ins.len() >= MAX_SIGN_INS
            && let Some(oldest) = sign_ins
                .iter()
                .min_by_key(|(_, s)| s.until)
                .map(|(k, _)| k.clone())
        {
            sign_ins.remove(&oldest);
        }
        sign_ins.insert(
            token.clone(),
            SignIn {
                key_hash: crate::tenant::keys::hash(form.key.trim()),
                until: now + SIGN_IN_FOR,
            },
        );
    }
    tracing::info!(tenant = %tenant.name, "console sign-in");
    let cookie = format!(
        "{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SIGN_IN_FOR.as_secs(),
        secure(&headers)
    );
    see_other("/ui", Some(cookie))
}

async fn logout(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, COOKIE) {
        c.sign_ins.lock().remove(token);
    }
    see_other(
        "/ui",
        Some(format!(
            "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
            secure(&headers)
        )),
    )
}

/// `; Secure` when the browser reached weft over HTTPS, else nothing.
/// weft listens on plain HTTP, so HTTPS is the proxy in front that says
/// so: the first (the browser's side) of `X-Forwarded-Proto`, or the
/// `proto` of the first element of `Forwarded` (RFC 7239). A client
/// that claims HTTPS falsely only gets a cookie its browser will not send
/// back over plain HTTP.
fn secure(headers: &HeaderMap) -> &'static str {
    let first = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let forwarded_proto = first(header::FORWARDED).and_then(|element| {
        element.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("proto")
                .then(|| v.trim().trim_matches('"'))
        })
    });
    let https = [
        first(header::HeaderName::from_static("x-forwarded-proto")),
        forwarded_proto,
    ]
    .into_iter()
    .flatten()
    .any(|proto| proto.eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

fn see_other(to: &'static str, cookie: Option<String>) -> Response {
    let mut r = harden((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response());
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
