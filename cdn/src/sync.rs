//! Following the control plane: long-poll its revision log from the last applied revision,
//! fetch the components the config references by digest, verify sha256, load them off the
//! request path, then swap the whole state in. The last applied revision and its components
//! are kept on local disk, so a restart with the control plane away serves at once. Anything
//! invalid or unverifiable is refused with a log line, and the node keeps what it had.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use wedge_types::PublishedRef;
use wedge_types::revision::signed_message;
use wedge_types::wire::{self, Decoded};

use crate::config::{ControlPlaneConfig, NodeConfig};
use crate::node::NodeInner;
use crate::state::{Fallback, Published, State, verify};

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

/// A revision as received: decoded tolerantly, with its bytes as the control plane sent them
/// (saved as they are, so nothing a newer release added is lost on disk).
struct Received {
    decoded: Decoded,
    bytes: Bytes,
}

impl Received {
    fn parse(bytes: Bytes) -> Result<Self, SyncError> {
        let decoded =
            wire::decode(&bytes).map_err(|error| SyncError::Refused(error.to_string()))?;
        Ok(Self { decoded, bytes })
    }

    fn number(&self) -> u64 {
        self.decoded.revision.number
    }

    /// Says once per revision what this release skipped.
    fn log_skipped(&self) {
        let decoded = &self.decoded;
        if decoded.revision.format > wire::FORMAT || !decoded.ignored.is_empty() {
            tracing::warn!(
                revision = decoded.revision.number,
                format = decoded.revision.format,
                understood = wire::FORMAT,
                ignored = ?decoded.ignored,
                "the control plane is newer than this node: keys it does not know are ignored"
            );
        }
    }
}

