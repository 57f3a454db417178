//! `tools/list` served as bytes: each catalog version's tool list is
//! serialised once per audience, page and [`Form`], and a `tools/list`
//! over HTTP is answered from those bytes without passing through rmcp's
//! service: a stateless (2026-07-28) one, and one in a handshake-era
//! session this replica holds.
//!
//! An audience is the owner (a weft without tenants) or one configured
//! tenant: what a list holds depends only on the catalog, the tenant's view
//! and the policies it may run, and the latter two never change while weft
//! runs. A caller that is neither (a request no tenant was found for, a
//! policy run with its grants) is never served from or into the cache.
//! Cached pages belong to one catalog ([`Arc`] identity, held while
//! cached), so a new catalog version misses, and the pages of a version
//! no longer in use are dropped on the next miss.
//!
//! Only a request whose answer cannot differ from rmcp's, and that is
//! unmistakably well formed, takes this path ([`cacheable_request`]);
//! anything else goes on to rmcp, which answers as it always has. A
//! session's list is the same JSON-RPC message rmcp sends, in the same
//! event stream form ([`answer`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use parking_lot::Mutex;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorData, GetMeta, ListToolsResult, ProtocolVersion,
    RequestId, ServerResult,
};

use super::page::page;
use super::tools;
use crate::catalog::Catalog;
use crate::serve::Gateway;
use crate::tenant::Caller;

/// Most pages kept per catalog (cursors are offsets: a client could ask
/// for many distinct ones).
const MAX_PAGES: usize = 256;

/// Whose list a page is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Audience {
    Owner,
    Tenant(String),
}

/// How a list is written for the era that asked: rmcp adds the cache
/// hints (`ttlMs`, `cacheScope`) for a 2026-07-28 request, and leaves out
/// `resultType: "complete"` for a handshake-era session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    Stateless,
    Session,
}

/// A page's key: whose list, in which form, at which cursor.
type Key = (Audience, Form, Option<String>);

/// The serialised `tools/list` results of the catalogs in use.
#[derive(Default)]
pub struct Lists {
    slots: Mutex<Vec<Slot>>,
}

/// One catalog's pages, by audience, form and cursor.
struct Slot {
    catalog: Arc<Catalog>,
    pages: HashMap<Key, Bytes>,
}

impl Lists {
    fn get(&self, catalog: &Arc<Catalog>, key: &Key) -> Option<Bytes> {
        let slots = self.slots.lock();
        slots
            .iter()
            .find(|s| Arc::ptr_eq(&s.catalog, catalog))
            .and_then(|s| s.pages.get(key).cloned())
    }

    /// Keeps `bytes` for `catalog`, and forgets the catalogs nobody else
    /// holds any more (replaced by a newer version).
    fn put(&self, catalog: &Arc<Catalog>, key: Key, bytes: Bytes) {
        let mut slots = self.slots.lock();
        slots.retain(|s| Arc::ptr_eq(&s.catalog, catalog) || Arc::strong_count(&s.catalog) > 1);
        let slot = match slots.iter().position(|s| Arc::ptr_eq(&s.catalog, catalog)) {
            Some(i) => &mut slots[i],
            None => {
                slots.push(Slot {
                    catalog: catalog.clone(),
                    pages: HashMap::new(),
                });
                let last = slots.len() - 1;
                &mut slots[last]
            }
        };
        if slot.pages.len() < MAX_PAGES {
            slot.pages.insert(key, bytes);
        }
    }

    /// How many catalogs have pages kept (for tests).
    #[cfg(test)]
    fn catalogs(&self) -> usize {
        self.slots.lock().len()
    }
}

/// The caller's audience, when its list may be cached: the owner, or a
/// configured tenant (the very one, not a look-alike) without a run's
/// grants.
fn audience(gw: &Gateway, caller: &Caller) -> Option<Audience> {
    if caller.grants.is_some() {
        return None;
    }
    match &caller.tenant {
        None => Some(Audience::Owner),
        Some(t) => gw
            .hub
            .tenants()
            .get(&t.name)
            .filter(|configured| Arc::ptr_eq(configured, t))
            .map(|_| Audience::Tenant(t.name.clone())),
    }
}

