//! The node's configuration: read from TOML into [`raw`] structs, then validated here into the
//! types the node runs on. Every error names the file, the key and what was expected.
//! docs/config.md is the reference for users.

mod defaults;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use wedge_runtime::{Hook, Limits, RuntimeConfig};

pub use defaults::*;
pub(crate) use validate::distributions_conflict;

use crate::forwarding::OriginRequestPolicy;
use crate::pattern::{DomainPattern, PathPattern};

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

/// A distribution: one site, its origins and its behaviors.
#[derive(Debug, Clone)]
pub struct DistributionConfig {
    /// Unique id, used in cache keys, logs and purge requests.
    pub id: String,
    /// The hosts it answers for.
    pub domains: Vec<DomainPattern>,
    /// Named origins.
    pub origins: BTreeMap<String, OriginConfig>,
    /// Ordered behaviors; the first whose pattern matches the path wins.
    pub behaviors: Vec<BehaviorConfig>,
    /// The behavior for paths no other matches.
    pub default_behavior: BehaviorConfig,
}

/// An origin server.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// Its name in the distribution.
    pub name: String,
    /// `http://` or `https://` base URL; its path, if any, prefixes every request path.
    pub url: Uri,
    /// The Host header sent to it (default: the URL's authority).
    pub host_header: HeaderValue,
    /// Time to establish a connection (TCP and TLS): 504 past it, 502 if refused.
    pub connect_timeout: Duration,
    /// Time from sending the request to the response head: 504.
    pub first_byte_timeout: Duration,
    /// Time for the whole exchange, body included: 504.
    pub total_timeout: Duration,
    /// An extra CA certificate (PEM) trusted for this origin, besides the web PKI roots.
    pub ca_file: Option<PathBuf>,
}

/// A cache behavior: which requests it takes, where they go, how they are cached, which
/// functions run.
#[derive(Debug, Clone)]
pub struct BehaviorConfig {
    /// The path pattern (`*` for the default behavior).
    pub pattern: PathPattern,
    /// The origin's name.
    pub origin: String,
    /// The cache policy.
    pub cache: CachePolicyConfig,
    /// At most one function per event type.
    pub functions: Vec<AssociationConfig>,
    /// What of the viewer's request reaches the origin beyond the cache key.
    pub origin_request: OriginRequestPolicy,
    /// Whether `TRACE` requests are forwarded (refused with 405 otherwise).
    pub allow_trace: bool,
}

/// How a behavior caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicyConfig {
    /// `false` sends every request to the origin (functions still run).
    pub enabled: bool,
    /// Lifetime of responses without Cache-Control max-age/s-maxage or Expires.
    pub default_ttl: Duration,
    /// Lower bound for origin-given lifetimes (never overrides no-store, private, no-cache).
    pub min_ttl: Duration,
    /// Upper bound for every lifetime.
    pub max_ttl: Duration,
    /// Which query parameters enter the cache key (all are forwarded to the origin).
    pub query_strings: QueryStrings,
    /// Request headers (lower case) that enter the cache key.
    pub headers: Vec<HeaderName>,
    /// Cookie names that enter the cache key.
    pub cookies: Vec<String>,
}

/// Which query parameters enter the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryStrings {
    /// All of them, sorted by name.
    All,
    /// None.
    None,
    /// Only these.
    Only(Vec<String>),
}

/// A function attached to one event type of a behavior.
#[derive(Debug, Clone)]
pub struct AssociationConfig {
    /// The event type (hook).
    pub hook: Hook,
    /// Which function.
    pub function: FunctionRef,
    /// Whether the hook sees the body (request body on request hooks, origin body on
    /// origin-response), up to [`VIEWER_BODY_CAP`] / [`ORIGIN_BODY_CAP`].
    pub include_body: bool,
    /// What a failure of the function does to the request.
    pub on_error: FailurePolicy,
    /// Validated limits.
    pub limits: Limits,
    /// Key/values the function reads through the config import.
    pub config: BTreeMap<String, String>,
}

/// How a function is referenced: a local file, or a version published to the control plane
/// (by alias or number). Both resolve to a loaded function before the pipeline sees them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunctionRef {
    /// A component file on local disk (absolute, resolved against the config file).
    File(PathBuf),
    /// `control:NAME@ALIAS` or `control:NAME@VERSION`: a published version.
    Published {
        /// The function's name.
        function: String,
        /// Which version.
        selector: Selector,
    },
}

/// Which published version a reference means.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// Whatever version the alias points at in the applied revision.
    Alias(String),
    /// Exactly this version.
    Version(u32),
}

impl std::fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FunctionRef::File(path) => write!(f, "file:{}", path.display()),
            FunctionRef::Published {
                function,
                selector: Selector::Alias(alias),
            } => write!(f, "control:{function}@{alias}"),
            FunctionRef::Published {
                function,
                selector: Selector::Version(version),
            } => write!(f, "control:{function}@{version}"),
        }
    }
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

/// What happens to a request when a function fails (error, timeout, limit, invalid output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Answer with the documented error status (502 invalid output, 503 otherwise).
    Fail,
    /// Go on as if the function were not attached.
    Bypass,
    /// Serve a stored copy of the response, however stale; fail if there is none.
    Stale,
}

impl FailurePolicy {
    /// The policy as written in config.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "fail",
            FailurePolicy::Bypass => "bypass",
            FailurePolicy::Stale => "stale",
        }
    }
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has the wrong shape (unknown key, wrong type).
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: {key}: {problem}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key, e.g. `distributions[0].behaviors[1].origin`.
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
}

/// Every function association of `distributions`, behaviors in order, default last.
pub fn associations(
    distributions: &[DistributionConfig],
) -> impl Iterator<Item = &AssociationConfig> {
    distributions
        .iter()
        .flat_map(|d| {
            d.behaviors
                .iter()
                .chain(std::iter::once(&d.default_behavior))
        })
        .flat_map(|b| &b.functions)
}

impl NodeConfig {
    /// Every function association, behaviors in order, default last.
    pub fn associations(&self) -> impl Iterator<Item = &AssociationConfig> {
        associations(&self.distributions)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Validates one distribution as stored by the control plane: the TOML of a single
    /// `[[distributions]]` entry (`id`, `domains`, `origins`, `behaviors`,
    /// `default_behavior`), whose functions are control-plane references (`NAME@ALIAS`,
    /// `NAME@VERSION`, the `control:` prefix optional) and which names no local files. `label`
    /// stands for the file name in errors; `fuel_metering` is the runtime setting that the
    /// `fuel` limits are checked against.
    pub fn parse_distribution(
        text: &str,
        label: &str,
        fuel_metering: bool,
    ) -> Result<DistributionConfig, ConfigError> {
        let raw: raw::RawDistribution =
            toml::from_str(text).map_err(|error| ConfigError::Syntax {
                file: PathBuf::from(label),
                message: error.to_string().trim_end().replace('\n', "\n  "),
            })?;
        validate::validate_remote(raw, Path::new(label), fuel_metering)
    }

    /// Validates config text as if read from `path` (which anchors relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|error| ConfigError::Syntax {
            file: path.to_owned(),
            message: error.to_string().trim_end().replace('\n', "\n  "),
        })?;
        validate::validate(raw, path)
    }
}
