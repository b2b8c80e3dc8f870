//! Integration tests of the catalog against real storage: commits and reopening, time travel,
//! damaged files, concurrent writers and writers killed mid-commit, each on a local folder and on
//! a real S3-compatible server; and what only S3 has (missing buckets, bad credentials).

mod concurrency;
mod crash;
mod log;
mod s3;

use std::sync::Arc;

use arrow_schema::DataType;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use starhouse_catalog::{
    Change, Column, ObjectStores, StorageOptions, TableDef, TableName, Version, Warehouse, WarehouseRoot,
};
use starhouse_testkit::S3Server;

/// A new warehouse, on a local folder or in a bucket of its own, that lives as long as the value.
pub struct TestWarehouse {
    /// The root as a user gives it.
    pub root: String,
    pub options: StorageOptions,
    _dir: Option<tempfile::TempDir>,
}

impl TestWarehouse {
    /// A warehouse in a temporary folder.
    pub fn local() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        Self {
            root: dir.path().to_str().expect("utf-8 path").to_string(),
            options: Default::default(),
            _dir: Some(dir),
        }
    }

    /// A warehouse under a prefix of a new bucket on the S3 server.
    pub fn s3() -> Self {
        let server = S3Server::shared();
        let bucket = server.new_bucket("catalog");
        Self {
            root: format!("s3://{bucket}/warehouses/test"),
            options: starhouse_testkit::s3_storage(server.endpoint()),
            _dir: None,
        }
    }

    /// The root as a new process would reach it (with its own object stores).
    pub fn root(&self) -> WarehouseRoot {
        WarehouseRoot::parse(&self.root, &ObjectStores::new(self.options.clone())).expect("a usable root")
    }

    /// A new handle on the warehouse, as another process would open it.
    pub async fn open(&self) -> Warehouse {
        Warehouse::open_or_create(self.root()).await.expect("the warehouse opens").0
    }

    /// The path of a catalog file, relative to the root.
    pub fn log_file(version: u64) -> String {
        format!("_starhouse/log/{version:020}.json")
    }

    /// The path of a catalog file as error messages show it.
    pub fn shown_path(&self, relative: &str) -> String {
        let root = self.root();
        root.display_path(&root.path(relative))
    }

    pub async fn exists(&self, relative: &str) -> bool {
        let root = self.root();
        match root.store().head(&root.path(relative)).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(other) => panic!("cannot look for {relative}: {other}"),
        }
    }

    /// Overwrites a file under the root, as damage or a careless tool would.
    pub async fn write(&self, relative: &str, bytes: &'static [u8]) {
        let root = self.root();
        root.store().put(&root.path(relative), bytes.into()).await.expect("write the file");
    }

    pub async fn delete(&self, relative: &str) {
        let root = self.root();
        root.store().delete(&root.path(relative)).await.expect("delete the file");
    }

    /// The number of complete commit files.
    pub async fn commit_files(&self) -> usize {
        let root = self.root();
        let files: Vec<_> = root.store().list(Some(&root.path("_starhouse/log"))).try_collect().await.expect("list");
        files.iter().filter(|meta| meta.location.as_ref().ends_with(".json")).count()
    }
}

/// Defines each named test (an `async fn(TestWarehouse)` of the module) twice: `local::name` on a
/// local folder and `s3::name` on the S3 server.
#[macro_export]
macro_rules! on_local_and_s3 {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::TestWarehouse::local()).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::TestWarehouse::s3()).await
                }
            )*
        }
    };
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
            Ok(vec![Change::put(def.clone())])
        })
        .await
}