/// The page of tools `caller` is shown from `catalog` at `cursor`, as
/// rmcp's result type.
pub fn page_for(
    gw: &Gateway,
    catalog: &Catalog,
    caller: &Caller,
    policies: &[crate::config::PolicyConfig],
    cursor: Option<&str>,
) -> Result<ListToolsResult, ErrorData> {
    let code = gw.code_for(caller).map(|(_, settings)| settings);
    let all = tools::exposed(catalog, policies, gw.expose, caller, code);
    let (items, next) = page(all, cursor, gw.page)?;
    let mut result = ListToolsResult::with_all_items(items);
    result.next_cursor = next;
    Ok(result)
}

/// The serialised result of `tools/list` at `cursor` for `caller`, in
/// `form`: from the cache when it is there, else built (and kept, when
/// the caller's list may be). `None` when the cursor is refused (rmcp
/// then answers with the error).
fn result_bytes(gw: &Gateway, caller: &Caller, form: Form, cursor: Option<&str>) -> Option<Bytes> {
    let catalog = gw.hub.catalog_for(caller);
    let key = audience(gw, caller).map(|a| (a, form, cursor.map(str::to_string)));
    if let Some(key) = &key
        && let Some(bytes) = gw.lists.get(&catalog, key)
    {
        return Some(bytes);
    }
    let policies = gw.policies_for(caller);
    let mut result =
        ServerResult::ListToolsResult(page_for(gw, &catalog, caller, &policies, cursor).ok()?);
    // What rmcp's server adds for a 2026-07-28 peer (`ttlMs: 0`,
    // `cacheScope: "private"`), which that era requires.
    // A handshake-era peer gets the shape from before that era, without
    // `resultType: "complete"`, as rmcp's handler writes it.
    match form {
        Form::Stateless => result.fill_missing_cache_hints(),
        Form::Session => result.strip_result_type_for_legacy_peer(),
    }
    let bytes = Bytes::from(serde_json::to_vec(&result).ok()?);
    if let Some(key) = key {
        gw.lists.put(&catalog, key, bytes.clone());
    }
    Some(bytes)
}

/// A `tools/list` this path answers: its id, its cursor, its form, and
/// the session it names (a session's list is answered only once the
/// session is known to be this replica's).
#[derive(Debug, PartialEq)]
pub struct Listing {
    pub id: RequestId,
    pub cursor: Option<String>,
    pub form: Form,
    pub session: Option<String>,
}

/// The `tools/list` in `body`, when rmcp would answer it as a plain list
/// (see the module doc); `None` for anything else: other methods, a
/// protocol header rmcp refuses, metadata that contradicts the era, a
/// per-request version in a session.
pub fn cacheable_request(headers: &http::HeaderMap, body: &[u8]) -> Option<Listing> {
    let stateless = ProtocolVersion::V_2026_07_28;
    let session = if headers.contains_key("mcp-session-id") {
        Some(handshake_session(headers)?)
    } else {
        None
    };
    let form = match session {
        Some(_) => Form::Session,
        None if one(headers, "mcp-protocol-version") == Some(Some(stateless.as_str()))
            && accepts_both(headers)
            && header(headers, http::header::CONTENT_TYPE.as_str()).is_some_and(is_json) =>
        {
            Form::Stateless
        }
        None => return None,
    };
    if form == Form::Stateless
        && (headers.contains_key("mcp-name") || header(headers, "mcp-method") != Some("tools/list"))
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let ClientRequest::ListToolsRequest(list) = &request.request else {
        return None;
    };
    let meta = request.request.get_meta();
    let fits = match form {
        Form::Stateless => {
            meta.protocol_version() == Some(stateless.clone())
                && meta.missing_required_keys(&stateless).is_empty()
        }
        // A per-request version would have rmcp check it. A progress
        // token is read by neither (a list sends no progress); rmcp's
        // client puts one on every request.
        Form::Session => meta.protocol_version().is_none(),
    };
    if !fits {
        return None;
    }
    let cursor = list.params.as_ref().and_then(|p| p.cursor.clone());
    Some(Listing {
        id: request.id,
        cursor,
        form,
        session,
    })
}

