//! The tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28),
//! passed through: weft offers it when an upstream does, remembers which
//! server instance made each task and for which tenant, and routes
//! `tasks/get`, `tasks/update` and `tasks/cancel` there with the agent's
//! own capabilities. A task belongs to the tenant whose call made it:
//! another tenant naming its id gets the answer an id that never existed
//! gets.

use rmcp::model::{
    CancelTaskParams, CancelTaskRequest, ClientRequest, ErrorData, GetTaskParams, GetTaskRequest,
    GetTaskResult, RequestMetaObject, ServerResult, UpdateTaskParams, UpdateTaskRequest,
};
use rmcp::service::{PeerRequestOptions, RequestContext, RoleServer};

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

use super::Gateway;
use super::handler::upstream_error;
use crate::authz::{self, Resource};
use crate::tenant::Caller;

/// How many tasks weft remembers (oldest forgotten first).
const MAX_TASKS: usize = 10_000;

/// A task's owner and id: the tenant's name (`None` without tenants) and
/// the id the upstream gave it.
type TaskKey = (Option<String>, String);

/// Which server instance made each task, by owner and id.
#[derive(Default)]
pub(super) struct TaskBook {
    inner: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    instances: HashMap<TaskKey, String>,
    /// Insertion order, for forgetting the oldest first.
    order: VecDeque<TaskKey>,
}

fn owner(caller: &Caller) -> Option<String> {
    caller.tenant.as_ref().map(|t| t.name.clone())
}

impl TaskBook {
    fn lock(&self) -> parking_lot::MutexGuard<'_, Book> {
        self.inner.lock()
    }

    /// Records that `instance` made task `id` for `caller`.
    pub(super) fn remember(&self, caller: &Caller, id: &str, instance: &str) {
        let key = (owner(caller), id.to_string());
        let mut book = self.lock();
        if book
            .instances
            .insert(key.clone(), instance.to_string())
            .is_none()
        {
            book.order.push_back(key);
        }
        while book.instances.len() > MAX_TASKS {
            let Some(old) = book.order.pop_front() else {
                break;
            };
            book.instances.remove(&old);
        }
    }

    /// The instance that made `caller`'s task `id`.
    pub(super) fn find(&self, caller: &Caller, id: &str) -> Option<String> {
        let key = (owner(caller), id.to_string());
        let book = self.lock();
        let instance = book.instances.get(&key)?;
        let task = Resource::Task {
            owner: key.0.as_deref(),
        };
        authz::allowed(caller, &task).then(|| instance.clone())
    }
}

impl Gateway {
    /// Whether any connected upstream offers the tasks extension.
    pub(super) fn upstreams_offer_tasks(&self) -> bool {
        self.hub.upstreams().iter().any(|u| {
            u.connection()
                .and_then(|c| c.service.peer_info())
                .is_some_and(|i| i.capabilities.supports_tasks())
        })
    }

    /// Sends a task request to the server that made the caller's task.
    async fn task_request(
        &self,
        caller: &Caller,
        task_id: &str,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let server = self.tasks.find(caller, task_id).ok_or_else(|| {
            let shown: String = task_id.chars().take(64).collect();
            ErrorData::invalid_params(format!("unknown task {shown:?}"), None)
        })?;
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
        caller: &Caller,
        params: GetTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let id = params.task_id.clone();
        match self
            .task_request(
                caller,
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
        caller: &Caller,
        params: UpdateTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = params.task_id.clone();
        self.task_request(
            caller,
            &id,
            ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(params)),
            ctx,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn cancel_task(
        &self,
        caller: &Caller,
        params: CancelTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = params.task_id.clone();
        self.task_request(
            caller,
            &id,
            ClientRequest::CancelTaskRequest(CancelTaskRequest::new(params)),
            ctx,
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tenant(name: &str) -> Caller {
        let config = crate::config::TenantConfig::named(name);
        Caller {
            tenant: Some(Arc::new(crate::tenant::Tenant::new(&config))),
            ..Caller::default()
        }
    }

    #[test]
    fn a_task_is_found_only_by_its_own_tenant() {
        let book = TaskBook::default();
        let (a, b) = (tenant("a"), tenant("b"));
        book.remember(&a, "t-1", "srv[a]");
        assert_eq!(book.find(&a, "t-1").as_deref(), Some("srv[a]"));
        assert_eq!(book.find(&b, "t-1"), None, "b names a's task id");
        assert_eq!(book.find(&Caller::owner(), "t-1"), None);
        // The same id from two instances: each tenant keeps its own.
        book.remember(&b, "t-1", "srv[b]");
        assert_eq!(book.find(&a, "t-1").as_deref(), Some("srv[a]"));
        assert_eq!(book.find(&b, "t-1").as_deref(), Some("srv[b]"));
    }

    #[test]
    fn the_oldest_tasks_are_forgotten_first() {
        let book = TaskBook::default();
        let (a, b) = (tenant("a"), tenant("b"));
        book.remember(&b, "b-first", "srv");
        for i in 0..MAX_TASKS {
            book.remember(&a, &format!("a-{i}"), "srv");
        }
        assert_eq!(book.find(&b, "b-first"), None, "the oldest went");
        assert_eq!(book.find(&a, "a-0").as_deref(), Some("srv"));
        assert_eq!(book.lock().instances.len(), MAX_TASKS);
    }
}
