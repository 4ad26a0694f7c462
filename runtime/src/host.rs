//! What the host gives one invocation: its state in the store, the wedge imports (log, config,
//! context), a locked-down WASI, and the memory limiter.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::Hook;
use crate::bindings::wedge::edge::{config, context, log, types};
use crate::budget::MemoryBudget;
use crate::stdio::CapturedOutput;

/// Log lines one invocation may write; later ones are counted and dropped.
pub const MAX_LOG_LINES: usize = 100;
/// Bytes of one log message kept; the rest is cut at a character boundary.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4 * 1024;
/// Elements a guest table may grow to (wasmtime's pooled default, applied to on-demand too).
pub const MAX_TABLE_ELEMENTS: usize = 20_000;
/// Bytes of stdout and of stderr captured per invocation (each goes to the log).
pub const STDIO_CAPTURE_BYTES: usize = 16 * 1024;

/// A function's deploy-time configuration: what guests read through `wedge:edge/config`.
/// Its `Debug` shows keys only, so that secrets stay out of logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FunctionConfig(BTreeMap<String, String>);

impl FunctionConfig {
    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for FunctionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for FunctionConfig {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        Self(
            entries
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        )
    }
}

/// Who an invocation runs for: the request and the deployment, as the caller knows them.
/// Cheap to clone; build one per request and pass it to every hook of that request.
#[derive(Debug, Clone, Default)]
pub struct InvocationContext {
    /// The distribution (site) the request belongs to.
    pub distribution_id: Arc<str>,
    /// The id the node gave the request; tags every guest log line.
    pub request_id: Arc<str>,
    /// The function's deploy-time configuration.
    pub config: Arc<FunctionConfig>,
}

/// How important a guest log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Fine-grained tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The level's lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Where a guest log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogSource {
    /// The `wedge:edge/log` import.
    Log,
    /// The guest's stdout (level info).
    Stdout,
    /// The guest's stderr, e.g. a panic message (level error).
    Stderr,
}

/// One line a guest logged during an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLog {
    /// Its level.
    pub level: LogLevel,
    /// Where it came from.
    pub source: LogSource,
    /// The message, at most [`MAX_LOG_MESSAGE_BYTES`].
    pub message: String,
}

/// Identity of the function, shared by all its invocations.
#[derive(Debug)]
pub(crate) struct FunctionIdentity {
    pub(crate) name: String,
    pub(crate) version: String,
}

/// The WASI context of one invocation and the stdio it captures, made when the guest first
/// calls WASI: most hooks never do, and building one costs two contexts and two seeded RNGs.
struct Wasi {
    ctx: WasiCtx,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

impl Wasi {
    /// No arguments, environment, preopened directories or network (the defaults); stdio
    /// captured for the log; clocks frozen at `now` so that a guest cannot time anything finer
    /// than a request (the Spectre-era lesson of edge platforms).
    fn new(now: Duration) -> Self {
        let stdout = CapturedOutput::new(STDIO_CAPTURE_BYTES);
        let stderr = CapturedOutput::new(STDIO_CAPTURE_BYTES);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock(now))
            .monotonic_clock(FrozenMonotonicClock)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            ctx,
            stdout,
            stderr,
        }
    }
}

/// The store's data for one invocation.
pub(crate) struct HostState {
    /// Made on the guest's first WASI call ([`WasiView::ctx`]).
    wasi: Option<Wasi>,
    /// The invocation's start, to the millisecond: what the guest's clocks say.
    started: Duration,
    table: ResourceTable,
    pub(crate) limiter: GuestLimiter,
    pub(crate) hook: Hook,
    pub(crate) deadline: Instant,
    function: Arc<FunctionIdentity>,
    context: InvocationContext,
    logs: Vec<GuestLog>,
    dropped_logs: u32,
}

impl HostState {
    pub(crate) fn new(
        function: Arc<FunctionIdentity>,
        hook: Hook,
        context: InvocationContext,
        limiter: GuestLimiter,
        deadline: Instant,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            wasi: None,
            started: truncate_to_millis(now),
            table: ResourceTable::new(),
            limiter,
            hook,
            deadline,
            function,
            context,
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }

