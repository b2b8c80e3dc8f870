//! An open warehouse: its current version, kept fresh, and commits that never lose a writer's
//! change.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;

use crate::error::CatalogError;
use crate::log::{CommitFile, Log};
use crate::store::WarehouseRoot;
use crate::version::{Change, Version};

/// A checkpoint is written at every version that is a multiple of this.
pub const CHECKPOINT_INTERVAL: u64 = 20;

/// How many times a commit is retried when other writers keep committing first.
const MAX_COMMIT_ATTEMPTS: u32 = 25;

/// One commit of the warehouse's history, as `system.versions` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub version: u64,
    pub committed_at: DateTime<Utc>,
    /// What the writer did (usually its SQL statement).
    pub operation: String,
    /// The tables the commit created, changed or dropped.
    pub tables: Vec<String>,
    /// The id of the load the commit recorded, if any.
    pub load: Option<String>,
}

/// An open warehouse. Cheap to share (`Arc<Warehouse>`); every method takes `&self`.
#[derive(Debug)]
pub struct Warehouse {
    log: Log,
    current: RwLock<Arc<Version>>,
}

impl Warehouse {
    /// Opens the warehouse at `root` at its latest version.
    pub async fn open(root: WarehouseRoot) -> Result<Self, CatalogError> {
        let log = Log::new(root);
        let checkpoint = log.latest_checkpoint(u64::MAX).await?;
        let commits = log.list_commits(checkpoint).await?;
        let latest = commits.last().copied().or(checkpoint).ok_or_else(|| CatalogError::NotAWarehouse {
            root: log.root().to_string(),
            log: log.display_commit_path(0),
        })?;
        let current = Self::load(&log, checkpoint, latest).await?;
        Ok(Self { log, current: RwLock::new(Arc::new(current)) })
    }

    /// Opens the warehouse at `root`, creating an empty one (version 0) if there is none.
    /// Returns whether it was created.
    pub async fn open_or_create(root: WarehouseRoot) -> Result<(Self, bool), CatalogError> {
        let log = Log::new(root.clone());
        let created = log
            .write_commit(&CommitFile {
                version: 0,
                committed_at: Utc::now(),
                operation: "create warehouse".into(),
                changes: Vec::new(),
            })
            .await?;
        Ok((Self::open(root).await?, created))
    }

    /// Version `number` as read from the files: `checkpoint` (the newest one at or before
    /// `number`), then the commits after it.
    async fn load(log: &Log, checkpoint: Option<u64>, number: u64) -> Result<Version, CatalogError> {
        let base = match checkpoint {
            Some(checkpoint) => log.read_checkpoint(checkpoint).await?,
            None => {
                let commit = log
                    .read_commit(0)
                    .await?
                    .ok_or_else(|| CatalogError::MissingVersion { path: log.display_commit_path(0), version: 0 })?;
                Version::empty(commit.committed_at)
            }
        };
        log.replay(base, number).await
    }

    pub fn root(&self) -> &WarehouseRoot {
        self.log.root()
    }

    /// The newest version this handle knows of (see [`Warehouse::refresh`]).
    pub fn current(&self) -> Arc<Version> {
        Arc::clone(&self.current.read().expect("the version lock is never poisoned"))
    }

    fn advance(&self, version: Version) -> Arc<Version> {
        let mut current = self.current.write().expect("the version lock is never poisoned");
        if version.number > current.number {
            *current = Arc::new(version);
        }
        Arc::clone(&current)
    }

    /// Catches up with commits made by other writers since this handle last looked.
    pub async fn refresh(&self) -> Result<Arc<Version>, CatalogError> {
        let mut version = self.current().as_ref().clone();
        let start = version.number;
        while let Some(commit) = self.log.read_commit(version.number + 1).await? {
            version = version.replay(commit.version, &commit.changes, commit.committed_at);
        }
        if version.number == start {
            return Ok(self.current());
        }
        Ok(self.advance(version))
    }

    /// Any past version, for time travel. Reads the files; the current version is not changed.
    pub async fn version(&self, number: u64) -> Result<Arc<Version>, CatalogError> {
        let current = self.refresh().await?;
        if number == current.number {
            return Ok(current);
        }
        if number > current.number {
            return Err(CatalogError::NoSuchVersion { version: number, latest: current.number });
        }
        let checkpoint = self.log.latest_checkpoint(number).await?;
        Ok(Arc::new(Self::load(&self.log, checkpoint, number).await?))
    }

