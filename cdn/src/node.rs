//! The node: its shared state, startup (bind everything, load everything, or fail with the
//! reason) and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wedge_runtime::Runtime;

use crate::access_log::AccessLog;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::config::{NodeConfig, ServerLimits};
use crate::metrics::Metrics;
use crate::state::{Fallback, State, StateError};
use crate::{admin, server, tls};

/// What every request handler shares.
pub(crate) struct NodeInner {
    pub(crate) node_id: String,
    pub(crate) via: HeaderValue,
    pub(crate) limits: ServerLimits,
    pub(crate) state: ArcSwap<State>,
    pub(crate) cache: Cache,
    pub(crate) metrics: Metrics,
    pub(crate) access_log: AccessLog,
    pub(crate) runtime: Runtime,
    /// The control-plane revision applied (0 without a control plane); subscribers hear of
    /// each new one.
    pub(crate) applied_revision: watch::Sender<u64>,
    /// The viewer listeners' connections.
    pub(crate) admission: Arc<wedge_listener::Admission>,
    /// "Now" for cache freshness.
    pub(crate) clock: Clock,
    request_prefix: String,
    request_counter: AtomicU64,
}

impl NodeInner {
    /// A new request id: unique per node run, short, and sortable within a run.
    pub(crate) fn next_request_id(&self) -> Arc<str> {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        Arc::from(format!("{}{n:08x}", self.request_prefix))
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The runtime could not be built.
    #[error(transparent)]
    Runtime(#[from] wedge_runtime::RuntimeError),
    /// A function or origin could not be loaded.
    #[error(transparent)]
    State(#[from] StateError),
    /// The isolation self-check failed: an instance saw what an earlier one wrote.
    #[error(transparent)]
    Isolation(#[from] wedge_runtime::IsolationError),
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {cause}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// A TLS certificate or key could not be used.
    #[error("TLS for {address}: {problem}")]
    Tls {
        /// The listener's address.
        address: SocketAddr,
        /// What is wrong.
        problem: String,
    },
    /// The access log could not be opened.
    #[error("access log: {0}")]
    AccessLog(std::io::Error),
    /// No control-plane state: none saved on disk, and the control plane did not provide one.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
}

/// A started node: listeners accepting, functions loaded.
pub struct RunningNode {
    inner: Arc<NodeInner>,
    listeners: Vec<SocketAddr>,
    admin: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The runtime's config: a node following a control plane keeps compiled code across
/// restarts (published versions come back with rollbacks and alias flips).
fn runtime_config(config: &NodeConfig) -> wedge_runtime::RuntimeConfig {
    let mut runtime_config = config.runtime.clone();
    if let (Some(control), None) = (&config.control_plane, &runtime_config.compile_cache_dir) {
        runtime_config.compile_cache_dir = Some(control.data_dir.join("compiled"));
    }
    runtime_config
}

impl NodeInner {
    fn new(
        config: &NodeConfig,
        runtime: Runtime,
        state: State,
        applied: u64,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let access_log = AccessLog::open(&config.access_log).map_err(StartError::AccessLog)?;
        let metrics = Metrics::new();
        metrics
            .instances_max
            .set(i64::from(config.runtime.max_instances));
        metrics
            .applied_revision
            .set(i64::try_from(applied).unwrap_or(i64::MAX));
        Ok(Self {
            via: HeaderValue::from_str(&format!("1.1 {} (wedge)", config.node_id))
                .unwrap_or(HeaderValue::from_static("1.1 wedge")),
            node_id: config.node_id.clone(),
            limits: config.limits,
            state: ArcSwap::from_pointee(state),
            cache: Cache::new(config.cache),
            metrics,
            access_log,
            runtime,
            applied_revision: watch::Sender::new(applied),
            admission: server::admission(&config.limits),
            clock,
            request_prefix: request_prefix(&config.node_id),
            request_counter: AtomicU64::new(0),
        })
    }
}

/// Binds every viewer listener and starts its accept loop; returns the bound addresses.
async fn bind_listeners(
    config: &NodeConfig,
    inner: &Arc<NodeInner>,
    shutdown: &watch::Sender<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Vec<SocketAddr>, StartError> {
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let socket =
            TcpListener::bind(listener.address)
                .await
                .map_err(|cause| StartError::Bind {
                    address: listener.address,
                    cause,
                })?;
        let acceptor = match &listener.tls {
            Some(files) => Some(tls::acceptor(files).map_err(|problem| StartError::Tls {
                address: listener.address,
                problem,
            })?),
            None => None,
        };
        let address = socket.local_addr().map_err(|cause| StartError::Bind {
            address: listener.address,
            cause,
        })?;
        listeners.push(address);
        tracing::info!(%address, tls = acceptor.is_some(), "listening");
        tasks.push(tokio::spawn(server::accept_loop(
            socket,
            acceptor,
            Arc::clone(inner),
            Arc::from(listener.trusted_proxies.clone()),
            Arc::clone(&inner.admission),
            shutdown.subscribe(),
        )));
    }
    Ok(listeners)
}

/// Binds the admin listener and starts serving it; returns its bound address.
async fn bind_admin(
    config: &NodeConfig,
    admin_config: &crate::config::AdminConfig,
    inner: &Arc<NodeInner>,
    shutdown: &watch::Sender<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<SocketAddr, StartError> {
    let address = admin_config.address;
    let socket = TcpListener::bind(address)
        .await
        .map_err(|cause| StartError::Bind { address, cause })?;
    let bound = socket
        .local_addr()
        .map_err(|cause| StartError::Bind { address, cause })?;
    tracing::info!(address = %bound, "admin listening");
    if !bound.ip().is_loopback() {
        tracing::warn!(
            address = %bound,
            "the admin listener is not on loopback: anyone who can reach it can read /metrics and /status; keep it behind a firewall"
        );
    }
    let tokens = admin_config
        .token
        .iter()
        .chain(config.control_plane.as_ref().map(|c| &c.token))
        .cloned()
        .collect();
    tasks.push(tokio::spawn(admin::serve(
        socket,
        admin::Guard::new(bound, tokens),
        Arc::clone(inner),
        shutdown.subscribe(),
    )));
    Ok(bound)
}

impl RunningNode {
    /// Loads the functions, binds every listener and starts serving.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        Self::start_with_clock(config, Clock::system()).await
    }

    /// [`RunningNode::start`] with the clock cache freshness is judged by (tests move a
    /// [`Clock::manual`] forward instead of waiting for lifetimes to run out).
    pub async fn start_with_clock(config: NodeConfig, clock: Clock) -> Result<Self, StartError> {
        let runtime = Runtime::new(runtime_config(&config))?;
        // Prove on this machine's kernel that a pooled slot is reset before anything is served.
        runtime.check_isolation().await?;
        let (follower, start) = match &config.control_plane {
            Some(control) => {
                let follower = crate::sync::Follower::new(control.clone(), &config.node_id)?;
                let start = crate::sync::initial(&follower, &config).await;
                (Some(follower), Some(start))
            }
            None => (None, None),
        };
        let fallback = match &start {
            Some(start) if start.from_disk => Fallback::Held(&start.held),
            _ => Fallback::Nothing,
        };
        let published = start.as_ref().map(|s| &s.published);
        let built = State::build(&config, &runtime, published, fallback).await?;
        for (id, problem) in &built.problems {
            tracing::error!(
                distribution = id.as_str(),
                "distribution not served as published: {problem}"
            );
        }
        let applied = published.map_or(0, |p| p.revision);
        let held = start.map(|s| s.held_numbers).unwrap_or_default();
        let inner = Arc::new(NodeInner::new(
            &config,
            runtime,
            built.state,
            applied,
            clock,
        )?);
        let (shutdown, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let listeners = bind_listeners(&config, &inner, &shutdown, &mut tasks).await?;
        if let Some(follower) = follower {
            tasks.push(tokio::spawn(crate::sync::follow(
                follower,
                Arc::clone(&inner),
                config.clone(),
                applied,
                built.problems,
                held,
                shutdown.subscribe(),
            )));
        }
        let admin = match &config.admin {
            Some(admin) => Some(bind_admin(&config, admin, &inner, &shutdown, &mut tasks).await?),
            None => None,
        };
        Ok(Self {
            inner,
            listeners,
            admin,
            shutdown,
            tasks,
        })
    }

    /// The bound viewer listener addresses, in config order.
    pub fn listeners(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// The bound admin address.
    pub fn admin(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The control-plane revision the node serves (0 without a control plane).
    pub fn applied_revision(&self) -> u64 {
        *self.inner.applied_revision.borrow()
    }

    /// Follows the applied control-plane revision: the receiver sees each new one.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.inner.applied_revision.subscribe()
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Replaces what the node serves, atomically: requests in flight finish on the old state,
    /// new requests see only the new one.
    pub fn replace_state(&self, state: State) {
        self.inner.state.store(Arc::new(state));
    }

    /// Applies the distributions of a new config (functions, origins, behaviors, cache
    /// policies) without dropping a request: everything is loaded first, then swapped in whole.
    /// If anything fails to load, the node keeps serving what it had. Listeners, limits, the
    /// cache size and the runtime need a restart; the cache is kept.
    /// A node following a control plane takes its functions from there: restart it to change
    /// its config.
    pub async fn reload(&self, config: &NodeConfig) -> Result<(), StateError> {
        if config.control_plane.is_some() {
            return Err(StateError::ReloadWithControlPlane);
        }
        let built = State::build(config, &self.inner.runtime, None, Fallback::Nothing).await?;
        self.replace_state(built.state);
        Ok(())
    }

    /// The runtime functions are loaded with (to build a replacement [`State`]).
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Stops accepting, lets in-flight requests finish up to the shutdown grace, then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// `<node id>-<6 hex of randomness>-`: ids differ across nodes and restarts.
fn request_prefix(node_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(node_id.as_bytes());
    hasher.update(std::process::id().to_le_bytes());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.update(now.as_nanos().to_le_bytes());
    let digest = hasher.finalize();
    format!("{node_id}-{}-", hex::encode(&digest[..3]))
}
