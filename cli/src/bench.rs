//! `wedge bench <component>`: the cold-start benchmark of any component, with the engine and
//! limits the nodes use. Compile, load from the compile cache, then every exported hook
//! invoked in fresh instances; p50/p90/p99 per phase and throughput.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use wedge_runtime::types::{Header, Request, Response};
use wedge_runtime::{
    FunctionOptions, Hook, HookInput, InvocationContext, LimitsSpec, Runtime, RuntimeConfig,
};

/// Loads from the compile cache measured this many times.
const LOADS: usize = 20;

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.as_bytes().to_vec(),
    }
}

/// A browser-like request: the input every hook gets.
fn request() -> Request {
    Request {
        method: "GET".into(),
        uri: "/index.html?lang=en".into(),
        headers: vec![
            header("host", "www.example.com"),
            header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
            ),
            header(
                "accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
            header("accept-language", "en-GB,en;q=0.9"),
            header("accept-encoding", "gzip, deflate, br"),
            header("cookie", "session=4f1c2a9e8b7d; theme=dark"),
        ],
        client_ip: "198.51.100.23".into(),
        body: None,
    }
}

fn response() -> Response {
    Response {
        status: 200,
        headers: vec![
            header("content-type", "text/html"),
            header("cache-control", "max-age=60"),
            header("etag", "\"v1\""),
        ],
        body: None,
    }
}

fn percentiles(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len().saturating_sub(1)) as f64 * q).round() as usize;
        samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    json!({"p50_us": at(0.5), "p90_us": at(0.9), "p99_us": at(0.99)})
}

/// Runs the benchmark; returns the report as JSON.
pub(crate) async fn run(component: &Path, iterations: usize) -> anyhow::Result<Value> {
    let wasm =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let cache = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeConfig {
        compile_cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    })?;
    let name = component
        .file_stem()
        .map_or_else(|| "function".into(), |s| s.to_string_lossy().into_owned());

    let started = Instant::now();
    let function = runtime
        .load(&wasm, FunctionOptions::new(name.clone(), "bench"))
        .await
        .context("the component does not load")?;
    let compile = started.elapsed();
    let mut loads = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        let started = Instant::now();
        runtime
            .load(&wasm, FunctionOptions::new(name.clone(), "bench"))
            .await?;
        loads.push(started.elapsed());
    }

    let context = InvocationContext::default();
    let mut hooks = serde_json::Map::new();
    for hook in function.hooks().collect::<Vec<Hook>>() {
        let limits = runtime.limits(hook, LimitsSpec::default())?;
        let (mut instantiate, mut run, mut total) = (Vec::new(), Vec::new(), Vec::new());
        let mut errors = 0;
        let mut first_error = None;
        let started = Instant::now();
        for _ in 0..iterations {
            let input = match hook {
                Hook::ViewerRequest | Hook::OriginRequest => HookInput::Request(request()),
                Hook::OriginResponse | Hook::ViewerResponse => HookInput::Response {
                    request: request(),
                    response: response(),
                },
            };
            let outcome = function.invoke(hook, input, &limits, &context).await;
            if let Err(error) = &outcome.result {
                errors += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
            instantiate.push(outcome.receipt.instantiate);
            run.push(outcome.receipt.run);
            total.push(outcome.receipt.total);
        }
        let elapsed = started.elapsed();
        hooks.insert(
            hook.as_str().to_owned(),
            json!({
                "instantiate": percentiles(instantiate),
                "run": percentiles(run),
                "total": percentiles(total),
                "invocations_per_second": iterations as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
                "errors": errors,
                "first_error": first_error,
            }),
        );
    }
    Ok(json!({
        "component": component,
        "bytes": wasm.len(),
        "iterations": iterations,
        "compile_us": compile.as_secs_f64() * 1e6,
        "load_from_cache": percentiles(loads),
        "hooks": hooks,
    }))
}

/// The report for a person.
pub(crate) fn human(report: &Value) -> String {
    let us = |v: &Value| format!("{:>9.1}µs", v.as_f64().unwrap_or(0.0));
    let mut out = format!(
        "{} ({} KiB), {} invocations per hook, each in a fresh instance\n  compile            {:>9.2}ms\n  load from cache    p50 {}  p99 {}\n",
        report["component"].as_str().unwrap_or("?"),
        report["bytes"].as_u64().unwrap_or(0) / 1024,
        report["iterations"],
        report["compile_us"].as_f64().unwrap_or(0.0) / 1000.0,
        us(&report["load_from_cache"]["p50_us"]),
        us(&report["load_from_cache"]["p99_us"]),
    );
    for (hook, figures) in report["hooks"].as_object().into_iter().flatten() {
        out.push_str(&format!(
            "\n{hook}: {:.0} invocations/s\n  phase              p50          p90          p99\n",
            figures["invocations_per_second"].as_f64().unwrap_or(0.0)
        ));
        for phase in ["instantiate", "run", "total"] {
            let p = &figures[phase];
            out.push_str(&format!(
                "  {phase:<12} {} {} {}\n",
                us(&p["p50_us"]),
                us(&p["p90_us"]),
                us(&p["p99_us"])
            ));
        }
        if figures["errors"].as_u64().unwrap_or(0) > 0 {
            out.push_str(&format!(
                "  {} invocations failed, e.g. {}\n",
                figures["errors"], figures["first_error"]
            ));
        }
    }
    out
}
