//! What the control plane stores: functions with immutable, content-addressed versions, aliases
//! pointing at versions, and the revision log in which every change is one numbered entry
//! holding the whole resulting state (small, and it makes rollback a copy).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A sha256 digest in lower-case hex: the address of a blob.
pub type Digest = String;

/// One published version of a function. Never changes once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, 3, ... per function.
    pub number: u32,
    /// sha256 of the component.
    pub digest: Digest,
    /// Bytes of the component.
    pub size: u64,
    /// The hooks the component exports.
    pub hooks: Vec<String>,
    /// When it was published (ms since the Unix epoch).
    pub published_at_ms: u64,
    /// ed25519 signature (hex) of [`signed_message`] of the digest, when signing is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What is signed for a version: a domain-separated statement of its digest. Nodes verify
/// exactly this (wedge-cdn's sync module builds the same bytes).
pub fn signed_message(digest: &str) -> Vec<u8> {
    format!("wedge-artifact-v1:{digest}").into_bytes()
}

/// A function: its versions in order and its aliases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Versions, oldest first.
    pub versions: Vec<Version>,
    /// Alias name → version number.
    pub aliases: BTreeMap<String, u32>,
    /// Alias name → the key/values guests read through the config import under that alias.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, AliasConfig>,
}

/// Configuration values for one alias of a function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasConfig {
    /// Key → value, secrets included (they reach nodes).
    pub values: BTreeMap<String, String>,
    /// Keys whose values are secret: never listed by the read API or logged.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub secret_keys: std::collections::BTreeSet<String>,
}

impl Function {
    /// The version with this number.
    pub fn version(&self, number: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// Everything the control plane manages, as of one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Functions by name.
    pub functions: BTreeMap<String, Function>,
    /// Distributions by id: the sites every node serves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub distributions: BTreeMap<String, Distribution>,
}

/// A distribution: the TOML of one `[[distributions]]` entry of the node config (domains,
/// origins, behaviors, function associations by alias or version), validated with the node's
/// own parser before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// The TOML text.
    pub source: String,
}

/// What one revision changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// A new version was published.
    Publish {
        /// The function.
        function: String,
        /// The new version's number.
        version: u32,
        /// Its digest.
        digest: Digest,
    },
    /// An alias was created or moved.
    SetAlias {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        /// The version it now points at.
        version: u32,
    },
    /// An alias's configuration was replaced (keys only here; values are in the state).
    SetConfig {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        /// The keys now set.
        keys: Vec<String>,
    },
    /// A distribution was created or replaced.
    PutDistribution {
        /// Its id.
        id: String,
    },
    /// A distribution was removed.
    DeleteDistribution {
        /// Its id.
        id: String,
    },
    /// A function was attached to a hook of a distribution's behavior.
    Deploy {
        /// The distribution.
        distribution: String,
        /// The behavior's path pattern (`default` for the default behavior).
        behavior: String,
        /// The hook.
        event: String,
        /// `NAME@ALIAS` or `NAME@VERSION`.
        function: String,
    },
    /// The function on a hook of a distribution's behavior was removed.
    Detach {
        /// The distribution.
        distribution: String,
        /// The behavior's path pattern (`default` for the default behavior).
        behavior: String,
        /// The hook.
        event: String,
    },
    /// The state of an earlier revision was restored.
    Rollback {
        /// The revision restored.
        to: u64,
    },
}

/// One entry of the revision log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// Monotonically increasing from 1.
    pub number: u64,
    /// When it was written (ms since the Unix epoch).
    pub at_ms: u64,
    /// What changed.
    pub change: Change,
    /// The whole state after the change.
    pub state: State,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}
