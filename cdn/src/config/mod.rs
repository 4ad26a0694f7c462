//! The node's configuration: read from TOML into [`raw`] structs, then validated here into the
//! types the node runs on. Every error names the file, the key and what was expected.
//! docs/config.md is the reference for users.

mod defaults;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use wedge_runtime::RuntimeConfig;

pub use defaults::*;
pub use wedge_types::distribution::*;
pub use wedge_types::{ConfigError, FunctionRef, PublishedRef, Selector};

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The file it was read from (relative paths inside are resolved against its directory).
    pub source: PathBuf,
    /// This node's name, shown in `via` and logs.
    pub node_id: String,
    /// Where access-log lines go.
    pub access_log: AccessLogTarget,
    /// The viewer-facing listeners.
    pub listeners: Vec<ListenerConfig>,
    /// Protocol and resource limits of the viewer-facing server.
    pub limits: ServerLimits,
    /// The admin listener (purge, logs, metrics, health), if any.
    pub admin: Option<AdminConfig>,
    /// The cache store.
    pub cache: CacheConfig,
    /// The WebAssembly runtime.
    pub runtime: RuntimeConfig,
    /// The sites this node serves, matched by Host in order.
    pub distributions: Vec<DistributionConfig>,
    /// The control plane, when functions are referenced as `control:NAME@ALIAS`.
    pub control_plane: Option<ControlPlaneConfig>,
}

/// The admin listener.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// The address to bind (loopback unless the operator says otherwise).
    pub address: SocketAddr,
    /// A bearer token for `POST /purge` and `GET /logs`, besides the control-plane node token.
    pub token: Option<String>,
}

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Standard output, one JSON object per line.
    Stdout,
    /// Appended to this file.
    File(PathBuf),
    /// Not written (metrics still count every request).
    Off,
}

/// One viewer-facing listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The address to bind; port 0 picks a free port.
    pub address: SocketAddr,
    /// PEM certificate chain and key; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Peers whose forwarding headers (`x-forwarded-for`, `x-forwarded-proto`, ...) are
    /// believed; from anyone else the node drops them and sets its own. Empty by default.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// PEM files for a TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Limits of the viewer-facing server. Past each, the viewer gets the status named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once. At the limit the oldest connection that has not sent a
    /// request yet is closed to make room (else the one idle the longest); when every one is
    /// busy, further connections wait in the listen backlog.
    pub max_connections: u32,
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold open before sending a
    /// request once half of `max_connections` are open; more are closed at once.
    pub max_fresh_connections_per_client: u32,
    /// Time a client has to send a request head (slowloris guard): the first from accept (TLS
    /// handshake and protocol detection included), on HTTP/1.1 each later one from the end of
    /// the previous response. The connection closes.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Time a request body may go without a byte arriving: 408.
    pub body_read_timeout: Duration,
    /// Bytes of request line plus headers (HTTP/1.1) or header list (HTTP/2): 431.
    pub max_header_bytes: usize,
    /// Number of request header fields: 431.
    pub max_headers: usize,
    /// Bytes of the request target: 414.
    pub max_uri_bytes: usize,
    /// Bytes of request body: 413.
    pub max_body_bytes: usize,
    /// Time for a whole request, functions and origin included: 504.
    pub request_timeout: Duration,
    /// Time in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
}

/// The cache store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes of cached bodies and headers; least-recently-used entries go first past it.
    pub capacity_bytes: u64,
    /// Largest origin body the node buffers and caches; a bigger one is a 502.
    pub max_object_bytes: usize,
    /// How long error responses (4xx/5xx) without their own freshness are cached.
    pub error_ttl: Duration,
    /// How long an entry is kept after it goes stale, for revalidation, stale-if-error and the
    /// `stale` failure policy.
    pub stale_retention: Duration,
}

/// Where the node follows published functions from.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// The control plane's base URL (`http://` or `https://`).
    pub url: Uri,
    /// A token with the `node` role.
    pub token: String,
    /// Where the node keeps the last applied revision and its components.
    pub data_dir: PathBuf,
    /// When set, every published version the node loads must carry a valid ed25519
    /// signature of its digest by this key.
    pub public_key: Option<ed25519_dalek::VerifyingKey>,
}

impl NodeConfig {
    /// Every function association, behaviors in order, default last.
    pub fn associations(&self) -> impl Iterator<Item = &AssociationConfig> {
        associations(&self.distributions)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            file: path.to_owned(),
            cause,
        })?;
        Self::parse(&text, path)
    }

    /// Validates config text as if read from `path` (which anchors relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = wedge_types::check::parse_toml_strict(text, path)?;
        validate::validate(raw, path)
    }
}
