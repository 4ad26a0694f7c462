//! One test per guest fixture, named after it: what the fixture does, the host observes.
//! `foreach_fixture!` makes a fixture without a test here fail to compile.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use wedge_runtime::types::Response;
use wedge_runtime::{
    ErrorClass, FunctionConfig, FunctionOptions, Hook, HookInput, HookOutput, InvocationContext,
    InvokeError, LimitsSpec, LogLevel, LogSource, OutputError, RuntimeConfig,
};
use wedge_test_fixtures as fixtures;

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only proves the test exists")]
        use self::$name as _;
    };
}
wedge_test_fixtures::foreach_fixture!(assert_test_exists);

#[tokio::test]
async fn hello() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::HELLO).await;
    assert_eq!(
        function.hooks().collect::<Vec<_>>(),
        vec![Hook::ViewerRequest]
    );

    let outcome = viewer_request(&runtime, &function, "/index.html").await;
    let receipt = outcome.receipt;
    let request = continued(outcome);
    assert_eq!(header_value(&request.headers, "x-hello"), Some("world"));
    assert_eq!(header_value(&request.headers, "host"), Some("example.com"));
    assert_eq!(request.uri, "/index.html");
    assert!(receipt.instantiate > Duration::ZERO);
    assert!(receipt.peak_memory_bytes >= 64 * 1024, "{receipt:?}");
    assert_eq!(receipt.fuel_consumed, None);
}

#[tokio::test]
async fn header_rewrite() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::HEADER_REWRITE).await;
    let request = continued(viewer_request(&runtime, &function, "/").await);
    let headers = &request.headers;
    assert_eq!(header_value(headers, "x-edge-language"), Some("de-CH"));
    assert_eq!(header_value(headers, "x-edge-device"), Some("mobile"));
    assert_eq!(header_value(headers, "x-edge-session"), Some("1"));
    assert_eq!(header_value(headers, "accept-encoding"), Some("identity"));
}

#[tokio::test]
async fn all_hooks() {
    let runtime = runtime();
    let options = FunctionOptions::new("tagger", "7");
    let function = load_with(&runtime, fixtures::ALL_HOOKS, options).await;
    assert_eq!(function.hooks().collect::<Vec<_>>(), Hook::ALL.to_vec());
    let context = InvocationContext {
        distribution_id: "site-1".into(),
        request_id: "req-42".into(),
        config: Arc::new(FunctionConfig::from_iter([
            ("greeting", "hi"),
            ("other", "x"),
        ])),
    };

    for hook in [Hook::ViewerRequest, Hook::OriginRequest] {
        let limits = limits(&runtime, hook);
        let outcome = function
            .invoke(hook, HookInput::Request(request("/a")), &limits, &context)
            .await;
        assert_eq!(outcome.logs.len(), 1, "{outcome:?}");
        assert_eq!(outcome.logs[0].source, LogSource::Log);
        let request = continued(outcome);
        let tag = format!("x-{}", hook.as_str());
        assert_eq!(header_value(&request.headers, &tag), Some("tagger@7"));
        if hook == Hook::ViewerRequest {
            assert_eq!(
                header_value(&request.headers, "x-request-id"),
                Some("req-42")
            );
            assert_eq!(
                header_value(&request.headers, "x-distribution"),
                Some("site-1")
            );
            assert_eq!(
                header_value(&request.headers, "x-event"),
                Some("viewer-request")
            );
            assert_eq!(header_value(&request.headers, "x-greeting"), Some("hi"));
            assert_eq!(
                header_value(&request.headers, "x-config-entries"),
                Some("2")
            );
        }
    }

    for (hook, level) in [
        (Hook::OriginResponse, LogLevel::Warn),
        (Hook::ViewerResponse, LogLevel::Error),
    ] {
        let limits = limits(&runtime, hook);
        let input = HookInput::Response {
            request: request("/a"),
            response: Response {
                status: 404,
                headers: vec![header("content-type", "text/html")],
                body: None,
            },
        };
        let outcome = function.invoke(hook, input, &limits, &context).await;
        assert_eq!(outcome.logs.len(), 1);
        assert_eq!(outcome.logs[0].level, level);
        let Ok(HookOutput::Response(response)) = outcome.result else {
            panic!("{hook}: {:?}", outcome.result);
        };
        assert_eq!(response.status, 404);
        let tag = format!("x-{}", hook.as_str());
        assert_eq!(header_value(&response.headers, &tag), Some("tagger@7"));
        assert_eq!(
            header_value(&response.headers, "content-type"),
            Some("text/html")
        );
    }
}

