//! Storage behind two narrow traits, so the embedded default (local disk: redb for the log,
//! files for blobs) and a distributed one (e.g. NATS JetStream KV + object store) are
//! interchangeable without touching the API or the nodes. Every write is durable before it
//! returns.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest as _, Sha256};

use crate::model::{Change, Digest, Revision, State, now_ms};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk or database failed.
    #[error("storage: {0}")]
    Io(String),
    /// A stored record does not decode (corruption or a newer format).
    #[error("stored record {what} is unreadable: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        detail: String,
    },
}

fn io(error: impl std::fmt::Display) -> StoreError {
    StoreError::Io(error.to_string())
}

/// The append-only revision log: each entry holds a change and the resulting state.
pub trait RevisionLog: Send + Sync + 'static {
    /// The newest revision, if any.
    fn latest(&self) -> Result<Option<Revision>, StoreError>;
    /// A revision by number.
    fn get(&self, number: u64) -> Result<Option<Revision>, StoreError>;
    /// Appends `change` with the state it produced as the next revision, durably; `expected`
    /// is the revision the change was computed from (a conflict if the log moved on).
    fn append(&self, expected: u64, change: Change, state: State) -> Result<Revision, AppendError>;
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended first; recompute from the new latest revision.
    #[error("the log moved on to revision {actual} (expected {expected})")]
    Conflict {
        /// What the writer expected.
        expected: u64,
        /// What the log has.
        actual: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Blobs addressed by sha256.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` (idempotent) and returns their digest.
    fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError>;
    /// The blob with this digest.
    fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

const REVISIONS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("revisions");

/// The revision log in a redb file: commits are fsynced before `append` returns.
pub struct RedbLog {
    db: Database,
}

impl RedbLog {
    /// Opens or creates the log at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(io)?;
        let write = db.begin_write().map_err(io)?;
        write.open_table(REVISIONS).map_err(io)?;
        write.commit().map_err(io)?;
        Ok(Self { db })
    }

    /// Reads a stored revision in any wire format this release knows (an older store's
    /// revisions included); anything it cannot fully read is corruption here, since this
    /// process wrote it.
    fn decode(number: u64, bytes: &[u8]) -> Result<Revision, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            what: format!("revision {number}"),
            detail,
        };
        let decoded =
            wedge_types::wire::decode(bytes).map_err(|error| corrupt(error.to_string()))?;
        match decoded.rejected.into_iter().next() {
            Some((id, problem)) => Err(corrupt(format!("distribution {id}: {problem}"))),
            None => Ok(decoded.revision),
        }
    }
}

impl RevisionLog for RedbLog {
    fn latest(&self) -> Result<Option<Revision>, StoreError> {
        let read = self.db.begin_read().map_err(io)?;
        let table = read.open_table(REVISIONS).map_err(io)?;
        match table.last().map_err(io)? {
            Some((number, bytes)) => Self::decode(number.value(), bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn get(&self, number: u64) -> Result<Option<Revision>, StoreError> {
        let read = self.db.begin_read().map_err(io)?;
        let table = read.open_table(REVISIONS).map_err(io)?;
        match table.get(number).map_err(io)? {
            Some(bytes) => Self::decode(number, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn append(&self, expected: u64, change: Change, state: State) -> Result<Revision, AppendError> {
        let write = self.db.begin_write().map_err(io)?;
        let revision = {
            let mut table = write.open_table(REVISIONS).map_err(io)?;
            let actual = table
                .last()
                .map_err(io)?
                .map_or(0, |(number, _)| number.value());
            if actual != expected {
                return Err(AppendError::Conflict { expected, actual });
            }
            let revision = Revision {
                format: wedge_types::wire::FORMAT,
                number: actual + 1,
                at_ms: now_ms(),
                change,
                state,
            };
            let bytes = wedge_types::wire::encode(&revision);
            table
                .insert(revision.number, bytes.as_slice())
                .map_err(io)?;
            revision
        };
        write.commit().map_err(io)?;
        Ok(revision)
    }
}

/// Blobs as files `<dir>/<aa>/<digest>`, written to a temp file, fsynced and renamed.
pub struct DiskBlobs {
    dir: PathBuf,
}

impl DiskBlobs {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        let valid = digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| self.dir.join(&digest[..2]).join(digest))
    }
}

impl BlobStore for DiskBlobs {
    fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let path = self.path(&digest).ok_or_else(|| io("digest"))?;
        if path.exists() {
            return Ok(digest);
        }
        let parent = path.parent().ok_or_else(|| io("blob path has no parent"))?;
        std::fs::create_dir_all(parent).map_err(io)?;
        // A temp file of its own per writer (concurrent publishes of the same bytes each write
        // one), moved into place only if no other writer got there first: the bytes are the
        // same, so the first one in stays and the rest are dropped.
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{digest}."))
            .tempfile_in(parent)
            .map_err(io)?;
        temp.write_all(bytes).map_err(io)?;
        temp.as_file().sync_all().map_err(io)?;
        match temp.persist_noclobber(&path) {
            Ok(_) => {}
            Err(error) if path.exists() => drop(error),
            Err(error) => return Err(io(error.error)),
        }
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io)?;
        Ok(digest)
    }

    fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = self.path(digest) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_survives_reopening_and_refuses_stale_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        {
            let log = RedbLog::open(&path).unwrap();
            assert_eq!(log.latest().unwrap(), None);
            let first = log
                .append(0, Change::Rollback { to: 0 }, State::default())
                .unwrap();
            assert_eq!(first.number, 1);
            assert!(matches!(
                log.append(0, Change::Rollback { to: 0 }, State::default()),
                Err(AppendError::Conflict { actual: 1, .. })
            ));
        }
        let log = RedbLog::open(&path).unwrap();
        assert_eq!(log.latest().unwrap().unwrap().number, 1);
        assert_eq!(log.get(1).unwrap().unwrap().number, 1);
        assert_eq!(log.get(2).unwrap(), None);
    }

    #[test]
    fn blobs_are_addressed_by_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = DiskBlobs::open(dir.path()).unwrap();
        let digest = blobs.put(b"hello").unwrap();
        assert_eq!(
            digest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(blobs.put(b"hello").unwrap(), digest);
        assert_eq!(blobs.get(&digest).unwrap().unwrap(), b"hello");
        assert_eq!(blobs.get("../../etc/passwd").unwrap(), None);
        assert_eq!(blobs.get(&"0".repeat(64)).unwrap(), None);
    }
}
