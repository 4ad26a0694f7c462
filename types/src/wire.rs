//! The format revisions travel in between the control plane and nodes (JSON), versioned.
//!
//! A revision says which [`FORMAT`] wrote it. Readers are tolerant in the ways that let a fleet
//! upgrade one node at a time:
//! - keys this release does not know are skipped and reported ([`Decoded::ignored`]), so a
//!   node one release behind logs them and keeps applying what it understands;
//! - each distribution is decoded on its own: one this release cannot read is reported
//!   ([`Decoded::rejected`]) and does not stop the others;
//! - format 1 (before formats were numbered) carried each distribution as TOML text in a
//!   `source` field; it is read as well, so a store or a node's saved revision from then loads.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::check::key_of;
use crate::distribution::DistributionSpec;
use crate::revision::Revision;

/// The format this release writes.
pub const FORMAT: u32 = 2;

/// The format of a revision that does not say (written before formats were numbered).
pub fn legacy_format() -> u32 {
    1
}

/// A revision as read, with what was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The revision, with every distribution that could be read.
    pub revision: Revision,
    /// Distributions that could not be read, by id, with why.
    pub rejected: BTreeMap<String, String>,
    /// Keys skipped as unknown, e.g. `state.distributions.www.behaviors[0].compress`.
    pub ignored: Vec<String>,
}

/// A revision that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revision does not parse: {0}")]
pub struct DecodeError(String);

/// Writes `revision` in [`FORMAT`].
pub fn encode(revision: &Revision) -> Vec<u8> {
    let mut revision = revision.clone();
    revision.format = FORMAT;
    // A revision is plain data (maps with string keys): serialising it cannot fail.
    serde_json::to_vec(&revision).unwrap_or_default()
}

/// Reads a revision written in any format up to [`FORMAT`] (and newer ones as far as they
/// share keys with it).
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| DecodeError(error.to_string()))?;
    let distributions = value
        .get_mut("state")
        .and_then(|state| state.as_object_mut())
        .and_then(|state| state.remove("distributions"))
        .unwrap_or_default();
    let mut ignored = Vec::new();
    let mut revision: Revision = tolerant(value, "", &mut ignored)?;
    let mut rejected = BTreeMap::new();
    if let serde_json::Value::Object(entries) = distributions {
        for (id, entry) in entries {
            let prefix = format!("state.distributions.{id}");
            match distribution(entry, &prefix, &mut ignored) {
                Ok(spec) => {
                    revision.state.distributions.insert(id, spec);
                }
                Err(DecodeError(problem)) => {
                    rejected.insert(id, problem);
                }
            }
        }
    }
    Ok(Decoded {
        revision,
        rejected,
        ignored,
    })
}

/// One distribution: format 2's object, or format 1's TOML `source`.
fn distribution(
    value: serde_json::Value,
    prefix: &str,
    ignored: &mut Vec<String>,
) -> Result<DistributionSpec, DecodeError> {
    if let Some(source) = value.get("source").and_then(serde_json::Value::as_str) {
        let deserializer =
            toml::Deserializer::parse(source).map_err(|error| DecodeError(error.to_string()))?;
        return serde_ignored::deserialize(deserializer, |path| {
            ignored.push(format!("{prefix}.{}", key_of(&path)));
        })
        .map_err(|error| DecodeError(error.to_string().trim().to_owned()));
    }
    tolerant(value, prefix, ignored)
}

fn tolerant<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
    ignored: &mut Vec<String>,
) -> Result<T, DecodeError> {
    serde_ignored::deserialize(value, |path| {
        let key = key_of(&path);
        ignored.push(if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        });
    })
    .map_err(|error| DecodeError(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revision::{Change, State};

    fn revision() -> Revision {
        let spec: DistributionSpec = toml::from_str(
            "domains = [\"*\"]\n[origins.app]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"app\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut state = State::default();
        state.distributions.insert("www".into(), spec);
        Revision {
            format: FORMAT,
            number: 3,
            at_ms: 1,
            change: Change::PutDistribution { id: "www".into() },
            state,
        }
    }

    #[test]
    fn a_revision_round_trips() {
        let decoded = decode(&encode(&revision())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.revision, revision());
        assert!(decoded.ignored.is_empty() && decoded.rejected.is_empty());
    }

    #[test]
    fn a_newer_format_is_read_as_far_as_it_is_understood() {
        let mut value: serde_json::Value =
            serde_json::from_slice(&encode(&revision())).unwrap_or_else(|e| panic!("{e}"));
        value["format"] = 3.into();
        value["region"] = "eu".into();
        value["change"] = serde_json::json!({"kind": "set-weights", "function": "a"});
        value["state"]["distributions"]["www"]["default_behavior"]["compress"] = true.into();
        value["state"]["distributions"]["bad"] = serde_json::json!({"domains": 7});
        let decoded = decode(value.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.revision.format, 3);
        assert_eq!(decoded.revision.change, Change::Other);
        assert!(decoded.revision.state.distributions.contains_key("www"));
        assert!(decoded.rejected.contains_key("bad"));
        assert!(
            decoded
                .ignored
                .contains(&"state.distributions.www.default_behavior.compress".to_owned()),
            "{:?}",
            decoded.ignored
        );
        assert!(decoded.ignored.contains(&"region".to_owned()));
    }

    #[test]
    fn what_a_node_of_format_one_saved_is_read() {
        // Format-1 nodes saved only what they used: no change, no time, versions without
        // size, hooks or publication time.
        let saved = serde_json::json!({
            "number": 4,
            "state": {
                "functions": {"site": {
                    "versions": [{"number": 1, "digest": "ab", "signature": "cd"}],
                    "aliases": {"live": 1},
                    "config": {"live": {"values": {"greeting": "hi"}}}
                }},
                "distributions": {"www": {"source": "id = \"www\"\ndomains = [\"*\"]\n[origins.app]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"app\"\n"}}
            }
        });
        let decoded = decode(saved.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let revision = decoded.revision;
        assert_eq!((revision.number, revision.change), (4, Change::Other));
        let reference = crate::PublishedRef {
            function: "site".into(),
            selector: crate::Selector::Alias("live".into()),
        };
        let version = revision
            .state
            .resolve(&reference)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(version.digest, "ab");
        assert_eq!(version.signature.as_deref(), Some("cd"));
        assert!(decoded.rejected.is_empty() && decoded.ignored.is_empty());
    }

    #[test]
    fn format_one_with_toml_sources_is_read() {
        let legacy = serde_json::json!({
            "number": 1, "at_ms": 1,
            "change": {"kind": "put-distribution", "id": "www"},
            "state": {"functions": {}, "distributions": {"www": {"source":
                "id = \"www\"\ndomains = [\"*\"]\n[origins.app]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"app\"\n"}}}
        });
        let decoded = decode(legacy.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.revision.format, 1);
        assert_eq!(decoded.revision.state.distributions["www"].id, "www");
    }
}
