//! The catalog's files under `<root>/_starhouse/`.
//!
//! - `log/<version, 20 digits>.json`: one commit, the changes that turn version `n - 1` into `n`.
//!   Written once with a create-only put and never rewritten: whoever writes `n` first wins.
//! - `checkpoints/<version, 20 digits>.json`: the whole state at a version, so that opening reads
//!   one checkpoint and the few commits after it rather than the whole log. Optional: the log alone
//!   is the truth, a checkpoint only a shortcut.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;
use crate::load::LoadEntry;
use crate::store::WarehouseRoot;
use crate::table::TableDef;
use crate::version::{Change, Version};

const LOG_DIR: &str = "_starhouse/log";
const CHECKPOINT_DIR: &str = "_starhouse/checkpoints";

/// A commit as stored: `log/<version>.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CommitFile {
    pub version: u64,
    pub committed_at: DateTime<Utc>,
    /// What the writer did, for people reading the history (usually the SQL statement).
    pub operation: String,
    pub changes: Vec<Change>,
}

/// A checkpoint as stored: `checkpoints/<version>.json`.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointFile {
    version: u64,
    committed_at: DateTime<Utc>,
    tables: Vec<TableDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    loads: Vec<LoadEntry>,
}

/// Reads and writes the catalog files of one warehouse.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    root: WarehouseRoot,
}

fn file_name(version: u64) -> String {
    format!("{version:020}.json")
}

/// The version a catalog file name stands for, if it is one (`00000000000000000042.json`).
fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

impl Log {
    pub fn new(root: WarehouseRoot) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &WarehouseRoot {
        &self.root
    }

    fn commit_path(&self, version: u64) -> Path {
        self.root.path(&format!("{LOG_DIR}/{}", file_name(version)))
    }

    fn checkpoint_path(&self, version: u64) -> Path {
        self.root.path(&format!("{CHECKPOINT_DIR}/{}", file_name(version)))
    }

    /// The path of version `n`'s commit file, as a user would look for it.
    pub fn display_commit_path(&self, version: u64) -> String {
        self.display(&self.commit_path(version))
    }

    fn display(&self, path: &Path) -> String {
        self.root.display_path(path)
    }

    fn store_error(&self, action: &'static str, path: &Path, source: object_store::Error) -> CatalogError {
        CatalogError::Store { action, path: self.display(path), source }
    }

    /// Reads commit `version`; `None` when it has not been written.
    pub async fn read_commit(&self, version: u64) -> Result<Option<CommitFile>, CatalogError> {
        let path = self.commit_path(version);
        let Some(bytes) = self.read(&path).await? else {
            return Ok(None);
        };
        let commit: CommitFile = serde_json::from_slice(&bytes)
            .map_err(|source| CatalogError::CorruptVersion { path: self.display(&path), source })?;
        if commit.version != version {
            return Err(CatalogError::CorruptVersion {
                path: self.display(&path),
                source: serde::de::Error::custom(format!("the file says it is version {}", commit.version)),
            });
        }
        Ok(Some(commit))
    }

    /// Writes a commit unless its version exists already. Returns whether this writer won.
    pub async fn write_commit(&self, commit: &CommitFile) -> Result<bool, CatalogError> {
        let path = self.commit_path(commit.version);
        let bytes = serde_json::to_vec_pretty(commit).expect("catalog types always serialise to JSON");
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.root.store().put_opts(&path, PutPayload::from(bytes), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.store_error("write", &path, e)),
        }
    }

    async fn read(&self, path: &Path) -> Result<Option<bytes::Bytes>, CatalogError> {
        let result = async { self.root.store().get(path).await?.bytes().await }.await;
        match result {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error("read", path, e)),
        }
    }

    /// The versions present in `dir` (log or checkpoints), sorted.
    async fn list(&self, dir: &str, after: Option<u64>) -> Result<Vec<u64>, CatalogError> {
        let prefix = self.root.path(dir);
        let listing = match after {
            Some(version) => {
                let offset = self.root.path(&format!("{dir}/{}", file_name(version)));
                self.root.store().list_with_offset(Some(&prefix), &offset)
            }
            None => self.root.store().list(Some(&prefix)),
        };
        let metas: Vec<_> = listing.try_collect().await.map_err(|e| self.store_error("list", &prefix, e))?;
        let mut versions: Vec<u64> = metas
            .iter()
            .filter_map(|meta| meta.location.filename().and_then(parse_file_name))
            .filter(|v| after.is_none_or(|after| *v > after))
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// The versions of the commits after `after` (all commits if `None`), sorted.
    pub async fn list_commits(&self, after: Option<u64>) -> Result<Vec<u64>, CatalogError> {
        self.list(LOG_DIR, after).await
    }

    /// The newest checkpoint at or before `at_most`.
    pub async fn latest_checkpoint(&self, at_most: u64) -> Result<Option<u64>, CatalogError> {
        let versions = self.list(CHECKPOINT_DIR, None).await?;
        Ok(versions.into_iter().filter(|v| *v <= at_most).max())
    }

    pub async fn read_checkpoint(&self, version: u64) -> Result<Version, CatalogError> {
        let path = self.checkpoint_path(version);
        let bytes = self
            .read(&path)
            .await?
            .ok_or_else(|| CatalogError::MissingVersion { path: self.display(&path), version })?;
        let file: CheckpointFile = serde_json::from_slice(&bytes)
            .map_err(|source| CatalogError::CorruptVersion { path: self.display(&path), source })?;
        Ok(Version {
            number: file.version,
            committed_at: file.committed_at,
            tables: file.tables.into_iter().map(|t| (t.name.clone(), std::sync::Arc::new(t))).collect(),
            loads: file.loads.into_iter().map(|l| (l.load.id.clone(), std::sync::Arc::new(l))).collect(),
        })
    }

    pub async fn write_checkpoint(&self, version: &Version) -> Result<(), CatalogError> {
        let path = self.checkpoint_path(version.number);
        let file = CheckpointFile {
            version: version.number,
            committed_at: version.committed_at,
            tables: version.tables.values().map(|t| t.as_ref().clone()).collect(),
            loads: version.loads.values().map(|l| l.as_ref().clone()).collect(),
        };
        let bytes = serde_json::to_vec(&file).expect("catalog types always serialise to JSON");
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.root.store().put_opts(&path, PutPayload::from(bytes), options).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(self.store_error("write", &path, e)),
        }
    }

    /// Commits `versions`, in order, reading several files at once; a missing one is an error.
    pub fn read_commits(
        &self,
        versions: std::ops::RangeInclusive<u64>,
    ) -> impl futures::Stream<Item = Result<CommitFile, CatalogError>> + '_ {
        futures::stream::iter(versions)
            .map(move |version| async move {
                let commit = self.read_commit(version).await?;
                commit.ok_or_else(|| CatalogError::MissingVersion { path: self.display_commit_path(version), version })
            })
            .buffered(16)
    }

    /// Replays commits `from.number + 1 ..= to` on top of `from`.
    pub async fn replay(&self, from: Version, to: u64) -> Result<Version, CatalogError> {
        let mut commits = std::pin::pin!(self.read_commits(from.number + 1..=to));
        let mut version = from;
        while let Some(commit) = commits.next().await {
            let commit = commit?;
            version = version.replay(commit.version, &commit.changes, commit.committed_at);
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_twenty_digit_json_files_are_versions() {
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("00000000000000000042.json#1"), None);
        assert_eq!(parse_file_name("42.json"), None);
        assert_eq!(parse_file_name("0000000000000000004x.json"), None);
    }
}
