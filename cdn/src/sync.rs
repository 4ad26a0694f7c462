//! Following the control plane: long-poll its revision log from the last applied revision,
//! fetch the components the config references by digest, verify sha256, load them off the
//! request path, then swap the whole state in. The last applied revision and its components
//! are kept on local disk, so a restart with the control plane away serves at once. Anything
//! invalid or unverifiable is refused with a log line, and the node keeps what it had.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{ControlPlaneConfig, FunctionRef, NodeConfig};
use crate::node::NodeInner;
use crate::state::{Published, PublishedFunction, State, verify};

/// How long one long poll waits on the control plane.
const POLL_WAIT: Duration = Duration::from_secs(25);
/// Pause after a failed poll, doubling up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// Longest pause between failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Largest component the node fetches (the control plane's own limit is 50 MB).
const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;
/// Connect timeout towards the control plane.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A revision as the node needs it (the control plane sends more; the rest is ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RevisionDoc {
    number: u64,
    state: StateDoc,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateDoc {
    #[serde(default)]
    functions: BTreeMap<String, FunctionDoc>,
    #[serde(default)]
    distributions: BTreeMap<String, DistributionDoc>,
}

/// A distribution as the control plane stores it: the TOML of one `[[distributions]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DistributionDoc {
    source: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FunctionDoc {
    #[serde(default)]
    versions: Vec<VersionDoc>,
    #[serde(default)]
    aliases: BTreeMap<String, u32>,
    #[serde(default)]
    config: BTreeMap<String, AliasConfigDoc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AliasConfigDoc {
    #[serde(default)]
    values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionDoc {
    number: u32,
    digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

impl RevisionDoc {
    fn signature(&self, function: &str, version: u32) -> Option<&str> {
        let versions = &self.state.functions.get(function)?.versions;
        versions
            .iter()
            .find(|v| v.number == version)?
            .signature
            .as_deref()
    }
}

/// Checks the control plane's signature of `digest` (the statement wedge-control signs:
/// `wedge-artifact-v1:<digest>`).
fn check_signature(
    key: &ed25519_dalek::VerifyingKey,
    digest: &str,
    signature: Option<&str>,
) -> Result<(), SyncError> {
    use ed25519_dalek::Verifier;
    let signature =
        signature.ok_or_else(|| SyncError::Refused(format!("component {digest} is unsigned")))?;
    let bytes: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SyncError::Refused(format!("component {digest}: malformed signature")))?;
    key.verify(
        format!("wedge-artifact-v1:{digest}").as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&bytes),
    )
    .map_err(|_| SyncError::Refused(format!("component {digest}: the signature does not verify")))
}

/// With a public key configured, every version the node would serve must be signed by it.
fn check_signatures(
    revision: &RevisionDoc,
    published: &Published,
    config: &NodeConfig,
    key: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<(), SyncError> {
    let Some(key) = key else { return Ok(()) };
    for reference in published_refs(config, published) {
        let FunctionRef::Published { function, selector } = &reference else {
            continue;
        };
        if let Some((version, digest)) = published.resolve(function, selector) {
            check_signature(key, digest, revision.signature(function, version))?;
        }
    }
    Ok(())
}

/// Why a sync step failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The control plane could not be reached or answered with an error.
    #[error("control plane: {0}")]
    Unreachable(String),
    /// A component or revision was refused.
    #[error("{0}")]
    Refused(String),
    /// Local disk failed.
    #[error("local state {path}: {problem}")]
    Disk {
        /// The file.
        path: PathBuf,
        /// What failed.
        problem: String,
    },
}

/// The node's side of the control plane.
pub(crate) struct Follower {
    config: ControlPlaneConfig,
    node_id: String,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Follower {
    pub(crate) fn new(config: ControlPlaneConfig, node_id: &str) -> Result<Self, SyncError> {
        let connector =
            crate::origin::connector(CONNECT_TIMEOUT, None).map_err(SyncError::Unreachable)?;
        Ok(Self {
            config,
            node_id: node_id.to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    fn blob_dir(&self) -> PathBuf {
        self.config.data_dir.join("blobs")
    }

    fn applied_path(&self) -> PathBuf {
        self.config.data_dir.join("applied.json")
    }

    async fn get(
        &self,
        path: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<Bytes>, SyncError> {
        let base = self.config.url.to_string();
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let request = Request::get(url.as_str())
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.config.token),
            )
            .header("x-wedge-node", self.node_id.as_str())
            .body(Empty::new())
            .map_err(|error| SyncError::Unreachable(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| SyncError::Unreachable(format!("{url}: {error}")))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|error| SyncError::Unreachable(format!("{url}: {error}")))?
                .to_bytes();
            match status {
                StatusCode::OK => Ok(Some(body)),
                StatusCode::NO_CONTENT => Ok(None),
                other => Err(SyncError::Unreachable(format!(
                    "{url}: {other}: {}",
                    String::from_utf8_lossy(&body)
                ))),
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| SyncError::Unreachable(format!("{url}: no answer within {timeout:?}")))?
    }

    /// The newest revision past `after`, waiting up to `wait`.
    async fn poll(&self, after: u64, wait: Duration) -> Result<Option<RevisionDoc>, SyncError> {
        let path = format!(
            "/v1/revisions/latest?after={after}&wait_ms={}",
            wait.as_millis()
        );
        let Some(body) = self
            .get(&path, 16 * 1024 * 1024, wait + Duration::from_secs(10))
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|error| SyncError::Refused(format!("revision does not parse: {error}")))
    }

    /// Makes sure every component `config` references under `revision` is on disk and
    /// verified, fetching what is missing; returns the resolution table.
    async fn prepare(
        &self,
        revision: &RevisionDoc,
        config: &NodeConfig,
    ) -> Result<Published, SyncError> {
        let published = to_published(revision, self.blob_dir(), config)?;
        check_signatures(
            revision,
            &published,
            config,
            self.config.public_key.as_ref(),
        )?;
        for reference in published_refs(config, &published) {
            let FunctionRef::Published { function, selector } = &reference else {
                continue;
            };
            let Some((_, digest)) = published.resolve(function, selector) else {
                return Err(SyncError::Refused(format!(
                    "revision {} has no {reference}",
                    revision.number
                )));
            };
            let path = published.blob_path(digest);
            if let Ok(bytes) = tokio::fs::read(&path).await
                && verify(digest, &bytes).is_ok()
            {
                continue;
            }
            let body = self
                .get(
                    &format!("/v1/blobs/{digest}"),
                    MAX_COMPONENT_BYTES,
                    Duration::from_secs(60),
                )
                .await?
                .ok_or_else(|| SyncError::Refused(format!("blob {digest} is empty")))?;
            verify(digest, &body).map_err(|error| SyncError::Refused(error.to_string()))?;
            write_durably(&path, &body).await?;
        }
        Ok(published)
    }

    fn saved(&self) -> Option<RevisionDoc> {
        let text = std::fs::read(self.applied_path()).ok()?;
        serde_json::from_slice(&text).ok()
    }

    async fn save(&self, revision: &RevisionDoc) -> Result<(), SyncError> {
        let bytes =
            serde_json::to_vec(revision).map_err(|error| SyncError::Refused(error.to_string()))?;
        write_durably(&self.applied_path(), &bytes).await
    }
}

/// Every control-plane function the node would serve: referenced by its own config or by the
/// control plane's distributions.
fn published_refs(config: &NodeConfig, published: &Published) -> Vec<FunctionRef> {
    let mut refs: Vec<FunctionRef> = config
        .associations()
        .chain(crate::config::associations(&published.distributions))
        .map(|a| a.function.clone())
        .filter(|r| matches!(r, FunctionRef::Published { .. }))
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

/// The resolution table and distributions of `revision`, its distributions validated as the
/// node would load them (a distribution this node cannot serve refuses the revision).
fn to_published(
    revision: &RevisionDoc,
    blob_dir: PathBuf,
    config: &NodeConfig,
) -> Result<Published, SyncError> {
    let mut distributions = Vec::new();
    for (id, distribution) in &revision.state.distributions {
        let label = format!(
            "control-plane revision {} distribution {id}",
            revision.number
        );
        let parsed = NodeConfig::parse_distribution(
            &distribution.source,
            &label,
            config.runtime.fuel_metering,
        )
        .map_err(|error| SyncError::Refused(error.to_string()))?;
        if config.distributions.iter().any(|d| d.id == parsed.id) {
            return Err(SyncError::Refused(format!(
                "{label}: the node's own config already has a distribution `{}`",
                parsed.id
            )));
        }
        distributions.push(parsed);
    }
    if let Some(conflict) =
        crate::config::distributions_conflict(config.distributions.iter().chain(&distributions))
    {
        return Err(SyncError::Refused(format!(
            "control-plane revision {}: {conflict}",
            revision.number
        )));
    }
    let functions = revision
        .state
        .functions
        .iter()
        .map(|(name, function)| {
            let entry = PublishedFunction {
                versions: function
                    .versions
                    .iter()
                    .map(|v| (v.number, v.digest.clone()))
                    .collect(),
                aliases: function.aliases.clone(),
                config: function
                    .config
                    .iter()
                    .map(|(alias, c)| (alias.clone(), c.values.clone()))
                    .collect(),
            };
            (name.clone(), entry)
        })
        .collect();
    Ok(Published {
        revision: revision.number,
        functions,
        distributions,
        blob_dir,
    })
}

/// Writes `bytes` to `path` via a temp file, fsync and rename.
async fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    let path = path.to_owned();
    let bytes = bytes.to_vec();
    let disk = |path: &Path, error: std::io::Error| SyncError::Disk {
        path: path.to_owned(),
        problem: error.to_string(),
    };
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| disk(parent, e))?;
        let temp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&temp).map_err(|e| disk(&temp, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| disk(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| disk(&path, e))?;
        std::fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| disk(parent, e))
    })
    .await
    .map_err(|error| SyncError::Refused(format!("disk task failed: {error}")))?
}

