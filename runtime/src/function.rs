//! A loaded function: compiled, linked, checked, and ready to instantiate per invocation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, TypedFunc};

use crate::budget::MemoryBudget;
use crate::compile_cache::ArtifactSource;
use crate::host::{FunctionIdentity, GuestLimiter, HostState};
use crate::invoke::limited_store;
use crate::types::{Request, RequestAction, Response};
use crate::{FunctionOptions, Hook, InvocationContext, LoadError, RuntimeInner};
use wedge_types::limits::ORIGIN_MAX_MEMORY_BYTES;

/// The typed signature of viewer-request and origin-request.
pub(crate) type RequestHookFunc = TypedFunc<(Request,), (Result<RequestAction, String>,)>;
/// The typed signature of origin-response and viewer-response.
pub(crate) type ResponseHookFunc = TypedFunc<(Request, Response), (Result<Response, String>,)>;

/// How long the trial instantiation at load time may take.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A function ready to invoke: a component compiled for the runtime's engine, linked against
/// the host (an `InstancePre`, built once), with the hooks it exports. Cheap to clone.
///
/// Every [`invoke`](Function::invoke) gets a fresh store and instance, so nothing survives from
/// one invocation to the next.
#[derive(Clone)]
pub struct Function(pub(crate) Arc<FunctionInner>);

pub(crate) struct FunctionInner {
    pub(crate) runtime: Arc<RuntimeInner>,
    pub(crate) identity: Arc<FunctionIdentity>,
    pub(crate) digest: String,
    pub(crate) pre: InstancePre<HostState>,
    /// The `handle` export of each hook the component implements, by [`Hook::index`].
    pub(crate) exports: [Option<ComponentExportIndex>; 4],
    pub(crate) concurrency: Semaphore,
    pub(crate) max_concurrency: u32,
    pub(crate) artifact_source: ArtifactSource,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name())
            .field("version", &self.version())
            .field("digest", &self.digest())
            .field("hooks", &self.hooks().collect::<Vec<_>>())
            .finish()
    }
}

impl Function {
    /// The function's name.
    pub fn name(&self) -> &str {
        &self.0.identity.name
    }

    /// The function's version.
    pub fn version(&self) -> &str {
        &self.0.identity.version
    }

    /// The sha256 of the component's bytes, in hex.
    pub fn digest(&self) -> &str {
        &self.0.digest
    }

    /// The hooks the component exports.
    pub fn hooks(&self) -> impl Iterator<Item = Hook> + '_ {
        Hook::ALL.into_iter().filter(|hook| self.exports(*hook))
    }

    /// Whether the component exports `hook`.
    pub fn exports(&self, hook: Hook) -> bool {
        self.0.exports[hook.index()].is_some()
    }

    /// Whether the component was compiled at load or came from the compile cache.
    pub fn artifact_source(&self) -> ArtifactSource {
        self.0.artifact_source
    }

    /// Invocations of this function running right now.
    pub fn in_flight(&self) -> u32 {
        let available = u32::try_from(self.0.concurrency.available_permits()).unwrap_or(u32::MAX);
        self.0.max_concurrency.saturating_sub(available)
    }
}

/// Loads a component: checks it is one, compiles it (or takes it from the cache), links it,
/// finds its hooks and proves they instantiate and type-check. Runs on a blocking thread for
/// the compile; nothing of this happens again per invocation.
pub(crate) async fn load(
    runtime: Arc<RuntimeInner>,
    wasm: &[u8],
    options: FunctionOptions,
) -> Result<Function, LoadError> {
    check_header(wasm)?;
    let digest = hex::encode(Sha256::digest(wasm));
    let compiling = Arc::clone(&runtime);
    let owned = wasm.to_vec();
    let compile_digest = digest.clone();
    let (component, artifact_source) =
        tokio::task::spawn_blocking(move || compile(&compiling, &compile_digest, &owned))
            .await
            .map_err(|error| {
                LoadError::Invalid(format!("the compiler thread failed: {error}"))
            })??;

    let pre = runtime
        .linker
        .instantiate_pre(&component)
        .map_err(|error| LoadError::MissingImports(format!("{error:#}")))?;
    let exports = find_hooks(&component)?;
    let identity = Arc::new(FunctionIdentity {
        name: options.name,
        version: options.version,
    });
    trial_instantiate(&runtime, &pre, &identity, &exports).await?;

    let permits = usize::try_from(options.max_concurrency).unwrap_or(usize::MAX);
    Ok(Function(Arc::new(FunctionInner {
        runtime,
        identity,
        digest,
        pre,
        exports,
        concurrency: Semaphore::new(permits.min(Semaphore::MAX_PERMITS)),
        max_concurrency: options.max_concurrency,
        artifact_source,
    })))
}

fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err(LoadError::NotWasm);
    }
    if wasm[4..8] == CORE_VERSION {
        return Err(LoadError::NotAComponent);
    }
    Ok(())
}

fn compile(
    runtime: &RuntimeInner,
    digest: &str,
    wasm: &[u8],
) -> Result<(Component, ArtifactSource), LoadError> {
    let engine = &runtime.engine;
    let fresh = |bytes: &[u8]| Component::from_binary(engine, bytes);
    let loaded = match &runtime.compile_cache {
        Some(cache) => cache.load(engine, digest, wasm, fresh),
        None => fresh(wasm).map(|component| (component, ArtifactSource::Compiled)),
    };
    loaded.map_err(|error| LoadError::Invalid(format!("{error:#}")))
}

fn find_hooks(component: &Component) -> Result<[Option<ComponentExportIndex>; 4], LoadError> {
    let mut exports = [None, None, None, None];
    for hook in Hook::ALL {
        let Some(interface) = component.get_export_index(None, hook.export_name()) else {
            continue;
        };
        let handle = component
            .get_export_index(Some(&interface), "handle")
            .ok_or_else(|| LoadError::WrongHookSignature {
                hook,
                reason: "the interface has no `handle` function".into(),
            })?;
        exports[hook.index()] = Some(handle);
    }
    if exports.iter().all(Option::is_none) {
        return Err(LoadError::NoHooks);
    }
    Ok(exports)
}

/// Instantiates once and type-checks every exported hook, so that a function that loads is one
/// that can run: an initial memory over the pool's slot size, a start function that traps, or a
/// hook with the wrong signature is a load error, not a failure on the first request.
async fn trial_instantiate(
    runtime: &RuntimeInner,
    pre: &InstancePre<HostState>,
    identity: &Arc<FunctionIdentity>,
    exports: &[Option<ComponentExportIndex>; 4],
) -> Result<(), LoadError> {
    let deadline = Instant::now() + TRIAL_TIMEOUT;
    let state = HostState::new(
        Arc::clone(identity),
        Hook::ViewerRequest,
        InvocationContext::default(),
        // A trial run is not a guest's load on the node: charged to a budget of its own.
        GuestLimiter::new(
            ORIGIN_MAX_MEMORY_BYTES,
            Arc::new(MemoryBudget::new(u64::MAX)),
        ),
        deadline,
    );
    let mut store = limited_store(&runtime.engine, state);
    if runtime.config.fuel_metering {
        store
            .set_fuel(u64::MAX)
            .map_err(|error| LoadError::Instantiation(format!("{error:#}")))?;
    }
    let instance = tokio::time::timeout_at(
        tokio::time::Instant::from_std(deadline),
        pre.instantiate_async(&mut store),
    )
    .await
    .map_err(|_| LoadError::Instantiation(format!("instantiation took over {TRIAL_TIMEOUT:?}")))?
    .map_err(|error| LoadError::Instantiation(format!("{error:#}")))?;
    for hook in Hook::ALL {
        let Some(export) = &exports[hook.index()] else {
            continue;
        };
        let checked = if hook.is_request_hook() {
            instance
                .get_typed_func::<(Request,), (Result<RequestAction, String>,)>(&mut store, export)
                .map(drop)
        } else {
            instance
                .get_typed_func::<(Request, Response), (Result<Response, String>,)>(
                    &mut store, export,
                )
                .map(drop)
        };
        checked.map_err(|error| LoadError::WrongHookSignature {
            hook,
            reason: format!("{error:#}"),
        })?;
    }
    Ok(())
}