/// Checks the control plane's signature of `digest` (the statement wedge-control signs).
fn check_signature(
    key: &ed25519_dalek::VerifyingKey,
    digest: &str,
    signature: Option<&str>,
) -> Result<(), String> {
    use ed25519_dalek::Verifier;
    let signature = signature.ok_or_else(|| format!("component {digest} is unsigned"))?;
    let bytes: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("component {digest}: malformed signature"))?;
    key.verify(
        &signed_message(digest),
        &ed25519_dalek::Signature::from_bytes(&bytes),
    )
    .map_err(|_| format!("component {digest}: the signature does not verify"))
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
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
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

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<Bytes>, SyncError> {
        let base = self.config.url.to_string();
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.config.token),
            )
            .header("x-wedge-node", self.node_id.as_str());
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body))
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

    async fn get(
        &self,
        path: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<Bytes>, SyncError> {
        self.exchange(Method::GET, path, Bytes::new(), limit, timeout)
            .await
    }

    /// The newest revision past `after`, waiting up to `wait`.
    async fn poll(&self, after: u64, wait: Duration) -> Result<Option<Received>, SyncError> {
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
        Received::parse(body).map(Some)
    }

    /// Tells the control plane what this node serves: the revision applied and every
    /// distribution of it that the node could not serve, with why. Best effort: a failed
    /// report is logged and the next apply reports again.
    async fn report(&self, revision: u64, problems: &BTreeMap<String, String>) {
        let body = serde_json::json!({"revision": revision, "distributions": problems});
        let path = format!("/v1/nodes/{}/report", self.node_id);
        let sent = self
            .exchange(
                Method::POST,
                &path,
                Bytes::from(body.to_string()),
                64 * 1024,
                Duration::from_secs(10),
            )
            .await;
        if let Err(error) = sent {
            tracing::warn!(revision, "could not report to the control plane: {error}");
        }
    }

    /// Makes sure every component the node would serve under `received` is on disk and
    /// verified, fetching what is missing (with `fetch`; without, a saved revision at start,
    /// what is missing is refused); returns the resolution table with what this node cannot
    /// serve marked (per distribution, per reference).
    async fn prepare(
        &self,
        received: &Received,
        config: &NodeConfig,
        fetch: bool,
    ) -> Result<Published, SyncError> {
        let mut published = to_published(received, self.blob_dir(), config);
        let key = self.config.public_key.as_ref();
        for reference in published_refs(config, &published) {
            let Ok(version) = published.resolve(&reference) else {
                continue;
            };
            if let Some(key) = key
                && let Err(reason) =
                    check_signature(key, &version.digest, version.signature.as_deref())
            {
                published.refused.insert(reference, reason);
                continue;
            }
            let digest = version.digest.clone();
            let path = published.blob_path(&digest);
            if let Ok(bytes) = tokio::fs::read(&path).await
                && verify(&digest, &bytes).is_ok()
            {
                continue;
            }
            if !fetch {
                published
                    .refused
                    .insert(reference, format!("component {digest} is not on disk"));
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
            if let Err(error) = verify(&digest, &body) {
                published.refused.insert(reference, error.to_string());
                continue;
            }
            write_durably(&path, &body).await?;
        }
        Ok(published)
    }

    fn held_path(&self) -> PathBuf {
        self.config.data_dir.join("held.json")
    }

    fn revision_path(&self, number: u64) -> PathBuf {
        self.config
            .data_dir
            .join("revisions")
            .join(format!("{number}.json"))
    }

    /// A saved revision file, if it can be read.
    fn read_saved(&self, path: &Path) -> Option<Received> {
        let bytes = std::fs::read(path).ok()?;
        match Received::parse(Bytes::from(bytes)) {
            Ok(received) => Some(received),
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    "a saved revision cannot be read: {error}"
                );
                None
            }
        }
    }

    /// Which distribution is served from which earlier revision (see [`Follower::save`]).
    fn saved_held(&self) -> BTreeMap<String, u64> {
        std::fs::read(self.held_path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Saves what the node serves after applying `received`: the revision itself, and for
    /// each distribution served from an earlier copy (`fell_back`), the revision that copy
    /// came from, so a restart with the control plane away serves exactly the same. `held` is
    /// the record before this apply and `previous` the revision applied before it; the record
    /// after is returned.
    async fn save(
        &self,
        received: &Received,
        fell_back: &BTreeSet<String>,
        held: &BTreeMap<String, u64>,
        previous: u64,
    ) -> Result<BTreeMap<String, u64>, SyncError> {
        let mut now_held = BTreeMap::new();
        for id in fell_back {
            let from = held.get(id).copied().unwrap_or(previous);
            if from > 0 {
                now_held.insert(id.clone(), from);
            }
        }
        if now_held.values().any(|n| *n == previous) && !self.revision_path(previous).exists() {
            let bytes = tokio::fs::read(self.applied_path())
                .await
                .map_err(|error| SyncError::Disk {
                    path: self.applied_path(),
                    problem: error.to_string(),
                })?;
            write_durably(&self.revision_path(previous), &bytes).await?;
        }
        let record = serde_json::to_vec(&now_held).unwrap_or_default();
        write_durably(&self.held_path(), &record).await?;
        write_durably(&self.applied_path(), &received.bytes).await?;
        // Earlier revisions no distribution is served from any more.
        let kept: BTreeSet<u64> = now_held.values().copied().collect();
        if let Ok(entries) = std::fs::read_dir(self.config.data_dir.join("revisions")) {
            for entry in entries.flatten() {
                let number = entry
                    .path()
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .and_then(|stem| stem.parse::<u64>().ok());
                if number.is_some_and(|n| !kept.contains(&n)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(now_held)
    }
}

/// What a node starts from.
pub(crate) struct Initial {
    /// The revision to serve (empty when there is none).
    pub(crate) published: Published,
    /// Earlier revisions some distributions are served from, by distribution id.
    pub(crate) held: BTreeMap<String, Published>,
    /// The record of `held` by revision number.
    pub(crate) held_numbers: BTreeMap<String, u64>,
    /// Whether it came from disk (the control plane was not asked).
    pub(crate) from_disk: bool,
}

/// Every control-plane function the node would serve: referenced by its own config or by the
/// control plane's distributions.
fn published_refs(config: &NodeConfig, published: &Published) -> BTreeSet<PublishedRef> {
    config
        .associations()
        .chain(crate::config::associations(&published.distributions))
        .filter_map(|a| a.function.published().cloned())
        .collect()
}

/// The resolution table and distributions of `received`, each distribution validated as the
/// node would load it. One this node cannot serve is set aside with why, not the revision.
fn to_published(received: &Received, blob_dir: PathBuf, config: &NodeConfig) -> Published {
    let revision = &received.decoded.revision;
    let mut rejected = received.decoded.rejected.clone();
    let mut distributions = Vec::new();
    for (id, spec) in &revision.state.distributions {
        let label = format!(
            "control-plane revision {} distribution {id}",
            revision.number
        );
        let check = wedge_types::check::Checker::remote(Path::new(&label));
        let parsed = match spec.validate(&check, "distribution", config.runtime.fuel_metering) {
            Ok(parsed) => parsed,
            Err(error) => {
                rejected.insert(id.clone(), error.to_string());
                continue;
            }
        };
        if config.distributions.iter().any(|d| d.id == parsed.id) {
            rejected.insert(
                id.clone(),
                format!("{label}: the node's own config already has a distribution `{id}`"),
            );
            continue;
        }
        let unresolved = crate::config::associations(std::slice::from_ref(&parsed))
            .filter_map(|a| a.function.published())
            .find_map(|r| revision.state.resolve(r).err());
        if let Some(error) = unresolved {
            rejected.insert(id.clone(), format!("{label}: {error}"));
            continue;
        }
        if let Some(conflict) = crate::config::distributions_conflict(
            config
                .distributions
                .iter()
                .chain(&distributions)
                .chain([&parsed]),
        ) {
            rejected.insert(id.clone(), format!("{label}: {conflict}"));
            continue;
        }
        distributions.push(parsed);
    }
    Published {
        revision: revision.number,
        state: revision.state.clone(),
        distributions,
        rejected,
        refused: BTreeMap::new(),
        blob_dir,
    }
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
/// plane), with the earlier revisions held-back distributions are served from; else the control
/// plane's latest; else (the control plane is away and nothing is saved) nothing published: the
/// node serves its own distributions, their control-plane functions unavailable until a
/// revision arrives.
pub(crate) async fn initial(follower: &Follower, config: &NodeConfig) -> Initial {
    let mut start = Initial {
        published: Published {
            blob_dir: follower.blob_dir(),
            ..Published::default()
        },
        held: BTreeMap::new(),
        held_numbers: BTreeMap::new(),
        from_disk: false,
    };
    if let Some(saved) = follower.read_saved(&follower.applied_path()) {
        tracing::info!(
            revision = saved.number(),
            "starting from the saved control-plane revision"
        );
        saved.log_skipped();
        start.from_disk = true;
        // Nothing is fetched: what is not on disk (or not signed) is refused.
        if let Ok(published) = follower.prepare(&saved, config, false).await {
            start.published = published;
        }
        for (id, number) in follower.saved_held() {
            let Some(earlier) = follower.read_saved(&follower.revision_path(number)) else {
                continue;
            };
            if let Ok(published) = follower.prepare(&earlier, config, false).await {
                start.held.insert(id.clone(), published);
                start.held_numbers.insert(id, number);
            }
        }
        return start;
    }
    let latest = match follower.poll(0, Duration::ZERO).await {
        Ok(Some(latest)) => latest,
        Ok(None) => {
            tracing::info!("the control plane has no revision yet: starting without one");
            return start;
        }
        Err(error) => {
            tracing::warn!("starting without a control-plane revision: {error}");
            return start;
        }
    };
    latest.log_skipped();
    match follower.prepare(&latest, config, true).await {
        Ok(published) => {
            if let Err(error) = follower
                .save(&latest, &BTreeSet::new(), &BTreeMap::new(), 0)
                .await
            {
                tracing::warn!("cannot save the revision: {error}");
            }
            start.published = published;
        }
        Err(error) => {
            tracing::warn!(
                revision = latest.number(),
                "starting without a control-plane revision: {error}"
            );
        }
    }
    start
}

/// Follows the log until shutdown, applying each new revision: every distribution that can be
/// served is swapped in at once; one that cannot keeps its previous copy and is reported.
pub(crate) async fn follow(
    follower: Follower,
    node: Arc<NodeInner>,
    config: NodeConfig,
    mut applied: u64,
    initial_problems: BTreeMap<String, String>,
    mut held: BTreeMap<String, u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    follower.report(applied, &initial_problems).await;
    let mut seen = applied;
    let mut backoff = MIN_BACKOFF;
    loop {
        let polled = tokio::select! {
            polled = follower.poll(seen, POLL_WAIT) => polled,
            _ = shutdown.changed() => return,
        };
        match polled {
            Ok(None) => backoff = MIN_BACKOFF,
            Ok(Some(received)) => {
                backoff = MIN_BACKOFF;
                received.log_skipped();
                match apply(&follower, &node, &config, &received, (&held, applied)).await {
                    Ok((problems, now_held)) => {
                        held = now_held;
                        seen = received.number();
                        applied = received.number();
                        tracing::info!(
                            revision = applied,
                            not_served = problems.len(),
                            "applied control-plane revision"
                        );
                        follower.report(applied, &problems).await;
                    }
                    Err(error @ SyncError::Unreachable(_)) => {
                        // A blob could not be fetched: try this revision again after a pause.
                        tracing::warn!(
                            revision = received.number(),
                            serving = applied,
                            "cannot apply yet: {error}"
                        );
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {},
                            _ = shutdown.changed() => return,
                        }
                    }
                    Err(error) => {
                        // Unusable as a whole: wait for a newer revision.
                        seen = received.number();
                        tracing::error!(
                            revision = received.number(),
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

/// Applies `received`; returns the distributions it could not serve and the new record of
/// those served from earlier revisions. `before` is that record and the revision applied
/// before this one.
async fn apply(
    follower: &Follower,
    node: &NodeInner,
    config: &NodeConfig,
    received: &Received,
    before: (&BTreeMap<String, u64>, u64),
) -> Result<(BTreeMap<String, String>, BTreeMap<String, u64>), SyncError> {
    let published = follower.prepare(received, config, true).await?;
    let previous = node.state.load_full();
    let built = State::build(
        config,
        &node.runtime,
        Some(&published),
        Fallback::Previous(&previous),
    )
    .await
    .map_err(|error| SyncError::Refused(error.to_string()))?;
    let held = follower
        .save(received, &built.fell_back, before.0, before.1)
        .await?;
    node.state.store(Arc::new(built.state));
    let number = received.number();
    node.applied_revision.send_replace(number);
    node.metrics
        .applied_revision
        .set(i64::try_from(number).unwrap_or(i64::MAX));
    for (id, problem) in &built.problems {
        tracing::error!(
            revision = number,
            distribution = id.as_str(),
            served_from_earlier = built.fell_back.contains(id),
            "distribution not updated: {problem}"
        );
    }
    Ok((built.problems, held))
}
