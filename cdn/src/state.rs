//! What the node serves at one moment: distributions with their behaviors, origins and loaded
//! functions. Built from a [`NodeConfig`] and swapped in whole, so no request sees half of a
//! change. The control plane builds the same state from published versions.

use std::collections::BTreeMap;
use std::sync::Arc;

use wedge_runtime::{FunctionConfig, FunctionOptions, Hook, Limits, Runtime};

use crate::config::{
    AssociationConfig, BehaviorConfig, CachePolicyConfig, DistributionConfig, FailurePolicy,
    FunctionRef, NodeConfig, Selector,
};
use crate::forwarding::OriginRequestPolicy;
use crate::origin::Origin;
use crate::pattern::{DomainPattern, PathPattern};

/// The routing table and everything it points at.
pub struct State {
    distributions: Vec<Arc<Distribution>>,
}

/// One site.
pub struct Distribution {
    /// Its id.
    pub id: Arc<str>,
    domains: Vec<DomainPattern>,
    behaviors: Vec<Arc<Behavior>>,
    default_behavior: Arc<Behavior>,
    /// Its origins by name (an origin-request function may pick one).
    pub origins: BTreeMap<String, Arc<Origin>>,
}

/// A cache behavior, ready to serve.
pub struct Behavior {
    /// Its path pattern.
    pub pattern: PathPattern,
    /// The pattern as text: its name in logs, shared by every request's trace.
    pub name: Arc<str>,
    /// Where misses go.
    pub origin: Arc<Origin>,
    /// How responses are cached.
    pub cache: CachePolicyConfig,
    /// What of the viewer's request reaches the origin beyond the cache key.
    pub origin_request: OriginRequestPolicy,
    /// Whether `TRACE` is forwarded.
    pub allow_trace: bool,
    hooks: [Option<Association>; 4],
}

/// A loaded function attached to one hook.
pub struct Association {
    /// The hook.
    pub hook: Hook,
    /// The loaded function.
    pub function: wedge_runtime::Function,
    /// Whether the hook sees bodies.
    pub include_body: bool,
    /// What a failure does.
    pub on_error: FailurePolicy,
    /// Validated limits.
    pub limits: Limits,
    /// The key/values the function reads.
    pub config: Arc<FunctionConfig>,
}

/// Why a state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A function file could not be read.
    #[error("function {reference}: cannot read: {source}")]
    Read {
        /// The reference.
        reference: FunctionRef,
        /// Why.
        source: std::io::Error,
    },
    /// A function was refused by the runtime.
    #[error("function {reference}: {source}")]
    Load {
        /// The reference.
        reference: FunctionRef,
        /// Why.
        source: wedge_runtime::LoadError,
    },
    /// A function does not export the hook it is attached to.
    #[error("function {reference} is attached to {hook} but does not export it")]
    MissingHook {
        /// The reference.
        reference: FunctionRef,
        /// The hook.
        hook: Hook,
    },
    /// An origin could not be set up.
    #[error(transparent)]
    Origin(#[from] crate::origin::OriginSetupError),
    /// A published function is not in the applied revision (or no revision is applied yet).
    #[error("function {reference} is not in the control plane's revision {revision}")]
    Unpublished {
        /// The reference.
        reference: FunctionRef,
        /// The revision applied (0: none yet).
        revision: u64,
    },
    /// SIGHUP reload of a node that follows a control plane.
    #[error(
        "a node following a control plane reloads from the control plane; restart it to change its config"
    )]
    ReloadWithControlPlane,
    /// A component's bytes do not hash to the digest that names them.
    #[error("component {digest} failed verification: {problem}")]
    Unverified {
        /// The expected digest.
        digest: String,
        /// What is wrong.
        problem: String,
    },
}

/// The control plane's functions as of the revision this node applied: which digest each
/// alias and version means, and where the verified components are on local disk.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The revision.
    pub revision: u64,
    /// Function name → (version → digest, alias → version).
    pub functions: BTreeMap<String, PublishedFunction>,
    /// The control plane's distributions, validated, served after the node's own.
    pub distributions: Vec<DistributionConfig>,
    /// Where `<digest>.wasm` files are.
    pub blob_dir: std::path::PathBuf,
}

