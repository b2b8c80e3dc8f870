//! Integration tests of the catalog against real folders: commits and reopening, time travel,
//! damaged files, concurrent writers and writers killed mid-commit.

mod concurrency;
mod crash;
mod log;

use std::sync::Arc;

use arrow_schema::DataType;
use starhouse_catalog::{Change, Column, TableDef, TableName, Version, Warehouse, WarehouseRoot};

/// A warehouse in a temporary folder that lives as long as the value.
pub struct TestWarehouse {
    pub dir: tempfile::TempDir,
}

impl TestWarehouse {
    pub fn empty() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary folder") }
    }

    pub fn root(&self) -> WarehouseRoot {
        WarehouseRoot::parse(self.dir.path().to_str().expect("utf-8 path")).expect("a local root")
    }

    /// A new handle on the warehouse, as another process would open it.
    pub async fn open(&self) -> Warehouse {
        Warehouse::open_or_create(self.root()).await.expect("the warehouse opens").0
    }

    pub fn log_file(&self, version: u64) -> std::path::PathBuf {
        self.dir.path().join(format!("_starhouse/log/{version:020}.json"))
    }
}

/// A small table definition whose name says which commit made it.
pub fn table(name: &str, columns: usize) -> TableDef {
    let columns = (0..columns.max(1))
        .map(|i| Column { name: format!("c{i}"), data_type: DataType::Int64, nullable: true, comment: None })
        .collect();
    TableDef::new(TableName::new(name), columns, format!("data/{name}/"))
}

/// Commits one new table, failing if it exists.
pub async fn create(warehouse: &Warehouse, def: TableDef) -> Result<Arc<Version>, starhouse_catalog::CatalogError> {
    warehouse
        .commit(&format!("create {}", def.name), |current: &Version| {
            if current.tables.contains_key(&def.name) {
                return Err(starhouse_catalog::CatalogError::TableExists { name: def.name.to_string() });
            }
            Ok(vec![Change::PutTable(def.clone())])
        })
        .await
}
