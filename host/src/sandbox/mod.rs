//! The wasmtime host: one engine, compiled components cached on disk and in
//! memory, and a fresh `Store` per run from a pre-linked `InstancePre`.
//!
//! Every run gets WASI with nothing granted (no files, network, environment
//! or arguments; stdout and stderr captured and capped; `wasi:http` only as
//! far as an adapter's `egress` allows: see [`egress`]) and the limits of
//! its policy: fuel, wall time (epochs for guest code, an async timeout
//! around everything, host calls included), memory, calls and output.

mod bindings;
pub(crate) mod cache;
mod compile;
pub mod egress;
mod engine;
mod fncache;
pub mod host;
mod journaled;
pub mod limits;
mod world;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

pub use cache::Origin;
pub use host::{CallRecord, LogLine, ProgressFn, RunCtx, ToolHost};
pub(crate) use limits::memory_hint;
pub use limits::{LimitError, RunError};

use bindings::v2::{Adapter, AdapterPre};
use bindings::{Policy, PolicyPre};
use host::RunState;
use limits::MemoryLimiter;

use crate::config::Limits;

/// The process's shared sandbox (see [`Sandbox::shared`]).
static SHARED: std::sync::OnceLock<Result<Arc<Sandbox>, SetupError>> = std::sync::OnceLock::new();

/// The most resource handles (streams, pollables) one run may hold.
const MAX_RESOURCES: usize = 1024;
/// A component's bytes and their SHA-256, computed once: the digest keys
/// every cache, so a run never hashes the component again.
#[derive(Clone)]
pub struct Wasm {
    bytes: Arc<Vec<u8>>,
    digest: [u8; 32],
}

impl Wasm {
    /// Wraps a component's bytes, hashing them once.
    pub fn new(bytes: Vec<u8>) -> Wasm {
        let digest = Sha256::digest(&bytes).into();
        Wasm {
            bytes: Arc::new(bytes),
            digest,
        }
    }

    /// The component's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The component's SHA-256.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
}

/// What a run produced, whether it succeeded or not.
pub struct RunOutcome {
    /// The policy's output, or how the run failed.
    pub result: Result<String, RunError>,
    /// Fuel the guest consumed, in wasmtime fuel units (0 if it never started).
    pub fuel_used: u64,
    /// Wall time from the call to the end, loading or compiling included.
    pub duration: Duration,
    /// Where the instance came from: memory, the disk cache, or a fresh compile.
    pub origin: Origin,
    /// What the guest wrote to stdout (lossy UTF-8, at most `max_log` bytes).
    pub stdout: String,
    /// What the guest wrote to stderr (lossy UTF-8, at most `max_log` bytes).
    pub stderr: String,
}

/// The engine and everything compiled for it. Create one per process.
pub struct Sandbox {
    engine: Engine,
    ticker: Arc<engine::Ticker>,
    /// Compiling and linking, shared with the blocking threads that do it.
    compiler: Arc<compile::Compiler>,
    loaded: Mutex<HashMap<[u8; 32], PolicyPre<RunState>>>,
    adapters: Mutex<HashMap<[u8; 32], AdapterPre<RunState>>>,
    /// The disk cache's folder, when it has one.
    cache_dir: Option<PathBuf>,
}

/// A tool an adapter lists, as its WIT record.
pub type AdapterTool = bindings::v2::weft::mcp::types::ToolInfo;
/// An error an adapter's `call-tool` returns, as its WIT record.
pub type AdapterError = bindings::v2::weft::mcp::types::CallError;

/// A store armed for one run: WASI with nothing granted, captured output,
/// the memory cap, fuel and the wall-time deadline.
struct Armed {
    store: Store<RunState>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    fuel: u64,
    log_cap: usize,
    /// Keeps the epoch ticking while the run lasts.
    _ticking: engine::Ticking,
}

impl Armed {
    /// Fuel used, and what the guest wrote to stdout and stderr.
    fn finish(self) -> (u64, String, String) {
        let fuel_used = self
            .fuel
            .saturating_sub(self.store.get_fuel().unwrap_or(self.fuel));
        let text = |p: &MemoryOutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
        (fuel_used, text(&self.stdout), text(&self.stderr))
    }
}

