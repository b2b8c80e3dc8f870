//! The Starhouse catalog: what a warehouse holds, stored with its data.
//!
//! A warehouse is a root URL (a local folder, `file://` or `s3://`), reached through the process's
//! [`ObjectStores`]. Its catalog lives under
//! `<root>/_starhouse/` as a versioned log: every commit is one new immutable JSON file written
//! with a create-only put, so concurrent writers serialise on the version number and a crash
//! leaves either the old version or the new one. Every version stays readable (time travel);
//! periodic checkpoints keep opening fast.
//!
//! This crate owns the vocabulary of the warehouse (tables, roles, keys, sort order) and its
//! invariants (a foreign key references an existing primary key; a referenced table cannot be
//! dropped from under its references). It knows nothing of SQL sessions, query planning, the wire
//! protocol or the terminal.
//!
//! Start reading at [`Warehouse`] (open, refresh, commit), then [`Version`] and [`TableDef`].

mod error;
mod load;
mod local;
mod log;
mod storage;
mod store;
mod table;
mod users;
mod version;
mod warehouse;

pub use error::{CatalogError, closest_name};
pub use load::{Load, LoadEntry, LoadedTable, Watermark};
pub use storage::{ObjectStores, S3Credentials, StorageOptions, redact};
pub use store::WarehouseRoot;
pub use table::{Column, ColumnStats, DataFile, ForeignKey, PrimaryKey, Role, SortKey, TableDef, TableName};
pub use users::{User, put_user, read_users, remove_user};
pub use version::{Change, Version};
pub use warehouse::{CHECKPOINT_INTERVAL, Commit, Warehouse};
