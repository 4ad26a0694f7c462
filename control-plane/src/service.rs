//! The control plane's operations: publish, move an alias, roll back, follow the log. Writes
//! are serialised, computed from the latest state and appended as one revision each.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use wedge_runtime::{Allocation, FunctionOptions, Runtime, RuntimeConfig};

use wedge_types::distribution::DistributionSpec;
use wedge_types::names;

use crate::model::{AliasConfig, Change, Revision, State, Version, now_ms};
use crate::store::{AppendError, BlobStore, RevisionLog, StoreError};

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong: bad name, invalid component, unknown version (400).
    #[error("{0}")]
    Invalid(String),
    /// An upload (a component, a distribution, a JSON body) is over its size limit (413).
    #[error("the upload is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No such function, version or revision (404).
    #[error("{0}")]
    NotFound(String),
    /// Storage failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of a publish.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The function.
    pub function: String,
    /// The version (new, or the existing one with the same digest).
    pub version: Version,
    /// Whether this publish created the version.
    pub created: bool,
    /// The revision that recorded it (the latest one, if nothing was created).
    pub revision: u64,
}

/// The control plane's state and operations.
pub struct Service {
    log: Arc<dyn RevisionLog>,
    blobs: Arc<dyn BlobStore>,
    runtime: Runtime,
    validating: tokio::sync::Semaphore,
    max_component_bytes: usize,
    writer: Mutex<()>,
    latest: watch::Sender<u64>,
    signing_key: Option<ed25519_dalek::SigningKey>,
}

/// Components validated at once (each takes one pool slot while it is instantiated once).
const VALIDATION_SLOTS: u32 = 4;

/// The result of a write: the revision in effect after it, and whether the write made it (a
/// write that changes nothing appends nothing and says so).
#[derive(Debug, Clone)]
pub struct Written {
    /// The revision that recorded the change, or the latest one if nothing changed.
    pub revision: Revision,
    /// Whether a revision was appended.
    pub changed: bool,
}

/// One entry of the history: a revision without its state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    /// The revision's number.
    pub number: u64,
    /// When it was written (ms since the Unix epoch).
    pub at_ms: u64,
    /// What it changed.
    pub change: Change,
}

impl Service {
    /// A service over `log` and `blobs`. Components are validated with a small on-demand
    /// runtime: the same engine and checks as the nodes, without a pool.
    pub fn new(
        log: Arc<dyn RevisionLog>,
        blobs: Arc<dyn BlobStore>,
        max_component_bytes: usize,
        signing_key: Option<ed25519_dalek::SigningKey>,
    ) -> Result<Self, String> {
        // The nodes' allocator and its per-component caps (memories, tables, core instances),
        // so that what is accepted here is what a node can load; a few slots are enough, one
        // per validation at a time.
        let runtime = Runtime::new(RuntimeConfig {
            allocation: Allocation::Pooling,
            max_instances: VALIDATION_SLOTS,
            ..RuntimeConfig::default()
        })
        .map_err(|error| error.to_string())?;
        let latest = log
            .latest()
            .map_err(|error| error.to_string())?
            .map_or(0, |r| r.number);
        Ok(Self {
            log,
            blobs,
            runtime,
            validating: tokio::sync::Semaphore::new(VALIDATION_SLOTS as usize),
            max_component_bytes,
            writer: Mutex::new(()),
            latest: watch::channel(latest).0,
            signing_key,
        })
    }

    /// The largest component accepted.
    pub fn max_component_bytes(&self) -> usize {
        self.max_component_bytes
    }

    /// The newest revision.
    pub async fn latest(&self) -> Result<Option<Revision>, ServiceError> {
        let log = Arc::clone(&self.log);
        Ok(blocking(move || log.latest()).await?)
    }

    /// A revision by number.
    pub async fn revision(&self, number: u64) -> Result<Revision, ServiceError> {
        let log = Arc::clone(&self.log);
        blocking(move || log.get(number))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no revision {number}")))
    }

