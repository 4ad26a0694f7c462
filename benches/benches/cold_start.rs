//! The cold-start suite: compile from bytes, load a precompiled artifact, instantiate
//! (pooling vs on-demand), full hook invocation of an SDK-built guest that rewrites headers,
//! and the cost of fuel metering on top of epoch interruption.
//!
//! `cargo bench -p wedge-benches --bench cold_start`

#![allow(clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wedge_benches::{invoke_viewer_request, viewer_limits};
use wedge_runtime::{
    Allocation, Function, FunctionOptions, InvocationContext, Runtime, RuntimeConfig,
};
use wedge_test_fixtures as fixtures;

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(config).expect("wedge runtime")
}

fn load(tokio: &tokio::runtime::Runtime, runtime: &Runtime, fixture: &str) -> Function {
    let wasm = fixtures::bytes(fixture);
    tokio
        .block_on(runtime.load(&wasm, FunctionOptions::new("bench", "1")))
        .expect("load")
}

fn loading(c: &mut Criterion) {
    let tokio = tokio();
    let wasm = fixtures::bytes(fixtures::HEADER_REWRITE);
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    let uncached = runtime(RuntimeConfig::default());
    group.bench_function("compile-from-bytes", |b| {
        b.to_async(&tokio).iter(|| async {
            uncached
                .load(&wasm, FunctionOptions::new("bench", "1"))
                .await
                .expect("load")
        });
    });

    let cache = tempfile::tempdir().expect("tempdir");
    let cached = runtime(RuntimeConfig {
        compile_cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    });
    load(&tokio, &cached, fixtures::HEADER_REWRITE);
    group.bench_function("deserialize-precompiled", |b| {
        b.to_async(&tokio).iter(|| async {
            cached
                .load(&wasm, FunctionOptions::new("bench", "1"))
                .await
                .expect("load")
        });
    });
    group.finish();
}

/// Instantiation alone, measured from each invocation's receipt.
fn instantiation(c: &mut Criterion) {
    let tokio = tokio();
    let context = InvocationContext::default();
    let mut group = c.benchmark_group("instantiate");
    for (name, allocation) in [
        ("pooling", Allocation::Pooling),
        ("on-demand", Allocation::OnDemand),
    ] {
        let runtime = runtime(RuntimeConfig {
            allocation,
            ..RuntimeConfig::default()
        });
        let function = load(&tokio, &runtime, fixtures::HEADER_REWRITE);
        let limits = viewer_limits(&runtime).expect("limits");
        group.bench_function(name, |b| {
            b.to_async(&tokio).iter_custom(|iterations| {
                let (function, context) = (&function, &context);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += invoke_viewer_request(function, &limits, context)
                            .await
                            .receipt
                            .instantiate;
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

/// A whole viewer-request invocation: fresh instance, the guest reading and rewriting ten
/// headers, output lifted and validated.
fn invocation(c: &mut Criterion) {
    let tokio = tokio();
    let context = InvocationContext::default();
    let mut group = c.benchmark_group("invoke-header-rewrite");
    let setups = [
        ("pooling-epoch", Allocation::Pooling, false),
        ("pooling-epoch-fuel", Allocation::Pooling, true),
        ("on-demand-epoch", Allocation::OnDemand, false),
    ];
    for (name, allocation, fuel_metering) in setups {
        let runtime = runtime(RuntimeConfig {
            allocation,
            fuel_metering,
            ..RuntimeConfig::default()
        });
        let function = load(&tokio, &runtime, fixtures::HEADER_REWRITE);
        let limits = viewer_limits(&runtime).expect("limits");
        group.bench_function(name, |b| {
            b.to_async(&tokio)
                .iter(|| invoke_viewer_request(&function, &limits, &context));
        });
    }
    group.finish();
}

criterion_group!(benches, loading, instantiation, invocation);
criterion_main!(benches);
