//! The tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28),
//! passed through (weft's own tasks, long policy and code runs, are in
//! `calls/run_tasks.rs` and answered first): weft offers it when an upstream does, remembers which
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
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::handler::upstream_error;
use crate::authz::{self, Resource};
use crate::serve::Gateway;
use crate::tenant::Caller;

/// How many tasks weft remembers in all.
const MAX_TASKS: usize = 10_000;

/// How many tasks one tenant's calls may have remembered at a time: past
/// it, that tenant's own oldest task is forgotten, never another's.
const MAX_PER_TENANT: usize = 1_000;

/// A tenant's name (`None` without tenants).
type Owner = Option<String>;

/// A task: its owner, the server instance that made it (its key,
/// `name[tenant]` for a per-tenant one) and the id that instance gave it.
/// Two instances may hand out the same id; neither overwrites the other.
type TaskKey = (Owner, String, String);

/// Which server instance made each task, for whom; forgets the oldest
/// first (see [`Book::evict`]).
#[derive(Default)]
pub(in crate::serve) struct TaskBook {
    inner: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    /// Every task, with the sequence number of when it was remembered.
    tasks: HashMap<TaskKey, u64>,
    /// The same, by sequence number (oldest first).
    by_age: BTreeMap<u64, TaskKey>,
    /// Each owner's tasks' sequence numbers.
    per_owner: HashMap<Owner, BTreeSet<u64>>,
    next: u64,
}

impl Book {
    fn forget(&mut self, seq: u64) {
        let Some(key) = self.by_age.remove(&seq) else {
            return;
        };
        self.tasks.remove(&key);
        if let Some(set) = self.per_owner.get_mut(&key.0) {
            set.remove(&seq);
            if set.is_empty() {
                self.per_owner.remove(&key.0);
            }
        }
    }

    /// Forgets the oldest tasks of whoever is over a cap: an owner over
    /// [`MAX_PER_TENANT`] loses its own oldest; over [`MAX_TASKS`] in all,
    /// the owner holding the most loses its oldest. A tenant with fewer
    /// tasks than another never loses one to it.
    fn evict(&mut self, owner: &Owner) {
        while self.per_owner.get(owner).map_or(0, BTreeSet::len) > MAX_PER_TENANT {
            let Some(&oldest) = self.per_owner.get(owner).and_then(|s| s.first()) else {
                break;
            };
            self.forget(oldest);
        }
        while self.tasks.len() > MAX_TASKS {
            let Some(oldest) = self
                .per_owner
                .values()
                .max_by_key(|s| (s.len(), std::cmp::Reverse(s.first().copied())))
                .and_then(|s| s.first().copied())
            else {
                break;
            };
            self.forget(oldest);
        }
    }
}

fn owner(caller: &Caller) -> Owner {
    caller.tenant.as_ref().map(|t| t.name.clone())
}

impl TaskBook {
    fn lock(&self) -> parking_lot::MutexGuard<'_, Book> {
        self.inner.lock()
    }

    /// Records that `instance` made task `id` for `caller`.
    pub(in crate::serve) fn remember(&self, caller: &Caller, id: &str, instance: &str) {
        let owner = owner(caller);
        let key = (owner.clone(), instance.to_string(), id.to_string());
        let mut book = self.lock();
        if let Some(&old) = book.tasks.get(&key) {
            book.forget(old);
        }
        let seq = book.next;
        book.next += 1;
        book.tasks.insert(key.clone(), seq);
        book.by_age.insert(seq, key);
        book.per_owner.entry(owner.clone()).or_default().insert(seq);
        book.evict(&owner);
    }

    /// The instances that made a task `id` for `caller`, newest first
    /// (more than one only when two instances gave the caller's calls the
    /// same id).
    pub(in crate::serve) fn find(&self, caller: &Caller, id: &str) -> Vec<String> {
        let owner = owner(caller);
        let book = self.lock();
        let Some(seqs) = book.per_owner.get(&owner) else {
            return Vec::new();
        };
        // Sequence numbers ascend with age: newest first is reversed.
        seqs.iter()
            .rev()
            .filter_map(|seq| book.by_age.get(seq))
            .filter(|(o, _, i)| {
                i == id
                    && authz::allowed(
                        caller,
                        &Resource::Task {
                            owner: o.as_deref(),
                        },
                    )
            })
            .map(|(_, instance, _)| instance.clone())
            .collect()
    }
}

impl Gateway {
    /// Whether any connected upstream offers the tasks extension.
    pub(in crate::serve) fn upstreams_offer_tasks(&self) -> bool {
        self.hub.upstreams().iter().any(|u| {
            u.connection()
                .and_then(|c| c.service.peer_info())
                .is_some_and(|i| i.capabilities.supports_tasks())
        })
    }

