//! The one wasmtime `Engine`: pooling allocator, copy-on-write memory
//! images, fuel and epoch interruption, with a ticker thread that ticks
//! while a guest runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::fncache::FunctionCache;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; the wall-time limit is checked this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The largest linear memory any policy may have. Each pool slot reserves
/// this much address space (not memory), so it is sized deliberately rather
/// than left at wasmtime's 4 GiB default.
pub const MAX_MEMORY: u64 = crate::config::policy::MAX_MEMORY;

/// Concurrent instances the pool holds.
pub const POOL_INSTANCES: u32 = 1024;

/// Bytes of a slot's linear memory, and of its tables, reset in place and
/// kept resident after a run (see [`build`]).
const KEEP_RESIDENT_MEMORY: usize = 2 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;
/// Decommits queued before they are flushed together.
const DECOMMIT_BATCH: usize = 16;

/// Builds the engine. Pooling keeps instantiation in microseconds; CoW
/// images make a fresh instance's memory a mapping rather than a copy.
/// With `functions`, compiled functions are looked up there before
/// cranelift compiles them (see [`super::fncache`]).
pub fn build(functions: Option<Arc<FunctionCache>>) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        // A Rust wasip2 component has a few core instances and tables.
        .total_core_instances(POOL_INSTANCES * 8)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 8)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(MAX_MEMORY as usize)
        .max_unused_warm_slots(64)
        // A finished run's memory and tables are reset in place (only the
        // pages it dirtied, found with PAGEMAP_SCAN where the kernel has it)
        // rather than unmapped with `madvise`: an unmap flushes every
        // core's TLB and the next run faults each page back in. Past these
        // sizes a slot is still decommitted, so an idle pool stays small.
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .pagemap_scan(Enabled::Auto)
        // The decommits that remain are flushed together.
        .decommit_batch_size(DECOMMIT_BATCH);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_reservation(MAX_MEMORY)
        .memory_guard_size(2 << 20)
        .memory_init_cow(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(512 << 10)
        // Policies use the synchronous component ABI; the per-store state
        // for component-model async would only cost time.
        .concurrency_support(false);
    if let Some(functions) = functions {
        config.enable_incremental_compilation(functions)?;
    }
    Engine::new(&config)
}

/// How long the idle ticker sleeps before it looks whether the engine
/// is gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Advances the engine's epoch every [`EPOCH_TICK`] while a guest runs,
/// and sleeps while none does, so an idle weft wakes no thread 500 times a
/// second. Epochs are what stop a guest that spins without calling out.
pub struct Ticker {
    running: AtomicUsize,
    thread: OnceLock<std::thread::Thread>,
}

/// A run in progress: the ticker ticks while one exists.
pub struct Ticking(Arc<Ticker>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ticker {
    /// Starts the ticker thread of `engine`; it ends once the engine is
    /// dropped.
    pub fn start(engine: &Engine) -> Arc<Ticker> {
        let ticker = Arc::new(Ticker {
            running: AtomicUsize::new(0),
            thread: OnceLock::new(),
        });
        let weak = engine.weak();
        let shared = ticker.clone();
        let spawned = std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    if shared.running.load(Ordering::SeqCst) == 0 {
                        drop(engine);
                        // `enter` wakes it; a wake-up that came first
                        // makes this return at once.
                        std::thread::park_timeout(IDLE_CHECK);
                        continue;
                    }
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            });
        match spawned {
            Ok(handle) => {
                let _ = ticker.thread.set(handle.thread().clone());
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the epoch ticker; wall-time limits rely on the async timeout alone");
            }
        }
        ticker
    }

    /// Marks a run as started until the returned guard drops, waking the
    /// ticker if it slept.
    pub fn enter(self: &Arc<Self>) -> Ticking {
        if self.running.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
        Ticking(self.clone())
    }

    /// Runs in progress (for tests).
    #[cfg(test)]
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_counts_the_runs_in_progress() {
        let engine = Engine::default();
        let ticker = Ticker::start(&engine);
        assert_eq!(ticker.running(), 0);
        let a = ticker.enter();
        let b = ticker.enter();
        assert_eq!(ticker.running(), 2);
        drop(a);
        assert_eq!(ticker.running(), 1);
        drop(b);
        assert_eq!(ticker.running(), 0);
    }
}
