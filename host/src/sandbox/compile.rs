//! The slow half of readying a component: compiling it (or loading it
//! from the disk cache), linking its imports and checking its exports.
//! [`Compiler`] is shared behind an `Arc`, so that a run can hand this
//! work to a blocking thread ([`off_worker`]): compiling an interpreter
//! takes seconds, and a runtime worker held that long stalls every
//! connection and call it serves.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};

use super::bindings::PolicyPre;
use super::bindings::v2::AdapterPre;
use super::host::RunState;
use super::{Origin, RunError, Wasm, cache, fncache, world};

/// What compiling and linking need; nothing in it changes after start-up.
pub(super) struct Compiler {
    pub engine: Engine,
    pub linker: Linker<RunState>,
    pub disk: cache::ComponentCache,
    /// Compiled functions on disk, when there is a cache directory.
    pub functions: Option<Arc<fncache::FunctionCache>>,
}

impl Compiler {
    /// A policy component, compiled or loaded and checked against the
    /// policy world. Blocking.
    pub fn policy(&self, wasm: &Wasm) -> Result<(PolicyPre<RunState>, Origin), RunError> {
        let (pre, component, origin) = self.linked(wasm)?;
        let pre = PolicyPre::new(pre)
            .map_err(|e| RunError::Load(world::explain_exports(&self.engine, &component, &e)))?;
        Ok((pre, origin))
    }

    /// An adapter component, as [`Compiler::policy`] readies a policy.
    /// Blocking.
    pub fn adapter(&self, wasm: &Wasm) -> Result<AdapterPre<RunState>, RunError> {
        let (pre, component, _) = self.linked(wasm)?;
        AdapterPre::new(pre).map_err(|e| {
            RunError::Load(world::explain_adapter_exports(&self.engine, &component, &e))
        })
    }

    /// Compiles (or loads) a component and links its imports. Blocking.
    fn linked(
        &self,
        component: &Wasm,
    ) -> Result<(InstancePre<RunState>, Component, Origin), RunError> {
        #[cfg(test)]
        tests::LINKED_HERE.with(|n| n.set(n.get() + 1));
        let (bytes, digest) = (component.bytes(), component.digest);
        if !bytes.starts_with(b"\0asm") {
            return Err(RunError::Load(
                "not a WebAssembly file (no \\0asm header)".into(),
            ));
        }
        let started = Instant::now();
        let before = self.functions.as_ref().map(|f| f.counts());
        let (component, origin) = self
            .disk
            .load(&self.engine, bytes, &digest)
            .map_err(|e| RunError::Load(e.to_string()))?;
        if origin == Origin::Compiled {
            let (hits, misses) = match (&self.functions, before) {
                (Some(f), Some((h0, m0))) => {
                    let (h, m) = f.counts();
                    (h.saturating_sub(h0), m.saturating_sub(m0))
                }
                _ => (0, 0),
            };
            tracing::info!(
                took = ?started.elapsed(),
                functions_cached = hits,
                functions_compiled = misses,
                "compiled a component"
            );
        }
        // wasmtime decides what fits; `world` only explains a refusal.
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RunError::Load(world::explain_imports(&self.engine, &component, &e)))?;
        Ok((pre, component, origin))
    }
}

/// Runs `work` (a compile) on a blocking thread and waits for it without
/// holding the calling worker.
pub(super) async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RunError> + Send + 'static,
) -> Result<T, RunError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RunError::Load(format!("the compile was stopped: {e}")))?
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;

    use crate::sandbox::{RunCtx, RunError, Sandbox, Wasm};
    use crate::{Caller, Config, Grants, Hub, Limits};

    thread_local! {
        /// How many components this thread has compiled (or tried to).
        pub(super) static LINKED_HERE: Cell<u32> = const { Cell::new(0) };
    }

    /// A run whose component is not compiled yet compiles it on another
    /// thread: on a current-thread runtime, the compile on the runtime's
    /// own thread would stall everything else it runs. (The bytes are a
    /// core module, which wasmtime refuses as a component, so the try is
    /// quick; it is the same path a real compile takes.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_run_compiles_off_the_runtime_thread() {
        let sandbox = Sandbox::with_cache_dir(None).expect("sandbox");
        let hub = Hub::start(Config::default()).await;
        let ctx = Arc::new(RunCtx::new(
            Arc::new(hub),
            Grants::default(),
            Caller::owner(),
            1,
            None,
        ));
        let module = Wasm::new(b"\0asm\x01\0\0\0".to_vec());
        let before = LINKED_HERE.with(Cell::get);
        let outcome = sandbox.run(&module, "{}", &Limits::default(), ctx).await;
        assert!(
            matches!(&outcome.result, Err(RunError::Load(_))),
            "{:?}",
            outcome.result.err()
        );
        assert_eq!(
            LINKED_HERE.with(Cell::get),
            before,
            "compiled on the runtime thread"
        );
        // The counter does see a compile on this thread: `prepare` is the
        // blocking call, made here.
        assert!(sandbox.prepare(&module).is_err());
        assert_eq!(LINKED_HERE.with(Cell::get), before + 1);
    }
}