    /// The newest revision once it is past `after`, waiting up to `wait` for one (long poll).
    /// `None` if none came.
    pub async fn wait_past(
        &self,
        after: u64,
        wait: Duration,
    ) -> Result<Option<Revision>, ServiceError> {
        let mut latest = self.latest.subscribe();
        let arrived = tokio::time::timeout(wait, latest.wait_for(|number| *number > after))
            .await
            .is_ok_and(|seen| seen.is_ok());
        if !arrived {
            return Ok(None);
        }
        self.latest().await
    }

    /// A blob by digest.
    pub async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        let blobs = Arc::clone(&self.blobs);
        let digest = digest.to_owned();
        Ok(blocking(move || blobs.get(&digest)).await?)
    }

    /// Validates and stores a component as the next version of `function`. Publishing bytes
    /// that are already a version of it returns that version.
    pub async fn publish(&self, function: &str, bytes: Vec<u8>) -> Result<Published, ServiceError> {
        names::function_name(function).map_err(ServiceError::Invalid)?;
        if bytes.len() > self.max_component_bytes {
            return Err(ServiceError::TooLarge {
                size: bytes.len(),
                limit: self.max_component_bytes,
            });
        }
        let loaded = {
            // Each validation instantiates once: never more at a time than the pool has slots.
            let _slot = self.validating.acquire().await.map_err(|_| {
                ServiceError::Store(StoreError::Io("the validator is shut down".into()))
            })?;
            self.runtime
                .load(&bytes, FunctionOptions::new(function, "validation"))
                .await
                .map_err(|error| ServiceError::Invalid(format!("invalid component: {error}")))?
        };
        let hooks = loaded.hooks().collect();
        let digest = loaded.digest().to_owned();
        let size = bytes.len() as u64;
        let blobs = Arc::clone(&self.blobs);
        let stored = blocking(move || blobs.put(&bytes)).await?;
        if stored != digest {
            return Err(ServiceError::Store(StoreError::Io(format!(
                "digest mismatch: runtime {digest}, store {stored}"
            ))));
        }

        let _writer = self.writer.lock().await;
        let (base, before) = self.current().await?;
        let mut state = before.clone();
        let entry = state.functions.entry(function.to_owned()).or_default();
        if let Some(existing) = entry.versions.iter().find(|v| v.digest == digest) {
            return Ok(Published {
                function: function.to_owned(),
                version: existing.clone(),
                created: false,
                revision: base,
            });
        }
        let version = Version {
            number: entry.versions.last().map_or(1, |v| v.number + 1),
            digest: digest.clone(),
            size,
            hooks,
            published_at_ms: now_ms(),
            signature: self.signing_key.as_ref().map(|key| {
                use ed25519_dalek::Signer;
                hex::encode(
                    key.sign(&wedge_types::revision::signed_message(&digest))
                        .to_bytes(),
                )
            }),
        };
        entry.versions.push(version.clone());
        let change = Change::Publish {
            function: function.to_owned(),
            version: version.number,
            digest,
        };
        let revision = self.append(base, &before, change, state).await?.revision;
        Ok(Published {
            function: function.to_owned(),
            version,
            created: true,
            revision: revision.number,
        })
    }

    /// Points `alias` of `function` at `version`.
    pub async fn set_alias(
        &self,
        function: &str,
        alias: &str,
        version: u32,
    ) -> Result<Written, ServiceError> {
        names::alias_name(alias).map_err(ServiceError::Invalid)?;
        self.write(|state| {
            let entry = function_mut(state, function)?;
            if entry.version(version).is_none() {
                return Err(ServiceError::Invalid(format!(
                    "function `{function}` has no version {version}"
                )));
            }
            entry.aliases.insert(alias.to_owned(), version);
            Ok(Change::SetAlias {
                function: function.to_owned(),
                alias: alias.to_owned(),
                version,
            })
        })
        .await
    }

    /// Removes `alias` of `function` (and its config). Refused while a distribution follows it.
    pub async fn remove_alias(&self, function: &str, alias: &str) -> Result<Written, ServiceError> {
        self.write(|state| {
            let entry = function_mut(state, function)?;
            if entry.aliases.remove(alias).is_none() {
                return Err(ServiceError::NotFound(format!(
                    "function `{function}` has no alias `{alias}`"
                )));
            }
            entry.config.remove(alias);
            Ok(Change::RemoveAlias {
                function: function.to_owned(),
                alias: alias.to_owned(),
            })
        })
        .await
    }

    /// Replaces the configuration of `alias` of `function`: plain `values` and `secrets`
    /// (delivered to nodes like values, never listed or logged).
    pub async fn set_config(
        &self,
        function: &str,
        alias: &str,
        values: std::collections::BTreeMap<String, String>,
        secrets: std::collections::BTreeMap<String, String>,
    ) -> Result<Written, ServiceError> {
        names::alias_name(alias).map_err(ServiceError::Invalid)?;
        if let Some(key) = values.keys().find(|key| secrets.contains_key(*key)) {
            return Err(ServiceError::Invalid(format!(
                "`{key}` is both a value and a secret"
            )));
        }
        let mut config = AliasConfig {
            values,
            ..AliasConfig::default()
        };
        for (key, value) in secrets {
            config.secret_keys.insert(key.clone());
            config.values.insert(key, value);
        }
        self.write(|state| {
            let entry = function_mut(state, function)?;
            let keys = config.values.keys().cloned().collect();
            entry.config.insert(alias.to_owned(), config);
            Ok(Change::SetConfig {
                function: function.to_owned(),
                alias: alias.to_owned(),
                keys,
            })
        })
        .await
    }

    /// Creates or replaces distribution `id` from `source`, the TOML of one
    /// `[[distributions]]` entry of the node config.
    pub async fn put_distribution(&self, id: &str, source: &str) -> Result<Written, ServiceError> {
        let spec = crate::distribution::parse(id, source)?;
        self.write(|state| {
            state.distributions.insert(id.to_owned(), spec);
            Ok(Change::PutDistribution { id: id.to_owned() })
        })
        .await
    }

    /// Removes distribution `id`.
    pub async fn delete_distribution(&self, id: &str) -> Result<Written, ServiceError> {
        self.write(|state| {
            if state.distributions.remove(id).is_none() {
                return Err(ServiceError::NotFound(format!("no distribution `{id}`")));
            }
            Ok(Change::DeleteDistribution { id: id.to_owned() })
        })
        .await
    }

    /// Attaches a function (by alias or version) to one hook of one behavior of distribution
    /// `id`, replacing what that hook had.
    pub async fn deploy(
        &self,
        id: &str,
        attachment: &crate::distribution::Attachment,
    ) -> Result<Written, ServiceError> {
        let change = Change::Deploy {
            distribution: id.to_owned(),
            behavior: attachment.behavior.clone(),
            event: attachment.event,
            function: attachment.reference()?.to_string(),
        };
        self.edit_distribution(id, change, |current| {
            crate::distribution::attach(current, attachment)
        })
        .await
    }

    /// Removes the function on one hook of one behavior of distribution `id`.
    pub async fn detach(
        &self,
        id: &str,
        detachment: &crate::distribution::Detachment,
    ) -> Result<Written, ServiceError> {
        let change = Change::Detach {
            distribution: id.to_owned(),
            behavior: detachment.behavior.clone(),
            event: detachment.event,
        };
        self.edit_distribution(id, change, |current| {
            crate::distribution::detach(current, detachment)
        })
        .await
    }

    /// Replaces distribution `id` with what `edit` makes of it, recorded as `change`.
    async fn edit_distribution(
        &self,
        id: &str,
        change: Change,
        edit: impl FnOnce(&DistributionSpec) -> Result<DistributionSpec, ServiceError>,
    ) -> Result<Written, ServiceError> {
        self.write(|state| {
            let current = state
                .distributions
                .get(id)
                .ok_or_else(|| ServiceError::NotFound(format!("no distribution `{id}`")))?;
            let updated = edit(current)?;
            state.distributions.insert(id.to_owned(), updated);
            Ok(change)
        })
        .await
    }

    /// One write: `edit` changes a copy of the latest state and says what it changed; the
    /// result is appended as the next revision (writes are serialised, so nothing is lost
    /// between reading and appending).
    async fn write(
        &self,
        edit: impl FnOnce(&mut State) -> Result<Change, ServiceError>,
    ) -> Result<Written, ServiceError> {
        let _writer = self.writer.lock().await;
        let (base, before) = self.current().await?;
        let mut state = before.clone();
        let change = edit(&mut state)?;
        self.append(base, &before, change, state).await
    }

    /// The newest `limit` revisions, newest first, without their states.
    pub async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, ServiceError> {
        let log = Arc::clone(&self.log);
        blocking(move || {
            let latest = log.latest()?.map_or(0, |r| r.number);
            let mut entries = Vec::new();
            for number in (1..=latest).rev().take(limit) {
                if let Some(revision) = log.get(number)? {
                    entries.push(HistoryEntry {
                        number: revision.number,
                        at_ms: revision.at_ms,
                        change: revision.change,
                    });
                }
            }
            Ok(entries)
        })
        .await
    }

    /// The revision whose state is in effect now: the latest, or what a chain of rollbacks
    /// restored.
    async fn in_effect(&self) -> Result<u64, ServiceError> {
        let Some(mut revision) = self.latest().await? else {
            return Ok(0);
        };
        while let Change::Rollback { to } = revision.change {
            revision = self.revision(to).await?;
        }
        Ok(revision.number)
    }

    /// Restores the state of revision `to` as a new revision. Without `to`, the revision
    /// before the one in effect: rolling back twice goes two steps back, not back and forth.
    pub async fn rollback(&self, to: Option<u64>) -> Result<Written, ServiceError> {
        let _writer = self.writer.lock().await;
        let (base, before) = self.current().await?;
        let to = match to {
            Some(to) => to,
            None => match self.in_effect().await?.checked_sub(1) {
                Some(to) if to > 0 => to,
                _ => {
                    return Err(ServiceError::Invalid(
                        "there is no earlier revision to roll back to".into(),
                    ));
                }
            },
        };
        let target = self.revision(to).await?;
        self.append(base, &before, Change::Rollback { to }, target.state)
            .await
    }

    async fn current(&self) -> Result<(u64, State), ServiceError> {
        Ok(self
            .latest()
            .await?
            .map_or((0, State::default()), |r| (r.number, r.state)))
    }

    /// Appends `state` as the revision after `base`, unless it equals `before` (the state of
    /// `base`): then nothing is written and the latest revision is returned as unchanged.
    async fn append(
        &self,
        base: u64,
        before: &State,
        change: Change,
        state: State,
    ) -> Result<Written, ServiceError> {
        if base > 0 && state == *before {
            return Ok(Written {
                revision: self.revision(base).await?,
                changed: false,
            });
        }
        // Every stored state must be one the nodes can serve: distributions parse and every
        // function they reference resolves to a version exporting the hook.
        crate::distribution::check(&state)?;
        let log = Arc::clone(&self.log);
        let revision = blocking(move || log.append(base, change, state))
            .await
            .map_err(|error| match error {
                AppendError::Store(error) => ServiceError::Store(error),
                conflict @ AppendError::Conflict { .. } => {
                    ServiceError::Store(StoreError::Io(conflict.to_string()))
                }
            })?;
        self.latest.send_replace(revision.number);
        tracing::info!(revision = revision.number, change = ?revision.change, "revision");
        Ok(Written {
            revision,
            changed: true,
        })
    }
}

/// The function named `name` in `state`.
fn function_mut<'a>(
    state: &'a mut State,
    name: &str,
) -> Result<&'a mut crate::model::Function, ServiceError> {
    state
        .functions
        .get_mut(name)
        .ok_or_else(|| ServiceError::NotFound(format!("no function `{name}`")))
}

/// Runs storage work off the async workers (fsyncs block).
async fn blocking<T: Send + 'static, E: From<StoreError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(StoreError::Io(format!("storage task failed: {error}")).into()))
}
