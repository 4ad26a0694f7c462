//! What the node serves at one moment: distributions with their behaviors, origins and loaded
//! functions. Built from a [`NodeConfig`] and swapped in whole, so no request sees half of a
//! change. The control plane builds the same state from published versions.

mod build;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use build::{Built, Fallback, verify};
use wedge_runtime::{FunctionConfig, Hook, Limits};

use wedge_types::PublishedRef;
use wedge_types::pattern::{DomainPattern, PathPattern};
use wedge_types::revision::ResolveError;

use crate::config::{
    CachePolicyConfig, DistributionConfig, FailurePolicy, FunctionRef, OriginRequestPolicy,
};
use crate::origin::Origin;

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

/// A function attached to one hook.
pub struct Association {
    /// The hook.
    pub hook: Hook,
    /// How the config names it.
    pub reference: FunctionRef,
    /// The loaded function, or why it is not available on this node (a control-plane
    /// reference the applied revision does not resolve, or one refused): invoking it then fails
    /// with the `unavailable` class, under the association's failure policy.
    pub function: Result<wedge_runtime::Function, Arc<str>>,
    /// Whether the hook sees bodies.
    pub include_body: bool,
    /// What a failure does.
    pub on_error: FailurePolicy,
    /// Validated limits.
    pub limits: Limits,
    /// The key/values the function reads.
    pub config: Arc<FunctionConfig>,
}

impl Association {
    /// The function's name, loaded or not.
    pub fn function_name(&self) -> &str {
        match (&self.function, &self.reference) {
            (Ok(function), _) => function.name(),
            (Err(_), FunctionRef::Published(reference)) => &reference.function,
            (Err(_), FunctionRef::File(path)) => path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("function"),
        }
    }

    /// `name@version` when loaded, else the reference as configured.
    pub fn label(&self) -> String {
        match &self.function {
            Ok(function) => format!("{}@{}", function.name(), function.version()),
            Err(_) => self.reference.to_string(),
        }
    }
}

/// Why a state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A function file could not be read.
    #[error("function {reference}: cannot read: {cause}")]
    Read {
        /// The reference.
        reference: FunctionRef,
        /// Why.
        cause: std::io::Error,
    },
    /// A function was refused by the runtime.
    #[error("function {reference}: {cause}")]
    Load {
        /// The reference.
        reference: FunctionRef,
        /// Why.
        cause: wedge_runtime::LoadError,
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
    #[error("function {reference} is not in the control plane's revision {revision}: {problem}")]
    Unpublished {
        /// The reference.
        reference: FunctionRef,
        /// The revision applied (0: none yet).
        revision: u64,
        /// What is missing.
        problem: String,
    },
    /// A published function this node refuses to load (unsigned, or a bad signature).
    #[error("function {reference} is refused: {reason}")]
    Refused {
        /// The reference.
        reference: FunctionRef,
        /// Why.
        reason: String,
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

/// The control plane's functions and distributions as of the revision this node applied, and
/// where the verified components are on local disk.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The revision.
    pub revision: u64,
    /// Its functions, versions and aliases (what references resolve through).
    pub state: wedge_types::revision::State,
    /// Its distributions that validated on this node, served after the node's own.
    pub distributions: Vec<DistributionConfig>,
    /// Its distributions this node cannot serve, by id, with why (the previous copy of each, if
    /// any, goes on being served).
    pub rejected: BTreeMap<String, String>,
    /// References this node refuses to load, with why (unsigned, or a bad signature).
    pub refused: BTreeMap<PublishedRef, String>,
    /// Where `<digest>.wasm` files are.
    pub blob_dir: std::path::PathBuf,
}

impl Published {
    /// The version `reference` means, with its digest.
    pub fn resolve(
        &self,
        reference: &PublishedRef,
    ) -> Result<&wedge_types::revision::Version, ResolveError> {
        self.state.resolve(reference)
    }

    /// Where the component with `digest` is kept.
    pub fn blob_path(&self, digest: &str) -> std::path::PathBuf {
        self.blob_dir.join(format!("{digest}.wasm"))
    }
}

impl State {
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
        self.hooks[hook.index()].as_ref()
    }
}
