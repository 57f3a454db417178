//! Per-run limits as errors that name them, and the memory limiter that
//! turns a refused `memory.grow` into one.

use wasmtime::{ResourceLimiter, StoreLimits, Trap};

/// A limit of a run was hit. Each is its own variant so callers (and the
/// `--json` report) can say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "limit", rename_all = "kebab-case")]
pub enum LimitError {
    /// The run used all the fuel it was given.
    #[error(
        "fuel limit: the policy used all {fuel} units of fuel (raise it with --fuel or `fuel` in the policy's config)"
    )]
    Fuel {
        /// The fuel the run was given, in wasmtime fuel units.
        fuel: u64,
    },
    /// The run lasted longer than its timeout.
    #[error(
        "time limit: the policy ran longer than {ms} ms (raise it with --timeout or `timeout`)"
    )]
    Time {
        /// The timeout, in milliseconds.
        ms: u64,
    },
    /// The guest tried to grow its linear memory past the cap.
    #[error(
        "memory limit: the policy tried to use {desired} bytes of linear memory in all, over the cap of {cap} bytes ({})",
        memory_hint(.cap, "raise it with --memory or `memory`")
    )]
    Memory {
        /// The linear memory, in bytes, the refused grow asked for (0 when not known).
        desired: u64,
        /// The memory cap, in bytes.
        cap: u64,
    },
    /// The run made more tool calls than `max_calls`.
    #[error("call limit: the policy made more than {max} tool calls (raise `max_calls`)")]
    Calls {
        /// The most tool calls allowed (`max_calls`).
        max: u32,
    },
    /// The run's result was larger than `max_output`.
    #[error(
        "output limit: the output is {size} bytes, over the cap of {cap} bytes (raise `max_output`)"
    )]
    Output {
        /// The result's size, in bytes.
        size: u64,
        /// The output cap (`max_output`), in bytes.
        cap: u64,
    },
    /// The guest wrote more than `max_log` bytes to stdout or to stderr.
    #[error("log limit: the policy wrote more than {cap} bytes to stdout or stderr")]
    Log {
        /// The cap on each of stdout and stderr (`max_log`), in bytes.
        cap: u64,
    },
}

/// How to raise a memory cap of `cap` bytes: `raise`, unless the cap is
/// already the most weft allows.
pub(crate) fn memory_hint(cap: &u64, raise: &str) -> String {
    if *cap >= crate::config::policy::MAX_MEMORY {
        "1 GiB is the most weft allows a run".to_string()
    } else {
        raise.to_string()
    }
}

impl LimitError {
    /// The limit in the words of an agent that ran a policy or code
    /// through `weft serve`: what `subject` ("the policy", "the code") hit,
    /// and that weft's operator sets it (as `key` in `table`, for example
    /// `[policies.NAME]` or `[code.limits]`), since no flag of the agent's
    /// can raise it.
    pub fn for_agent(&self, subject: &str, table: &str) -> String {
        let set = |key: &str| format!("weft's operator sets this limit: `{key}` in {table}");
        match self {
            LimitError::Fuel { fuel } => {
                format!(
                    "fuel limit: {subject} used all {fuel} units of fuel ({})",
                    set("fuel")
                )
            }
            LimitError::Time { ms } => {
                format!(
                    "time limit: {subject} ran longer than {ms} ms ({})",
                    set("timeout")
                )
            }
            LimitError::Memory { desired, cap } => format!(
                "memory limit: {subject} tried to use {desired} bytes of linear memory in all, over the cap of {cap} bytes ({})",
                memory_hint(cap, &set("memory"))
            ),
            LimitError::Calls { max } => format!(
                "call limit: {subject} made more than {max} tool calls ({})",
                set("max_calls")
            ),
            LimitError::Output { size, cap } => format!(
                "output limit: the output is {size} bytes, over the cap of {cap} bytes ({})",
                set("max_output")
            ),
            LimitError::Log { cap } => {
                format!("log limit: {subject} wrote more than {cap} bytes to stdout or stderr")
            }
        }
    }

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
    /// The run hit one of its limits.
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
    /// A limiter allowing `cap` bytes of linear memory in all.
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

    /// At the ceiling, no message tells anyone to raise the limit: the
    /// command line's, the code's, or the one an agent reads.
    #[test]
    fn a_memory_cap_at_the_ceiling_says_so_instead_of_raise() {
        let max = crate::config::policy::MAX_MEMORY;
        let low = LimitError::Memory {
            desired: 2 * MIB as u64,
            cap: MIB as u64,
        };
        assert!(
            low.to_string()
                .ends_with("(raise it with --memory or `memory`)"),
            "{low}"
        );
        let top = LimitError::Memory {
            desired: max + 65536,
            cap: max,
        };
        assert!(
            top.to_string()
                .ends_with("(1 GiB is the most weft allows a run)"),
            "{top}"
        );
        let agent = top.for_agent("the policy", "[policies.p]");
        assert!(
            agent.ends_with("(1 GiB is the most weft allows a run)"),
            "{agent}"
        );
        assert!(!agent.contains("raise"), "{agent}");
    }

    /// An agent is told who sets a limit and where, never a flag it cannot
    /// pass.
    #[test]
    fn an_agent_is_told_the_operators_key_not_a_flag() {
        let fuel = LimitError::Fuel { fuel: 5 };
        assert_eq!(
            fuel.for_agent("the policy", "[policies.fanout]"),
            "fuel limit: the policy used all 5 units of fuel (weft's operator sets this limit: `fuel` in [policies.fanout])"
        );
        let time = LimitError::Time { ms: 10 };
        assert_eq!(
            time.for_agent("the code", "[code.limits]"),
            "time limit: the code ran longer than 10 ms (weft's operator sets this limit: `timeout` in [code.limits])"
        );
        for limit in [
            fuel,
            time,
            LimitError::Calls { max: 1 },
            LimitError::Output { size: 2, cap: 1 },
        ] {
            assert!(
                !limit.for_agent("the code", "[code.limits]").contains("--"),
                "{limit}"
            );
        }
    }
}
