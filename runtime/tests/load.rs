//! Loading: what is refused at load time and why, and the on-disk compile cache.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests"
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use wedge_runtime::{ArtifactSource, FunctionOptions, Hook, LoadError, RuntimeConfig};
use wedge_test_fixtures as fixtures;

async fn load_wat(text: &str) -> Result<wedge_runtime::Function, LoadError> {
    let wasm = wat::parse_str(text).expect("valid WAT");
    runtime()
        .load(&wasm, FunctionOptions::new("wat", "1"))
        .await
}

#[tokio::test]
async fn bytes_that_are_not_wasm_are_refused() {
    let result = runtime()
        .load(b"hello, world", FunctionOptions::new("text", "1"))
        .await;
    assert_eq!(result.unwrap_err(), LoadError::NotWasm);
}

#[tokio::test]
async fn a_core_module_is_refused_with_a_hint() {
    let error = load_wat("(module (func (export \"handle\")))")
        .await
        .unwrap_err();
    assert_eq!(error, LoadError::NotAComponent);
    assert!(error.to_string().contains("wasm32-wasip2"));
}

#[tokio::test]
async fn a_component_importing_what_the_host_lacks_is_refused() {
    let error =
        load_wat(r#"(component (import "acme:db/query@1.0.0" (instance (export "run" (func)))))"#)
            .await
            .unwrap_err();
    let LoadError::MissingImports(reason) = &error else {
        panic!("{error:?}");
    };
    assert!(reason.contains("acme:db/query@1.0.0"), "{reason}");
}

#[tokio::test]
async fn a_component_without_hooks_is_refused() {
    assert_eq!(
        load_wat("(component)").await.unwrap_err(),
        LoadError::NoHooks
    );
}

/// A component exporting `wedge:edge/viewer-request` whose `handle` takes nothing (right name,
/// wrong signature), lifted from a core module holding `module_items` besides that function.
fn viewer_request_component(module_items: &str) -> String {
    format!(
        r#"
(component
  (core module $m {module_items} (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $hook (export "handle" (func $f)))
  (export "wedge:edge/viewer-request@0.1.0" (instance $hook)))
"#
    )
}

#[tokio::test]
async fn a_hook_with_the_wrong_signature_is_refused() {
    let error = load_wat(&viewer_request_component("")).await.unwrap_err();
    assert!(
        matches!(
            &error,
            LoadError::WrongHookSignature {
                hook: Hook::ViewerRequest,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_component_that_cannot_instantiate_is_refused_at_load() {
    // The start function traps before any hook could be type-checked.
    let trapping_start = viewer_request_component("(func $start unreachable) (start $start)");
    let error = load_wat(&trapping_start).await.unwrap_err();
    assert!(matches!(&error, LoadError::Instantiation(_)), "{error:?}");
}

#[tokio::test]
async fn a_component_with_more_memories_than_a_pool_slot_holds_is_refused() {
    // A pooled slot holds one memory per core module.
    let two_memories = viewer_request_component("(memory 1) (memory 1)");
    let error = load_wat(&two_memories).await.unwrap_err();
    let LoadError::Invalid(reason) = &error else {
        panic!("{error:?}");
    };
    assert!(reason.contains("memories"), "{reason}");
}

#[tokio::test]
async fn the_compile_cache_is_used_and_a_corrupt_artifact_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || cached_config(dir.path());

    let first = runtime_with(config());
    let function = load(&first, fixtures::HELLO).await;
    assert_eq!(
        function.artifact_source(),
        ArtifactSource::CompiledAndCached
    );

    let second = runtime_with(config());
    let function = load(&second, fixtures::HELLO).await;
    assert_eq!(function.artifact_source(), ArtifactSource::Cache);
    continued(viewer_request(&second, &function, "/").await);

    let artifact = cached_artifact(dir.path());
    let mut bytes = fs::read(&artifact).expect("artifact");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&artifact, bytes).expect("corrupt it");

    let third = runtime_with(config());
    let function = load(&third, fixtures::HELLO).await;
    assert_eq!(function.artifact_source(), ArtifactSource::Recompiled);
    let request = continued(viewer_request(&third, &function, "/").await);
    assert_eq!(header_value(&request.headers, "x-hello"), Some("world"));

    let fourth = runtime_with(config());
    assert_eq!(
        load(&fourth, fixtures::HELLO).await.artifact_source(),
        ArtifactSource::Cache
    );
}

#[tokio::test]
async fn an_artifact_from_a_differently_configured_engine_is_not_picked_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = |fuel_metering| RuntimeConfig {
        max_instances: 10,
        fuel_metering,
        compile_cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let plain = load(&runtime_with(config(false)), fixtures::HELLO).await;
    assert_eq!(plain.artifact_source(), ArtifactSource::CompiledAndCached);
    let metered = load(&runtime_with(config(true)), fixtures::HELLO).await;
    assert_eq!(metered.artifact_source(), ArtifactSource::CompiledAndCached);
}

#[tokio::test]
async fn an_artifact_wasmtime_refuses_is_recompiled_even_with_a_matching_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || cached_config(dir.path());
    load(&runtime_with(config()), fixtures::HELLO).await;
    let artifact = cached_artifact(dir.path());
    // Not an artifact at all, but recorded as if it were: only wasmtime's own check can tell.
    let bogus = b"\x7fELF this is no wasmtime artifact".to_vec();
    fs::write(&artifact, &bogus).expect("replace artifact");
    let checksum = artifact.with_extension("cwasm.sha256");
    fs::write(&checksum, sha256_hex(&bogus)).expect("forge checksum");

    let runtime = runtime_with(config());
    let function = load(&runtime, fixtures::HELLO).await;
    assert_eq!(function.artifact_source(), ArtifactSource::Recompiled);
    continued(viewer_request(&runtime, &function, "/").await);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// A small runtime config with its compile cache in `dir`.
fn cached_config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig {
        max_instances: 10,
        compile_cache_dir: Some(dir.to_path_buf()),
        ..RuntimeConfig::default()
    }
}

/// The one precompiled artifact in the cache directory `dir`.
fn cached_artifact(dir: &Path) -> PathBuf {
    fs::read_dir(dir)
        .expect("cache dir")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .expect("an artifact")
}

#[tokio::test]
async fn the_pool_refuses_more_memories_per_component_than_its_slots_hold_and_on_demand_does_not() {
    let load = |allocation, memories| async move {
        let runtime = runtime_with(RuntimeConfig {
            allocation,
            max_instances: 4,
            ..RuntimeConfig::default()
        });
        let wasm = fixtures::shapes::hook_with_memories(memories);
        runtime
            .load(&wasm, FunctionOptions::new("shape", "1"))
            .await
            .map(|_| ())
    };
    use wedge_runtime::Allocation::{OnDemand, Pooling};
    assert_eq!(load(Pooling, 2).await, Ok(()));
    let refused = load(Pooling, 3).await.unwrap_err();
    assert!(refused.to_string().contains("memories"), "{refused}");
    // What a node running the pool would refuse, an on-demand runtime takes: the control
    // plane validates on a pool for that reason (control-plane/tests/abuse.rs).
    assert_eq!(load(OnDemand, 3).await, Ok(()));
}