/// The state to start with: the saved revision if there is one (serving needs no control
/// plane), else the control plane's latest.
pub(crate) async fn initial(
    follower: &Follower,
    config: &NodeConfig,
) -> Result<Published, SyncError> {
    if let Some(saved) = follower.saved() {
        tracing::info!(
            revision = saved.number,
            "starting from the saved control-plane revision"
        );
        return to_published(&saved, follower.blob_dir(), config);
    }
    let Some(latest) = follower.poll(0, Duration::ZERO).await? else {
        tracing::info!("the control plane has no revision yet: starting empty");
        return Ok(Published {
            blob_dir: follower.blob_dir(),
            ..Published::default()
        });
    };
    let published = follower.prepare(&latest, config).await?;
    follower.save(&latest).await?;
    Ok(published)
}

/// Follows the log until shutdown, applying each new revision atomically or not at all.
pub(crate) async fn follow(
    follower: Follower,
    node: Arc<NodeInner>,
    config: NodeConfig,
    mut applied: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seen = applied;
    let mut backoff = MIN_BACKOFF;
    loop {
        let polled = tokio::select! {
            polled = follower.poll(seen, POLL_WAIT) => polled,
            _ = shutdown.changed() => return,
        };
        match polled {
            Ok(None) => backoff = MIN_BACKOFF,
            Ok(Some(revision)) => {
                backoff = MIN_BACKOFF;
                match apply(&follower, &node, &config, &revision).await {
                    Ok(()) => {
                        seen = revision.number;
                        applied = revision.number;
                        tracing::info!(revision = applied, "applied control-plane revision");
                    }
                    Err(error @ SyncError::Unreachable(_)) => {
                        // A blob could not be fetched: try this revision again after a pause.
                        tracing::warn!(
                            revision = revision.number,
                            serving = applied,
                            "cannot apply yet: {error}"
                        );
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {},
                            _ = shutdown.changed() => return,
                        }
                    }
                    Err(error) => {
                        // Invalid or unverifiable: wait for a newer revision.
                        seen = revision.number;
                        tracing::error!(
                            revision = revision.number,
                            serving = applied,
                            "control-plane revision refused, still serving the previous one: {error}"
                        );
                    }
                }
            }
            Err(error) => {
                tracing::warn!(
                    serving = applied,
                    "control plane unavailable, serving the last applied revision: {error}"
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {},
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn apply(
    follower: &Follower,
    node: &NodeInner,
    config: &NodeConfig,
    revision: &RevisionDoc,
) -> Result<(), SyncError> {
    let published = follower.prepare(revision, config).await?;
    let state = State::build(config, &node.runtime, Some(&published))
        .await
        .map_err(|error| SyncError::Refused(error.to_string()))?;
    follower.save(revision).await?;
    node.state.store(Arc::new(state));
    node.applied_revision
        .store(revision.number, Ordering::Relaxed);
    node.metrics
        .applied_revision
        .set(i64::try_from(revision.number).unwrap_or(i64::MAX));
    Ok(())
}
