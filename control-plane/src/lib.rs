//! wedge-control: the wedge control plane (binary `wedge-control`).
//!
//! Stores immutable, content-addressed function versions, aliases and distributions, and records every
//! change as one numbered revision holding the whole resulting state; nodes follow the log
//! (long poll) and fetch components by sha256. Storage sits behind two narrow traits
//! ([`store::RevisionLog`], [`store::BlobStore`]) with an embedded default on local disk
//! (redb + files, durable before acknowledged). The HTTP/JSON API is listed in [`api`].

pub mod api;
pub mod auth;
pub mod config;
pub mod distribution;
/// The control plane's model, shared with nodes and the CLI (defined in wedge-types).
pub use wedge_types::revision as model;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wedge_listener::{Admission, AdmissionLimits, Timeouts};

use crate::config::ControlConfig;
use crate::service::Service;
use crate::store::{DiskBlobs, RedbLog};

/// Connections the API holds at once (each following node keeps one long poll open).
pub const MAX_CONNECTIONS: u32 = 4096;
/// Connections one client may hold open before sending a request; more are closed at once.
pub const MAX_FRESH_CONNECTIONS_PER_CLIENT: u32 = 32;
/// Time from accept to a whole request head, and on HTTP/1.1 for each later head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request in flight (a long poll is in flight) is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running control plane.
pub struct ControlPlane {
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or its stores could not be opened.
    #[error("data dir {path}: {problem}")]
    Storage {
        /// The directory.
        path: std::path::PathBuf,
        /// What failed.
        problem: String,
    },
    /// The API address could not be bound.
    #[error("cannot listen on {address}: {cause}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
}

impl ControlPlane {
    /// Opens the stores under `config.data_dir` and starts serving the API.
    pub async fn start(config: ControlConfig) -> Result<Self, StartError> {
        let storage = |problem: String| StartError::Storage {
            path: config.data_dir.clone(),
            problem,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| storage(e.to_string()))?;
        let log = RedbLog::open(&config.data_dir.join("revisions.redb"))
            .map_err(|e| storage(e.to_string()))?;
        let blobs =
            DiskBlobs::open(&config.data_dir.join("blobs")).map_err(|e| storage(e.to_string()))?;
        let service = Service::new(
            Arc::new(log),
            Arc::new(blobs),
            config.max_component_bytes,
            config.signing_key.clone(),
        )
        .map_err(storage)?;
        let api = Arc::new(api::Api {
            service,
            tokens: config.tokens.clone(),
            nodes: std::sync::Mutex::default(),
        });
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|cause| StartError::Bind {
                    address: config.listen,
                    cause,
                })?;
        let address = listener.local_addr().map_err(|cause| StartError::Bind {
            address: config.listen,
            cause,
        })?;
        let (shutdown, stop) = watch::channel(false);
        let admission = Arc::new(Admission::new(AdmissionLimits {
            max_connections: MAX_CONNECTIONS,
            max_fresh_per_client: MAX_FRESH_CONNECTIONS_PER_CLIENT,
            shed_grace: wedge_listener::shed_grace(HEADER_READ_TIMEOUT),
        }));
        let timeouts = Timeouts {
            first_request: HEADER_READ_TIMEOUT,
            idle: IDLE_TIMEOUT,
            // Long polls would hold shutdown up: connections are closed at once, which also
            // releases the stores (they are owned by the connections' tasks).
            shutdown_grace: Duration::ZERO,
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        builder.http2().timer(TokioTimer::new());
        let handler = move |request, _peer| Arc::clone(&api).route(request);
        let task = tokio::spawn(wedge_listener::serve(
            listener,
            None,
            admission,
            timeouts,
            Arc::new(builder),
            handler,
            stop,
        ));
        tracing::info!(%address, "wedge-control listening");
        Ok(Self {
            address,
            shutdown,
            task,
        })
    }

    /// The bound API address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes open connections and releases the stores.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