/// The session a POST names, when rmcp would take it as a request in a
/// handshake-era session: one session id; no protocol version header
/// (rmcp then assumes 2025-03-26) or one naming a version it knows from
/// before 2026-07-28; a JSON body, and both answer types accepted.
/// Whether rmcp holds the session is for the caller to ask.
pub(in crate::serve) fn handshake_session(headers: &http::HeaderMap) -> Option<String> {
    let session = match one(headers, "mcp-session-id")? {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => return None,
    };
    let era_fits = match one(headers, "mcp-protocol-version") {
        None => true,
        Some(Some(v)) => ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|known| known.as_str() == v && known.has_initialize()),
        Some(None) => false,
    };
    (era_fits
        && accepts_both(headers)
        && header(headers, http::header::CONTENT_TYPE.as_str()).is_some_and(is_json))
    .then_some(session)
}

/// The value of header `name`: `None` when absent, `Some(None)` when it
/// is there more than once or is not text.
pub(in crate::serve) fn one<'h>(
    headers: &'h http::HeaderMap,
    name: &str,
) -> Option<Option<&'h str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    Some(if values.next().is_some() {
        None
    } else {
        first.to_str().ok()
    })
}

/// The first value of header `name`, if it is text.
fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a `Content-Type` is JSON.
pub(in crate::serve) fn is_json(content_type: &str) -> bool {
    content_type.split(';').next().map(str::trim) == Some("application/json")
}

/// Whether the request accepts both JSON and an event stream (rmcp
/// refuses it otherwise).
pub(in crate::serve) fn accepts_both(headers: &http::HeaderMap) -> bool {
    let types: Vec<&str> = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .collect();
    types.contains(&"application/json") && types.contains(&"text/event-stream")
}

