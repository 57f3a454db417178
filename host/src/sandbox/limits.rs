//! Per-run limits as errors that name them, and the memory limiter that
//! turns a refused `memory.grow` into one.

use wasmtime::{ResourceLimiter, StoreLimits, Trap};

/// A limit of a run was hit. Each is its own variant so callers (and the
/// `--json` report) can say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "limit", rename_all = "kebab-case")]
pub enum LimitError {
    #[error(
        "fuel limit: the policy used all {fuel} units of fuel (raise it with --fuel or `fuel` in the policy's config)"
    )]
    Fuel { fuel: u64 },
    #[error(
        "time limit: the policy ran longer than {ms} ms (raise it with --timeout or `timeout`)"
    )]
    Time { ms: u64 },
    #[error(
        "memory limit: the policy tried to use {desired} bytes of linear memory in all, over the cap of {cap} bytes (raise it with --memory or `memory`)"
    )]
    Memory { desired: u64, cap: u64 },
    #[error("call limit: the policy made more than {max} tool calls (raise `max_calls`)")]
    Calls { max: u32 },
    #[error(
        "output limit: the output is {size} bytes, over the cap of {cap} bytes (raise `max_output`)"
    )]
    Output { size: u64, cap: u64 },
    #[error("log limit: the policy wrote more than {cap} bytes to stdout or stderr")]
    Log { cap: u64 },
}

impl LimitError {
    /// The limit's short name: fuel, time, memory, calls, output or log.
    pub fn limit_name(&self) -> &'static str {
        match self {
            LimitError::Fuel { .. } => "fuel",
            LimitError::Time { .. } => "time",
            LimitError::Memory { .. } => "memory",
            LimitError::Calls { .. } => "calls",
            LimitError::Output { .. } => "output",
            LimitError::Log { .. } => "log",
        }
    }
}

/// How a run failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The guest trapped: a panic, stack overflow, unreachable, …
    #[error("the policy crashed: {0}")]
    Trap(String),
    /// The guest returned an error of its own.
    #[error("the policy failed: {0}")]
    Policy(String),
    /// The component could not be loaded or does not fit the world.
    #[error("{0}")]
    Load(String),
}

/// `StoreLimits`, but the cap is on all of a run's linear memories together
/// (a component may have several; a cap per memory would let it take the
/// cap several times over), and a refused grow becomes a
/// [`LimitError::Memory`] trap rather than a silent `-1`, so the run ends
/// with an error naming the cap.
pub struct MemoryLimiter {
    inner: StoreLimits,
    cap: u64,
    /// Bytes of linear memory granted so far, over every memory.
    total: u64,
}

impl MemoryLimiter {
    pub fn new(cap: u64) -> MemoryLimiter {
        let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
        let inner = wasmtime::StoreLimitsBuilder::new()
            .memory_size(cap_usize)
            .instances(32)
            .tables(64)
            .memories(8)
            .build();
        MemoryLimiter {
            inner,
            cap,
            total: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Creating a memory counts too: wasmtime asks with `current` 0.
        let grown = desired.saturating_sub(current) as u64;
        let total = self.total.saturating_add(grown);
        if total > self.cap {
            return Err(wasmtime::Error::new(LimitError::Memory {
                desired: total,
                cap: self.cap,
            }));
        }
        if self.inner.memory_growing(current, desired, maximum)? {
            self.total = total;
            Ok(true)
        } else {
            Err(wasmtime::Error::new(LimitError::Memory {
                desired: desired as u64,
                cap: self.cap,
            }))
        }
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context(LimitError::Memory {
            desired: 0,
            cap: self.cap,
        }))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Sorts a wasmtime error from a run into limits, traps and the rest.
pub fn classify(error: wasmtime::Error, fuel: Option<u64>, time_ms: u64) -> RunError {
    if let Some(limit) = error.downcast_ref::<LimitError>() {
        return RunError::Limit(limit.clone());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunError::Limit(LimitError::Fuel {
            fuel: fuel.unwrap_or(u64::MAX),
        }),
        Some(Trap::Interrupt) => RunError::Limit(LimitError::Time { ms: time_ms }),
        Some(Trap::StackOverflow) => RunError::Trap("stack overflow (deep recursion)".into()),
        // Rust guests keep their stack in linear memory: running off its
        // end shows up as an out-of-bounds access rather than a stack trap.
        Some(Trap::MemoryOutOfBounds) => RunError::Trap(
            "out of bounds memory access (often a stack overflow from deep recursion)".into(),
        ),
        Some(trap) => RunError::Trap(trap.to_string()),
        None => RunError::Trap(format!("{error:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn every_memory_counts_against_one_cap() {
        let mut l = MemoryLimiter::new(10 * MIB as u64);
        // Two memories of 4 MiB each: 8 MiB in all.
        assert!(l.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 4 * MIB, None).unwrap());
        // A third of 4 MiB would make 12: refused, naming the total.
        let e = l.memory_growing(0, 4 * MIB, None).unwrap_err();
        assert_eq!(
            e.downcast_ref::<LimitError>(),
            Some(&LimitError::Memory {
                desired: 12 * MIB as u64,
                cap: 10 * MIB as u64
            })
        );
        // Growing the first by 2 MiB still fits (10 in all); one more byte's
        // page does not.
        assert!(l.memory_growing(4 * MIB, 6 * MIB, None).unwrap());
        assert!(l.memory_growing(6 * MIB, 6 * MIB + 65536, None).is_err());
    }
}
