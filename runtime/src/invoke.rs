//! One invocation: a fresh store and instance, limits armed, the hook called, the result
//! classified and validated, the receipt filled in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ComponentExportIndex;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline};

use crate::function::{Function, RequestHookFunc, ResponseHookFunc};
use crate::host::{
    BudgetExceeded, GuestLimiter, GuestLog, HostState, MAX_LOG_MESSAGE_BYTES, MemoryLimitExceeded,
    truncate,
};
use crate::output::{check_request, check_response};
use crate::types::{Request, RequestAction, Response};
use crate::{Hook, InvocationContext, InvokeError, Limits};

/// How long past its timeout an invocation may take before the tokio deadline around it fires.
/// The epoch callback stops wasm code within a tick; this catches time spent in host calls
/// (e.g. a WASI poll), where epochs are not checked.
const HOST_DEADLINE_GRACE: Duration = Duration::from_millis(50);

/// What a hook is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookInput {
    /// For viewer-request and origin-request: the request.
    Request(Request),
    /// For origin-response and viewer-response: the request (read-only) and the response.
    Response {
        /// The request the response answers.
        request: Request,
        /// The response to inspect or change.
        response: Response,
    },
}

/// What a hook returned, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutput {
    /// From a request hook: continue with a request, or respond.
    Request(RequestAction),
    /// From a response hook: the response to go on with.
    Response(Response),
}

/// Measurements of one invocation, filled in whether it succeeded or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Time to create the instance (zero if it never started).
    pub instantiate: Duration,
    /// Time in the hook, from the call to its return or failure.
    pub run: Duration,
    /// Time in [`Function::invoke`] altogether.
    pub total: Duration,
    /// Fuel consumed, when the runtime meters fuel.
    pub fuel_consumed: Option<u64>,
    /// The most linear memory the instance had at once, in bytes.
    pub peak_memory_bytes: u64,
}

/// The result of an invocation, with its receipt and the guest's log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The validated output, or why there is none.
    pub result: Result<HookOutput, InvokeError>,
    /// Timings, fuel and memory.
    pub receipt: Receipt,
    /// What the guest logged (through the log import, stdout or stderr), in order.
    pub logs: Vec<GuestLog>,
    /// Log lines dropped past [`MAX_LOG_LINES`](crate::MAX_LOG_LINES).
    pub dropped_logs: u32,
}

impl Function {
    /// Invokes `hook` with `input` in a fresh instance under `limits` (validated for the same
    /// hook by [`Runtime::limits`](crate::Runtime::limits)). Never panics and never leaves
    /// state behind: whatever the guest does ends as an [`Outcome`].
    pub async fn invoke(
        &self,
        hook: Hook,
        input: HookInput,
        limits: &Limits,
        context: &InvocationContext,
    ) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome {
            result: Err(InvokeError::HookNotExported { hook }),
            receipt: Receipt::default(),
            logs: Vec::new(),
            dropped_logs: 0,
        };
        if let Some(export) = self.0.exports[hook.index()] {
            outcome.result = self
                .invoke_export(hook, export, input, limits, context, &mut outcome)
                .await;
        }
        outcome.receipt.total = started.elapsed();
        outcome
    }

    async fn invoke_export(
        &self,
        hook: Hook,
        export: ComponentExportIndex,
        input: HookInput,
        limits: &Limits,
        context: &InvocationContext,
        outcome: &mut Outcome,
    ) -> Result<HookOutput, InvokeError> {
        if limits.hook() != hook {
            return Err(InvokeError::Internal(format!(
                "limits validated for {} used for {hook}",
                limits.hook()
            )));
        }
        let _permit =
            self.0
                .concurrency
                .try_acquire()
                .map_err(|_| InvokeError::ConcurrencyLimit {
                    limit: self.0.max_concurrency,
                })?;

        let budget = &self.0.runtime.budget;
        if budget.exhausted() {
            return Err(InvokeError::Throttled {
                limit: budget.limit(),
            });
        }
        let deadline = Instant::now() + limits.timeout();
        let mut store = self.new_store(hook, limits, context, deadline);
        let fuel_budget = self
            .0
            .runtime
            .config
            .fuel_metering
            .then(|| limits.fuel().unwrap_or(u64::MAX));
        if let Some(budget) = fuel_budget {
            store
                .set_fuel(budget)
                .map_err(|error| InvokeError::Internal(format!("{error:#}")))?;
        }

        let mut instantiated_at = None;
        let call = self.instantiate_and_call(&mut store, export, input, &mut instantiated_at);
        let host_deadline = tokio::time::Instant::from_std(deadline + HOST_DEADLINE_GRACE);
        let called = tokio::time::timeout_at(host_deadline, call).await;
        let finished = Instant::now();

        let receipt = &mut outcome.receipt;
        if let Some((started, instantiated)) = instantiated_at {
            receipt.instantiate = instantiated - started;
            receipt.run = finished - instantiated;
        }
        receipt.peak_memory_bytes = store.data().limiter.peak;
        if let Some(budget) = fuel_budget {
            receipt.fuel_consumed = store.get_fuel().ok().map(|left| budget - left);
        }
        (outcome.logs, outcome.dropped_logs) = store.data_mut().take_logs();

        let returned = match called {
            Err(_elapsed) => {
                return Err(InvokeError::Timeout {
                    timeout: limits.timeout(),
                });
            }
            Ok(Err(error)) => return Err(classify(&error, store.data(), limits, fuel_budget)),
            Ok(Ok(returned)) => returned,
        };
        validate(returned, limits)
    }

    fn new_store(
        &self,
        hook: Hook,
        limits: &Limits,
        context: &InvocationContext,
        deadline: Instant,
    ) -> Store<HostState> {
        let state = HostState::new(
            Arc::clone(&self.0.identity),
            hook,
            context.clone(),
            GuestLimiter::new(limits.memory_bytes(), Arc::clone(&self.0.runtime.budget)),
            deadline,
        );
        limited_store(&self.0.runtime.engine, state)
    }

    async fn instantiate_and_call(
        &self,
        store: &mut Store<HostState>,
        export: ComponentExportIndex,
        input: HookInput,
        instantiated_at: &mut Option<(Instant, Instant)>,
    ) -> wasmtime::Result<Returned> {
        let started = Instant::now();
        let instance = self.0.pre.instantiate_async(&mut *store).await?;
        *instantiated_at = Some((started, Instant::now()));
        match input {
            HookInput::Request(request) => {
                let func: RequestHookFunc = instance.get_typed_func(&mut *store, export)?;
                let (result,) = func.call_async(&mut *store, (request,)).await?;
                Ok(Returned::Request(result))
            }
            HookInput::Response { request, response } => {
                let func: ResponseHookFunc = instance.get_typed_func(&mut *store, export)?;
                let (result,) = func.call_async(&mut *store, (request, response)).await?;
                Ok(Returned::Response(result))
            }
        }
    }
}

