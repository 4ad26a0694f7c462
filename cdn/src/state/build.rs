//! Building a [`State`]: load every function a config and an applied control-plane revision
//! reference, set up the origins, and decide per distribution what to serve when something
//! cannot be built.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wedge_runtime::{FunctionOptions, Runtime};

use super::{Association, Behavior, Distribution, Published, State, StateError};
use crate::config::{
    AssociationConfig, BehaviorConfig, DistributionConfig, FunctionRef, NodeConfig,
};
use crate::origin::Origin;

/// A state and what could not go into it.
pub struct Built {
    /// The state to serve.
    pub state: State,
    /// Distributions that could not be built from the revision, by id, with why.
    pub problems: BTreeMap<String, String>,
    /// Of those, the ones served from an earlier copy (see [`Fallback`]).
    pub fell_back: BTreeSet<String>,
}

/// What to serve for a distribution that cannot be built from the revision being applied.
#[derive(Clone, Copy)]
pub enum Fallback<'a> {
    /// Nothing earlier (a node's first start): a node's own distribution is built with the
    /// functions the revision does not resolve attached as unavailable; a control-plane
    /// distribution is not served.
    Nothing,
    /// The copy in the state being replaced (applying a revision while serving).
    Previous(&'a State),
    /// Earlier revisions saved on disk, by distribution id (a restart): the distribution is
    /// built from the revision that last served it.
    Held(&'a BTreeMap<String, Published>),
}

impl State {
    /// Loads every function the config references (each file once) and sets up the origins.
    /// Published references resolve through `published`, the applied control-plane revision,
    /// whose distributions are served after the config's own.
    ///
    /// A distribution (the node's own or the control plane's) that cannot be built from
    /// `published` is reported in [`Built::problems`] and served from `fallback` when it has a
    /// copy: one bad distribution does not hold the others back, and what served before goes
    /// on serving. Only a problem with the node's own files fails the whole build.
    pub async fn build(
        config: &NodeConfig,
        runtime: &Runtime,
        published: Option<&Published>,
        fallback: Fallback<'_>,
    ) -> Result<Built, StateError> {
        let mut loader = Loader::new(runtime, published);
        let mut built = Built {
            state: Self {
                distributions: Vec::new(),
            },
            problems: published.map(|p| p.rejected.clone()).unwrap_or_default(),
            fell_back: BTreeSet::new(),
        };
        let own = config.distributions.iter().map(|d| (d, true));
        let remote = published
            .map(|p| p.distributions.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|d| (d, false));
        let context = Context {
            runtime,
            published,
            fallback,
        };
        for (distribution, own) in own.chain(remote) {
            match build_distribution(distribution, &mut loader, false).await {
                Ok(built_one) => built.state.distributions.push(Arc::new(built_one)),
                Err(error) => built.fall_back(distribution, error, context, own).await?,
            }
        }
        // Rejected before building (they do not validate on this node): earlier copies only.
        let rejected: Vec<String> = built
            .problems
            .keys()
            .filter(|id| {
                !built
                    .state
                    .distributions
                    .iter()
                    .any(|d| &*d.id == id.as_str())
            })
            .cloned()
            .collect();
        for id in rejected {
            if let Some(copy) = earlier_copy(&id, None, runtime, fallback).await {
                built.state.distributions.push(copy);
                built.fell_back.insert(id);
            }
        }
        Ok(built)
    }
}

/// What a fallback needs besides the distribution.
#[derive(Clone, Copy)]
struct Context<'a> {
    runtime: &'a Runtime,
    published: Option<&'a Published>,
    fallback: Fallback<'a>,
}

impl Built {
    /// Records `error` for `config` and serves its earlier copy, if the fallback has one. A
    /// node's own distribution with nothing earlier is built with the functions the revision
    /// cannot provide attached as unavailable, so the node runs; only a problem with its own
    /// files or origins is an error then.
    async fn fall_back(
        &mut self,
        config: &DistributionConfig,
        error: StateError,
        context: Context<'_>,
        own: bool,
    ) -> Result<(), StateError> {
        let id = config.id.clone();
        let earlier = earlier_copy(
            &id,
            own.then_some(config),
            context.runtime,
            context.fallback,
        );
        if let Some(copy) = earlier.await {
            self.state.distributions.push(copy);
            self.fell_back.insert(id.clone());
        } else if own {
            let mut loader = Loader::new(context.runtime, context.published);
            let built = build_distribution(config, &mut loader, true).await?;
            self.state.distributions.push(Arc::new(built));
        }
        self.problems.insert(id, error.to_string());
        Ok(())
    }
}

