//! Prompts and completions for a [`Session`]: listing prompts, getting one
//! (input rounds driven for the agent), and completing a prompt's or a
//! resource template's argument. The `ServerHandler` in `handler.rs`
//! delegates here.

use rmcp::model::{
    CompleteRequestParams, CompleteResult, ErrorData, GetPromptRequestParams, GetPromptResponse,
    ListPromptsResult, PaginatedRequestParams, Reference, ResultType,
};
use rmcp::service::{RequestContext, RoleServer};

use super::handler::{
    connection, log_hidden, unknown_prompt, unknown_template, upstream_error, with_agent,
};
use crate::audit::{Audit, AuditRoute};
use crate::authz::{self, Resource};
use crate::router::input::{Driven, Round};
use crate::serve::Session;
use crate::serve::calls::call::Agent;

impl Session {
    pub(in crate::serve) async fn list_prompts_in(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let catalog = self.gw.hub.catalog_for(&caller);
        let (items, next) = self.visible_page(&caller, catalog.prompts(), params, |e| {
            let mut item = e.item.clone();
            item.name = e.exposed.clone();
            item
        })?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    pub(in crate::serve) async fn get_prompt_in(
        &self,
        params: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let gw = self.gw();
        let caller = self.caller(&ctx.extensions);
        let Some((server, inner)) = gw.hub.catalog_for(&caller).resolve_prompt(&params.name) else {
            return Err(unknown_prompt(&params.name));
        };
        let mut audit = Audit::begin(gw.hub.audit(), &caller, AuditRoute::PromptGet, &params.name)
            .args(params.arguments.as_ref());
        if !authz::allowed(&caller, &Resource::Server(&server)) {
            log_hidden(&caller, "prompt", &params.name);
            return Err(unknown_prompt(&params.name));
        }
        crate::serve::refusal::charge(&caller).await?;
        let conn = connection(gw, &caller, &server)?;
        let agent = Agent::of(&ctx, self.min_log());
        let mut upstream = params.clone();
        upstream.name = inner;
        let driven = with_agent(&agent, upstream, |params| {
            let conn = conn.clone();
            async move {
                Ok(match conn.service.get_prompt_once(params).await? {
                    GetPromptResponse::InputRequired(input) => Round::Input(input),
                    answer => Round::Done(answer),
                })
            }
        })
        .await
        .map_err(|e| upstream_error(&server, e))?;
        match driven {
            Driven::Done(GetPromptResponse::Complete(mut result)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                audit.ok();
                Ok(result.into())
            }
            Driven::InputRequired(input) => {
                audit.outcome("input-required");
                Ok(input.into())
            }
            #[allow(unreachable_patterns)]
            _ => Err(ErrorData::internal_error("unexpected answer", None)),
        }
    }

    pub(in crate::serve) async fn complete_in(
        &self,
        mut params: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let gw = self.gw();
        let mut audit = Audit::begin(
            gw.hub.audit(),
            &caller,
            AuditRoute::Completion,
            params
                .r#ref
                .as_prompt_name()
                .or(params.r#ref.as_resource_uri())
                .unwrap_or_default(),
        );
        let catalog = gw.hub.catalog_for(&caller);
        let server = match &mut params.r#ref {
            Reference::Prompt(p) => {
                let (server, inner) = catalog
                    .resolve_prompt(&p.name)
                    .ok_or_else(|| unknown_prompt(&p.name))?;
                if !authz::allowed(&caller, &Resource::Server(&server)) {
                    log_hidden(&caller, "prompt", &p.name);
                    return Err(unknown_prompt(&p.name));
                }
                p.name = inner;
                server
            }
            Reference::Resource(r) => {
                let entry = catalog
                    .templates()
                    .iter()
                    .find(|t| t.exposed == r.uri)
                    .ok_or_else(|| unknown_template(&r.uri))?;
                if !authz::allowed(&caller, &Resource::Server(&entry.server)) {
                    log_hidden(&caller, "resource template", &r.uri);
                    return Err(unknown_template(&r.uri));
                }
                r.uri = entry.item.uri_template.clone();
                entry.server.clone()
            }
            #[allow(unreachable_patterns)]
            _ => return Ok(CompleteResult::default()),
        };
        params.meta = None;
        crate::serve::refusal::charge(&caller).await?;
        let conn = connection(gw, &caller, &server)?;
        let mut result = conn
            .service
            .complete(params)
            .await
            .map_err(|e| upstream_error(&server, e))?;
        result.result_type.get_or_insert(ResultType::COMPLETE);
        audit.ok();
        Ok(result)
    }
}
