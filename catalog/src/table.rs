//! Tables as the catalog knows them: columns, role, keys, sort order, location.

use std::fmt;

use std::collections::BTreeMap;

use arrow_schema::DataType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, closest_name};

/// The name of a table in the warehouse, as stored (already normalised by whoever parsed it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TableName(String);

impl TableName {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TableName {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

/// The part a table plays in a star schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Events or measurements, many rows, with foreign keys to dimensions.
    Fact,
    /// Descriptive attributes keyed by a primary key, joined to facts.
    Dimension,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Fact => "fact",
            Role::Dimension => "dimension",
        })
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A primary key: the columns that identify a row. Declared, not enforced: Starhouse trusts the
/// data it is told about, as warehouses that declare keys for the planner do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryKey {
    pub name: String,
    pub columns: Vec<String>,
}

/// A foreign key: `columns` of this table reference the primary key `referenced_columns` of
/// `references`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references: TableName,
    pub referenced_columns: Vec<String>,
}

/// One key of a table's sort order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    pub column: String,
    #[serde(default)]
    pub descending: bool,
    #[serde(default)]
    pub nulls_first: bool,
}

/// What a data file holds in one column, as its footer says. Values are written as SQL literals
/// of the column's type (`42`, `12.50`, `2024-01-31`, `Books`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nulls: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// Whether `min` and `max` are the exact extremes (rather than bounds, as for truncated
    /// strings).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
    /// About how many distinct values other than NULL the column has in the file (a HyperLogLog
    /// estimate, within a few percent), for files Starhouse wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
}

/// A data file of a table, as the catalog last read it: enough to plan and prune without
/// reading the file's footer. It holds for the file only while its size and modification time
/// are the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// The path under the table's location (its folder, or the folder part of its glob); empty
    /// when the location is the file itself.
    pub path: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub rows: u64,
    /// The in-memory size of the file's rows, when the footer tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Statistics of the stored columns (partition columns are in the path), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnStats>,
}

/// Everything the catalog knows about one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: TableName,
    /// All columns, partition columns last.
    pub columns: Vec<Column>,
    /// Hive partition columns (`key=value` folders), in folder order; each is also in `columns`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_columns: Vec<String>,
    /// Where the data files are: a URL, or a path relative to the warehouse root.
    pub location: String,
    /// The order rows have within each data file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort_order: Vec<SortKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<PrimaryKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether Starhouse writes the table's files (`CREATE TABLE`, loads). A managed table is
    /// exactly its `files`: a file in its folder that no version lists (a load that failed or
    /// has not committed yet) is never read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,
    /// A type 2 slowly changing dimension: loads keep every version of a row (with `valid_from`,
    /// `valid_to` and `is_current`), and the primary key is unique among the current rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scd2: bool,
    /// The data files with their statistics. For a managed table, its data; for a table over
    /// files that other tools write, the files as of its creation or its last `ANALYZE` (files
    /// added since are read when queried).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<DataFile>,
}

impl TableDef {
    /// A new table with no role, keys, order or comments.
    pub fn new(name: TableName, columns: Vec<Column>, location: impl Into<String>) -> Self {
        Self {
            name,
            columns,
            partition_columns: Vec::new(),
            location: location.into(),
            sort_order: Vec::new(),
            role: None,
            primary_key: None,
            foreign_keys: Vec::new(),
            comment: None,
            managed: false,
            scd2: false,
            files: Vec::new(),
        }
    }

