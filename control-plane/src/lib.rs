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
pub mod model;
pub mod service;
pub mod store;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ControlConfig;
use crate::service::Service;
use crate::store::{DiskBlobs, RedbLog};

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
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
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
                .map_err(|source| StartError::Bind {
                    address: config.listen,
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            address: config.listen,
            source,
        })?;
        let (shutdown, mut stop) = watch::channel(false);
        let task = tokio::spawn(async move {
            // Connections are owned here, so that shutdown ends them and releases the stores.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            tracing::warn!("accept failed: {error}");
                            continue;
                        }
                    },
                    _ = stop.changed() => {
                        connections.shutdown().await;
                        return;
                    }
                };
                while connections.try_join_next().is_some() {}
                let api = Arc::clone(&api);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let api = Arc::clone(&api);
                        async move { Ok::<_, Infallible>(api.route(request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
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
