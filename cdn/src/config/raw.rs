//! The node config file exactly as written: serde structs with `deny_unknown_fields`, every
//! field optional where the validated config has a default; distributions are wedge-types'
//! [`DistributionSpec`] (the file is read strictly, so unknown keys there are errors too).
//! [`super::validate`] turns them into the types the node uses.

use serde::Deserialize;
use wedge_types::distribution::DistributionSpec;

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
    pub(crate) distributions: Vec<DistributionSpec>,
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