    /// Takes the logs: import lines first, then captured stdout and stderr, one entry per line;
    /// output past the capture is noted in a last line of its stream.
    pub(crate) fn take_logs(&mut self) -> (Vec<GuestLog>, u32) {
        let mut logs = std::mem::take(&mut self.logs);
        let Some(wasi) = &self.wasi else {
            return (logs, self.dropped_logs);
        };
        for (output, level, source) in [
            (&wasi.stdout, LogLevel::Info, LogSource::Stdout),
            (&wasi.stderr, LogLevel::Error, LogSource::Stderr),
        ] {
            let (captured, discarded) = output.contents();
            let text = String::from_utf8_lossy(&captured);
            let lines = text
                .lines()
                .filter(|line| !line.is_empty())
                .map(str::to_string);
            let note = (discarded > 0).then(|| format!("[{discarded} more bytes not captured]"));
            for message in lines.chain(note) {
                logs.push(GuestLog {
                    level,
                    source,
                    message: truncate(message, MAX_LOG_MESSAGE_BYTES),
                });
            }
        }
        (logs, self.dropped_logs)
    }

    /// What the guest wrote to stderr, trimmed, for explaining a trap (a panic message).
    pub(crate) fn stderr_text(&self) -> Option<String> {
        let (captured, _) = self.wasi.as_ref()?.stderr.contents();
        let text = String::from_utf8_lossy(&captured).trim().to_string();
        (!text.is_empty()).then(|| truncate(text, MAX_LOG_MESSAGE_BYTES))
    }
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn truncate_to_millis(time: Duration) -> Duration {
    Duration::from_millis(u64::try_from(time.as_millis()).unwrap_or(u64::MAX))
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let started = self.started;
        let wasi = self.wasi.get_or_insert_with(|| Wasi::new(started));
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs = self.dropped_logs.saturating_add(1);
            return;
        }
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.logs.push(GuestLog {
            level,
            source: LogSource::Log,
            message: truncate(message, MAX_LOG_MESSAGE_BYTES),
        });
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.context.config.get(&key).map(str::to_string)
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.context
            .config
            .0
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

impl context::Host for HostState {
    fn current(&mut self) -> context::Invocation {
        context::Invocation {
            event_type: match self.hook {
                Hook::ViewerRequest => types::EventType::ViewerRequest,
                Hook::OriginRequest => types::EventType::OriginRequest,
                Hook::OriginResponse => types::EventType::OriginResponse,
                Hook::ViewerResponse => types::EventType::ViewerResponse,
            },
            distribution_id: self.context.distribution_id.to_string(),
            request_id: self.context.request_id.to_string(),
            function_name: self.function.name.clone(),
            function_version: self.function.version.clone(),
        }
    }
}

/// The wall clock a guest sees: the invocation's start, to the millisecond, not moving.
struct FrozenWallClock(Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// The monotonic clock a guest sees: zero, not moving.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// The error a grow past the memory cap traps with; recognised when classifying the trap.
#[derive(Debug)]
pub(crate) struct MemoryLimitExceeded;

impl fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory limit exceeded")
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// A grow refused because the runtime's guest memory budget is in use.
#[derive(Debug)]
pub(crate) struct BudgetExceeded;

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the node's guest memory budget is in use")
    }
}

impl std::error::Error for BudgetExceeded {}

/// Caps the guest's linear memory (summed over its memories) and records the peak; every
/// byte it grants is charged to the runtime's budget and given back when the store goes.
pub(crate) struct GuestLimiter {
    cap: u64,
    in_use: u64,
    pub(crate) peak: u64,
    budget: Arc<MemoryBudget>,
}

impl GuestLimiter {
    pub(crate) fn new(cap: u64, budget: Arc<MemoryBudget>) -> Self {
        Self {
            cap,
            in_use: 0,
            peak: 0,
            budget,
        }
    }
}

impl GuestLimiter {
    /// The runtime budget's limit, for the error that names it.
    pub(crate) fn budget_limit(&self) -> u64 {
        self.budget.limit()
    }
}

impl Drop for GuestLimiter {
    fn drop(&mut self) {
        self.budget.release(self.in_use);
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = desired.saturating_sub(current) as u64;
        let total = self.in_use.saturating_add(grown);
        if total > self.cap {
            // An error, not `Ok(false)`: the guest traps at once instead of seeing a failed
            // grow it might mishandle, and the trap says why.
            return Err(wasmtime::Error::new(MemoryLimitExceeded));
        }
        if !self.budget.try_charge(grown) {
            return Err(wasmtime::Error::new(BudgetExceeded));
        }
        self.in_use = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
