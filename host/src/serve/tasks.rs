//! The tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28),
//! passed through: weft offers it when an upstream does, remembers which
//! server made each task, and routes `tasks/get`, `tasks/update` and
//! `tasks/cancel` there with the agent's own capabilities.

use rmcp::model::{
    CancelTaskParams, CancelTaskRequest, ClientRequest, ErrorData, GetTaskParams, GetTaskRequest,
    GetTaskResult, RequestMetaObject, ServerResult, UpdateTaskParams, UpdateTaskRequest,
};
use rmcp::service::{PeerRequestOptions, RequestContext, RoleServer};

use super::Gateway;
use super::handler::upstream_error;

/// How many task ids weft remembers (oldest forgotten first).
const MAX_TASKS: usize = 10_000;

impl Gateway {
    /// Whether any connected upstream offers the tasks extension.
    pub(super) fn upstreams_offer_tasks(&self) -> bool {
        self.hub.upstreams().iter().any(|u| {
            u.connection()
                .and_then(|c| c.service.peer_info())
                .is_some_and(|i| i.capabilities.supports_tasks())
        })
    }

    pub(super) fn remember_task(&self, task_id: &str, server: &str) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if tasks.len() >= MAX_TASKS {
            tasks.clear();
        }
        tasks.insert(task_id.to_string(), server.to_string());
    }

    /// Sends a task request to the server that made the task.
    async fn task_request(
        &self,
        task_id: &str,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let server = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(task_id)
            .cloned()
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown task {task_id:?}"), None))?;
        // Remembered by instance key (`name[tenant]` for per-tenant ones).
        let conn = self
            .hub
            .upstreams()
            .iter()
            .find(|u| u.key() == server)
            .and_then(|u| u.connection())
            .ok_or_else(|| {
                ErrorData::internal_error(format!("server {server:?} is not available"), None)
            })?;
        let mut meta = RequestMetaObject::default();
        if let Some(caps) = ctx.client_capabilities() {
            meta.set_client_capabilities(caps);
        }
        let mut options = PeerRequestOptions::no_options();
        options.meta = Some(meta);
        let handle = conn
            .service
            .peer()
            .send_cancellable_request(request, options)
            .await
            .map_err(|e| upstream_error(&server, e))?;
        handle
            .await_response()
            .await
            .map_err(|e| upstream_error(&server, e))
    }

    pub(super) async fn get_task(
        &self,
        params: GetTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let id = params.task_id.clone();
        match self
            .task_request(
                &id,
                ClientRequest::GetTaskRequest(GetTaskRequest::new(params)),
                ctx,
            )
            .await?
        {
            ServerResult::GetTaskResult(r) => Ok(r),
            _ => Err(ErrorData::internal_error(
                "unexpected answer to tasks/get",
                None,
            )),
        }
    }

    pub(super) async fn update_task(
        &self,
        params: UpdateTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = params.task_id.clone();
        self.task_request(
            &id,
            ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(params)),
            ctx,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn cancel_task(
        &self,
        params: CancelTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = params.task_id.clone();
        self.task_request(
            &id,
            ClientRequest::CancelTaskRequest(CancelTaskRequest::new(params)),
            ctx,
        )
        .await
        .map(|_| ())
    }
}