/// The answer to `listing` (from [`cacheable_request`]) from the cached
/// bytes, or `None` to let rmcp answer: one JSON body when stateless, and
/// in a session one event with the message, the form rmcp answers a
/// session's request in (without its priming event: the answer is
/// whole, and an id rmcp's session does not know could not be resumed).
pub fn answer(gw: &Gateway, caller: &Caller, listing: Listing) -> Option<Response> {
    let result = result_bytes(gw, caller, listing.form, listing.cursor.as_deref())?;
    let id = serde_json::to_vec(&listing.id).ok()?;
    let mut out = Vec::with_capacity(result.len() + id.len() + 48);
    let (content_type, head, tail): (_, &[u8], &[u8]) = match listing.form {
        Form::Stateless => ("application/json", b"", b""),
        // Compact JSON has no line break: it is one `data:` line.
        Form::Session => ("text/event-stream", b"data: ", b"\n\n"),
    };
    out.extend_from_slice(head);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(&id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(&result);
    out.push(b'}');
    out.extend_from_slice(tail);
    let len = out.len();
    let mut response = Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, len);
    if listing.form == Form::Session {
        // The headers rmcp's event streams carry.
        response = response
            .header(http::header::CACHE_CONTROL, "no-cache")
            .header("x-accel-buffering", "no");
    }
    response.body(Body::from(out)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: Audience) -> Key {
        (a, Form::Stateless, None)
    }

    #[test]
    fn pages_are_kept_per_audience_form_and_catalog_version() {
        let lists = Lists::default();
        let v1 = Arc::new(Catalog::default());
        let a = key(Audience::Tenant("a".into()));
        let b = key(Audience::Tenant("b".into()));
        lists.put(&v1, a.clone(), Bytes::from_static(b"A"));
        lists.put(&v1, b.clone(), Bytes::from_static(b"B"));
        assert_eq!(lists.get(&v1, &a).as_deref(), Some(&b"A"[..]));
        assert_eq!(lists.get(&v1, &b).as_deref(), Some(&b"B"[..]));
        assert_eq!(lists.get(&v1, &key(Audience::Owner)), None);
        // Another cursor is another page, another form another list.
        let tenant_a = || Audience::Tenant("a".into());
        assert_eq!(
            lists.get(&v1, &(tenant_a(), Form::Stateless, Some("w1".into()))),
            None
        );
        assert_eq!(lists.get(&v1, &(tenant_a(), Form::Session, None)), None);
        // A new catalog version misses; the old one's pages are dropped
        // once nobody holds it.
        let v2 = Arc::new(Catalog::default());
        assert_eq!(lists.get(&v2, &a), None);
        drop(v1);
        lists.put(&v2, a.clone(), Bytes::from_static(b"A2"));
        assert_eq!(lists.catalogs(), 1);
        assert_eq!(lists.get(&v2, &a).as_deref(), Some(&b"A2"[..]));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for (n, v) in [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ]
        .iter()
        .chain(pairs)
        {
            headers.append(*n, http::HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn a_plain_stateless_tools_list_is_answered_here() {
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},
            "io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let era = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ];
        let found = cacheable_request(&headers(&era), body).expect("cacheable");
        assert_eq!(
            found,
            Listing {
                id: RequestId::Number(7),
                cursor: None,
                form: Form::Stateless,
                session: None
            }
        );
        // With a session id, another era, another method: rmcp's.
        let with = |extra: (&'static str, &'static str)| {
            cacheable_request(&headers(&[era[0], era[1], extra]), body)
        };
        assert_eq!(with(("mcp-session-id", "s")), None);
        assert_eq!(with(("mcp-protocol-version", "2025-11-25")), None);
        assert_eq!(with(("mcp-name", "x")), None);
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(cacheable_request(&headers(&era), call), None);
        // Without the era's metadata in the body.
        let bare = br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
        assert_eq!(cacheable_request(&headers(&era), bare), None);
    }

    #[test]
    fn a_sessions_tools_list_is_answered_here_in_every_handshake_era_version() {
        let body = br#"{"jsonrpc":"2.0","id":"q","method":"tools/list","params":{"cursor":"w1"}}"#;
        let session = ("mcp-session-id", "s-1");
        let want = Listing {
            id: RequestId::String("q".into()),
            cursor: Some("w1".into()),
            form: Form::Session,
            session: Some("s-1".into()),
        };
        // No version header (rmcp assumes 2025-03-26), and every version
        // with a handshake that rmcp knows.
        assert_eq!(
            cacheable_request(&headers(&[session]), body).as_ref(),
            Some(&want)
        );
        for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
            let h = headers(&[session, ("mcp-protocol-version", v)]);
            assert_eq!(cacheable_request(&h, body).as_ref(), Some(&want), "{v}");
        }
        // SEP-2243 headers are not read in this era, as rmcp reads none.
        let h = headers(&[session, ("mcp-method", "tools/call"), ("mcp-name", "x")]);
        assert_eq!(cacheable_request(&h, body).as_ref(), Some(&want));
        // rmcp's, not ours: a version it refuses or serves statelessly,
        // two versions, two session ids, an empty id.
        for h in [
            headers(&[session, ("mcp-protocol-version", "2026-07-28")]),
            headers(&[session, ("mcp-protocol-version", "2025-01-01")]),
            headers(&[session, ("mcp-protocol-version", "2025-11-25 ")]),
            headers(&[
                session,
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-protocol-version", "2025-06-18"),
            ]),
            headers(&[session, ("mcp-session-id", "s-2")]),
            headers(&[("mcp-session-id", "")]),
        ] {
            assert_eq!(cacheable_request(&h, body), None, "{h:?}");
        }
        // A progress token changes nothing (a list sends no progress).
        let token = br#"{"jsonrpc":"2.0","id":"q","method":"tools/list","params":{"cursor":"w1","_meta":{"progressToken":3}}}"#;
        assert_eq!(
            cacheable_request(&headers(&[session]), token).as_ref(),
            Some(&want)
        );
        // rmcp's: a per-request version, a batch, a notification,
        // another method.
        for other in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}}"#[..],
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
            br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"prompts/list"}"#,
        ] {
            let h = headers(&[session]);
            assert_eq!(
                cacheable_request(&h, other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        // Not what rmcp accepts: a body it would refuse as not JSON.
        let mut h = headers(&[session]);
        h.insert("content-type", http::HeaderValue::from_static("text/plain"));
        assert_eq!(cacheable_request(&h, body), None);
        let mut h = headers(&[session]);
        h.insert("accept", http::HeaderValue::from_static("application/json"));
        assert_eq!(cacheable_request(&h, body), None);
    }
}
