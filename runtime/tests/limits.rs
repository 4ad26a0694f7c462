//! Limits that span invocations or configurations: hooks not exported, the concurrency limit,
//! many concurrent tasks, fuel, and a full instance pool.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests"
)]

mod common;

use std::time::Duration;

use common::*;
use wedge_runtime::{
    ErrorClass, FunctionOptions, Hook, HookInput, InvocationContext, InvokeError, LimitsSpec,
    RuntimeConfig,
};
use wedge_test_fixtures as fixtures;

#[tokio::test]
async fn a_hook_the_function_does_not_export_is_a_classified_error() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::HELLO).await;
    let outcome = invoke_request(&function, &limits(&runtime, Hook::OriginRequest), "/").await;
    assert_eq!(
        outcome.result,
        Err(InvokeError::HookNotExported {
            hook: Hook::OriginRequest
        })
    );
    assert_eq!(
        outcome.result.unwrap_err().class().as_str(),
        "hook-not-exported"
    );
}

#[tokio::test]
async fn limits_validated_for_another_hook_are_refused() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::HELLO).await;
    let origin_limits = limits(&runtime, Hook::OriginRequest);
    let outcome = function
        .invoke(
            Hook::ViewerRequest,
            HookInput::Request(request("/")),
            &origin_limits,
            &InvocationContext::default(),
        )
        .await;
    assert_eq!(
        outcome.result.map_err(|error| error.class()),
        Err(ErrorClass::Internal)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_fails_fast_and_frees_up_afterwards() {
    let runtime = runtime();
    let options = FunctionOptions {
        max_concurrency: 2,
        ..FunctionOptions::new("spinner", "1")
    };
    let function = load_with(&runtime, fixtures::SPIN_FOREVER, options).await;
    let limits = limits_with(&runtime, Hook::ViewerRequest, timeout(1_000));
    let running = start_running(&function, limits, 2).await;

    let third = invoke_request(&function, &limits, "/").await;
    assert_eq!(
        third.result,
        Err(InvokeError::ConcurrencyLimit { limit: 2 })
    );
    assert!(third.receipt.total < limits.timeout(), "it must not queue");

    for task in running {
        let outcome = task.await.expect("task");
        assert_eq!(
            outcome.result.map_err(|e| e.class()),
            Err(ErrorClass::Timeout)
        );
    }
    assert_eq!(function.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_invoke_one_function_concurrently_without_sharing_state() {
    let runtime = runtime();
    let function = load(&runtime, fixtures::COUNTER).await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (runtime, function) = (runtime.clone(), function.clone());
            tokio::spawn(async move {
                let mut counts = Vec::new();
                for _ in 0..20 {
                    let request = continued(viewer_request(&runtime, &function, "/").await);
                    counts.push(header_value(&request.headers, "x-count").map(str::to_string));
                }
                counts
            })
        })
        .collect();
    let mut invocations = 0;
    for task in tasks {
        for count in task.await.expect("task") {
            assert_eq!(count.as_deref(), Some("1"));
            invocations += 1;
        }
    }
    assert_eq!(invocations, 64 * 20);
}

#[tokio::test]
async fn a_fuel_budget_stops_a_busy_guest_and_fuel_is_reported() {
    let runtime = runtime_with(RuntimeConfig {
        max_instances: 10,
        fuel_metering: true,
        ..RuntimeConfig::default()
    });
    let budget = LimitsSpec {
        fuel: Some(5_000_000),
        ..LimitsSpec::default()
    };
    let limits = limits_with(&runtime, Hook::ViewerRequest, budget);

    let spinner = load(&runtime, fixtures::SPIN_FOREVER).await;
    let outcome = invoke_request(&spinner, &limits, "/").await;
    assert_eq!(
        outcome.result,
        Err(InvokeError::FuelExhausted { budget: 5_000_000 })
    );
    assert_eq!(outcome.receipt.fuel_consumed, Some(5_000_000));

    let hello = load(&runtime, fixtures::HELLO).await;
    let outcome = invoke_request(&hello, &limits, "/").await;
    let used = outcome.receipt.fuel_consumed.expect("metered");
    assert!(used > 0 && used < 5_000_000, "{used}");
    continued(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_is_a_classified_error() {
    let runtime = runtime_with(RuntimeConfig {
        max_instances: 2,
        ..RuntimeConfig::default()
    });
    let function = load(&runtime, fixtures::SPIN_FOREVER).await;
    let limits = limits_with(&runtime, Hook::ViewerRequest, timeout(1_000));
    let running = start_running(&function, limits, 2).await;
    // Let both reach the guest (past instantiation) before asking for a third slot.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = invoke_request(&function, &limits, "/").await;
    assert_eq!(
        third.result.map_err(|error| error.class()),
        Err(ErrorClass::PoolExhausted)
    );
    for task in running {
        task.await.expect("task");
    }
}
