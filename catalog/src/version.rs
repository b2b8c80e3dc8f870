//! One committed state of the warehouse, and the changes that lead from one state to the next.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, closest_name};
use crate::load::{Load, LoadEntry};
use crate::table::{TableDef, TableName};

/// One committed state of the warehouse. Immutable: a change makes a new `Version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub number: u64,
    pub committed_at: DateTime<Utc>,
    pub tables: BTreeMap<TableName, Arc<TableDef>>,
    /// Every load committed up to this version, by id.
    pub loads: BTreeMap<String, Arc<LoadEntry>>,
}

/// One change in a commit. A commit is a list of changes applied together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Create a table, or replace its definition.
    PutTable(Box<TableDef>),
    /// Remove a table.
    DropTable(TableName),
    /// Remember a load (its id may not have been used before).
    RecordLoad(Box<Load>),
}

impl Change {
    /// Create `def`, or replace the table of its name.
    pub fn put(def: TableDef) -> Self {
        Change::PutTable(Box::new(def))
    }
}

impl Version {
    /// The empty warehouse, before its first commit.
    pub fn empty(committed_at: DateTime<Utc>) -> Self {
        Self { number: 0, committed_at, tables: BTreeMap::new(), loads: BTreeMap::new() }
    }

    /// The table called `name`, or an error that suggests the closest existing name.
    pub fn table(&self, name: &str) -> Result<&Arc<TableDef>, CatalogError> {
        self.tables.get(&TableName::new(name)).ok_or_else(|| CatalogError::UnknownTable {
            name: name.to_string(),
            closest: closest_name(name, self.tables.keys().map(TableName::as_str)),
        })
    }

    /// The watermark the latest load of `table` from `source` reached, if one recorded it.
    pub fn watermark(&self, table: &TableName, source: &str) -> Option<&crate::load::Watermark> {
        self.loads
            .values()
            .filter(|entry| entry.loaded(table, source) && entry.load.watermark.is_some())
            .max_by_key(|entry| entry.version)
            .and_then(|entry| entry.load.watermark.as_ref())
    }

