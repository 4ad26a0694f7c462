//! The runtime's own configuration: pool size, ticks, metering, stack, caching. Per-invocation
//! limits live in [`crate::Limits`].

use std::path::PathBuf;
use std::time::Duration;

use crate::RuntimeError;

/// Default number of instances that may be live at once across all functions (the pool size).
/// Matches Lambda's default account concurrency.
pub const DEFAULT_MAX_INSTANCES: u32 = 1_000;
/// Default concurrency limit of one function (Lambda's default).
pub const DEFAULT_FUNCTION_CONCURRENCY: u32 = 1_000;
/// Default epoch tick: the granularity of timeouts, and how often a long-running guest yields
/// its thread back to the executor.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(1);
/// Default wasm stack limit. Deeper recursion traps with a stack overflow.
pub const DEFAULT_MAX_WASM_STACK_BYTES: usize = 512 * 1024;
/// Default bytes of each pooled linear memory kept resident between instances. Below this,
/// memory is reset in place (only the pages the guest dirtied, when the kernel has
/// `PAGEMAP_SCAN`) instead of being returned to the kernel and faulted in again. A Rust guest's
/// stack and heap start in its first ~1.1 MiB, so 2 MiB covers what a typical hook touches.
pub const DEFAULT_MEMORY_KEEP_RESIDENT_BYTES: usize = 2 * 1024 * 1024;

/// How instances get their memories, tables and stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocation {
    /// Preallocated slots reused across instances, with copy-on-write memory images: the fast
    /// path, and the default.
    #[default]
    Pooling,
    /// mmap and munmap for every instance; for comparison in benchmarks.
    OnDemand,
}

/// Configuration of a [`Runtime`](crate::Runtime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Instances live at once across all functions; sizes the pool. Default
    /// [`DEFAULT_MAX_INSTANCES`].
    pub max_instances: u32,
    /// Pooling (default) or on-demand allocation.
    pub allocation: Allocation,
    /// Epoch tick; see [`DEFAULT_EPOCH_TICK`]. Between 100 µs and 100 ms.
    pub epoch_tick: Duration,
    /// Count fuel so that functions may have a fuel budget. Costs some speed on every guest.
    pub fuel_metering: bool,
    /// Wasm stack limit in bytes; see [`DEFAULT_MAX_WASM_STACK_BYTES`]. Between 64 KiB and 8 MiB.
    pub max_wasm_stack_bytes: usize,
    /// Bytes of each pooled memory kept resident; see [`DEFAULT_MEMORY_KEEP_RESIDENT_BYTES`].
    pub memory_keep_resident_bytes: usize,
    /// Directory for precompiled artifacts; `None` compiles in memory at every load.
    pub compile_cache_dir: Option<PathBuf>,
    /// Bytes of linear memory all live instances together may hold; see
    /// [`default_guest_memory_bytes`](crate::default_guest_memory_bytes). Past it invocations
    /// fail with class `throttled`.
    pub max_guest_memory_bytes: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_instances: DEFAULT_MAX_INSTANCES,
            allocation: Allocation::Pooling,
            epoch_tick: DEFAULT_EPOCH_TICK,
            fuel_metering: false,
            max_wasm_stack_bytes: DEFAULT_MAX_WASM_STACK_BYTES,
            memory_keep_resident_bytes: DEFAULT_MEMORY_KEEP_RESIDENT_BYTES,
            compile_cache_dir: None,
            max_guest_memory_bytes: crate::default_guest_memory_bytes(),
        }
    }
}

impl RuntimeConfig {
    pub(crate) fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |message: String| Err(RuntimeError::InvalidConfig(message));
        if self.max_guest_memory_bytes < crate::MIN_MEMORY_BYTES {
            return invalid(format!(
                "max_guest_memory_bytes {} must be at least {}",
                self.max_guest_memory_bytes,
                crate::MIN_MEMORY_BYTES
            ));
        }
        if self.max_instances == 0 {
            return invalid("max_instances must be at least 1".into());
        }
        if !(Duration::from_micros(100)..=Duration::from_millis(100)).contains(&self.epoch_tick) {
            return invalid(format!(
                "epoch_tick {:?} must be between 100µs and 100ms",
                self.epoch_tick
            ));
        }
        if !(64 * 1024..=8 * 1024 * 1024).contains(&self.max_wasm_stack_bytes) {
            return invalid(format!(
                "max_wasm_stack_bytes {} must be between 64 KiB and 8 MiB",
                self.max_wasm_stack_bytes
            ));
        }
        Ok(())
    }
}

/// Options of one loaded function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionOptions {
    /// The function's name, as guests see it in their context and logs show it.
    pub name: String,
    /// The function's version (a number or a digest).
    pub version: String,
    /// Invocations of this function that may run at once; one more fails fast with
    /// [`InvokeError::ConcurrencyLimit`](crate::InvokeError::ConcurrencyLimit). Default
    /// [`DEFAULT_FUNCTION_CONCURRENCY`].
    pub max_concurrency: u32,
}

impl FunctionOptions {
    /// Options with this name and version and the default concurrency limit.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            max_concurrency: DEFAULT_FUNCTION_CONCURRENCY,
        }
    }
}
