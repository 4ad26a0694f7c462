//! `wedge-runtime`: invoke hook H of function F with input X under limits L.
//!
//! This is the only wedge crate that names wasmtime. It loads guest components built with
//! `wedge-sdk` (the WIT package `wedge:edge@0.1.0`), finds which of the four hooks each
//! exports, and runs one hook per [`Function::invoke`] in a fresh, isolated instance:
//!
//! - a new store and instance every time, from an `InstancePre` built once at load, taken from
//!   a pooling allocator with copy-on-write memory images so that this costs microseconds;
//! - limits enforced by the host: wall-clock timeout (epoch interruption with one ticker thread
//!   per engine, plus a tokio deadline around the whole call), optional fuel budget,
//!   linear-memory cap, wasm stack limit, and a per-function concurrency limit that fails fast;
//! - every failure classified ([`ErrorClass`]) and the host unharmed;
//! - a [`Receipt`] per invocation: instantiate and run time, fuel, peak memory.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use wedge_runtime::{FunctionOptions, Hook, HookInput, InvocationContext, LimitsSpec};
//! use wedge_runtime::{Runtime, RuntimeConfig, types::Request};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let function = runtime.load(wasm, FunctionOptions::new("hello", "1")).await?;
//! let limits = runtime.limits(Hook::ViewerRequest, LimitsSpec::default())?;
//! let request = Request {
//!     method: "GET".into(),
//!     uri: "/".into(),
//!     headers: vec![],
//!     client_ip: "192.0.2.1".into(),
//!     body: None,
//! };
//! let outcome = function
//!     .invoke(Hook::ViewerRequest, HookInput::Request(request), &limits, &InvocationContext::default())
//!     .await;
//! println!("{:?} in {:?}", outcome.result, outcome.receipt.total);
//! # Ok(())
//! # }
//! ```

mod bindings;
mod budget;
mod compile_cache;
mod config;
mod engine;
mod error;
mod function;
mod host;
mod invoke;
mod isolation;
mod output;
mod stdio;

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use budget::{DEFAULT_GUEST_MEMORY_SHARE, default_guest_memory_bytes};
pub use compile_cache::ArtifactSource;
pub use config::{
    Allocation, DEFAULT_EPOCH_TICK, DEFAULT_FUNCTION_CONCURRENCY, DEFAULT_MAX_INSTANCES,
    DEFAULT_MAX_WASM_STACK_BYTES, DEFAULT_MEMORY_KEEP_RESIDENT_BYTES, FunctionOptions,
    RuntimeConfig,
};
pub use error::{ErrorClass, InvokeError, LoadError, OutputError, RuntimeError};
pub use function::Function;
pub use host::{
    FunctionConfig, GuestLog, InvocationContext, LogLevel, LogSource, MAX_LOG_LINES,
    MAX_LOG_MESSAGE_BYTES, MAX_TABLE_ELEMENTS, STDIO_CAPTURE_BYTES,
};
pub use invoke::{HookInput, HookOutput, Outcome, Receipt};
pub use isolation::IsolationError;
pub use wedge_types::limits::{
    DEFAULT_MEMORY_BYTES, Limits, LimitsError, LimitsSpec, MIN_MEMORY_BYTES, MIN_TIMEOUT,
    ORIGIN_MAX_GENERATED_RESPONSE_BYTES, ORIGIN_MAX_MEMORY_BYTES, ORIGIN_MAX_TIMEOUT,
    VIEWER_MAX_GENERATED_RESPONSE_BYTES, VIEWER_MAX_MEMORY_BYTES, VIEWER_MAX_TIMEOUT,
};
pub use wedge_types::{Hook, UnknownHook};

/// The HTTP types hooks take and return, generated from `wit/edge.wit` (`wedge:edge/types`).
pub mod types {
    pub use crate::bindings::wedge::edge::types::{Header, Request, RequestAction, Response};
}

/// An engine with its pool, epoch ticker, host linker and compile cache: load functions with
/// it, then invoke them. One per process is the intended use; cheap to clone.
#[derive(Clone)]
pub struct Runtime(Arc<RuntimeInner>);

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<host::HostState>,
    pub(crate) compile_cache: Option<compile_cache::CompileCache>,
    pub(crate) config: RuntimeConfig,
    pub(crate) budget: Arc<budget::MemoryBudget>,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// Builds the engine and pool, starts the epoch ticker and opens the compile cache.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        config.validate()?;
        let engine = engine::build_engine(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| {
                bindings::Host_::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            })
            .map_err(|error| {
                RuntimeError::Engine(format!("cannot link host imports: {error:#}"))
            })?;
        let compile_cache = match &config.compile_cache_dir {
            Some(dir) => Some(
                compile_cache::CompileCache::new(dir.clone(), &engine).map_err(|error| {
                    RuntimeError::InvalidConfig(format!(
                        "compile cache directory {}: {error}",
                        dir.display()
                    ))
                })?,
            ),
            None => None,
        };
        let ticker = engine::EpochTicker::start(engine.clone(), config.epoch_tick)?;
        Ok(Self(Arc::new(RuntimeInner {
            engine,
            linker,
            compile_cache,
            budget: Arc::new(budget::MemoryBudget::new(config.max_guest_memory_bytes)),
            config,
            _ticker: ticker,
        })))
    }

    /// The configuration the runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.0.config
    }

    /// Bytes of guest linear memory held by live instances now, and the runtime's budget.
    pub fn guest_memory(&self) -> (u64, u64) {
        (self.0.budget.in_use(), self.0.budget.limit())
    }

    /// Validates an association's limits for `hook`: defaults filled in, maxima enforced.
    pub fn limits(&self, hook: Hook, spec: LimitsSpec) -> Result<Limits, LimitsError> {
        Limits::new(hook, spec, self.0.config.fuel_metering)
    }

    /// Loads a component from its bytes (see [`LoadError`] for what is refused). Compiles on a
    /// blocking thread, or maps a verified artifact from the compile cache.
    pub async fn load(&self, wasm: &[u8], options: FunctionOptions) -> Result<Function, LoadError> {
        function::load(Arc::clone(&self.0), wasm, options).await
    }
}