    pub fn column(&self, name: &str) -> Result<&Column, CatalogError> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| self.unknown_column(name))
    }

    pub fn column_mut(&mut self, name: &str) -> Result<&mut Column, CatalogError> {
        let error = self.unknown_column(name);
        self.columns.iter_mut().find(|c| c.name == name).ok_or(error)
    }

    fn unknown_column(&self, name: &str) -> CatalogError {
        CatalogError::UnknownColumn {
            table: self.name.to_string(),
            column: name.to_string(),
            closest: closest_name(name, self.columns.iter().map(|c| c.name.as_str())),
        }
    }

    /// The names of every constraint on this table.
    pub fn constraint_names(&self) -> impl Iterator<Item = &str> {
        self.primary_key.iter().map(|pk| pk.name.as_str()).chain(self.foreign_keys.iter().map(|fk| fk.name.as_str()))
    }

    /// The foreign key constraint name PostgreSQL would choose: `<table>_<columns>_fkey`.
    pub fn default_foreign_key_name(&self, columns: &[String]) -> String {
        let base = format!("{}_{}_fkey", self.name, columns.join("_"));
        let mut name = base.clone();
        let mut n = 1;
        while self.constraint_names().any(|existing| existing == name) {
            name = format!("{base}{n}");
            n += 1;
        }
        name
    }

    /// The primary key constraint name PostgreSQL would choose: `<table>_pkey`.
    pub fn default_primary_key_name(&self) -> String {
        format!("{}_pkey", self.name)
    }

    /// Checks what can be checked on this table alone: unique column names, and keys, partition
    /// columns and sort keys that name existing columns.
    pub(crate) fn validate(&self) -> Result<(), CatalogError> {
        let invalid = |reason: String| CatalogError::InvalidTable { table: self.name.to_string(), reason };
        if self.columns.is_empty() {
            return Err(invalid("a table needs at least one column".into()));
        }
        for (i, column) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(CatalogError::DuplicateColumn {
                    table: self.name.to_string(),
                    column: column.name.clone(),
                });
            }
        }
        for name in &self.partition_columns {
            self.column(name)?;
        }
        for key in &self.sort_order {
            self.column(&key.column)?;
        }
        let names: Vec<&str> = self.constraint_names().collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(CatalogError::ConstraintExists { table: self.name.to_string(), name: name.to_string() });
            }
        }
        if let Some(pk) = &self.primary_key {
            if pk.columns.is_empty() {
                return Err(invalid("a primary key needs at least one column".into()));
            }
            for column in &pk.columns {
                self.column(column)?;
            }
        }
        for fk in &self.foreign_keys {
            if fk.columns.is_empty() || fk.columns.len() != fk.referenced_columns.len() {
                return Err(CatalogError::InvalidForeignKey {
                    table: self.name.to_string(),
                    name: fk.name.clone(),
                    reason: format!(
                        "{} column(s) reference {} column(s)",
                        fk.columns.len(),
                        fk.referenced_columns.len()
                    ),
                });
            }
            for column in &fk.columns {
                self.column(column)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableDef {
        let column =
            |name: &str| Column { name: name.into(), data_type: DataType::Int32, nullable: false, comment: None };
        TableDef::new("fact_sales".into(), vec![column("sale_id"), column("date_key")], "data/fact_sales")
    }

    #[test]
    fn a_table_definition_round_trips_through_json() {
        let mut def = table();
        def.role = Some(Role::Fact);
        def.comment = Some("one row per sale".into());
        let json = serde_json::to_string(&def).expect("a table definition serialises");
        let back: TableDef = serde_json::from_str(&json).expect("and deserialises");
        assert_eq!(back, def);
    }

    #[test]
    fn foreign_key_names_follow_postgres_and_stay_unique() {
        let mut def = table();
        let columns = vec!["date_key".to_string()];
        assert_eq!(def.default_foreign_key_name(&columns), "fact_sales_date_key_fkey");
        def.foreign_keys.push(ForeignKey {
            name: "fact_sales_date_key_fkey".into(),
            columns: columns.clone(),
            references: "dim_date".into(),
            referenced_columns: columns.clone(),
        });
        assert_eq!(def.default_foreign_key_name(&columns), "fact_sales_date_key_fkey1");
    }

    #[test]
    fn a_key_on_a_missing_column_is_rejected_with_a_suggestion() {
        let mut def = table();
        def.primary_key = Some(PrimaryKey { name: "fact_sales_pkey".into(), columns: vec!["sale_idd".into()] });
        let message = def.validate().expect_err("the column does not exist").to_string();
        assert_eq!(message, "column sale_idd does not exist in table fact_sales (did you mean sale_id?)");
    }
}
