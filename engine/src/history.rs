//! The warehouse's history: the `system.versions` and `system.loads` tables, reading the
//! warehouse as of an old version (`SET starhouse.as_of`), `RESTORE`, and the upkeep of managed
//! tables' files (`OPTIMIZE` compacts small files as a new version, `VACUUM` removes files no
//! retained version uses).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use starhouse_catalog::{CatalogError, Change, TableDef, TableName, Version, Warehouse};

use crate::error::EngineError;
use crate::session::{Output, Session};
use crate::sql::AsOf;
use crate::write::{self, Writers};
use crate::{Engine, location, stats};

/// The schema of the warehouse's own tables.
pub const SYSTEM_SCHEMA: &str = "system";

/// `system.versions` and `system.loads`, computed from the catalog when queried.
#[derive(Debug)]
pub(crate) struct SystemSchema {
    pub warehouse: Arc<Warehouse>,
}

const SYSTEM_TABLES: [&str; 2] = ["loads", "versions"];

fn timestamps(values: impl Iterator<Item = chrono::DateTime<Utc>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values.map(|t| t.timestamp_micros())).with_timezone("UTC"))
}

fn timestamp_field(name: &str) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)
}

impl SystemSchema {
    async fn versions(&self) -> Result<RecordBatch, EngineError> {
        let history = self.warehouse.history().await?;
        let schema = Schema::new(vec![
            Field::new("version", DataType::UInt64, false),
            timestamp_field("committed_at"),
            Field::new("operation", DataType::Utf8, false),
            Field::new("tables", DataType::Utf8, false),
            Field::new("load_id", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from_iter_values(history.iter().map(|c| c.version))),
            timestamps(history.iter().map(|c| c.committed_at)),
            Arc::new(StringArray::from_iter_values(history.iter().map(|c| c.operation.as_str()))),
            Arc::new(StringArray::from_iter_values(history.iter().map(|c| c.tables.join(", ")))),
            Arc::new(StringArray::from_iter(history.iter().map(|c| c.load.as_deref()))),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }

    async fn loads(&self) -> Result<RecordBatch, EngineError> {
        let version = self.warehouse.refresh().await?;
        let mut loads: Vec<_> = version.loads.values().collect();
        loads.sort_by_key(|l| l.version);
        let schema = Schema::new(vec![
            Field::new("load_id", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("tables", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("files", DataType::UInt64, false),
            Field::new("version", DataType::UInt64, false),
            timestamp_field("started_at"),
            timestamp_field("committed_at"),
            Field::new("duration_ms", DataType::UInt64, false),
            Field::new("watermark", DataType::Utf8, true),
        ]);
        let tables = |l: &starhouse_catalog::LoadEntry| {
            l.load.tables.iter().map(|t| t.table.to_string()).collect::<Vec<_>>().join(", ")
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(loads.iter().map(|l| l.load.id.as_str()))),
            Arc::new(StringArray::from_iter_values(loads.iter().map(|l| l.load.source.as_str()))),
            Arc::new(StringArray::from_iter_values(loads.iter().map(|l| tables(l)))),
            Arc::new(UInt64Array::from_iter_values(loads.iter().map(|l| l.load.tables.iter().map(|t| t.rows).sum()))),
            Arc::new(UInt64Array::from_iter_values(loads.iter().map(|l| l.load.tables.iter().map(|t| t.files).sum()))),
            Arc::new(UInt64Array::from_iter_values(loads.iter().map(|l| l.version))),
            timestamps(loads.iter().map(|l| l.load.started_at)),
            timestamps(loads.iter().map(|l| l.committed_at)),
            Arc::new(UInt64Array::from_iter_values(loads.iter().map(|l| l.load.duration_ms))),
            Arc::new(StringArray::from_iter(
                loads.iter().map(|l| l.load.watermark.as_ref().map(|w| format!("{} = {}", w.column, w.value))),
            )),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let batch = match name {
            "versions" => self.versions().await,
            "loads" => self.loads().await,
            _ => return Ok(None),
        }
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }
}

/// The warehouse's tables as of one old version (a session with `starhouse.as_of` set).
#[derive(Debug)]
pub(crate) struct SnapshotSchema {
    pub engine: Arc<Engine>,
    pub version: Arc<Version>,
}

#[async_trait]
impl SchemaProvider for SnapshotSchema {
    fn table_names(&self) -> Vec<String> {
        self.version.tables.keys().map(|name| name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(def) = self.version.tables.get(&TableName::new(name)) else {
            return Ok(None);
        };
        Ok(Some(self.engine.table(def)?))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.version.tables.contains_key(&TableName::new(name))
    }
}

/// The version a point in history names.
pub(crate) async fn resolve(warehouse: &Warehouse, at: AsOf) -> Result<Arc<Version>, EngineError> {
    Ok(match at {
        AsOf::Version(number) => warehouse.version(number).await?,
        AsOf::Time(time) => warehouse.version_at(time).await?,
    })
}

/// `RESTORE TABLE t TO ...`: the table's definition and files as of then, as a new version.
pub(crate) async fn restore(
    session: &Session,
    operation: &str,
    table: &TableName,
    to: AsOf,
) -> Result<Output, EngineError> {
    let warehouse = session.engine().warehouse();
    let old = resolve(warehouse, to).await?;
    let def = Arc::clone(old.table(table.as_str()).map_err(|_| CatalogError::UnknownTable {
        name: format!("{table} (at version {})", old.number),
        closest: None,
    })?);
    if def.managed {
        missing_files(session, &def).await?;
    }
    warehouse.commit(operation, |_: &Version| Ok::<_, EngineError>(vec![Change::put(def.as_ref().clone())])).await?;
    Ok(Output::Command("RESTORE".into()))
}

/// An error if a file of the table is gone (removed by `VACUUM` once no retained version
/// used it).
async fn missing_files(session: &Session, def: &TableDef) -> Result<(), EngineError> {
    let (url, store) =
        location::listing_store(&session.context().runtime_env(), session.engine().warehouse().root(), &def.location)?;
    let paths: Vec<(String, Path)> =
        def.files.iter().map(|file| (file.path.clone(), stats::location(&url, file))).collect();
    let mut missing = Vec::new();
    let mut heads = futures::stream::iter(paths)
        .map(|(relative, path)| {
            let store = Arc::clone(&store);
            async move { (relative, store.head(&path).await, path) }
        })
        .buffer_unordered(16);
    while let Some((relative, head, path)) = heads.next().await {
        match head {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => missing.push(relative),
            Err(source) => return Err(CatalogError::Store { action: "read", path: path.to_string(), source }.into()),
        }
    }
    if let Some(first) = missing.first() {
        return Err(EngineError::unsupported(
            format!("restoring {}: {} of its files are gone (for example {first})", def.name, missing.len()),
            "VACUUM removed them; restore a version inside VACUUM's retention",
        ));
    }
    Ok(())
}

/// `VACUUM [t] [RETAIN ...]`: removes the files in managed tables' folders that neither the
/// current version nor any version committed within the retention uses, and that are older than
/// the retention (so that a load still writing keeps its files). Answers with what it removed.
pub(crate) async fn vacuum(
    session: &Session,
    table: Option<&TableName>,
    retain: chrono::Duration,
) -> Result<Output, EngineError> {
    let warehouse = session.engine().warehouse();
    let now = Utc::now();
    let cutoff = now - retain;
    let history = warehouse.history().await?;
    let first = history.iter().find(|c| c.committed_at >= cutoff).map_or(u64::MAX, |c| c.version);
    let versions = warehouse.versions_from(first).await?;
    let mut folders: Vec<(String, HashSet<String>)> = Vec::new();
    for version in &versions {
        for def in version.tables.values().filter(|d| d.managed && table.is_none_or(|t| &d.name == t)) {
            let index = match folders.iter().position(|(location, _)| location == &def.location) {
                Some(index) => index,
                None => {
                    folders.push((def.location.clone(), HashSet::new()));
                    folders.len() - 1
                }
            };
            folders[index].1.extend(def.files.iter().map(|f| f.path.clone()));
        }
    }
    if let (Some(table), Some(latest)) = (table, versions.last()) {
        crate::load::managed_table(latest, table.as_str())?;
    }
    let (mut files, mut bytes) = (0u64, 0u64);
    for (location, used) in &folders {
        let (url, store) = location::listing_store(&session.context().runtime_env(), warehouse.root(), location)?;
        let listed: Vec<object_store::ObjectMeta> = store
            .list(Some(url.prefix()))
            .try_collect()
            .await
            .map_err(|source| CatalogError::Store { action: "list", path: location.clone(), source })?;
        for meta in listed {
            let Some(relative) = meta.location.prefix_match(url.prefix()) else { continue };
            let relative = relative.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/");
            if used.contains(&relative) || meta.last_modified >= cutoff {
                continue;
            }
            match store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    files += 1;
                    bytes += meta.size;
                }
                Err(source) => {
                    return Err(
                        CatalogError::Store { action: "delete", path: meta.location.to_string(), source }.into()
                    );
                }
            }
        }
    }
    let schema = Schema::new(vec![
        Field::new("files_removed", DataType::UInt64, false),
        Field::new("bytes_removed", DataType::UInt64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(UInt64Array::from(vec![files])), Arc::new(UInt64Array::from(vec![bytes]))],
    )?;
    Ok(crate::session::rows(batch))
}

/// `OPTIMIZE t`: rewrites the table's small files as few sorted ones, in one new version. The
/// old files stay for older versions until `VACUUM`.
pub(crate) async fn optimize(session: &Session, operation: &str, table: &TableName) -> Result<Output, EngineError> {
    let warehouse = session.engine().warehouse();
    let version = warehouse.refresh().await?;
    let def = crate::load::managed_table(&version, table.as_str())?;
    let small: Vec<_> =
        def.files.iter().filter(|f| (f.size as usize) < write::TARGET_FILE_BYTES / 2).cloned().collect();
    let (mut removed, mut added, mut rows) = (0u64, 0u64, 0u64);
    if small.len() > 1 {
        let compacted = Arc::new(TableDef { files: small.clone(), ..def.as_ref().clone() });
        let provider = session.engine().table(&compacted)?;
        let state = session.context().state();
        let frame = session.context().read_table(provider)?;
        // One writer, so that the small files become as few large ones as the file size allows.
        let written = write::write(&state, warehouse.root(), def, frame, Writers::One).await?;
        let result = warehouse
            .commit(operation, |current: &Version| {
                let mut now = crate::load::managed_table(current, table.as_str())?.as_ref().clone();
                if !small.iter().all(|f| now.files.contains(f)) {
                    return Err(EngineError::unsupported(
                        format!("OPTIMIZE {table} while another session replaced its files"),
                        "run OPTIMIZE again",
                    ));
                }
                now.files.retain(|f| !small.contains(f));
                now.files.extend(written.files.iter().cloned());
                Ok(vec![Change::put(now)])
            })
            .await;
        if let Err(error) = result {
            written.discard().await;
            return Err(error);
        }
        (removed, added, rows) = (small.len() as u64, written.files.len() as u64, written.rows());
    }
    let schema = Schema::new(vec![
        Field::new("files_removed", DataType::UInt64, false),
        Field::new("files_added", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt64Array::from(vec![removed])),
            Arc::new(UInt64Array::from(vec![added])),
            Arc::new(UInt64Array::from(vec![rows])),
        ],
    )?;
    Ok(crate::session::rows(batch))
}