    /// The tables whose foreign keys reference `name`.
    pub fn referencing(&self, name: &TableName) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values().filter(move |t| &t.name != name && t.foreign_keys.iter().any(|fk| &fk.references == name))
    }

    /// The next version: these changes applied and checked against the warehouse's invariants.
    pub fn apply(&self, changes: &[Change], committed_at: DateTime<Utc>) -> Result<Version, CatalogError> {
        let next = self.replay(self.number + 1, changes, committed_at);
        for change in changes {
            match change {
                Change::PutTable(def) => {
                    let table = next.table(def.name.as_str())?;
                    table.validate()?;
                    next.validate_foreign_keys(table)?;
                }
                Change::DropTable(name) => {
                    self.table(name.as_str())?;
                    let referenced_by: Vec<String> = next.referencing(name).map(|t| t.name.to_string()).collect();
                    if !referenced_by.is_empty() {
                        return Err(CatalogError::StillReferenced { table: name.to_string(), referenced_by });
                    }
                }
                Change::RecordLoad(load) => {
                    if let Some(earlier) = self.loads.get(&load.id) {
                        return Err(CatalogError::LoadExists { id: load.id.clone(), version: earlier.version });
                    }
                }
            }
        }
        // A table whose definition changed may have been referenced by keys that no longer hold.
        for table in next.tables.values() {
            if table
                .foreign_keys
                .iter()
                .any(|fk| changes.iter().any(|c| matches!(c, Change::PutTable(d) if d.name == fk.references)))
            {
                next.validate_foreign_keys(table)?;
            }
        }
        Ok(next)
    }

    /// The next version with these changes applied as recorded, without checks: the log holds only
    /// changes that were checked when they were committed.
    pub(crate) fn replay(&self, number: u64, changes: &[Change], committed_at: DateTime<Utc>) -> Version {
        let mut tables = self.tables.clone();
        let mut loads = self.loads.clone();
        for change in changes {
            match change {
                Change::PutTable(def) => {
                    tables.insert(def.name.clone(), Arc::new(def.as_ref().clone()));
                }
                Change::DropTable(name) => {
                    tables.remove(name);
                }
                Change::RecordLoad(load) => {
                    let entry = LoadEntry { version: number, committed_at, load: load.as_ref().clone() };
                    loads.insert(load.id.clone(), Arc::new(entry));
                }
            }
        }
        Version { number, committed_at, tables, loads }
    }

    /// Every foreign key of `table` references an existing table's primary key, column for
    /// column, with the same types.
    fn validate_foreign_keys(&self, table: &TableDef) -> Result<(), CatalogError> {
        for fk in &table.foreign_keys {
            let invalid = |reason: String| CatalogError::InvalidForeignKey {
                table: table.name.to_string(),
                name: fk.name.clone(),
                reason,
            };
            let target = self.table(fk.references.as_str())?;
            for column in &fk.referenced_columns {
                target.column(column)?;
            }
            let Some(pk) = &target.primary_key else {
                return Err(invalid(format!("{} has no primary key; declare one before referencing it", target.name)));
            };
            if pk.columns != fk.referenced_columns {
                return Err(invalid(format!(
                    "({}) is not the primary key of {}, which is ({})",
                    fk.referenced_columns.join(", "),
                    target.name,
                    pk.columns.join(", ")
                )));
            }
            for (column, referenced) in fk.columns.iter().zip(&fk.referenced_columns) {
                let from = table.column(column)?;
                let to = target.column(referenced)?;
                if !same_key_type(&from.data_type, &to.data_type) {
                    return Err(invalid(format!(
                        "{}.{} is {} but {}.{} is {}",
                        table.name, column, from.data_type, target.name, referenced, to.data_type
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Key columns join when their values compare equal: any two integer types, or any two string
/// types, or otherwise exactly the same type.
fn same_key_type(a: &arrow_schema::DataType, b: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType::*;
    let class = |t: &arrow_schema::DataType| match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Some(0),
        Utf8 | LargeUtf8 | Utf8View => Some(1),
        Dictionary(_, value) if matches!(value.as_ref(), Utf8 | LargeUtf8 | Utf8View) => Some(1),
        _ => None,
    };
    match (class(a), class(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::*;
    use crate::table::{Column, ForeignKey, PrimaryKey};

    fn column(name: &str, data_type: DataType) -> Column {
        Column { name: name.into(), data_type, nullable: false, comment: None }
    }

    fn dim_date() -> TableDef {
        let mut def = TableDef::new(
            "dim_date".into(),
            vec![column("date_key", DataType::Int32), column("year", DataType::Int32)],
            "data/dim_date",
        );
        def.primary_key = Some(PrimaryKey { name: "dim_date_pkey".into(), columns: vec!["date_key".into()] });
        def
    }

    fn fact_sales(referenced: &str) -> TableDef {
        let mut def = TableDef::new(
            "fact_sales".into(),
            vec![column("sale_id", DataType::Int64), column("date_key", DataType::Int64)],
            "data/fact_sales",
        );
        def.foreign_keys.push(ForeignKey {
            name: "fact_sales_date_key_fkey".into(),
            columns: vec!["date_key".into()],
            references: "dim_date".into(),
            referenced_columns: vec![referenced.into()],
        });
        def
    }

    #[test]
    fn a_fact_and_its_dimension_can_arrive_in_one_commit() {
        let v0 = Version::empty(Utc::now());
        let v1 = v0
            .apply(&[Change::put(fact_sales("date_key")), Change::put(dim_date())], Utc::now())
            .expect("both tables in one commit satisfy the foreign key");
        assert_eq!(v1.number, 1);
        assert_eq!(v1.tables.len(), 2);
    }

    #[test]
    fn a_foreign_key_must_reference_the_primary_key() {
        let v1 = Version::empty(Utc::now())
            .apply(&[Change::put(dim_date())], Utc::now())
            .expect("a dimension alone is valid");
        let error = v1.apply(&[Change::put(fact_sales("year"))], Utc::now()).expect_err("year is not the primary key");
        assert!(error.to_string().contains("(year) is not the primary key of dim_date"), "{error}");
    }

    #[test]
    fn a_foreign_key_to_a_missing_table_is_rejected() {
        let error = Version::empty(Utc::now())
            .apply(&[Change::put(fact_sales("date_key"))], Utc::now())
            .expect_err("dim_date does not exist");
        assert_eq!(error.to_string(), "table dim_date does not exist");
    }

    #[test]
    fn a_referenced_table_cannot_be_dropped() {
        let v1 = Version::empty(Utc::now())
            .apply(&[Change::put(dim_date()), Change::put(fact_sales("date_key"))], Utc::now())
            .expect("valid star");
        let error =
            v1.apply(&[Change::DropTable("dim_date".into())], Utc::now()).expect_err("fact_sales references dim_date");
        assert!(
            matches!(error, CatalogError::StillReferenced { ref referenced_by, .. } if referenced_by == &["fact_sales"])
        );
        v1.apply(&[Change::DropTable("fact_sales".into()), Change::DropTable("dim_date".into())], Utc::now())
            .expect("dropping both together leaves no dangling reference");
    }

    #[test]
    fn changing_a_referenced_primary_key_is_rejected() {
        let v1 = Version::empty(Utc::now())
            .apply(&[Change::put(dim_date()), Change::put(fact_sales("date_key"))], Utc::now())
            .expect("valid star");
        let mut changed = dim_date();
        changed.primary_key = None;
        let error = v1.apply(&[Change::put(changed)], Utc::now()).expect_err("fact_sales still references the key");
        assert!(error.to_string().contains("dim_date has no primary key"), "{error}");
    }
}
