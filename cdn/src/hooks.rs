//! Running one association: build the hook's input, invoke the function, record the receipt
//! and the guest's log lines, and turn its output back into edge messages under the rules.

use std::sync::Arc;

use wedge_runtime::types::RequestAction;
use wedge_runtime::{
    ErrorClass, GuestLog, Hook, HookInput, HookOutput, InvocationContext, LogLevel, Receipt,
};

use crate::config::{FailurePolicy, ORIGIN_BODY_CAP, VIEWER_BODY_CAP};
use crate::convert;
use crate::error::EdgeError;
use crate::message::{EdgeRequest, EdgeResponse};
use crate::state::Association;
use crate::trace::{HookRecord, Trace};

/// A function failed; the pipeline applies `policy`.
#[derive(Debug)]
pub(crate) struct HookFailure {
    pub(crate) error: EdgeError,
    pub(crate) policy: FailurePolicy,
}

/// What a request hook decided.
pub(crate) enum RequestOutcome {
    /// Go on with this request.
    Continue(EdgeRequest),
    /// Answer with this generated response.
    Respond(EdgeResponse),
}

fn body_cap(hook: Hook) -> usize {
    if hook.is_viewer() {
        VIEWER_BODY_CAP
    } else {
        ORIGIN_BODY_CAP
    }
}

/// Runs viewer-request or origin-request.
pub(crate) async fn run_request_hook(
    association: &Association,
    request: &EdgeRequest,
    trace: &mut Trace,
) -> Result<RequestOutcome, HookFailure> {
    let hook = association.hook;
    let cap = body_cap(hook);
    let body_visible = association.include_body && request.body.len() <= cap;
    let input = HookInput::Request(convert::to_guest_request(
        request,
        association.include_body,
        cap,
    ));
    let result = match invoke(association, input, trace).await {
        Ok(HookOutput::Request(RequestAction::Continue(guest))) => {
            convert::from_guest_request(hook, request, guest, body_visible)
                .map(RequestOutcome::Continue)
        }
        Ok(HookOutput::Request(RequestAction::Respond(guest))) => {
            convert::generated_response(hook, guest).map(RequestOutcome::Respond)
        }
        Ok(HookOutput::Response(_)) => Err(EdgeError::function(
            hook,
            ErrorClass::Internal,
            "a request hook returned a response output",
        )),
        Err(error) => Err(error),
    };
    result.map_err(|error| failure(association, error, trace))
}

/// Runs origin-response or viewer-response.
pub(crate) async fn run_response_hook(
    association: &Association,
    request: &EdgeRequest,
    response: &EdgeResponse,
    trace: &mut Trace,
) -> Result<EdgeResponse, HookFailure> {
    let hook = association.hook;
    let cap = body_cap(hook);
    let input = HookInput::Response {
        request: convert::to_guest_request(request, false, cap),
        response: convert::to_guest_response(response, association.include_body, cap),
    };
    let result = match invoke(association, input, trace).await {
        Ok(HookOutput::Response(guest)) => convert::from_guest_response(hook, response, guest),
        Ok(HookOutput::Request(_)) => Err(EdgeError::function(
            hook,
            ErrorClass::Internal,
            "a response hook returned a request output",
        )),
        Err(error) => Err(error),
    };
    result.map_err(|error| failure(association, error, trace))
}

/// Marks the invocation's record failed (a rule broken after a successful call counts too).
fn failure(association: &Association, error: EdgeError, trace: &mut Trace) -> HookFailure {
    if let Some(record) = trace.hooks.last_mut() {
        record.error = Some(error.class());
    }
    tracing::warn!(
        request_id = &*trace.request_id,
        hook = association.hook.as_str(),
        function = association.function_name(),
        policy = association.on_error.as_str(),
        "function failed: {error}"
    );
    HookFailure {
        error,
        policy: association.on_error,
    }
}

async fn invoke(
    association: &Association,
    input: HookInput,
    trace: &mut Trace,
) -> Result<HookOutput, EdgeError> {
    let context = InvocationContext {
        distribution_id: trace.distribution.clone().unwrap_or_else(|| Arc::from("")),
        request_id: Arc::clone(&trace.request_id),
        config: Arc::clone(&association.config),
    };
    let hook = association.hook;
    let function = match &association.function {
        Ok(function) => function,
        Err(reason) => {
            trace.hooks.push(HookRecord {
                hook,
                function: association.label(),
                receipt: Receipt::default(),
                error: Some(ErrorClass::Unavailable.as_str()),
                logs: Vec::new(),
            });
            return Err(EdgeError::function(
                hook,
                ErrorClass::Unavailable,
                reason.to_string(),
            ));
        }
    };
    let mut outcome = function
        .invoke(hook, input, &association.limits, &context)
        .await;
    for log in &outcome.logs {
        emit_guest_log(log, &trace.request_id, association, hook);
    }
    if outcome.dropped_logs > 0 {
        tracing::warn!(
            request_id = &*trace.request_id,
            function = function.name(),
            "{} guest log lines dropped",
            outcome.dropped_logs
        );
    }
    trace.hooks.push(HookRecord {
        hook,
        function: association.label(),
        receipt: outcome.receipt,
        error: outcome
            .result
            .as_ref()
            .err()
            .map(|error| error.class().as_str()),
        logs: std::mem::take(&mut outcome.logs),
    });
    outcome
        .result
        .map_err(|error| EdgeError::function(hook, error.class(), error.to_string()))
}

/// Writes a guest's log line through tracing, tagged with the request id and the function.
fn emit_guest_log(log: &GuestLog, request_id: &str, association: &Association, hook: Hook) {
    let function = association.function_name();
    let hook = hook.as_str();
    let source = format!("{:?}", log.source);
    let message = log.message.as_str();
    match log.level {
        LogLevel::Trace => {
            tracing::trace!(target: "wedge::guest", request_id, function, hook, source, "{message}")
        }
        LogLevel::Debug => {
            tracing::debug!(target: "wedge::guest", request_id, function, hook, source, "{message}")
        }
        LogLevel::Info => {
            tracing::info!(target: "wedge::guest", request_id, function, hook, source, "{message}")
        }
        LogLevel::Warn => {
            tracing::warn!(target: "wedge::guest", request_id, function, hook, source, "{message}")
        }
        LogLevel::Error => {
            tracing::error!(target: "wedge::guest", request_id, function, hook, source, "{message}")
        }
    }
}