/// The copy of distribution `id` that `fallback` has: the one being served, or one built from
/// the revision that last served it (`own` is its config when it is the node's own).
async fn earlier_copy(
    id: &str,
    own: Option<&DistributionConfig>,
    runtime: &Runtime,
    fallback: Fallback<'_>,
) -> Option<Arc<Distribution>> {
    match fallback {
        Fallback::Nothing => None,
        Fallback::Previous(state) => state.distributions.iter().find(|d| &*d.id == id).cloned(),
        Fallback::Held(held) => {
            let published = held.get(id)?;
            let config = own.or_else(|| published.distributions.iter().find(|d| d.id == id))?;
            let mut loader = Loader::new(runtime, Some(published));
            match build_distribution(config, &mut loader, false).await {
                Ok(distribution) => Some(Arc::new(distribution)),
                Err(error) => {
                    tracing::warn!(
                        distribution = id,
                        revision = published.revision,
                        "the saved earlier copy cannot be built either: {error}"
                    );
                    None
                }
            }
        }
    }
}

/// Loads functions once each, from files or from the applied revision's verified blobs.
struct Loader<'a> {
    runtime: &'a Runtime,
    published: Option<&'a Published>,
    loaded: BTreeMap<FunctionRef, wedge_runtime::Function>,
}

impl<'a> Loader<'a> {
    fn new(runtime: &'a Runtime, published: Option<&'a Published>) -> Self {
        Self {
            runtime,
            published,
            loaded: BTreeMap::new(),
        }
    }
}

/// `tolerant`: unresolvable or refused control-plane references are attached as unavailable
/// instead of failing the distribution (a node's own distributions, at start).
async fn build_distribution(
    config: &DistributionConfig,
    loader: &mut Loader<'_>,
    tolerant: bool,
) -> Result<Distribution, StateError> {
    let mut origins = BTreeMap::new();
    for (name, origin) in &config.origins {
        origins.insert(name.clone(), Origin::new(origin.clone())?);
    }
    let mut behaviors = Vec::new();
    for behavior in &config.behaviors {
        behaviors.push(Arc::new(
            build_behavior(behavior, &origins, loader, tolerant).await?,
        ));
    }
    let default_behavior =
        Arc::new(build_behavior(&config.default_behavior, &origins, loader, tolerant).await?);
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
    tolerant: bool,
) -> Result<Behavior, StateError> {
    let mut hooks: [Option<Association>; 4] = Default::default();
    for association in &config.functions {
        let function = match loader.load(&association.function).await {
            Ok(function) => Ok(function),
            Err(error @ (StateError::Unpublished { .. } | StateError::Refused { .. }))
                if tolerant =>
            {
                tracing::warn!(
                    hook = association.hook.as_str(),
                    policy = association.on_error.as_str(),
                    "{error}: attached as unavailable until a revision provides it"
                );
                Err(Arc::from(error.to_string()))
            }
            Err(error) => return Err(error),
        };
        if let Ok(function) = &function
            && !function.exports(association.hook)
        {
            return Err(StateError::MissingHook {
                reference: association.function.clone(),
                hook: association.hook,
            });
        }
        let published_config = match (&association.function, loader.published) {
            (FunctionRef::Published(reference), Some(published)) => {
                published.state.config(reference)
            }
            _ => None,
        };
        hooks[association.hook.index()] = Some(associate(association, function, published_config));
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
    function: Result<wedge_runtime::Function, Arc<str>>,
    published: Option<&BTreeMap<String, String>>,
) -> Association {
    Association {
        hook: config.hook,
        reference: config.function.clone(),
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
                    .map_err(|cause| StateError::Read {
                        reference: reference.clone(),
                        cause,
                    })?;
                let name = path.file_stem().map_or_else(
                    || "function".to_owned(),
                    |s| s.to_string_lossy().into_owned(),
                );
                (bytes, FunctionOptions::new(name, "local"))
            }
            FunctionRef::Published(published_ref) => {
                let unpublished = |problem: String| StateError::Unpublished {
                    reference: reference.clone(),
                    revision: self.published.map_or(0, |p| p.revision),
                    problem,
                };
                let published = self
                    .published
                    .ok_or_else(|| unpublished("no revision is applied yet".into()))?;
                if let Some(reason) = published.refused.get(published_ref) {
                    return Err(StateError::Refused {
                        reference: reference.clone(),
                        reason: reason.clone(),
                    });
                }
                let version = published
                    .resolve(published_ref)
                    .map_err(|error| unpublished(error.to_string()))?;
                let digest = version.digest.as_str();
                let path = published.blob_path(digest);
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|cause| StateError::Read {
                        reference: reference.clone(),
                        cause,
                    })?;
                verify(digest, &bytes)?;
                (
                    bytes,
                    FunctionOptions::new(
                        published_ref.function.clone(),
                        version.number.to_string(),
                    ),
                )
            }
        };
        let function =
            self.runtime
                .load(&bytes, options)
                .await
                .map_err(|cause| StateError::Load {
                    reference: reference.clone(),
                    cause,
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
