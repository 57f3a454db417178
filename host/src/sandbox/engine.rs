//! The one wasmtime `Engine`: pooling allocator, copy-on-write memory
//! images, fuel and epoch interruption, with a ticker thread.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; the wall-time limit is checked this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The largest linear memory any policy may have. Each pool slot reserves
/// this much address space (not memory), so it is sized deliberately rather
/// than left at wasmtime's 4 GiB default.
pub const MAX_MEMORY: u64 = crate::config::policy::MAX_MEMORY;

/// Concurrent instances the pool holds.
pub const POOL_INSTANCES: u32 = 1024;

/// Builds the engine. Pooling keeps instantiation in microseconds; CoW
/// images make a fresh instance's memory a mapping rather than a copy.
pub fn build() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        // A Rust wasip2 component has a few core instances and tables.
        .total_core_instances(POOL_INSTANCES * 8)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 8)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(MAX_MEMORY as usize)
        .max_unused_warm_slots(64);
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
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is
/// dropped. Epochs are what stop a guest that spins without calling out.
pub fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("weft-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch ticker; wall-time limits rely on the async timeout alone");
    }
}
