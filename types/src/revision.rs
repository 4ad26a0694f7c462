//! What the control plane stores: functions with immutable, content-addressed versions, aliases
//! pointing at versions, distributions, and the revision log in which every change is one
//! numbered entry holding the whole resulting state (small, and it makes rollback a copy).
//! Nodes read the same types ([`crate::wire`] decodes them tolerantly).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::distribution::DistributionSpec;
use crate::{Hook, PublishedRef, Selector};

/// A sha256 digest in lower-case hex: the address of a blob.
pub type Digest = String;

/// One published version of a function. Never changes once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, 3, ... per function.
    pub number: u32,
    /// sha256 of the component.
    pub digest: Digest,
    /// Bytes of the component (absent in what nodes of format 1 saved: 0).
    #[serde(default)]
    pub size: u64,
    /// The hooks the component exports (absent in what nodes of format 1 saved: none).
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// When it was published, ms since the Unix epoch (absent in what nodes of format 1
    /// saved: 0).
    #[serde(default)]
    pub published_at_ms: u64,
    /// ed25519 signature (hex) of [`signed_message`] of the digest, when signing is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What is signed for a version: a domain-separated statement of its digest. The control
/// plane signs exactly this and nodes verify exactly this.
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
    /// Distributions by id: the sites every node serves, validated before they are stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub distributions: BTreeMap<String, DistributionSpec>,
}

/// Why a published reference does not resolve in a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No function of that name.
    #[error("no function `{0}` is published")]
    NoFunction(String),
    /// The function has no such alias.
    #[error("function `{function}` has no alias `{alias}`")]
    NoAlias {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
    },
    /// The function has no such version.
    #[error("function `{function}` has no version {version}")]
    NoVersion {
        /// The function.
        function: String,
        /// The version.
        version: u32,
    },
}

impl State {
    /// The version `reference` means: alias → version number → version (with its digest).
    pub fn resolve(&self, reference: &PublishedRef) -> Result<&Version, ResolveError> {
        let function = &reference.function;
        let entry = self
            .functions
            .get(function)
            .ok_or_else(|| ResolveError::NoFunction(function.clone()))?;
        let number = match &reference.selector {
            Selector::Version(number) => *number,
            Selector::Alias(alias) => {
                *entry
                    .aliases
                    .get(alias)
                    .ok_or_else(|| ResolveError::NoAlias {
                        function: function.clone(),
                        alias: alias.clone(),
                    })?
            }
        };
        entry
            .version(number)
            .ok_or_else(|| ResolveError::NoVersion {
                function: function.clone(),
                version: number,
            })
    }

    /// The config values `reference` reads: those set on its alias (none for a pinned
    /// version).
    pub fn config(&self, reference: &PublishedRef) -> Option<&BTreeMap<String, String>> {
        let Selector::Alias(alias) = &reference.selector else {
            return None;
        };
        Some(
            &self
                .functions
                .get(&reference.function)?
                .config
                .get(alias)?
                .values,
        )
    }
}

/// What one revision changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// An alias was removed.
    RemoveAlias {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
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
        event: Hook,
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
        event: Hook,
    },
    /// The state of an earlier revision was restored.
    Rollback {
        /// The revision restored.
        to: u64,
    },
    /// A kind of change this release does not know (written by a newer control plane), or
    /// none recorded.
    #[serde(other)]
    #[default]
    Other,
}

/// One entry of the revision log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The wire format it is written in ([`crate::wire::FORMAT`] when written by this
    /// release; absent, and so 1, before formats were numbered).
    #[serde(default = "crate::wire::legacy_format")]
    pub format: u32,
    /// Monotonically increasing from 1.
    pub number: u64,
    /// When it was written, ms since the Unix epoch (absent in what nodes of format 1 saved).
    #[serde(default)]
    pub at_ms: u64,
    /// What changed (absent in what nodes of format 1 saved: [`Change::Other`]).
    #[serde(default)]
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
