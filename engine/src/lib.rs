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

mod ddl;
pub mod demo;
mod describe;
mod error;
mod location;
mod session;
pub mod sql;
mod tables;

use std::sync::Arc;

use datafusion::config::TableParquetOptions;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
pub use describe::sql_type_name;
pub use error::EngineError;
pub use session::{Output, Session};
pub use starhouse_catalog as catalog;
use starhouse_catalog::{Warehouse, WarehouseRoot};

use crate::tables::WarehouseSchema;

/// The catalog name under which the warehouse's tables appear (`starhouse.public.t`).
pub const CATALOG_NAME: &str = "starhouse";
/// The schema name under which the warehouse's tables appear.
pub const SCHEMA_NAME: &str = "public";

/// The engine of one process: the open warehouse and DataFusion's shared runtime.
#[derive(Debug)]
pub struct Engine {
    warehouse: Arc<Warehouse>,
    runtime: Arc<RuntimeEnv>,
    tables: Arc<WarehouseSchema>,
}

impl Engine {
    /// Opens the warehouse at `root` (a path or URL), creating an empty one if there is none.
    /// Returns the engine and whether the warehouse was created.
    pub async fn open(root: &str) -> Result<(Arc<Self>, bool), EngineError> {
        let root = WarehouseRoot::parse(root)?;
        let (warehouse, created) = Warehouse::open_or_create(root).await?;
        Ok((Self::new(Arc::new(warehouse))?, created))
    }

    fn new(warehouse: Arc<Warehouse>) -> Result<Arc<Self>, EngineError> {
        // Listings are not cached: files added to an external table's folder are seen by the next
        // query. Footers and statistics are cached, keyed by each file's size and modification time.
        let cache = CacheManagerConfig::default().with_list_files_cache_limit(0);
        let runtime = RuntimeEnvBuilder::new().with_cache_manager(cache).build_arc()?;
        let config = Self::session_config();
        let tables = Arc::new(WarehouseSchema::new(
            Arc::clone(&warehouse),
            Arc::clone(&runtime),
            TableParquetOptions { global: config.options().execution.parquet.clone(), ..Default::default() },
        ));
        Ok(Arc::new(Self { warehouse, runtime, tables }))
    }

    /// The configuration every session starts from.
    fn session_config() -> SessionConfig {
        SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
            .with_create_default_catalog_and_schema(false)
    }

    pub fn warehouse(&self) -> &Arc<Warehouse> {
        &self.warehouse
    }

    /// A new session with default settings.
    pub fn session(self: &Arc<Self>) -> Session {
        Session::new(Arc::clone(self))
    }
}