    /// Every commit up to the current version, oldest first (reads the whole log).
    pub async fn history(&self) -> Result<Vec<Commit>, CatalogError> {
        let current = self.refresh().await?;
        self.log
            .read_commits(0..=current.number)
            .map_ok(|commit| Commit {
                version: commit.version,
                committed_at: commit.committed_at,
                operation: commit.operation,
                tables: commit
                    .changes
                    .iter()
                    .filter_map(|change| match change {
                        Change::PutTable(def) => Some(def.name.to_string()),
                        Change::DropTable(name) => Some(name.to_string()),
                        Change::RecordLoad(_) => None,
                    })
                    .collect(),
                load: commit.changes.iter().find_map(|change| match change {
                    Change::RecordLoad(load) => Some(load.id.clone()),
                    _ => None,
                }),
            })
            .try_collect()
            .await
    }

    /// Every version from `first` to the current one, oldest first (one read of each commit).
    pub async fn versions_from(&self, first: u64) -> Result<Vec<Arc<Version>>, CatalogError> {
        let current = self.refresh().await?;
        let mut version = self.version(first.min(current.number)).await?;
        let mut versions = vec![Arc::clone(&version)];
        let mut commits = std::pin::pin!(self.log.read_commits(version.number + 1..=current.number));
        while let Some(commit) = commits.try_next().await? {
            version = Arc::new(version.replay(commit.version, &commit.changes, commit.committed_at));
            versions.push(Arc::clone(&version));
        }
        Ok(versions)
    }

    /// The version that was current at `time`: the newest committed at or before it. Commit times
    /// count to the microsecond, as they are shown (`system.versions`), so that a time copied from
    /// there names its own version.
    pub async fn version_at(&self, time: DateTime<Utc>) -> Result<Arc<Version>, CatalogError> {
        let history = self.history().await?;
        let Some(commit) = history.iter().rev().find(|c| c.committed_at.trunc_subsecs(6) <= time) else {
            let first = history.first().map(|c| c.committed_at.to_rfc3339()).unwrap_or_default();
            return Err(CatalogError::BeforeHistory { time: time.to_rfc3339(), first });
        };
        self.version(commit.version).await
    }

    /// Commits the changes that `plan` computes from the latest version, as one new version
    /// (none when there is nothing to change).
    ///
    /// When another writer commits first, `plan` runs again on the newer version, so a change is
    /// never lost and never applied to a state it was not checked against; `plan` returning an
    /// error (for example because the other writer created the same table) ends the attempt.
    pub async fn commit<E, F>(&self, operation: &str, mut plan: F) -> Result<Arc<Version>, E>
    where
        E: From<CatalogError>,
        F: FnMut(&Version) -> Result<Vec<Change>, E>,
    {
        let mut base = self.refresh().await?;
        for attempt in 1..=MAX_COMMIT_ATTEMPTS {
            let changes = plan(&base)?;
            if changes.is_empty() {
                return Ok(base);
            }
            let committed_at = Utc::now();
            let next = base.apply(&changes, committed_at)?;
            let commit = CommitFile { version: next.number, committed_at, operation: operation.to_string(), changes };
            if self.log.write_commit(&commit).await? {
                tracing::debug!(version = next.number, operation, "committed");
                if next.number % CHECKPOINT_INTERVAL == 0 {
                    // The log is the truth; a missing checkpoint only makes opening slower.
                    if let Err(error) = self.log.write_checkpoint(&next).await {
                        tracing::warn!(%error, version = next.number, "could not write a checkpoint");
                    }
                }
                return Ok(self.advance(next));
            }
            tracing::debug!(version = next.number, attempt, "another writer committed first");
            tokio::time::sleep(backoff(attempt)).await;
            base = self.refresh().await?;
        }
        Err(CatalogError::CommitConflict { version: base.number + 1, attempts: MAX_COMMIT_ATTEMPTS }.into())
    }
}

/// A short, growing, jittered pause between commit attempts, so that racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 1000)
        .unwrap_or(0);
    Duration::from_micros(u64::from(attempt.min(10)) * 500 + u64::from(jitter) * 2)
}
