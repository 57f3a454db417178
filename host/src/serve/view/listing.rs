//! `tools/list` served as bytes: each catalog version's tool list is
//! serialised once per audience and page, and a stateless (2026-07-28)
//! `tools/list` over HTTP is answered from those bytes without passing
//! through rmcp's service.
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
//! Only a request that rmcp would serve statelessly, and that is
//! unmistakably well formed, takes this path ([`cacheable_request`]);
//! anything else goes on to rmcp, which answers as it always has.

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

/// The serialised `tools/list` results of the catalogs in use.
#[derive(Default)]
pub struct Lists {
    slots: Mutex<Vec<Slot>>,
}

/// One catalog's pages, by audience and cursor.
struct Slot {
    catalog: Arc<Catalog>,
    pages: HashMap<(Audience, Option<String>), Bytes>,
}

impl Lists {
    fn get(&self, catalog: &Arc<Catalog>, key: &(Audience, Option<String>)) -> Option<Bytes> {
        let slots = self.slots.lock();
        slots
            .iter()
            .find(|s| Arc::ptr_eq(&s.catalog, catalog))
            .and_then(|s| s.pages.get(key).cloned())
    }

    /// Keeps `bytes` for `catalog`, and forgets the catalogs nobody else
    /// holds any more (replaced by a newer version).
    fn put(&self, catalog: &Arc<Catalog>, key: (Audience, Option<String>), bytes: Bytes) {
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

/// The serialised result of `tools/list` at `cursor` for `caller`: from
/// the cache when it is there, else built (and kept, when the caller's
/// list may be). `None` when the cursor is refused (rmcp then answers
/// with the error).
fn result_bytes(gw: &Gateway, caller: &Caller, cursor: Option<&str>) -> Option<Bytes> {
    let catalog = gw.hub.catalog_for(caller);
    let key = audience(gw, caller).map(|a| (a, cursor.map(str::to_string)));
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
    result.fill_missing_cache_hints();
    let bytes = Bytes::from(serde_json::to_vec(&result).ok()?);
    if let Some(key) = key {
        gw.lists.put(&catalog, key, bytes.clone());
    }
    Some(bytes)
}

/// The id of a stateless `tools/list` request rmcp would serve as one JSON
/// answer, and its cursor; `None` for anything else (a session's request,
/// other methods, missing or contradicting protocol headers or metadata).
pub fn cacheable_request(
    headers: &http::HeaderMap,
    body: &[u8],
) -> Option<(RequestId, Option<String>)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let version = ProtocolVersion::V_2026_07_28;
    if headers.contains_key("mcp-session-id")
        || headers.contains_key("mcp-name")
        || header("mcp-protocol-version") != Some(version.as_str())
        || header("mcp-method") != Some("tools/list")
        || !accepts_both(headers)
        || !header(http::header::CONTENT_TYPE.as_str()).is_some_and(is_json)
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
    if meta.protocol_version() != Some(version.clone())
        || !meta.missing_required_keys(&version).is_empty()
    {
        return None;
    }
    let cursor = list.params.as_ref().and_then(|p| p.cursor.clone());
    Some((request.id, cursor))
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

/// The answer to a stateless `tools/list` from the cached bytes, or `None`
/// to let rmcp answer.
pub fn answer(
    gw: &Gateway,
    caller: &Caller,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let (id, cursor) = cacheable_request(headers, body)?;
    let result = result_bytes(gw, caller, cursor.as_deref())?;
    let id = serde_json::to_vec(&id).ok()?;
    let mut out = Vec::with_capacity(result.len() + id.len() + 40);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(&id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(&result);
    out.push(b'}');
    let len = out.len();
    Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, len)
        .body(Body::from(out))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: Audience) -> (Audience, Option<String>) {
        (a, None)
    }

    #[test]
    fn pages_are_kept_per_audience_and_per_catalog_version() {
        let lists = Lists::default();
        let v1 = Arc::new(Catalog::default());
        let a = key(Audience::Tenant("a".into()));
        let b = key(Audience::Tenant("b".into()));
        lists.put(&v1, a.clone(), Bytes::from_static(b"A"));
        lists.put(&v1, b.clone(), Bytes::from_static(b"B"));
        assert_eq!(lists.get(&v1, &a).as_deref(), Some(&b"A"[..]));
        assert_eq!(lists.get(&v1, &b).as_deref(), Some(&b"B"[..]));
        assert_eq!(lists.get(&v1, &key(Audience::Owner)), None);
        // Another cursor is another page.
        assert_eq!(
            lists.get(&v1, &(Audience::Tenant("a".into()), Some("w1".into()))),
            None
        );
        // A new catalog version misses; the old one's pages are dropped
        // once nobody holds it.
        let v2 = Arc::new(Catalog::default());
        assert_eq!(lists.get(&v2, &a), None);
        drop(v1);
        lists.put(&v2, a.clone(), Bytes::from_static(b"A2"));
        assert_eq!(lists.catalogs(), 1);
        assert_eq!(lists.get(&v2, &a).as_deref(), Some(&b"A2"[..]));
    }

    #[test]
    fn only_a_plain_stateless_tools_list_is_answered_here() {
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},
            "io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let mut headers = http::HeaderMap::new();
        for (n, v) in [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ] {
            headers.insert(n, http::HeaderValue::from_static(v));
        }
        let (id, cursor) = cacheable_request(&headers, body).expect("cacheable");
        assert_eq!((id, cursor), (RequestId::Number(7), None));
        // A session's request, another era, another method: rmcp's.
        let mut session = headers.clone();
        session.insert("mcp-session-id", http::HeaderValue::from_static("s"));
        assert!(cacheable_request(&session, body).is_none());
        let mut old = headers.clone();
        old.insert(
            "mcp-protocol-version",
            http::HeaderValue::from_static("2025-11-25"),
        );
        assert!(cacheable_request(&old, body).is_none());
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#;
        assert!(cacheable_request(&headers, call).is_none());
        // Without the era's metadata in the body.
        let bare = br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
        assert!(cacheable_request(&headers, bare).is_none());
    }
}
