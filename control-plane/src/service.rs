//! The control plane's operations: publish, move an alias, roll back, follow the log. Writes
//! are serialised, computed from the latest state and appended as one revision each.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use wedge_runtime::{Allocation, FunctionOptions, Runtime, RuntimeConfig};

use crate::model::{AliasConfig, Change, Distribution, Revision, State, Version, now_ms};
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
#[derive(Debug, Clone, serde::Serialize)]
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
    max_component_bytes: usize,
    writer: Mutex<()>,
    latest: watch::Sender<u64>,
    signing_key: Option<ed25519_dalek::SigningKey>,
}

/// Function and alias names: the one rule in `wedge_cdn::names`.
fn check_name(kind: &str, name: &str) -> Result<(), ServiceError> {
    wedge_cdn::names::check_function_name(kind, name).map_err(ServiceError::Invalid)
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
        let runtime = Runtime::new(RuntimeConfig {
            allocation: Allocation::OnDemand,
            max_instances: 16,
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
        check_name("function", function)?;
        if bytes.len() > self.max_component_bytes {
            return Err(ServiceError::TooLarge {
                size: bytes.len(),
                limit: self.max_component_bytes,
            });
        }
        let loaded = self
            .runtime
            .load(&bytes, FunctionOptions::new(function, "validation"))
            .await
            .map_err(|error| ServiceError::Invalid(format!("invalid component: {error}")))?;
        let hooks: Vec<String> = loaded
            .hooks()
            .map(|hook| hook.as_str().to_owned())
            .collect();
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
        let (base, mut state) = self.current().await?;
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
                hex::encode(key.sign(&crate::model::signed_message(&digest)).to_bytes())
            }),
        };
        entry.versions.push(version.clone());
        let change = Change::Publish {
            function: function.to_owned(),
            version: version.number,
            digest,
        };
        let revision = self.append(base, change, state).await?;
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
    ) -> Result<Revision, ServiceError> {
        check_name("alias", alias)?;
        let _writer = self.writer.lock().await;
        let (base, mut state) = self.current().await?;
        let entry = state
            .functions
            .get_mut(function)
            .ok_or_else(|| ServiceError::NotFound(format!("no function `{function}`")))?;
        if entry.version(version).is_none() {
            return Err(ServiceError::Invalid(format!(
                "function `{function}` has no version {version}"
            )));
        }
        entry.aliases.insert(alias.to_owned(), version);
        let change = Change::SetAlias {
            function: function.to_owned(),
            alias: alias.to_owned(),
            version,
        };
        self.append(base, change, state).await
    }

    /// Replaces the configuration of `alias` of `function`: plain `values` and `secrets`
    /// (delivered to nodes like values, never listed or logged).
    pub async fn set_config(
        &self,
        function: &str,
        alias: &str,
        values: std::collections::BTreeMap<String, String>,
        secrets: std::collections::BTreeMap<String, String>,
    ) -> Result<Revision, ServiceError> {
        check_name("alias", alias)?;
        if let Some(key) = values.keys().find(|key| secrets.contains_key(*key)) {
            return Err(ServiceError::Invalid(format!(
                "`{key}` is both a value and a secret"
            )));
        }
        let _writer = self.writer.lock().await;
        let (base, mut state) = self.current().await?;
        let entry = state
            .functions
            .get_mut(function)
            .ok_or_else(|| ServiceError::NotFound(format!("no function `{function}`")))?;
        let mut config = AliasConfig {
            values,
            ..AliasConfig::default()
        };
        for (key, value) in secrets {
            config.secret_keys.insert(key.clone());
            config.values.insert(key, value);
        }
        let keys = config.values.keys().cloned().collect();
        entry.config.insert(alias.to_owned(), config);
        let change = Change::SetConfig {
            function: function.to_owned(),
            alias: alias.to_owned(),
            keys,
        };
        self.append(base, change, state).await
    }

    /// Creates or replaces distribution `id` from `source`, the TOML of one
    /// `[[distributions]]` entry of the node config.
    pub async fn put_distribution(&self, id: &str, source: &str) -> Result<Revision, ServiceError> {
        let distribution = crate::distribution::normalise(id, source)?;
        let _writer = self.writer.lock().await;
        let (base, mut state) = self.current().await?;
        state.distributions.insert(id.to_owned(), distribution);
        let change = Change::PutDistribution { id: id.to_owned() };
        self.append(base, change, state).await
    }

    /// Removes distribution `id`.
    pub async fn delete_distribution(&self, id: &str) -> Result<Revision, ServiceError> {
        let _writer = self.writer.lock().await;
        let (base, mut state) = self.current().await?;
        if state.distributions.remove(id).is_none() {
            return Err(ServiceError::NotFound(format!("no distribution `{id}`")));
        }
        let change = Change::DeleteDistribution { id: id.to_owned() };
        self.append(base, change, state).await
    }

    /// Attaches a function (by alias or version) to one hook of one behavior of distribution
    /// `id`, replacing what that hook had.
    pub async fn deploy(
        &self,
        id: &str,
        attachment: &crate::distribution::Attachment,
    ) -> Result<Revision, ServiceError> {
        let change = Change::Deploy {
            distribution: id.to_owned(),
            behavior: attachment.behavior.clone(),
            event: attachment.event.clone(),
            function: attachment.reference()?,
        };
        self.edit_distribution(id, change, |current| {
            crate::distribution::attach(id, current, attachment)
        })
        .await
    }

    /// Removes the function on one hook of one behavior of distribution `id`.
    pub async fn detach(
        &self,
        id: &str,
        detachment: &crate::distribution::Detachment,
    ) -> Result<Revision, ServiceError> {
        let change = Change::Detach {
            distribution: id.to_owned(),
            behavior: detachment.behavior.clone(),
            event: detachment.event.clone(),
        };
        self.edit_distribution(id, change, |current| {
            crate::distribution::detach(id, current, detachment)
        })
        .await
    }

    /// Replaces distribution `id` with what `edit` makes of it, recorded as `change`.
    async fn edit_distribution(
        &self,
        id: &str,
        change: Change,
        edit: impl FnOnce(&Distribution) -> Result<Distribution, ServiceError>,
    ) -> Result<Revision, ServiceError> {
        let _writer = self.writer.lock().await;
        let (base, mut state) = self.current().await?;
        let current = state
            .distributions
            .get(id)
            .ok_or_else(|| ServiceError::NotFound(format!("no distribution `{id}`")))?;
        let updated = edit(current)?;
        state.distributions.insert(id.to_owned(), updated);
        self.append(base, change, state).await
    }

    /// Restores the state of revision `to` as a new revision.
    pub async fn rollback(&self, to: u64) -> Result<Revision, ServiceError> {
        let _writer = self.writer.lock().await;
        let (base, _) = self.current().await?;
        let target = self.revision(to).await?;
        self.append(base, Change::Rollback { to }, target.state)
            .await
    }

    async fn current(&self) -> Result<(u64, State), ServiceError> {
        Ok(self
            .latest()
            .await?
            .map_or((0, State::default()), |r| (r.number, r.state)))
    }

    async fn append(
        &self,
        base: u64,
        change: Change,
        state: State,
    ) -> Result<Revision, ServiceError> {
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
        Ok(revision)
    }
}

/// Runs storage work off the async workers (fsyncs block).
async fn blocking<T: Send + 'static, E: From<StoreError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(StoreError::Io(format!("storage task failed: {error}")).into()))
}