#[tokio::test]
async fn respond() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::RESPOND).await;
    let response = generated(viewer_request(&runtime, &function, "/hello").await);
    assert_eq!(response.status, 200);
    assert_eq!(response.body.as_deref(), Some(&b"hello from the edge"[..]));
    assert_eq!(header_value(&response.headers, "x-generated"), Some("1"));
    let request = continued(viewer_request(&runtime, &function, "/other").await);
    assert_eq!(request.uri, "/other");
}

#[tokio::test]
async fn guest_error() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::GUEST_ERROR).await;
    let outcome = viewer_request(&runtime, &function, "/").await;
    assert_eq!(
        outcome.result,
        Err(InvokeError::GuestError {
            message: "denied by policy".into()
        })
    );
}

#[tokio::test]
async fn counter() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::COUNTER).await;
    for invocation in 0..1_000 {
        let request = continued(viewer_request(&runtime, &function, "/").await);
        assert_eq!(
            header_value(&request.headers, "x-count"),
            Some("1"),
            "invocation {invocation} saw state from an earlier one"
        );
    }
}

#[tokio::test]
async fn chatty() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::CHATTY).await;
    let outcome = viewer_request(&runtime, &function, "/").await;
    let stdout: Vec<_> = outcome
        .logs
        .iter()
        .filter(|log| log.source == LogSource::Stdout)
        .map(|log| log.message.as_str())
        .collect();
    let request = continued(outcome.clone());
    assert_eq!(header_value(&request.headers, "x-printed"), Some("2000"));
    assert_eq!(
        stdout.first().copied(),
        Some("line     0: the quick brown fox jumps over the lazy dog")
    );
    let kept_lines = wedge_runtime::STDIO_CAPTURE_BYTES / 60;
    assert!(
        stdout.len() > kept_lines / 2 && stdout.len() < kept_lines * 2,
        "{}",
        stdout.len()
    );
    let note = stdout.last().copied().unwrap_or_default();
    assert!(note.ends_with("more bytes not captured]"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::CANARY).await;
    // Sequential invocations reuse the same pooled slot; concurrent ones spread over several.
    for _ in 0..50 {
        let request = continued(viewer_request(&runtime, &function, "/").await);
        assert_eq!(header_value(&request.headers, "x-canary-found"), Some("0"));
    }
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (runtime, function) = (runtime.clone(), function.clone());
            tokio::spawn(async move {
                let mut found = Vec::new();
                for _ in 0..10 {
                    let request = continued(viewer_request(&runtime, &function, "/").await);
                    found
                        .push(header_value(&request.headers, "x-canary-found").map(str::to_string));
                }
                found
            })
        })
        .collect();
    for task in tasks {
        for found in task.await.expect("task") {
            assert_eq!(found.as_deref(), Some("0"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_forever() {
    let tick = Duration::from_millis(25);
    let runtime = runtime_with(RuntimeConfig {
        max_instances: 10,
        epoch_tick: tick,
        ..RuntimeConfig::default()
    });
    let function = load(&runtime, fixtures::SPIN_FOREVER).await;
    let limits = limits_with(&runtime, Hook::ViewerRequest, timeout(100));
    let outcome = invoke_request(&function, &limits, "/").await;
    assert_eq!(
        outcome.result.as_ref().map_err(InvokeError::class),
        Err(ErrorClass::Timeout)
    );
    let ran = outcome.receipt.instantiate + outcome.receipt.run;
    assert!(
        ran < limits.timeout() + 2 * tick,
        "stopped after {ran:?}, past the deadline plus two ticks"
    );
    assert_host_unharmed(&runtime).await;
}

#[tokio::test]
async fn sleeper() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::SLEEPER).await;
    let limits = limits_with(&runtime, Hook::ViewerRequest, timeout(100));
    let outcome = invoke_request(&function, &limits, "/").await;
    assert_eq!(
        outcome.result,
        Err(InvokeError::Timeout {
            timeout: Duration::from_millis(100)
        })
    );
    // Not a timing check: a sleep the host could not interrupt would hold this for a minute.
    assert!(
        outcome.receipt.total < Duration::from_secs(30),
        "{:?}",
        outcome.receipt
    );
    assert_host_unharmed(&runtime).await;
}

#[tokio::test]
async fn memory_bomb() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::MEMORY_BOMB).await;
    let cap = 16 * 1024 * 1024;
    let spec = LimitsSpec {
        memory_bytes: Some(cap),
        ..LimitsSpec::default()
    };
    let limits = limits_with(&runtime, Hook::ViewerRequest, spec);
    let outcome = invoke_request(&function, &limits, "/").await;
    assert_eq!(outcome.result, Err(InvokeError::MemoryLimit { limit: cap }));
    assert!(outcome.receipt.peak_memory_bytes <= cap);
    assert!(
        outcome.receipt.peak_memory_bytes > cap / 2,
        "{:?}",
        outcome.receipt
    );
    assert_host_unharmed(&runtime).await;
}

