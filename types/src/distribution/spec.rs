//! A distribution as written: the same serde types in a node's config file
//! (`[[distributions]]`), in the control plane's store, on the wire to nodes and in the CLI.
//! Every field the validated form has a default for is optional. Unknown keys are not denied
//! here: a file is read with [`crate::check::parse_toml_strict`] (an unknown key is an error),
//! a revision from a newer control plane with [`crate::wire`] (an unknown key is logged).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Hook;

/// One distribution: a site, its origins and behaviors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionSpec {
    /// Unique id. In the control plane, filled in from the id it is stored under.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Hosts it answers for: names, `*.suffix`, or `*`.
    pub domains: Vec<String>,
    /// Origins by name.
    #[serde(default)]
    pub origins: BTreeMap<String, OriginSpec>,
    /// Behaviors in order; the first whose path matches wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub behaviors: Vec<BehaviorSpec>,
    /// The behavior for every other path.
    pub default_behavior: Option<BehaviorSpec>,
}

/// `[origins.NAME]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginSpec {
    /// `http://` or `https://` base URL.
    pub url: String,
    /// The Host header sent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// Connect timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// First-byte timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout_ms: Option<u64>,
    /// Whole-exchange timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_timeout_ms: Option<u64>,
    /// An extra CA (PEM file; node config files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// One behavior: `[[behaviors]]` or `[default_behavior]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehaviorSpec {
    /// Path pattern (absent on the default behavior).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The origin's name.
    pub origin: String,
    /// The cache policy.
    #[serde(default, skip_serializing_if = "CachePolicySpec::is_default")]
    pub cache: CachePolicySpec,
    /// Functions by event type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<AssociationSpec>,
    /// What reaches the origin beyond the cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_request: Option<OriginRequestSpec>,
    /// Whether `TRACE` is forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_trace: Option<bool>,
}

/// `origin_request = { ... }` of a behavior.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginRequestSpec {
    /// Headers forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<NamesSpec>,
    /// Cookies forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<NamesSpec>,
    /// Query parameters forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_strings: Option<NamesSpec>,
}

/// `cache = { ... }` of a behavior.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePolicySpec {
    /// `false` sends every request to the origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Lifetime without origin freshness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl_s: Option<u64>,
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl_s: Option<u64>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl_s: Option<u64>,
    /// Query parameters in the cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_strings: Option<NamesSpec>,
    /// Headers in the cache key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Cookies in the cache key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
}

impl CachePolicySpec {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `"all" | "none" | ["name", ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NamesSpec {
    /// `"all"` or `"none"`.
    Keyword(String),
    /// These names.
    Names(Vec<String>),
}

/// One `[[...functions]]` entry: a function attached to an event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationSpec {
    /// The hook.
    pub event: Hook,
    /// `NAME@ALIAS`, `NAME@VERSION` (`control:` first in a node file), or a file path.
    pub function: String,
    /// Whether the hook sees the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_body: Option<bool>,
    /// `fail`, `bypass` or `stale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// Wall-clock limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Fuel budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Key/values the function reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

impl AssociationSpec {
    /// `function` on `event`, every other key left to its default.
    pub fn new(event: Hook, function: impl Into<String>) -> Self {
        Self {
            event,
            function: function.into(),
            include_body: None,
            on_error: None,
            timeout_ms: None,
            memory_mb: None,
            fuel: None,
            config: BTreeMap::new(),
        }
    }
}

impl DistributionSpec {
    /// The behavior whose `path` is `pattern`, or the default behavior for `default`.
    pub fn behavior_mut(&mut self, pattern: &str) -> Option<&mut BehaviorSpec> {
        if pattern == "default" {
            return self.default_behavior.as_mut();
        }
        self.behaviors
            .iter_mut()
            .find(|behavior| behavior.path.as_deref() == Some(pattern))
    }
}
