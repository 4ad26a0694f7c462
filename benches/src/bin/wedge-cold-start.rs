//! The cold-start report: loads the benchmark guest (compiled, then from the compile cache),
//! shows what its viewer-request hook does to a browser request, then invokes it many times in
//! fresh instances and prints p50/p90/p99 per phase and the throughput.
//!
//! `cargo run --release -p wedge-benches --features fixtures --bin wedge-cold-start [-- INVOCATIONS]`

#![allow(clippy::print_stdout, reason = "a report printed for a person")]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wedge_benches::{browser_request, invoke_viewer_request, viewer_limits};
use wedge_runtime::types::RequestAction;
use wedge_runtime::{FunctionOptions, HookOutput, InvocationContext, Runtime, RuntimeConfig};
use wedge_test_fixtures as fixtures;

const DEFAULT_INVOCATIONS: usize = 20_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let invocations = match std::env::args().nth(1) {
        Some(count) => count.parse().context("INVOCATIONS must be a number")?,
        None => DEFAULT_INVOCATIONS,
    };
    let cache = std::env::temp_dir().join(format!("wedge-cold-start-{}", std::process::id()));
    let runtime = Runtime::new(RuntimeConfig {
        compile_cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    })?;
    let wasm = fixtures::bytes(fixtures::HEADER_REWRITE);
    println!(
        "wedge cold-start report: header_rewrite.wasm ({} KiB)",
        wasm.len() / 1024
    );

    for label in ["compile from bytes", "load from compile cache"] {
        let started = Instant::now();
        let function = runtime
            .load(&wasm, FunctionOptions::new("header-rewrite", "1"))
            .await?;
        println!(
            "  {label:<26} {:>10.2?}  ({:?})",
            started.elapsed(),
            function.artifact_source()
        );
    }
    let function = runtime
        .load(&wasm, FunctionOptions::new("header-rewrite", "1"))
        .await?;
    let limits = viewer_limits(&runtime)?;
    let context = InvocationContext::default();

    let outcome = invoke_viewer_request(&function, &limits, &context).await;
    let Ok(HookOutput::Request(RequestAction::Continue(rewritten))) = outcome.result else {
        bail!(
            "the guest did not continue the request: {:?}",
            outcome.result
        );
    };
    println!("\nviewer-request: headers in -> out");
    let before = browser_request().headers;
    for header in &rewritten.headers {
        let old = before.iter().find(|h| h.name == header.name);
        if old.map(|h| &h.value) != Some(&header.value) {
            println!(
                "  {:<18} = {}",
                header.name,
                String::from_utf8_lossy(&header.value)
            );
        }
    }
    for header in before
        .iter()
        .filter(|h| !rewritten.headers.iter().any(|r| r.name == h.name))
    {
        println!("  {:<18} (removed)", header.name);
    }

    let mut instantiate = Vec::with_capacity(invocations);
    let mut run = Vec::with_capacity(invocations);
    let mut total = Vec::with_capacity(invocations);
    let started = Instant::now();
    for _ in 0..invocations {
        let outcome = invoke_viewer_request(&function, &limits, &context).await;
        if let Err(error) = outcome.result {
            bail!("invocation failed: {error}");
        }
        instantiate.push(outcome.receipt.instantiate);
        run.push(outcome.receipt.run);
        total.push(outcome.receipt.total);
    }
    let elapsed = started.elapsed();

    println!("\n{invocations} invocations, each in a fresh instance (one thread):");
    println!("  {:<12} {:>9} {:>9} {:>9}", "phase", "p50", "p90", "p99");
    for (phase, samples) in [
        ("instantiate", &mut instantiate),
        ("run", &mut run),
        ("total", &mut total),
    ] {
        samples.sort_unstable();
        let [p50, p90, p99] = [50, 90, 99].map(|p| percentile(samples, p));
        println!("  {phase:<12} {p50:>9.2?} {p90:>9.2?} {p99:>9.2?}");
    }
    let per_second = invocations as f64 / elapsed.as_secs_f64();
    println!("  throughput   {per_second:.0} invocations/s");
    // The cache is this run's alone; a failure to remove it leaves a temp dir behind, no more.
    let _ = std::fs::remove_dir_all(cache);
    Ok(())
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * percent / 100]
}
