//! Errors at the runtime's boundary: loading a function, and invoking one of its hooks.
//! docs/errors.md lists every class with the status the edge node maps it to.

use std::time::Duration;

use crate::Hook;

/// The kind of an invocation failure, for logs, metrics and the node's status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The invocation ran past its wall-clock timeout.
    Timeout,
    /// The invocation used up its fuel budget.
    FuelExhausted,
    /// The guest tried to grow its memory past the cap.
    MemoryLimit,
    /// The guest overflowed the wasm stack.
    StackOverflow,
    /// The guest trapped or panicked.
    Trap,
    /// The hook returned an error of its own.
    GuestError,
    /// The hook returned something that is not valid HTTP or breaks a size cap.
    InvalidOutput,
    /// The function does not export the hook that was invoked.
    HookNotExported,
    /// The function already runs as many invocations as it may.
    ConcurrencyLimit,
    /// Every instance slot of the runtime is in use.
    PoolExhausted,
    /// The runtime's budget of guest memory is in use.
    Throttled,
    /// The function is not loaded on this node: a control-plane reference the applied
    /// revision does not resolve yet, or one the node refused. Set by the edge node, never by
    /// an invocation.
    Unavailable,
    /// Something failed in the host itself.
    Internal,
}

impl ErrorClass {
    /// The class as a short kebab-case name, e.g. `memory-limit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::FuelExhausted => "fuel-exhausted",
            ErrorClass::MemoryLimit => "memory-limit",
            ErrorClass::StackOverflow => "stack-overflow",
            ErrorClass::Trap => "trap",
            ErrorClass::GuestError => "guest-error",
            ErrorClass::InvalidOutput => "invalid-output",
            ErrorClass::HookNotExported => "hook-not-exported",
            ErrorClass::ConcurrencyLimit => "concurrency-limit",
            ErrorClass::PoolExhausted => "pool-exhausted",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one invocation failed. The host is unharmed in every case: the instance is discarded
/// and its slot goes back to the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The invocation ran past its wall-clock timeout and was interrupted.
    #[error("function timed out after {timeout:?}")]
    Timeout {
        /// The timeout that applied.
        timeout: Duration,
    },
    /// The fuel budget ran out.
    #[error("function used up its fuel budget of {budget}")]
    FuelExhausted {
        /// The budget that applied.
        budget: u64,
    },
    /// The guest tried to grow memory past the cap.
    #[error("function exceeded its memory limit of {limit} bytes")]
    MemoryLimit {
        /// The cap that applied, in bytes.
        limit: u64,
    },
    /// The guest overflowed the wasm stack.
    #[error("function overflowed its stack")]
    StackOverflow,
    /// The guest trapped; a Rust panic ends this way, with its message on stderr.
    #[error("function trapped: {trap}{}", guest_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Trap {
        /// The trap as wasmtime describes it, e.g. `wasm trap: wasm 'unreachable' instruction executed`.
        trap: String,
        /// The last thing the guest wrote to stderr, usually its panic message.
        guest_message: Option<String>,
    },
    /// The hook returned an error.
    #[error("function returned an error: {message}")]
    GuestError {
        /// The guest's message.
        message: String,
    },
    /// The hook's output is not valid.
    #[error("function returned invalid output: {0}")]
    InvalidOutput(#[from] OutputError),
    /// The function does not export this hook.
    #[error("function does not export the {hook} hook")]
    HookNotExported {
        /// The hook that was asked for.
        hook: Hook,
    },
    /// The function already runs `limit` invocations.
    #[error("function is at its concurrency limit of {limit}")]
    ConcurrencyLimit {
        /// The function's concurrency limit.
        limit: u32,
    },
    /// No instance slot is free in the runtime's pool.
    #[error("no instance slot free: {0}")]
    PoolExhausted(String),
    /// The runtime's guest memory budget is in use: the invocation was refused before it
    /// started, or stopped when its memory would have grown past the budget.
    #[error("the node's guest memory budget of {limit} bytes is in use")]
    Throttled {
        /// The budget, in bytes.
        limit: u64,
    },
    /// The host failed; this is a bug or an environment problem, not the guest's doing.
    #[error("internal error: {0}")]
    Internal(String),
}

impl InvokeError {
    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            InvokeError::Timeout { .. } => ErrorClass::Timeout,
            InvokeError::FuelExhausted { .. } => ErrorClass::FuelExhausted,
            InvokeError::MemoryLimit { .. } => ErrorClass::MemoryLimit,
            InvokeError::StackOverflow => ErrorClass::StackOverflow,
            InvokeError::Trap { .. } => ErrorClass::Trap,
            InvokeError::GuestError { .. } => ErrorClass::GuestError,
            InvokeError::InvalidOutput(_) => ErrorClass::InvalidOutput,
            InvokeError::HookNotExported { .. } => ErrorClass::HookNotExported,
            InvokeError::ConcurrencyLimit { .. } => ErrorClass::ConcurrencyLimit,
            InvokeError::PoolExhausted(_) => ErrorClass::PoolExhausted,
            InvokeError::Throttled { .. } => ErrorClass::Throttled,
            InvokeError::Internal(_) => ErrorClass::Internal,
        }
    }
}

/// What is wrong with a hook's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The status is not in 100..=599.
    #[error("status {0} is not between 100 and 599")]
    Status(u16),
    /// The method is empty or not an HTTP token.
    #[error("method {0:?} is not a valid HTTP method")]
    Method(String),
    /// The request target does not start with `/` or holds a control character or space.
    #[error("uri {0:?} is not a valid origin-form request target")]
    Uri(String),
    /// A header name is empty or not an HTTP token.
    #[error("header name {0:?} is not a valid HTTP field name")]
    HeaderName(String),
    /// A header value holds NUL, CR or LF.
    #[error("the value of header {0:?} holds NUL, CR or LF")]
    HeaderValue(String),
    /// A generated response is larger than the cap.
    #[error("generated response is {size} bytes, over the cap of {limit} bytes")]
    GeneratedResponseTooLarge {
        /// The response's size: status line, headers and body.
        size: usize,
        /// The cap that applied.
        limit: usize,
    },
}

/// Why a function could not be loaded. Every variant is the module's fault and carries a
/// message meant for the person who built it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary (no `\\0asm` header)")]
    NotWasm,
    /// The bytes are a core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the function for the \
         wasm32-wasip2 target with wedge-sdk"
    )]
    NotAComponent,
    /// The component failed to validate or compile.
    #[error("{0}")]
    Invalid(String),
    /// The component imports something the host does not provide.
    #[error("the component imports something wedge does not provide: {0}")]
    MissingImports(String),
    /// The component exports a hook interface with the wrong function signature.
    #[error("the component's {hook} export does not match wedge:edge@0.1.0: {reason}")]
    WrongHookSignature {
        /// The hook whose export is wrong.
        hook: Hook,
        /// What wasmtime found wrong.
        reason: String,
    },
    /// The component exports none of the four hooks.
    #[error(
        "the component exports no hook: export at least one of wedge:edge/viewer-request, \
         origin-request, origin-response or viewer-response (wedge_sdk::export!)"
    )]
    NoHooks,
    /// A trial instantiation failed, e.g. the initial memory is larger than the pool allows.
    #[error("the component cannot be instantiated: {0}")]
    Instantiation(String),
}

/// Why a runtime could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// A config value is out of range.
    #[error("invalid runtime config: {0}")]
    InvalidConfig(String),
    /// The engine could not be created (e.g. the host lacks virtual memory for the pool).
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
}