/// One function's versions and aliases.
#[derive(Debug, Clone, Default)]
pub struct PublishedFunction {
    /// Version number → digest.
    pub versions: BTreeMap<u32, String>,
    /// Alias → version number.
    pub aliases: BTreeMap<String, u32>,
    /// Alias → the key/values its function reads (set in the control plane).
    pub config: BTreeMap<String, BTreeMap<String, String>>,
}

impl Published {
    /// The version number and digest `function@selector` means.
    pub fn resolve(&self, function: &str, selector: &Selector) -> Option<(u32, &str)> {
        let entry = self.functions.get(function)?;
        let version = match selector {
            Selector::Version(version) => *version,
            Selector::Alias(alias) => *entry.aliases.get(alias)?,
        };
        entry
            .versions
            .get(&version)
            .map(|digest| (version, digest.as_str()))
    }

    /// The control plane's config values for `function@selector` (aliases only).
    pub fn config(&self, function: &str, selector: &Selector) -> Option<&BTreeMap<String, String>> {
        let Selector::Alias(alias) = selector else {
            return None;
        };
        self.functions.get(function)?.config.get(alias)
    }

    /// Where the component with `digest` is kept.
    pub fn blob_path(&self, digest: &str) -> std::path::PathBuf {
        self.blob_dir.join(format!("{digest}.wasm"))
    }
}

impl State {
    /// Loads every function the config references (each file once) and sets up the origins.
    /// Published references resolve through `published`, the applied control-plane revision,
    /// whose distributions are served after the config's own.
    pub async fn build(
        config: &NodeConfig,
        runtime: &Runtime,
        published: Option<&Published>,
    ) -> Result<Self, StateError> {
        let mut loader = Loader {
            runtime,
            published,
            loaded: BTreeMap::new(),
        };
        let mut distributions = Vec::new();
        let remote = published
            .map(|p| p.distributions.as_slice())
            .unwrap_or_default();
        for distribution in config.distributions.iter().chain(remote) {
            distributions.push(Arc::new(
                build_distribution(distribution, &mut loader).await?,
            ));
        }
        Ok(Self { distributions })
    }

    /// The distribution answering for `host`, in config order.
    pub fn distribution(&self, host: &str) -> Option<&Arc<Distribution>> {
        // The most specific claim wins (exact, longest `*.suffix`, `*`); distributions never
        // claim the same domain twice (refused when configured), so there are no ties.
        self.distributions
            .iter()
            .filter_map(|d| {
                let best = d
                    .domains
                    .iter()
                    .filter(|domain| domain.matches(host))
                    .map(DomainPattern::precedence)
                    .max()?;
                Some((best, d))
            })
            .max_by_key(|(precedence, _)| *precedence)
            .map(|(_, d)| d)
    }

    /// Every loaded function, with where it is attached (for metrics).
    pub fn associations(&self) -> impl Iterator<Item = (&Distribution, &Association)> {
        self.distributions.iter().flat_map(|d| {
            d.behaviors
                .iter()
                .chain(std::iter::once(&d.default_behavior))
                .map(|b| &**b)
                .flat_map(|b| b.hooks.iter().flatten())
                .map(move |a| (&**d, a))
        })
    }
}

impl Distribution {
    /// The first behavior whose pattern matches `path`, else the default.
    pub fn behavior(&self, path: &str) -> &Arc<Behavior> {
        self.behaviors
            .iter()
            .find(|b| b.pattern.matches(path))
            .unwrap_or(&self.default_behavior)
    }
}

impl Behavior {
    /// The function attached to `hook`, if any.
    pub fn association(&self, hook: Hook) -> Option<&Association> {
        self.hooks[hook_index(hook)].as_ref()
    }
}

fn hook_index(hook: Hook) -> usize {
    match hook {
        Hook::ViewerRequest => 0,
        Hook::OriginRequest => 1,
        Hook::OriginResponse => 2,
        Hook::ViewerResponse => 3,
    }
}

/// Loads functions once each, from files or from the applied revision's verified blobs.
struct Loader<'a> {
    runtime: &'a Runtime,
    published: Option<&'a Published>,
    loaded: BTreeMap<FunctionRef, wedge_runtime::Function>,
}