#[tokio::test]
async fn deep_recursion() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::DEEP_RECURSION).await;
    let outcome = viewer_request(&runtime, &function, "/").await;
    assert_eq!(outcome.result, Err(InvokeError::StackOverflow));
    assert_host_unharmed(&runtime).await;
}

#[tokio::test]
async fn panic() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::PANIC).await;
    let outcome = viewer_request(&runtime, &function, "/").await;
    let Err(InvokeError::Trap { guest_message, .. }) = &outcome.result else {
        panic!("expected a trap, got {:?}", outcome.result);
    };
    let message = guest_message.as_deref().unwrap_or_default();
    assert!(message.contains("guest panicked on purpose"), "{message}");
    assert!(
        outcome
            .logs
            .iter()
            .any(|log| log.source == LogSource::Stderr && log.message.contains("on purpose")),
        "{:?}",
        outcome.logs
    );
    assert_host_unharmed(&runtime).await;
}

#[tokio::test]
async fn invalid_output() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::INVALID_OUTPUT).await;
    let cases = [
        ("/status", OutputError::Status(1000)),
        ("/header-name", OutputError::HeaderName("bad name".into())),
        ("/header-value", OutputError::HeaderValue("x-split".into())),
    ];
    for (path, expected) in cases {
        let outcome = viewer_request(&runtime, &function, path).await;
        assert_eq!(
            outcome.result,
            Err(InvokeError::InvalidOutput(expected)),
            "{path}"
        );
    }
    let outcome = viewer_request(&runtime, &function, "/oversized").await;
    assert!(
        matches!(
            outcome.result,
            Err(InvokeError::InvalidOutput(
                OutputError::GeneratedResponseTooLarge { limit: 40_960, .. }
            ))
        ),
        "{:?}",
        outcome.result
    );
    let fine = continued(viewer_request(&runtime, &function, "/fine").await);
    assert_eq!(fine.uri, "/fine");
}

/// Invokes a request hook of `function` with `request`.
async fn invoke_hook(
    runtime: &wedge_runtime::Runtime,
    function: &wedge_runtime::Function,
    hook: Hook,
    input: HookInput,
) -> wedge_runtime::Outcome {
    let limits = limits(runtime, hook);
    function
        .invoke(hook, input, &limits, &InvocationContext::default())
        .await
}

