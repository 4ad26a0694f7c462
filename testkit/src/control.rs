//! A control plane on 127.0.0.1 with one token per role, its data in a temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::Method;
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;

use crate::client::{Answer, send};

/// The admin token of every [`TestControl`].
pub const ADMIN: &str = "admin-token-0123456789";
/// The read token.
pub const READ: &str = "read-token-0123456789";
/// The node token.
pub const NODE: &str = "node-token-0123456789";

/// How to start a [`TestControl`].
#[derive(Debug, Clone, Default)]
pub struct ControlOptions {
    /// Listen here (default: 127.0.0.1 port 0).
    pub listen: Option<SocketAddr>,
    /// The largest component accepted.
    pub max_component_bytes: Option<usize>,
    /// Sign published versions with the ed25519 seed `[seed; 32]`.
    pub signing_seed: Option<u8>,
}

impl ControlOptions {
    /// Accepting components up to `max_component_bytes`.
    pub fn limited(max_component_bytes: usize) -> Self {
        Self {
            max_component_bytes: Some(max_component_bytes),
            ..Self::default()
        }
    }
}

/// A running control plane and the directory holding its config and data.
pub struct TestControl {
    plane: Option<ControlPlane>,
    address: SocketAddr,
    dir: PathBuf,
    _owned: Option<tempfile::TempDir>,
}

impl TestControl {
    /// Starts with default options in a fresh temp dir.
    pub async fn start() -> Self {
        Self::start_with(ControlOptions::default()).await
    }

    /// Starts with `options` in a fresh temp dir.
    pub async fn start_with(options: ControlOptions) -> Self {
        let owned = tempfile::tempdir().unwrap();
        let dir = owned.path().to_owned();
        let mut control = Self::start_in(&dir, options).await;
        control._owned = Some(owned);
        control
    }

    /// Starts with `options` on the data in `dir` (kept by the caller: a restart).
    pub async fn start_in(dir: &Path, options: ControlOptions) -> Self {
        let listen = options
            .listen
            .map_or_else(|| "127.0.0.1:0".to_owned(), |addr| addr.to_string());
        let mut text = format!(
            "listen = \"{listen}\"\ndata_dir = \"data\"\ntokens = [\n  {{ name = \"admin\", token = \"{ADMIN}\", role = \"admin\" }},\n  {{ name = \"read\", token = \"{READ}\", role = \"read\" }},\n  {{ name = \"node\", token = \"{NODE}\", role = \"node\" }},\n]\n"
        );
        if let Some(bytes) = options.max_component_bytes {
            text.push_str(&format!("max_component_bytes = {bytes}\n"));
        }
        if let Some(seed) = options.signing_seed {
            let hex: String = [seed; 32].iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(dir.join("signing.key"), hex).unwrap();
            text.push_str("signing_key_file = \"signing.key\"\n");
        }
        let path = dir.join("control.toml");
        std::fs::write(&path, text).unwrap();
        let plane = ControlPlane::start(ControlConfig::load(&path).unwrap())
            .await
            .unwrap();
        Self {
            address: plane.address(),
            plane: Some(plane),
            dir: dir.to_owned(),
            _owned: None,
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its base URL, as nodes and the CLI take it.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The directory of its config and data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One API call with `token`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Answer {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        send(self.address, "control", method, path, &headers, body).await
    }

    /// One API call with the admin token; its JSON answer.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> serde_json::Value {
        self.call(method, path, Some(ADMIN), body).await.json()
    }

    /// Publishes `bytes` as the next version of `function`.
    pub async fn publish(&self, function: &str, bytes: Vec<u8>) -> serde_json::Value {
        let path = format!("/v1/functions/{function}/versions");
        self.admin(Method::POST, &path, bytes).await
    }

    /// Points `alias` of `function` at `version`.
    pub async fn set_alias(&self, function: &str, alias: &str, version: u32) -> serde_json::Value {
        let path = format!("/v1/functions/{function}/aliases/{alias}");
        let body = format!("{{\"version\": {version}}}");
        self.admin(Method::PUT, &path, body).await
    }

    /// Creates or replaces a distribution from its TOML.
    pub async fn put_distribution(&self, id: &str, toml: impl Into<String>) -> serde_json::Value {
        let path = format!("/v1/distributions/{id}");
        self.admin(Method::PUT, &path, toml.into()).await
    }

    /// The node's entry in `GET /v1/nodes` once it reports `revision`.
    pub async fn node_at(&self, node: &str, revision: u64) -> serde_json::Value {
        crate::eventually(&format!("{node} to report revision {revision}"), || async {
            let nodes = self.admin(Method::GET, "/v1/nodes", Bytes::new()).await;
            let entry = nodes["nodes"][node].clone();
            (entry["revision"] == revision).then_some(entry)
        })
        .await
    }

    /// Stops it and keeps the handle (its address and data stay, for
    /// [`TestControl::start_in`] on the same address: a restart).
    pub async fn stop(&mut self) {
        if let Some(plane) = self.plane.take() {
            plane.shutdown().await;
        }
    }

    /// Stops it.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }
}