/// What the guest handed back, before validation.
enum Returned {
    Request(Result<RequestAction, String>),
    Response(Result<Response, String>),
}

fn validate(returned: Returned, limits: &Limits) -> Result<HookOutput, InvokeError> {
    let guest_error = |message: String| InvokeError::GuestError {
        message: truncate(message, MAX_LOG_MESSAGE_BYTES),
    };
    match returned {
        Returned::Request(Err(message)) | Returned::Response(Err(message)) => {
            Err(guest_error(message))
        }
        Returned::Request(Ok(action)) => {
            match &action {
                RequestAction::Continue(request) => check_request(request)?,
                RequestAction::Respond(response) => check_response(response, true, limits)?,
            }
            Ok(HookOutput::Request(action))
        }
        Returned::Response(Ok(response)) => {
            check_response(&response, false, limits)?;
            Ok(HookOutput::Response(response))
        }
    }
}

/// Turns a wasmtime error from instantiation or the call into an error class. Anything not
/// recognised is the guest's doing (a trap, or output the canonical ABI cannot lift) and is
/// reported as a trap with wasmtime's explanation.
fn classify(
    error: &wasmtime::Error,
    state: &HostState,
    limits: &Limits,
    fuel_budget: Option<u64>,
) -> InvokeError {
    if error.chain().any(|cause| cause.is::<MemoryLimitExceeded>()) {
        return InvokeError::MemoryLimit {
            limit: limits.memory_bytes(),
        };
    }
    if error.chain().any(|cause| cause.is::<BudgetExceeded>()) {
        return InvokeError::Throttled {
            limit: state.limiter.budget_limit(),
        };
    }
    if error
        .chain()
        .any(|cause| cause.is::<PoolConcurrencyLimitError>())
    {
        return InvokeError::PoolExhausted(format!("{error:#}"));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvokeError::Timeout {
            timeout: limits.timeout(),
        },
        Some(Trap::OutOfFuel) => InvokeError::FuelExhausted {
            budget: fuel_budget.unwrap_or_default(),
        },
        Some(Trap::StackOverflow) => InvokeError::StackOverflow,
        Some(trap) => InvokeError::Trap {
            trap: trap.to_string(),
            guest_message: state.stderr_text(),
        },
        None => InvokeError::Trap {
            trap: truncate(format!("{error:#}"), MAX_LOG_MESSAGE_BYTES),
            guest_message: state.stderr_text(),
        },
    }
}

/// A store for one instance with its limits armed: the memory limiter, and an epoch callback
/// that checks in at every tick — before the state's deadline it yields the thread to other
/// tasks, past it it interrupts the guest.
pub(crate) fn limited_store(engine: &wasmtime::Engine, state: HostState) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|store| {
        if Instant::now() >= store.data().deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}
