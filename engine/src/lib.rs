//! The Starhouse engine: analytical SQL over a warehouse's catalog, on Apache DataFusion.
//!
//! One [`Engine`] per process holds the open [`Warehouse`] and DataFusion's runtime (memory pool,
//! caches, object stores); one [`Session`] per shell or connection holds its own settings.
//! Statements are parsed by [`sql::parse`] (DataFusion's dialect plus the star-schema
//! extensions), run by [`Session::execute`], and answer with an [`Output`]: a stream of Arrow
//! record batches, or the tag of a command that changed something.
//!
//! The engine owns the meaning of the warehouse DDL (`CREATE EXTERNAL TABLE`, keys, roles,
//! comments, `DROP TABLE`), the mapping of catalog tables to DataFusion tables and the demo
//! warehouse. It knows nothing of the wire protocol or the terminal.
//!
//! Start reading at [`Session::execute`], then `ddl` and `tables`.

mod conjuncts;
mod ddl;
mod decimal;
pub mod demo;
mod describe;
mod distinct;
mod error;
mod history;
mod keyfilter;
mod load;
mod location;
mod managed;
mod parquet;
mod prefilter;
mod rejects;
mod scd;
mod selectivity;
mod semi;
mod session;
mod shared;
pub mod sql;
mod star;
mod stats;
mod storage;
mod tables;
mod write;

use std::sync::Arc;
use std::time::Duration;

use datafusion::config::TableParquetOptions;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
pub use describe::sql_type_name;
pub use error::{ConstraintKind, EngineError};
pub use history::SYSTEM_SCHEMA;
pub use load::{FileFormat, LoadOptions, LoadOutcome, LoadTarget, ReadOptions, copy_from_stdin};
pub use session::{Output, Session};
pub use starhouse_catalog as catalog;
use starhouse_catalog::{ObjectStores, Warehouse, WarehouseRoot};
pub use starhouse_catalog::{S3Credentials, StorageOptions};

use crate::tables::WarehouseSchema;

/// The catalog name under which the warehouse's tables appear (`starhouse.public.t`).
pub const CATALOG_NAME: &str = "starhouse";
/// The schema name under which the warehouse's tables appear.
pub const SCHEMA_NAME: &str = "public";

/// How long a listing of a table's files is reused when the warehouse is in object storage, where
/// a listing is a request that costs time and money.
pub const REMOTE_LISTING_CACHE_TTL: Duration = Duration::from_secs(30);

/// How an engine reaches its storage and what it keeps in memory.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub storage: StorageOptions,
    /// How long a listing of a table's files is reused before the next query lists again. By
    /// default none is reused for a local warehouse (files added to a folder are seen by the next
    /// query) and listings are reused for [`REMOTE_LISTING_CACHE_TTL`] for one in object storage.
    pub listing_cache_ttl: Option<Duration>,
    /// Bytes of Parquet footers kept in memory, so that a file's metadata is read once
    /// (DataFusion's default, 50 MiB, when not set).
    pub metadata_cache_bytes: Option<usize>,
}

/// The engine of one process: the open warehouse and DataFusion's shared runtime.
#[derive(Debug)]
pub struct Engine {
    warehouse: Arc<Warehouse>,
    runtime: Arc<RuntimeEnv>,
    tables: Arc<WarehouseSchema>,
    stores: Arc<ObjectStores>,
    /// How Parquet is read, for tables built outside the shared schema (old versions, loads).
    parquet: TableParquetOptions,
}

impl Engine {
    /// Opens the warehouse at `root` (a path or URL), creating an empty one if there is none.
    /// Returns the engine and whether the warehouse was created.
    pub async fn open(root: &str, options: EngineOptions) -> Result<(Arc<Self>, bool), EngineError> {
        let stores = Arc::new(ObjectStores::new(options.storage.clone()));
        let root = WarehouseRoot::parse(root, &stores)?;
        let (warehouse, created) = Warehouse::open_or_create(root).await?;
        Ok((Self::new(Arc::new(warehouse), stores, &options)?, created))
    }

    fn new(
        warehouse: Arc<Warehouse>,
        stores: Arc<ObjectStores>,
        options: &EngineOptions,
    ) -> Result<Arc<Self>, EngineError> {
        // Footers and statistics are cached, keyed by each file's size and modification time.
        let ttl = options.listing_cache_ttl.unwrap_or(match warehouse.root().local_path() {
            Some(_) => Duration::ZERO,
            None => REMOTE_LISTING_CACHE_TTL,
        });
        let mut cache = if ttl.is_zero() {
            CacheManagerConfig::default().with_list_files_cache_limit(0)
        } else {
            CacheManagerConfig::default().with_list_files_cache_ttl(Some(ttl))
        };
        if let Some(bytes) = options.metadata_cache_bytes {
            cache = cache.with_metadata_cache_limit(bytes);
        }
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(cache)
            .with_object_store_registry(Arc::new(storage::Registry(Arc::clone(&stores))))
            .build_arc()?;
        let config = Self::session_config();
        let parquet = TableParquetOptions { global: config.options().execution.parquet.clone(), ..Default::default() };
        let tables = Arc::new(WarehouseSchema::new(Arc::clone(&warehouse), Arc::clone(&runtime), parquet.clone()));
        Ok(Arc::new(Self { warehouse, runtime, tables, stores, parquet }))
    }

    /// The configuration every session starts from.
    fn session_config() -> SessionConfig {
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
            .with_create_default_catalog_and_schema(false)
            .with_option_extension(star::StarhouseOptions::default());
        let options = config.options_mut();
        // A join whose build side is estimated at up to 8 Mi rows / cores (4 Mi on 2 cores) builds
        // one hash table that every partition of the other side probes, rather than repartitioning
        // both sides by the join key (DataFusion's default: 128 Ki rows, 1 MiB). On 2 cores this
        // spares TPC-H Q5 and Q21 repartitioning lineitem's 60 million rows, and SSB Q2.x
        // lineorder's (DataFusion guesses that a filter keeps 20% of a dimension); measured in
        // `benches/`. That one table is built by one thread while a repartition uses them all,
        // hence the smaller bound on more cores, never below DataFusion's.
        let rows = ((8 << 20) / options.execution.target_partitions.max(1)).clamp(128 << 10, 4 << 20);
        options.optimizer.hash_join_single_partition_threshold_rows = rows;
        options.optimizer.hash_join_single_partition_threshold = rows * 64;
        // A join on integer keys that cover at least 3% of their range (a dimension's dense
        // surrogate keys, even after a filter that keeps one in 25) looks them up in an array
        // indexed by key rather than in a hash table: at most 4 bytes × 33 slots per build row
        // (DataFusion's default: 15%; measured in `benches/`).
        options.execution.perfect_hash_join_min_key_density = 0.03;
        config
    }

    pub fn warehouse(&self) -> &Arc<Warehouse> {
        &self.warehouse
    }

    /// The object stores the warehouse and its tables are read through.
    pub fn stores(&self) -> &Arc<ObjectStores> {
        &self.stores
    }

    /// The DataFusion table of a catalog table at whatever version `def` is from (an old version,
    /// or a table as a load will leave it).
    pub(crate) fn table(
        &self,
        def: &Arc<starhouse_catalog::TableDef>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
        tables::build(self.warehouse.root(), &self.runtime, &self.parquet, def)
    }

    /// A new session with default settings.
    pub fn session(self: &Arc<Self>) -> Session {
        Session::new(Arc::clone(self))
    }
}
