//! The node config file exactly as written: serde structs with `deny_unknown_fields`, every
//! field optional where the validated config has a default. [`super::validate`] turns them into
//! the types the node uses.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) node: RawNode,
    #[serde(default)]
    pub(crate) listeners: Vec<RawListener>,
    #[serde(default)]
    pub(crate) limits: RawLimits,
    pub(crate) admin: Option<RawAdmin>,
    #[serde(default)]
    pub(crate) cache: RawCache,
    #[serde(default)]
    pub(crate) runtime: RawRuntime,
    #[serde(default)]
    pub(crate) distributions: Vec<RawDistribution>,
    pub(crate) control_plane: Option<RawControlPlane>,
}

/// `[control_plane]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawControlPlane {
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) data_dir: String,
    pub(crate) public_key: Option<String>,
}

/// `[node]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub(crate) id: Option<String>,
    pub(crate) access_log: Option<String>,
}

/// One `[[listeners]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListener {
    pub(crate) address: String,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<String>,
}

/// `[limits]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) max_connections: Option<u32>,
    pub(crate) header_read_timeout_ms: Option<u64>,
    pub(crate) idle_timeout_ms: Option<u64>,
    pub(crate) max_fresh_connections_per_client: Option<u32>,
    pub(crate) body_read_timeout_ms: Option<u64>,
    pub(crate) max_header_bytes: Option<usize>,
    pub(crate) max_headers: Option<usize>,
    pub(crate) max_uri_bytes: Option<usize>,
    pub(crate) max_body_bytes: Option<usize>,
    pub(crate) request_timeout_ms: Option<u64>,
    pub(crate) shutdown_grace_ms: Option<u64>,
}

/// `[admin]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) address: String,
    pub(crate) token: Option<String>,
}

/// `[cache]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub(crate) capacity_bytes: Option<u64>,
    pub(crate) max_object_bytes: Option<usize>,
    pub(crate) error_ttl_s: Option<u64>,
    pub(crate) stale_retention_s: Option<u64>,
}

/// `[runtime]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRuntime {
    pub(crate) max_instances: Option<u32>,
    pub(crate) allocation: Option<String>,
    pub(crate) fuel_metering: Option<bool>,
    pub(crate) compile_cache_dir: Option<String>,
    pub(crate) max_guest_memory_bytes: Option<u64>,
    pub(crate) memory_keep_resident_bytes: Option<usize>,
}

/// One `[[distributions]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDistribution {
    pub(crate) id: String,
    pub(crate) domains: Vec<String>,
    #[serde(default)]
    pub(crate) origins: BTreeMap<String, RawOrigin>,
    #[serde(default)]
    pub(crate) behaviors: Vec<RawBehavior>,
    pub(crate) default_behavior: Option<RawBehavior>,
}

/// `[distributions.origins.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrigin {
    pub(crate) url: String,
    pub(crate) host_header: Option<String>,
    pub(crate) connect_timeout_ms: Option<u64>,
    pub(crate) first_byte_timeout_ms: Option<u64>,
    pub(crate) total_timeout_ms: Option<u64>,
    pub(crate) ca_file: Option<String>,
}

/// One behavior: `[[distributions.behaviors]]` or `[distributions.default_behavior]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBehavior {
    pub(crate) path: Option<String>,
    pub(crate) origin: String,
    #[serde(default)]
    pub(crate) cache: RawCachePolicy,
    #[serde(default)]
    pub(crate) functions: Vec<RawAssociation>,
    pub(crate) origin_request: Option<RawOriginRequest>,
    pub(crate) allow_trace: Option<bool>,
}

/// `origin_request = { ... }` of a behavior: what reaches the origin beyond the cache key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOriginRequest {
    pub(crate) headers: Option<RawQueryStrings>,
    pub(crate) cookies: Option<RawQueryStrings>,
    pub(crate) query_strings: Option<RawQueryStrings>,
}

/// `cache = { ... }` of a behavior.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCachePolicy {
    pub(crate) enabled: Option<bool>,
    pub(crate) default_ttl_s: Option<u64>,
    pub(crate) min_ttl_s: Option<u64>,
    pub(crate) max_ttl_s: Option<u64>,
    pub(crate) query_strings: Option<RawQueryStrings>,
    #[serde(default)]
    pub(crate) headers: Vec<String>,
    #[serde(default)]
    pub(crate) cookies: Vec<String>,
}

/// `"all" | "none" | ["name", ...]`: query strings, and the parts of an origin request policy.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawQueryStrings {
    Keyword(String),
    Names(Vec<String>),
}

/// One `[[...functions]]` entry: a function attached to an event type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAssociation {
    pub(crate) event: String,
    pub(crate) function: String,
    pub(crate) include_body: Option<bool>,
    pub(crate) on_error: Option<String>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) fuel: Option<u64>,
    #[serde(default)]
    pub(crate) config: BTreeMap<String, String>,
}
