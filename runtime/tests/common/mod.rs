//! Shared helpers for the runtime's integration tests: a runtime, fixtures, requests.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers"
)]

use std::time::Duration;

use wedge_runtime::types::{Header, Request, RequestAction, Response};
use wedge_runtime::{
    Function, FunctionOptions, Hook, HookInput, HookOutput, InvocationContext, Limits, LimitsSpec,
    Outcome, Runtime, RuntimeConfig,
};

/// A runtime with the default config, but a small pool so that tests start fast.
pub fn runtime() -> Runtime {
    runtime_with(RuntimeConfig {
        max_instances: 200,
        ..RuntimeConfig::default()
    })
}

pub fn runtime_with(config: RuntimeConfig) -> Runtime {
    Runtime::new(config).expect("runtime")
}

pub async fn load(runtime: &Runtime, fixture: &str) -> Function {
    load_with(runtime, fixture, FunctionOptions::new("fixture", "1")).await
}

pub async fn load_with(runtime: &Runtime, fixture: &str, options: FunctionOptions) -> Function {
    let wasm = wedge_test_fixtures::bytes(fixture);
    runtime
        .load(&wasm, options)
        .await
        .unwrap_or_else(|error| panic!("loading {fixture}: {error}"))
}

pub fn request(uri: &str) -> Request {
    Request {
        method: "GET".into(),
        uri: uri.into(),
        headers: vec![
            header("host", "example.com"),
            header("user-agent", "Mozilla/5.0 (iPhone; Mobile)"),
            header("accept-language", "de-CH,de;q=0.9"),
            header("cookie", "session=abc; theme=dark"),
        ],
        client_ip: "192.0.2.10".into(),
        body: None,
    }
}

pub fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.as_bytes().to_vec(),
    }
}

pub fn header_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|header| header.name == name)
        .map(|header| std::str::from_utf8(&header.value).expect("utf-8 header"))
}

pub fn limits(runtime: &Runtime, hook: Hook) -> Limits {
    runtime.limits(hook, LimitsSpec::default()).expect("limits")
}

pub fn limits_with(runtime: &Runtime, hook: Hook, spec: LimitsSpec) -> Limits {
    runtime.limits(hook, spec).expect("limits")
}

pub fn timeout(millis: u64) -> LimitsSpec {
    LimitsSpec {
        timeout: Some(Duration::from_millis(millis)),
        ..LimitsSpec::default()
    }
}

/// Invokes viewer-request with a request for `uri` under default limits.
pub async fn viewer_request(runtime: &Runtime, function: &Function, uri: &str) -> Outcome {
    invoke_request(function, &limits(runtime, Hook::ViewerRequest), uri).await
}

/// Invokes the request hook `limits` were validated for with a request for `uri`.
pub async fn invoke_request(function: &Function, limits: &Limits, uri: &str) -> Outcome {
    function
        .invoke(
            limits.hook(),
            HookInput::Request(request(uri)),
            limits,
            &InvocationContext::default(),
        )
        .await
}

/// Starts `count` invocations of `function` (a guest that does not return) on tasks of their
/// own, and waits until all of them are running.
pub async fn start_running(
    function: &Function,
    limits: Limits,
    count: u32,
) -> Vec<tokio::task::JoinHandle<Outcome>> {
    let tasks = (0..count)
        .map(|_| {
            let function = function.clone();
            tokio::spawn(async move { invoke_request(&function, &limits, "/").await })
        })
        .collect();
    while function.in_flight() < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tasks
}

/// The request a viewer-request outcome continued with; panics on anything else.
pub fn continued(outcome: Outcome) -> Request {
    match outcome.result {
        Ok(HookOutput::Request(RequestAction::Continue(request))) => request,
        other => panic!("expected a continued request, got {other:?}"),
    }
}

/// The response a request hook generated; panics on anything else.
pub fn generated(outcome: Outcome) -> Response {
    match outcome.result {
        Ok(HookOutput::Request(RequestAction::Respond(response))) => response,
        other => panic!("expected a generated response, got {other:?}"),
    }
}
