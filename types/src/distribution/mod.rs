//! Distributions: one site each, with its origins, its cache behaviors and the functions
//! attached to their hooks. [`DistributionSpec`] is the form written in files and sent over
//! the wire; [`DistributionSpec::validate`] turns it into a [`DistributionConfig`], the form the
//! node serves, with every error naming the key.

mod forwarding;
mod spec;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};

pub use forwarding::{DEFAULT_FORWARDED_HEADERS, Forward, OriginRequestPolicy};
pub use spec::{
    AssociationSpec, BehaviorSpec, CachePolicySpec, DistributionSpec, NamesSpec, OriginRequestSpec,
    OriginSpec,
};
pub use validate::distributions_conflict;

use crate::pattern::{DomainPattern, PathPattern};
use crate::{FunctionRef, Hook, Limits};

/// Origin connect timeout (CloudFront: 10 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Origin first-byte timeout (CloudFront: 30 s).
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// Origin total timeout.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime of responses without explicit freshness (CloudFront: one day).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Upper bound on every lifetime (CloudFront: one year).
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Body bytes a viewer hook may see with `include_body` (Lambda@Edge: 40 KB).
pub const VIEWER_BODY_CAP: usize = 40 * 1024;
/// Body bytes an origin hook may see with `include_body` (Lambda@Edge: 1 MB).
pub const ORIGIN_BODY_CAP: usize = 1024 * 1024;

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