#[tokio::test]
async fn fail_on_header() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::FAIL_ON_HEADER).await;
    assert_eq!(function.hooks().count(), 4);
    let request = continued(viewer_request(&runtime, &function, "/").await);
    assert_eq!(
        header_value(&request.headers, "x-viewer-request"),
        Some("ok")
    );
    let mut failing = common::request("/");
    failing.headers.push(header("x-fail", "origin-response"));
    let response = Response {
        status: 200,
        headers: vec![],
        body: None,
    };
    let input = HookInput::Response {
        request: failing.clone(),
        response: response.clone(),
    };
    let outcome = invoke_hook(&runtime, &function, Hook::OriginResponse, input).await;
    assert_eq!(
        outcome.result.map_err(|e| e.class()),
        Err(ErrorClass::GuestError)
    );
    let input = HookInput::Response {
        request: failing,
        response,
    };
    let outcome = invoke_hook(&runtime, &function, Hook::ViewerResponse, input).await;
    let Ok(HookOutput::Response(response)) = outcome.result else {
        panic!("viewer-response did not run")
    };
    assert_eq!(
        header_value(&response.headers, "x-viewer-response"),
        Some("ok")
    );
}

#[tokio::test]
async fn origin_router() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::ORIGIN_ROUTER).await;
    let outcome = invoke_hook(
        &runtime,
        &function,
        Hook::OriginRequest,
        HookInput::Request(common::request("/generated/a")),
    )
    .await;
    let Ok(HookOutput::Request(wedge_runtime::types::RequestAction::Respond(response))) =
        outcome.result
    else {
        panic!("no generated response")
    };
    assert_eq!(
        header_value(&response.headers, "cache-control"),
        Some("max-age=60")
    );
    let mut picking = common::request("/x");
    picking.headers.push(header("x-pick-origin", "alt"));
    let outcome = invoke_hook(
        &runtime,
        &function,
        Hook::OriginRequest,
        HookInput::Request(picking),
    )
    .await;
    let request = continued(outcome);
    assert_eq!(
        header_value(&request.headers, "x-wedge-origin"),
        Some("alt")
    );
    assert_eq!(header_value(&request.headers, "x-origin-router"), Some("1"));
}

#[tokio::test]
async fn rule_breaker() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::RULE_BREAKER).await;
    let request = continued(viewer_request(&runtime, &function, "/change-host").await);
    assert_eq!(header_value(&request.headers, "host"), Some("evil.example"));
    let request = continued(viewer_request(&runtime, &function, "/add-via").await);
    assert_eq!(header_value(&request.headers, "via"), Some("1.1 spoofed"));
    let input = HookInput::Response {
        request: common::request("/change-encoding"),
        response: Response {
            status: 200,
            headers: vec![],
            body: None,
        },
    };
    let outcome = invoke_hook(&runtime, &function, Hook::ViewerResponse, input).await;
    let Ok(HookOutput::Response(response)) = outcome.result else {
        panic!("viewer-response did not run")
    };
    assert_eq!(
        header_value(&response.headers, "content-encoding"),
        Some("br")
    );
}

#[tokio::test]
async fn body_upper() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::BODY_UPPER).await;
    let request = continued(viewer_request(&runtime, &function, "/").await);
    assert_eq!(header_value(&request.headers, "x-body-seen"), Some("no"));
    let mut with_body = common::request("/");
    with_body.body = Some(b"abc".to_vec());
    let outcome = invoke_hook(
        &runtime,
        &function,
        Hook::ViewerRequest,
        HookInput::Request(with_body),
    )
    .await;
    let request = continued(outcome);
    assert_eq!(header_value(&request.headers, "x-body-seen"), Some("yes"));
    assert_eq!(request.body.as_deref(), Some(&b"ABC"[..]));
}

/// After a guest misbehaved, the same runtime still runs a well-behaved guest.
async fn assert_host_unharmed(runtime: &wedge_runtime::Runtime) {
    let hello = load(runtime, fixtures::HELLO).await;
    let request = continued(viewer_request(runtime, &hello, "/after").await);
    assert_eq!(header_value(&request.headers, "x-hello"), Some("world"));
}
