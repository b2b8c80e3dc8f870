//! The warehouse's tables as DataFusion sees them: a schema provider over the catalog's current
//! version, building a listing table per catalog table with its declared keys and sort order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::Column as ColumnRef;
use datafusion::common::{Constraint, Constraints, TableReference};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, SortExpr};
use starhouse_catalog::{TableDef, TableName, Warehouse, WarehouseRoot};

use crate::managed::ManagedTable;
use crate::parquet::WarehouseParquet;
use crate::{location, stats};

/// The file extension a table folder's data files must have; other files (`_SUCCESS`, `.crc`)
/// are ignored.
const PARQUET_EXTENSION: &str = ".parquet";

/// A table as built for DataFusion, with the definition it was built from.
type Built = (Arc<TableDef>, Arc<dyn TableProvider>);

/// The schema provider behind `starhouse.public`: always the catalog's current version.
#[derive(Debug)]
pub(crate) struct WarehouseSchema {
    warehouse: Arc<Warehouse>,
    runtime: Arc<RuntimeEnv>,
    parquet: TableParquetOptions,
    /// Listing tables built so far, rebuilt when the definition changes.
    built: Mutex<HashMap<TableName, Built>>,
}

impl WarehouseSchema {
    pub fn new(warehouse: Arc<Warehouse>, runtime: Arc<RuntimeEnv>, parquet: TableParquetOptions) -> Self {
        Self { warehouse, runtime, parquet, built: Mutex::new(HashMap::new()) }
    }

    fn build(&self, def: &Arc<TableDef>) -> Result<Arc<dyn TableProvider>> {
        build(self.warehouse.root(), &self.runtime, &self.parquet, def)
    }
}

/// The DataFusion table of a catalog table, at whatever version `def` is from.
pub(crate) fn build(
    root: &WarehouseRoot,
    runtime: &RuntimeEnv,
    parquet: &TableParquetOptions,
    def: &Arc<TableDef>,
) -> Result<Arc<dyn TableProvider>> {
    if def.managed {
        let format = Arc::new(WarehouseParquet(ParquetFormat::default().with_options(parquet.clone())));
        return Ok(Arc::new(ManagedTable::new(root, Arc::clone(def), format, constraints(def))?));
    }
    let table_ref = TableReference::bare(def.name.as_str());
    let url = location::to_listing_url(root, &def.location)
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .with_table_ref(table_ref.clone());
    let options = listing_options(parquet, def, extension(&url))?;
    let file_schema = file_schema(def);
    let statistics_cache = runtime.cache_manager.get_file_statistic_cache();
    if let Some(cache) = &statistics_cache {
        stats::seed(cache, &table_ref, &url, &file_schema, &def.files);
    }
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(file_schema);
    let table = ListingTable::try_new(config)?.with_constraints(constraints(def)).with_cache(statistics_cache);
    Ok(Arc::new(table))
}

/// The extension a table's data files must have: `.parquet` in a folder, anything for a file or
/// a glob.
pub(crate) fn extension(url: &ListingTableUrl) -> &'static str {
    if url.is_collection() { PARQUET_EXTENSION } else { "" }
}

/// The columns that are stored in the files: all but the partition columns.
pub(crate) fn file_schema(def: &TableDef) -> SchemaRef {
    let fields: Vec<Field> = def
        .columns
        .iter()
        .filter(|c| !def.partition_columns.contains(&c.name))
        .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

/// How DataFusion lists and reads the table's files.
pub(crate) fn listing_options(
    parquet: &TableParquetOptions,
    def: &TableDef,
    extension: &str,
) -> Result<ListingOptions> {
    let partition_columns = def
        .partition_columns
        .iter()
        .map(|name| {
            let column = def.column(name).map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok((name.clone(), column.data_type.clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    let sort_order = sort_exprs(def);
    let format = WarehouseParquet(ParquetFormat::default().with_options(parquet.clone()));
    Ok(ListingOptions::new(Arc::new(format))
        .with_file_extension(extension)
        .with_table_partition_cols(partition_columns)
        .with_file_sort_order(if sort_order.is_empty() { vec![] } else { vec![sort_order] }))
}

/// The table's declared sort order as DataFusion sort expressions.
pub(crate) fn sort_exprs(def: &TableDef) -> Vec<SortExpr> {
    def.sort_order
        .iter()
        .map(|key| Expr::Column(ColumnRef::new_unqualified(&key.column)).sort(!key.descending, key.nulls_first))
        .collect()
}

/// The declared keys that DataFusion can use: the primary key (foreign keys have no DataFusion
/// counterpart; the star planner reads them from the catalog).
fn constraints(def: &TableDef) -> Constraints {
    // A type 2 dimension's key is unique among its current rows only: no constraint for the planner.
    let Some(pk) = def.primary_key.as_ref().filter(|_| !def.scd2) else {
        return Constraints::default();
    };
    let indices: Option<Vec<usize>> =
        pk.columns.iter().map(|name| def.columns.iter().position(|c| &c.name == name)).collect();
    match indices {
        Some(indices) => Constraints::new_unverified(vec![Constraint::PrimaryKey(indices)]),
        None => Constraints::default(),
    }
}

#[async_trait]
impl SchemaProvider for WarehouseSchema {
    fn table_names(&self) -> Vec<String> {
        self.warehouse.current().tables.keys().map(|name| name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let version = self.warehouse.current();
        let Some(def) = version.tables.get(&TableName::new(name)) else {
            return Ok(None);
        };
        let mut built = self.built.lock().expect("the table cache lock is never poisoned");
        if let Some((built_def, table)) = built.get(&def.name)
            && (Arc::ptr_eq(built_def, def) || built_def == def)
        {
            return Ok(Some(Arc::clone(table)));
        }
        let table = self.build(def)?;
        built.insert(def.name.clone(), (Arc::clone(def), Arc::clone(&table)));
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.warehouse.current().tables.contains_key(&TableName::new(name))
    }
}
