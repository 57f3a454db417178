//! Resources for a [`Session`]: listing resources and templates, reading
//! one (cached by server instance and tenant, input rounds driven for the
//! agent), and subscribing to updates. The `ServerHandler` in `handler.rs`
//! delegates here.

use rmcp::model::{
    CacheScope, ErrorData, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResultType, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::Value;

use super::handler::{connection, hidden_resource, unknown_resource, upstream_error, with_agent};
use crate::audit::{Audit, AuditRoute};
use crate::authz::{self, Resource};
use crate::cache::{Cached, Key as CacheKey, Scope};
use crate::router::input::{Driven, Round};
use crate::serve::calls::call::Agent;
use crate::serve::{Gateway, Session};

impl Session {
    pub(in crate::serve) async fn list_resources_in(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let catalog = self.gw.hub.catalog_for(&caller);
        let (items, next) = self.visible_page(&caller, catalog.resources(), params, |e| {
            let mut item = e.item.clone();
            item.uri = e.exposed.clone();
            item
        })?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    pub(in crate::serve) async fn list_resource_templates_in(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let catalog = self.gw.hub.catalog_for(&caller);
        let (items, next) = self.visible_page(&caller, catalog.templates(), params, |e| {
            let mut item = e.item.clone();
            item.uri_template = e.exposed.clone();
            item
        })?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    pub(in crate::serve) async fn read_resource_in(
        &self,
        params: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let gw = self.gw();
        let caller = self.caller(&ctx.extensions);
        let mut audit = Audit::begin(
            gw.hub.audit(),
            &caller,
            AuditRoute::ResourceRead,
            &params.uri,
        );
        let Some((server, inner)) = gw.hub.catalog_for(&caller).resolve_uri(&params.uri) else {
            return Err(unknown_resource(&params.uri));
        };
        if !authz::allowed(&caller, &Resource::Server(&server)) {
            return Err(hidden_resource(&caller, &params.uri));
        }
        crate::serve::refusal::charge(&caller).await?;
        let tenant = caller.tenant_name();
        // Cached by instance: a per-tenant server's processes differ.
        let instance = gw
            .hub
            .upstream_for(&server, &caller)
            .map_or_else(|| server.to_string(), |u| u.key().to_string());
        let fresh = params.input_responses.is_none() && params.request_state.is_none();
        if fresh && let Some(hit) = cached_read(gw, tenant, &instance, &inner) {
            audit.ok();
            return Ok(expose_contents(gw, &server, private(hit)).into());
        }
        let conn = connection(gw, &caller, &server)?;
        let agent = Agent::of(&ctx, self.min_log());
        let mut upstream = params.clone();
        upstream.uri = inner.clone();
        let driven = with_agent(&agent, upstream, |params| {
            let conn = conn.clone();
            async move {
                Ok(match conn.service.read_resource_once(params).await? {
                    ReadResourceResponse::InputRequired(input) => Round::Input(input),
                    answer => Round::Done(answer),
                })
            }
        })
        .await
        .map_err(|e| upstream_error(&server, e))?;
        match driven {
            Driven::Done(ReadResourceResponse::Complete(mut result)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                cache_read(gw, tenant, &server, &instance, &inner, &result);
                audit.ok();
                Ok(expose_contents(gw, &server, private(result)).into())
            }
            Driven::InputRequired(input) => {
                audit.outcome("input-required");
                Ok(input.into())
            }
            #[allow(unreachable_patterns)]
            _ => Err(ErrorData::internal_error("unexpected answer", None)),
        }
    }

    #[allow(deprecated)]
    pub(in crate::serve) async fn subscribe_in(
        &self,
        params: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let mut audit = Audit::begin(
            self.gw.hub.audit(),
            &caller,
            AuditRoute::Subscribe,
            &params.uri,
        );
        match self.gw.hub.catalog_for(&caller).resolve_uri(&params.uri) {
            Some((server, _)) if !authz::allowed(&caller, &Resource::Server(&server)) => {
                return Err(hidden_resource(&caller, &params.uri));
            }
            _ => {}
        }
        let fresh = self.subscriptions.lock().insert(params.uri.clone());
        if fresh && let Err(e) = self.gw.acquire(&caller, &params.uri).await {
            self.subscriptions.lock().remove(&params.uri);
            return Err(e);
        }
        audit.ok();
        Ok(())
    }

    #[allow(deprecated)]
    pub(in crate::serve) async fn unsubscribe_in(
        &self,
        params: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let was = self.subscriptions.lock().remove(&params.uri);
        if was {
            self.gw.release(&caller, &params.uri).await?;
        }
        Ok(())
    }
}

/// The read as weft answers it: `cacheScope: "private"` where the server
/// said `public`, its `ttlMs` kept. What weft answers is the caller's:
/// filtered by its tenant's view, read from its tenant's instance, and
/// behind weft's own authentication, which a shared cache in front of weft
/// would skip. (A result with no hint gets `private` from rmcp for a
/// 2026-07-28 client, and none for an older one.)
fn private(mut result: ReadResourceResult) -> ReadResourceResult {
    if result.cache_scope.is_some() {
        result.cache_scope = Some(CacheScope::Private);
    }
    result
}

/// Rewrites the `uri` of every content item to the name the agent sees.
fn expose_contents<T: serde::Serialize + serde::de::DeserializeOwned>(
    gw: &Gateway,
    server: &str,
    value: T,
) -> T {
    let catalog = gw.hub.catalog();
    let Ok(mut v) = serde_json::to_value(&value) else {
        return value;
    };
    if let Some(items) = v.get_mut("contents").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(uri) = item.get("uri").and_then(Value::as_str) {
                let exposed = catalog.expose_uri(server, uri);
                item["uri"] = Value::String(exposed);
            }
        }
    }
    serde_json::from_value(v).unwrap_or(value)
}

/// A fresh cached read of `uri` on `server`: shared, or this tenant's
/// (`""` without tenants).
fn cached_read(
    gw: &Gateway,
    tenant: &str,
    server: &str,
    uri: &str,
) -> Option<rmcp::model::ReadResourceResult> {
    let keys = [Scope::Public, Scope::Private(tenant.into())]
        .map(|scope| CacheKey::resource(server, uri, scope));
    match gw.hub.cache().lookup(&keys) {
        Some(Cached::Resource(r)) => Some(r),
        _ => None,
    }
}

/// Keeps a read for as long as the server allows (`ttlMs`), else for the
/// server's configured `cache.ttl`; a private result only for its tenant.
fn cache_read(
    gw: &Gateway,
    tenant: &str,
    server: &str,
    instance: &str,
    uri: &str,
    result: &rmcp::model::ReadResourceResult,
) {
    let configured = gw
        .hub
        .upstream(server)
        .and_then(|u| u.config.resilience.cache.ttl);
    let ttl = match result.ttl_ms {
        Some(ms) => Some(std::time::Duration::from_millis(ms)),
        None => configured,
    };
    let Some(ttl) = ttl else { return };
    let scope = match result.cache_scope {
        Some(CacheScope::Private) => Scope::Private(tenant.into()),
        _ => Scope::Public,
    };
    gw.hub.cache().put(
        CacheKey::resource(instance, uri, scope),
        Cached::Resource(result.clone()),
        ttl,
    );
}