/// The sandbox could not be set up: wasmtime refused its configuration,
/// or an interface could not be linked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SetupError {
    /// wasmtime refused the engine's configuration; holds its message.
    #[error("cannot configure wasmtime: {0}")]
    Engine(String),
    /// An interface could not be added to the linker.
    #[error("cannot link {what}: {why}")]
    Link {
        /// The interface, such as `WASI`, `wasi:http` or `weft:mcp@0.2.0`.
        what: &'static str,
        /// wasmtime's message.
        why: String,
    },
}

impl Sandbox {
    /// Builds the engine (with its epoch ticker) and the linker, caching
    /// compiled components in `cache::default_dir`.
    pub fn new() -> Result<Sandbox, SetupError> {
        Self::with_cache_dir(cache::default_dir())
    }

    /// Like [`Sandbox::new`], with an explicit cache directory (`None`: no
    /// disk cache).
    pub fn with_cache_dir(dir: Option<PathBuf>) -> Result<Sandbox, SetupError> {
        let store = cache::Store::open(dir);
        let cache_dir = store.as_ref().map(|s| s.dir.clone());
        let functions = store
            .as_ref()
            .and_then(cache::Store::functions)
            .map(Arc::new);
        let engine =
            engine::build(functions.clone()).map_err(|e| SetupError::Engine(format!("{e:#}")))?;
        let ticker = engine::Ticker::start(&engine);
        let mut linker: Linker<RunState> = Linker::new(&engine);
        let link = |what| {
            move |e: wasmtime::Error| SetupError::Link {
                what,
                why: format!("{e:#}"),
            }
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link("WASI"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(link("wasi:http"))?;
        Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link("weft:mcp@0.1.0"))?;
        Adapter::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link("weft:mcp@0.2.0"))?;
        let disk = cache::ComponentCache::new(&engine, store);
        Ok(Sandbox {
            engine: engine.clone(),
            ticker,
            compiler: Arc::new(compile::Compiler {
                engine,
                linker,
                disk,
                functions,
            }),
            loaded: Mutex::default(),
            adapters: Mutex::default(),
            cache_dir,
        })
    }

    /// The cache folder it uses (checked private), if any: compiled
    /// components, and what else weft keeps between starts beside them.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }

    /// The sandbox this process shares (component servers, `weft serve`'s
    /// and `weft run`'s policies), made on first use: one engine, one
    /// pool, one epoch ticker.
    pub fn shared() -> Result<Arc<Sandbox>, SetupError> {
        SHARED.get_or_init(|| Sandbox::new().map(Arc::new)).clone()
    }

    /// [`Sandbox::shared`], made now with its compile cache in `dir`
    /// (`None`: none) if it is not made yet; an embedder calls this before
    /// starting a hub to choose the cache.
    pub fn shared_with_cache_dir(dir: Option<PathBuf>) -> Result<Arc<Sandbox>, SetupError> {
        SHARED
            .get_or_init(|| Sandbox::with_cache_dir(dir).map(Arc::new))
            .clone()
    }

    /// Readies a component for runs: from memory, from the disk cache, or
    /// by compiling it. Fails with a clear message for anything that is not
    /// a policy component for this host. Blocking: compiling takes a while
    /// (a run readies its component off the async workers by itself).
    pub fn prepare(&self, wasm: &Wasm) -> Result<Origin, RunError> {
        if self.loaded.lock().contains_key(&wasm.digest) {
            return Ok(Origin::Memory);
        }
        let (pre, origin) = self.compiler.policy(wasm)?;
        self.loaded.lock().insert(wasm.digest, pre);
        Ok(origin)
    }

    /// A policy component ready to instantiate: from memory, or compiled
    /// (or loaded from disk) on a blocking thread, so that a compile of
    /// many seconds never holds up a runtime worker.
    async fn prepared(&self, wasm: &Wasm) -> Result<(PolicyPre<RunState>, Origin), RunError> {
        if let Some(pre) = self.loaded.lock().get(&wasm.digest) {
            return Ok((pre.clone(), Origin::Memory));
        }
        let (compiler, component) = (self.compiler.clone(), wasm.clone());
        let (pre, origin) = compile::off_worker(move || compiler.policy(&component)).await?;
        self.loaded.lock().insert(wasm.digest, pre.clone());
        Ok((pre, origin))
    }

    /// Readies an adapter component for calls, as [`Sandbox::prepare`]
    /// does a policy (off the async workers when it must compile).
    async fn adapter(&self, wasm: &Wasm) -> Result<AdapterPre<RunState>, RunError> {
        if let Some(pre) = self.adapters.lock().get(&wasm.digest) {
            return Ok(pre.clone());
        }
        let (compiler, component) = (self.compiler.clone(), wasm.clone());
        let pre = compile::off_worker(move || compiler.adapter(&component)).await?;
        self.adapters.lock().insert(wasm.digest, pre.clone());
        Ok(pre)
    }

