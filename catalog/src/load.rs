//! Loads as the catalog remembers them: each load that committed, under the id its caller gave
//! it, so that running the same load again changes nothing, and the watermark an incremental
//! load reached, so that the next run starts after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::table::TableName;

/// What one load added to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedTable {
    pub table: TableName,
    pub rows: u64,
    pub files: u64,
}

/// How far an incremental load read its source: the greatest value of `column` it loaded, as a
/// SQL literal of the column's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub column: String,
    pub value: String,
}

/// One load, recorded in the commit that made its rows visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// The caller's id (for example a batch or run id); unique in the warehouse.
    pub id: String,
    /// Where the rows came from, as the user named it (files, or `INSERT`).
    pub source: String,
    pub tables: Vec<LoadedTable>,
    pub started_at: DateTime<Utc>,
    /// From the start of the load to the moment before its commit.
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

/// A load with the version that committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadEntry {
    pub version: u64,
    pub committed_at: DateTime<Utc>,
    #[serde(flatten)]
    pub load: Load,
}

impl LoadEntry {
    /// Whether this load wrote `table` from `source` (the key a watermark is remembered by).
    pub fn loaded(&self, table: &TableName, source: &str) -> bool {
        self.load.source == source && self.load.tables.iter().any(|t| &t.table == table)
    }
}