async fn build_distribution(
    config: &DistributionConfig,
    loader: &mut Loader<'_>,
) -> Result<Distribution, StateError> {
    let mut origins = BTreeMap::new();
    for (name, origin) in &config.origins {
        origins.insert(name.clone(), Origin::new(origin.clone())?);
    }
    let mut behaviors = Vec::new();
    for behavior in &config.behaviors {
        behaviors.push(Arc::new(build_behavior(behavior, &origins, loader).await?));
    }
    let default_behavior =
        Arc::new(build_behavior(&config.default_behavior, &origins, loader).await?);
    Ok(Distribution {
        id: Arc::from(config.id.as_str()),
        domains: config.domains.clone(),
        behaviors,
        default_behavior,
        origins,
    })
}

async fn build_behavior(
    config: &BehaviorConfig,
    origins: &BTreeMap<String, Arc<Origin>>,
    loader: &mut Loader<'_>,
) -> Result<Behavior, StateError> {
    let mut hooks: [Option<Association>; 4] = Default::default();
    for association in &config.functions {
        let function = loader.load(&association.function).await?;
        if !function.exports(association.hook) {
            return Err(StateError::MissingHook {
                reference: association.function.clone(),
                hook: association.hook,
            });
        }
        let published_config = match &association.function {
            FunctionRef::Published { function, selector } => {
                loader.published.and_then(|p| p.config(function, selector))
            }
            FunctionRef::File(_) => None,
        };
        hooks[hook_index(association.hook)] =
            Some(associate(association, function, published_config));
    }
    let origin = origins.get(&config.origin).cloned().ok_or_else(|| {
        StateError::Origin(crate::origin::OriginSetupError::unknown(&config.origin))
    })?;
    Ok(Behavior {
        name: Arc::from(config.pattern.as_str()),
        pattern: config.pattern.clone(),
        origin,
        cache: config.cache.clone(),
        origin_request: config.origin_request.clone(),
        allow_trace: config.allow_trace,
        hooks,
    })
}

/// The association, its function config being the control plane's values for the alias
/// overlaid by the node config's own `config` table.
fn associate(
    config: &AssociationConfig,
    function: wedge_runtime::Function,
    published: Option<&BTreeMap<String, String>>,
) -> Association {
    Association {
        hook: config.hook,
        function,
        include_body: config.include_body,
        on_error: config.on_error,
        limits: config.limits,
        config: Arc::new(
            published
                .into_iter()
                .flatten()
                .chain(&config.config)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    }
}

impl Loader<'_> {
    async fn load(
        &mut self,
        reference: &FunctionRef,
    ) -> Result<wedge_runtime::Function, StateError> {
        if let Some(function) = self.loaded.get(reference) {
            return Ok(function.clone());
        }
        let (bytes, options) = match reference {
            FunctionRef::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|source| StateError::Read {
                        reference: reference.clone(),
                        source,
                    })?;
                let name = path.file_stem().map_or_else(
                    || "function".to_owned(),
                    |s| s.to_string_lossy().into_owned(),
                );
                (bytes, FunctionOptions::new(name, "local"))
            }
            FunctionRef::Published { function, selector } => {
                let unpublished = || StateError::Unpublished {
                    reference: reference.clone(),
                    revision: self.published.map_or(0, |p| p.revision),
                };
                let published = self.published.ok_or_else(unpublished)?;
                let (version, digest) = published
                    .resolve(function, selector)
                    .ok_or_else(unpublished)?;
                let path = published.blob_path(digest);
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|source| StateError::Read {
                        reference: reference.clone(),
                        source,
                    })?;
                verify(digest, &bytes)?;
                (
                    bytes,
                    FunctionOptions::new(function.clone(), version.to_string()),
                )
            }
        };
        let function =
            self.runtime
                .load(&bytes, options)
                .await
                .map_err(|source| StateError::Load {
                    reference: reference.clone(),
                    source,
                })?;
        self.loaded.insert(reference.clone(), function.clone());
        Ok(function)
    }
}

/// Checks that `bytes` hash to `digest` (sha256, lower-case hex).
pub fn verify(digest: &str, bytes: &[u8]) -> Result<(), StateError> {
    use sha2::{Digest as _, Sha256};
    let actual = hex::encode(Sha256::digest(bytes));
    if actual == digest {
        Ok(())
    } else {
        Err(StateError::Unverified {
            digest: digest.to_owned(),
            problem: format!("the bytes hash to {actual}"),
        })
    }
}
