//! The wasmtime engine: its settings, and the one thread that ticks its epoch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::RuntimeError;
use crate::config::{Allocation, RuntimeConfig};
use wedge_types::limits::ORIGIN_MAX_MEMORY_BYTES;

/// Core instances a component may hold. A Rust wasm32-wasip2 guest has three to five (its code,
/// plus shims wit-component adds); the rest is headroom for other toolchains.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Core instances budgeted per pooled component on average, for sizing the core-instance pool.
const AVERAGE_CORE_INSTANCES: u32 = 8;
/// Linear memories a component may hold (a guest normally has one).
const MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables a component may hold (a Rust guest has one or two: its own and a shim's).
const TABLES_PER_COMPONENT: u32 = 4;
/// Bytes of each pooled table kept resident and reset in place, like linear memory.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 * 1024;
/// Native stack for the fiber a guest runs on: the wasm stack limit plus room for the host
/// frames (host functions, WASI) that run on the same stack.
const HOST_STACK_HEADROOM_BYTES: usize = 1024 * 1024;

/// Builds the engine every function of a runtime is compiled for and runs on.
pub(crate) fn build_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    let mut wasm = wasmtime::Config::new();
    // Timeouts: the guest checks the epoch at function entries and loop headers; a ticker
    // thread advances it, and a per-store callback decides to yield or to stop.
    wasm.epoch_interruption(true);
    wasm.consume_fuel(config.fuel_metering);
    wasm.max_wasm_stack(config.max_wasm_stack_bytes);
    wasm.async_stack_size(config.max_wasm_stack_bytes + HOST_STACK_HEADROOM_BYTES);
    // Initialise memories from a copy-on-write image of the module's data instead of copying
    // data segments at every instantiation.
    wasm.memory_init_cow(true);
    wasm.wasm_component_model(true);

    if config.allocation == Allocation::Pooling {
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(config)));
    }
    Engine::new(&wasm).map_err(|error| RuntimeError::Engine(format!("{error:#}")))
}

/// Every pool setting wedge changes from wasmtime's defaults, and why.
fn pooling_config(config: &RuntimeConfig) -> PoolingAllocationConfig {
    let instances = config.max_instances;
    let mut pool = PoolingAllocationConfig::new();
    // One slot of each kind per live instance: instantiation never maps memory, it takes a
    // preallocated slot, and slot N+1 fails fast with a pool-exhausted error.
    pool.total_component_instances(instances);
    pool.total_stacks(instances);
    pool.total_core_instances(instances.saturating_mul(AVERAGE_CORE_INSTANCES));
    pool.total_memories(instances.saturating_mul(MEMORIES_PER_COMPONENT));
    pool.total_tables(instances.saturating_mul(TABLES_PER_COMPONENT));
    pool.max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT);
    pool.max_memories_per_component(MEMORIES_PER_COMPONENT);
    pool.max_tables_per_component(TABLES_PER_COMPONENT);
    // Slots are sized for the largest cap a limit may ask for; each invocation's actual cap is
    // enforced by the store's limiter, which traps on a grow past it.
    pool.max_memory_size(usize::try_from(ORIGIN_MAX_MEMORY_BYTES).unwrap_or(usize::MAX));
    // Reset the first bytes of a memory or table in place rather than discarding the pages and
    // faulting them in again on the next instance; with PAGEMAP_SCAN (Linux 6.7+) only pages
    // the guest actually dirtied are reset. `Auto` falls back to the plain reset elsewhere.
    pool.linear_memory_keep_resident(config.memory_keep_resident_bytes);
    pool.table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
    pool.pagemap_scan(Enabled::Auto);
    pool
}

/// The thread that advances an engine's epoch every tick, stopped when dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: std::time::Duration) -> Result<Self, RuntimeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("wedge-epoch".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::park_timeout(tick);
                    engine.increment_epoch();
                }
            })
            .map_err(|error| {
                RuntimeError::Engine(format!("cannot start the epoch ticker: {error}"))
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // A ticker that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}