    /// A fresh store for one run under `limits`, its clocks not yet started.
    fn arm(&self, limits: &Limits, ctx: Arc<RunCtx>) -> Result<Armed, RunError> {
        let log_cap = usize::try_from(limits.max_log).unwrap_or(usize::MAX);
        let stdout = MemoryOutputPipe::new(log_cap);
        let stderr = MemoryOutputPipe::new(log_cap);
        // Nothing is granted: no preopened directories, no environment, no
        // arguments, no sockets or name lookup (all off by default).
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        // A durable run's clocks and random are its journal's.
        if let Some(journal) = &ctx.journal {
            crate::journal::wire(&mut wasi, journal);
        }
        let wasi = wasi.build();
        // A guest holds a handful of resources (streams, pollables); the
        // default cap of a million entries would let one run keep host
        // memory busy.
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let hooks = egress::EgressHooks::new(ctx.egress.clone());
        let state = RunState {
            wasi,
            table,
            limiter: MemoryLimiter::new(limits.memory),
            ctx,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            hooks,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let fuel = limits.fuel.unwrap_or(u64::MAX);
        store
            .set_fuel(fuel)
            .map_err(|e| RunError::Trap(format!("cannot set fuel: {e}")))?;
        // The limit covers the run from here: loading or compiling the
        // component is not the guest's time. (No deadline when the timeout
        // is too large to add.)
        let deadline = Instant::now().checked_add(limits.timeout);
        // Each epoch tick: past the deadline, stop the guest; before it,
        // yield so the async timeout and other runs get a turn.
        store.epoch_deadline_callback(move |_| {
            Ok(if deadline.is_some_and(|d| Instant::now() >= d) {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        Ok(Armed {
            store,
            stdout,
            stderr,
            fuel,
            log_cap,
            _ticking: self.ticker.enter(),
        })
    }

    /// Runs `work` on a fresh instance of an adapter under `limits`: the
    /// one path of every adapter call and listing. A trap, a limit hit or
    /// output over `max_output` is an `Err` naming it.
    async fn in_adapter<R>(
        &self,
        wasm: &Wasm,
        limits: &Limits,
        ctx: Arc<RunCtx>,
        work: impl for<'a> FnOnce(
            &'a Adapter,
            &'a mut Store<RunState>,
        ) -> futures::future::BoxFuture<'a, wasmtime::Result<R>>,
        size: impl FnOnce(&R) -> u64,
    ) -> Result<R, RunError> {
        let pre = self.adapter(wasm).await?;
        let mut armed = self.arm(limits, ctx)?;
        let time_ms = limits.timeout.as_millis() as u64;
        let store = &mut armed.store;
        let run = async move {
            let adapter = pre.instantiate_async(&mut *store).await?;
            work(&adapter, store).await
        };
        let result = match tokio::time::timeout(limits.timeout, run).await {
            Err(_) => Err(RunError::Limit(LimitError::Time { ms: time_ms })),
            Ok(Err(e)) => Err(limits::classify(e, limits.fuel, time_ms)),
            Ok(Ok(r)) => {
                let produced = size(&r);
                if produced > limits.max_output {
                    Err(RunError::Limit(LimitError::Output {
                        size: produced,
                        cap: limits.max_output,
                    }))
                } else {
                    Ok(r)
                }
            }
        };
        let log_cap = armed.log_cap;
        let (_, out, err) = armed.finish();
        if !out.is_empty() || !err.is_empty() {
            tracing::debug!(target: "weft::adapter", stdout = %out, stderr = %err, "adapter output");
        }
        match result {
            Err(RunError::Trap(t))
                if out.len() >= log_cap
                    || err.len() >= log_cap
                    || crate::phrases::says(&t, crate::phrases::Phrase::OutputFull) =>
            {
                Err(RunError::Limit(LimitError::Log {
                    cap: limits.max_log,
                }))
            }
            other => other,
        }
    }

    /// Asks an adapter for its tools, in a fresh instance under `limits`.
    /// Compiles it first if need be, on a blocking thread.
    pub async fn adapter_tools(
        &self,
        wasm: &Wasm,
        limits: &Limits,
        ctx: Arc<RunCtx>,
    ) -> Result<Vec<AdapterTool>, RunError> {
        self.in_adapter(
            wasm,
            limits,
            ctx,
            |a, s| Box::pin(a.call_list_tools(s)),
            |tools| {
                tools
                    .iter()
                    .map(|t| {
                        (t.name.len()
                            + t.description.len()
                            + t.input_schema.len()
                            + t.output_schema.as_ref().map_or(0, String::len)
                            + t.title.as_ref().map_or(0, String::len))
                            as u64
                    })
                    .sum()
            },
        )
        .await
    }

    /// Calls `tool` of an adapter with `args` (JSON text), in a fresh
    /// instance under `limits`. The inner `Result` is the adapter's own
    /// answer: a `CallToolResult` as JSON, or its error.
    pub async fn adapter_call(
        &self,
        wasm: &Wasm,
        tool: &str,
        args: &str,
        limits: &Limits,
        ctx: Arc<RunCtx>,
    ) -> Result<Result<String, AdapterError>, RunError> {
        // The work owns its text: it must not borrow from the caller for
        // any lifetime the store's borrow might have.
        let (tool, args) = (tool.to_string(), args.to_string());
        self.in_adapter(
            wasm,
            limits,
            ctx,
            move |a, s| Box::pin(async move { a.call_call_tool(s, &tool, &args).await }),
            |r| match r {
                Ok(text) => text.len() as u64,
                Err(e) => e.message.len() as u64,
            },
        )
        .await
    }

    /// Compiles an adapter (or loads it from the caches) and checks that
    /// it fits the adapter world. Blocking: compiling takes a while.
    pub fn prepare_adapter(&self, wasm: &Wasm) -> Result<(), RunError> {
        if !self.adapters.lock().contains_key(&wasm.digest) {
            let pre = self.compiler.adapter(wasm)?;
            self.adapters.lock().insert(wasm.digest, pre);
        }
        Ok(())
    }

    /// Runs a policy component once on `input`, under `limits`.
    pub async fn run(
        &self,
        wasm: &Wasm,
        input: &str,
        limits: &Limits,
        ctx: Arc<RunCtx>,
    ) -> RunOutcome {
        let started = Instant::now();
        let (pre, origin) = match self.prepared(wasm).await {
            Ok(p) => p,
            Err(e) => {
                return RunOutcome {
                    result: Err(e),
                    fuel_used: 0,
                    duration: started.elapsed(),
                    origin: Origin::Compiled,
                    stdout: String::new(),
                    stderr: String::new(),
                };
            }
        };
        let time_ms = limits.timeout.as_millis() as u64;
        let mut armed = match self.arm(limits, ctx) {
            Ok(a) => a,
            Err(e) => {
                return RunOutcome {
                    result: Err(e),
                    fuel_used: 0,
                    duration: started.elapsed(),
                    origin,
                    stdout: String::new(),
                    stderr: String::new(),
                };
            }
        };
        let store = &mut armed.store;
        let work = async move {
            let policy = pre.instantiate_async(&mut *store).await?;
            policy.call_run(&mut *store, input).await
        };
        let mut result = match tokio::time::timeout(limits.timeout, work).await {
            Err(_) => Err(RunError::Limit(LimitError::Time { ms: time_ms })),
            Ok(Err(e)) => Err(limits::classify(e, limits.fuel, time_ms)),
            Ok(Ok(Err(message))) => Err(RunError::Policy(message)),
            Ok(Ok(Ok(output))) => Ok(output),
        };
        // The output cap holds for a result and for an error message alike.
        let produced = match &result {
            Ok(output) | Err(RunError::Policy(output)) => Some(output.len() as u64),
            Err(_) => None,
        };
        if let Some(size) = produced
            && size > limits.max_output
        {
            result = Err(RunError::Limit(LimitError::Output {
                size,
                cap: limits.max_output,
            }));
        }
        let log_cap = armed.log_cap;
        let (fuel_used, out, err) = armed.finish();
        if let Err(RunError::Trap(t)) = &result
            && (out.len() >= log_cap
                || err.len() >= log_cap
                || crate::phrases::says(t, crate::phrases::Phrase::OutputFull))
        {
            {
                result = Err(RunError::Limit(LimitError::Log {
                    cap: limits.max_log,
                }));
            }
        }
        RunOutcome {
            result,
            fuel_used,
            duration: started.elapsed(),
            origin,
            stdout: out,
            stderr: err,
        }
    }
}