    /// Sends a task request to the server that made the caller's task.
    /// When two instances gave the caller's calls the same id, the newest
    /// is asked first and the next only if it does not know the task.
    async fn task_request(
        &self,
        caller: &Caller,
        task_id: &str,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let unknown = || {
            let shown: String = task_id.chars().take(64).collect();
            ErrorData::invalid_params(format!("unknown task {shown:?}"), None)
        };
        let mut last = None;
        for instance in self.tasks.find(caller, task_id) {
            // Remembered by instance key; a server the caller no longer
            // reaches (its view changed) is not asked.
            let Some(up) = self
                .hub
                .upstreams()
                .iter()
                .find(|u| u.key() == instance)
                .filter(|u| authz::allowed(caller, &Resource::Server(u.name())))
                .cloned()
            else {
                continue;
            };
            let Some(conn) = up.connection() else {
                last = Some(ErrorData::internal_error(
                    format!("server {:?} is not available", up.name()),
                    None,
                ));
                continue;
            };
            let mut meta = RequestMetaObject::default();
            if let Some(caps) = ctx.client_capabilities() {
                meta.set_client_capabilities(caps);
            }
            let mut options = PeerRequestOptions::no_options();
            options.meta = Some(meta);
            let answer = match conn
                .service
                .peer()
                .send_cancellable_request(request.clone(), options)
                .await
            {
                Ok(handle) => handle.await_response().await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(upstream_error(up.name(), e)),
            }
        }
        Err(last.unwrap_or_else(unknown))
    }

    pub(in crate::serve) async fn get_task(
        &self,
        caller: &Caller,
        params: GetTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let id = params.task_id.clone();
        // weft's own tasks (long policy and code runs) first.
        if let Some(task) = self.get_run_task(caller, &id).await {
            return Ok(task);
        }
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

    pub(in crate::serve) async fn update_task(
        &self,
        caller: &Caller,
        params: UpdateTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = params.task_id.clone();
        // weft's own tasks (long policy and code runs) first.
        if let Some(done) = self.update_run_task(caller, &id, params.input_responses.clone()) {
            return done;
        }
        self.task_request(
            caller,
            &id,
            ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(params)),
            ctx,
        )
        .await
        .map(|_| ())
    }

    pub(in crate::serve) async fn cancel_task(
        &self,
        caller: &Caller,
        params: CancelTaskParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = params.task_id.clone();
        if let Some(()) = self.cancel_run_task(caller, &id).await {
            return Ok(());
        }
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
        assert_eq!(book.find(&a, "t-1"), ["srv[a]"]);
        assert!(book.find(&b, "t-1").is_empty(), "b names a's task id");
        assert!(book.find(&Caller::owner(), "t-1").is_empty());
        // The same id from two per-tenant instances: each tenant keeps its own.
        book.remember(&b, "t-1", "srv[b]");
        assert_eq!(book.find(&a, "t-1"), ["srv[a]"]);
        assert_eq!(book.find(&b, "t-1"), ["srv[b]"]);
    }

    #[test]
    fn two_instances_giving_one_tenant_the_same_id_both_stay() {
        let book = TaskBook::default();
        let a = tenant("a");
        book.remember(&a, "task-1", "shared");
        book.remember(&a, "task-1", "vault[a]");
        assert_eq!(book.find(&a, "task-1"), ["vault[a]", "shared"]);
        // Remembered again, the older becomes the newest.
        book.remember(&a, "task-1", "shared");
        assert_eq!(book.find(&a, "task-1"), ["shared", "vault[a]"]);
        assert_eq!(book.lock().tasks.len(), 2);
    }

    #[test]
    fn a_tenant_over_its_cap_forgets_its_own_oldest_first() {
        let book = TaskBook::default();
        let (a, b) = (tenant("a"), tenant("b"));
        book.remember(&b, "b-first", "srv");
        for i in 0..=MAX_PER_TENANT {
            book.remember(&a, &format!("a-{i}"), "srv");
        }
        assert!(book.find(&a, "a-0").is_empty(), "a's oldest went");
        assert_eq!(book.find(&a, "a-1"), ["srv"]);
        assert_eq!(
            book.find(&a, &format!("a-{MAX_PER_TENANT}")),
            ["srv"],
            "the newest stays"
        );
        assert_eq!(book.find(&b, "b-first"), ["srv"], "b's older task stays");
    }

    #[test]
    fn a_full_book_forgets_the_oldest_of_whoever_holds_the_most() {
        let book = TaskBook::default();
        let tenants: Vec<Caller> = (0..=MAX_TASKS / MAX_PER_TENANT)
            .map(|i| tenant(&format!("t{i}")))
            .collect();
        // A quiet tenant's one task, the oldest of all.
        let quiet = tenant("quiet");
        book.remember(&quiet, "q", "srv");
        // Then every other tenant to its cap, which overfills the book.
        for t in &tenants {
            for i in 0..MAX_PER_TENANT {
                book.remember(t, &format!("x-{i}"), "srv");
            }
        }
        let book_len = book.lock().tasks.len();
        assert_eq!(book_len, MAX_TASKS);
        assert_eq!(
            book.find(&quiet, "q"),
            ["srv"],
            "the quiet tenant's task stays"
        );
        // Those that held the most lost their own oldest, not newest.
        assert!(book.find(&tenants[0], "x-0").is_empty());
        assert_eq!(
            book.find(&tenants[0], &format!("x-{}", MAX_PER_TENANT - 1)),
            ["srv"]
        );
    }
}
