//! `information_schema` as PostgreSQL clients read it: DataFusion's own tables, with PostgreSQL's
//! type names in `columns`, and the warehouse's keys in `table_constraints`, `key_column_usage`,
//! `referential_constraints` and `constraint_column_usage`, where BI tools (Power BI, Grafana,
//! Metabase) look for them to draw joins.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session as CatalogSession, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::physical_plan::collect;
use starhouse_engine::catalog::{TableDef, Version};
use starhouse_engine::{CATALOG_NAME, Engine, SCHEMA_NAME};

use crate::encode;
use crate::pg_catalog::{Computed, ComputedRows};

/// The key views this schema adds to DataFusion's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyView {
    TableConstraints,
    KeyColumnUsage,
    ReferentialConstraints,
    ConstraintColumnUsage,
}

impl KeyView {
    const ALL: [KeyView; 4] = [
        KeyView::TableConstraints,
        KeyView::KeyColumnUsage,
        KeyView::ReferentialConstraints,
        KeyView::ConstraintColumnUsage,
    ];

    fn name(self) -> &'static str {
        match self {
            KeyView::TableConstraints => "table_constraints",
            KeyView::KeyColumnUsage => "key_column_usage",
            KeyView::ReferentialConstraints => "referential_constraints",
            KeyView::ConstraintColumnUsage => "constraint_column_usage",
        }
    }

    /// PostgreSQL's columns of the view (text, unless named in `integers`).
    fn columns(self) -> &'static [&'static str] {
        match self {
            KeyView::TableConstraints => &[
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
                "table_catalog",
                "table_schema",
                "table_name",
                "constraint_type",
                "is_deferrable",
                "initially_deferred",
                "enforced",
                "nulls_distinct",
            ],
            KeyView::KeyColumnUsage => &[
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
                "table_catalog",
                "table_schema",
                "table_name",
                "column_name",
                "ordinal_position",
                "position_in_unique_constraint",
            ],
            KeyView::ReferentialConstraints => &[
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
                "unique_constraint_catalog",
                "unique_constraint_schema",
                "unique_constraint_name",
                "match_option",
                "update_rule",
                "delete_rule",
            ],
            KeyView::ConstraintColumnUsage => &[
                "table_catalog",
                "table_schema",
                "table_name",
                "column_name",
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
            ],
        }
    }

    fn schema(self) -> SchemaRef {
        let integers = ["ordinal_position", "position_in_unique_constraint"];
        Arc::new(Schema::new(
            self.columns()
                .iter()
                .map(|c| Field::new(*c, if integers.contains(c) { DataType::Int32 } else { DataType::Utf8 }, true))
                .collect::<Vec<_>>(),
        ))
    }

    /// The view's rows for one table of the warehouse, in the order of [`KeyView::columns`].
    fn rows(self, version: &Version, table: &TableDef, out: &mut Vec<Vec<ScalarValue>>) {
        let text = |value: &str| ScalarValue::Utf8(Some(value.to_string()));
        let integer = |value: usize| ScalarValue::Int32(i32::try_from(value).ok());
        let name = table.name.as_str();
        // (catalog, schema, name) of a constraint, and of a table.
        let at = |object: &str| vec![text(CATALOG_NAME), text(SCHEMA_NAME), text(object)];
        let primary = table.primary_key.iter().map(|pk| (&pk.name, "PRIMARY KEY"));
        let foreign = table.foreign_keys.iter().map(|fk| (&fk.name, "FOREIGN KEY"));
        match self {
            KeyView::TableConstraints => {
                for (constraint, kind) in primary.chain(foreign) {
                    let mut row = at(constraint);
                    row.extend(at(name));
                    row.extend([text(kind), text("NO"), text("NO"), text("YES"), ScalarValue::Utf8(None)]);
                    out.push(row);
                }
            }
            KeyView::KeyColumnUsage => {
                if let Some(pk) = &table.primary_key {
                    for (i, column) in pk.columns.iter().enumerate() {
                        let mut row = at(&pk.name);
                        row.extend(at(name));
                        row.extend([text(column), integer(i + 1), ScalarValue::Int32(None)]);
                        out.push(row);
                    }
                }
                for fk in &table.foreign_keys {
                    for (i, column) in fk.columns.iter().enumerate() {
                        let mut row = at(&fk.name);
                        row.extend(at(name));
                        // The referenced columns are the referenced primary key, in its order.
                        row.extend([text(column), integer(i + 1), integer(i + 1)]);
                        out.push(row);
                    }
                }
            }
            KeyView::ReferentialConstraints => {
                for fk in &table.foreign_keys {
                    let referenced = version.table(fk.references.as_str()).ok().and_then(|t| t.primary_key.as_ref());
                    let mut row = at(&fk.name);
                    row.extend(match referenced {
                        Some(pk) => at(&pk.name),
                        None => vec![ScalarValue::Utf8(None); 3],
                    });
                    row.extend([text("NONE"), text("NO ACTION"), text("NO ACTION")]);
                    out.push(row);
                }
            }
            KeyView::ConstraintColumnUsage => {
                if let Some(pk) = &table.primary_key {
                    for column in &pk.columns {
                        let mut row = at(name);
                        row.push(text(column));
                        row.extend(at(&pk.name));
                        out.push(row);
                    }
                }
                for fk in &table.foreign_keys {
                    for column in &fk.referenced_columns {
                        let mut row = at(fk.references.as_str());
                        row.push(text(column));
                        row.extend(at(&fk.name));
                        out.push(row);
                    }
                }
            }
        }
    }
}

/// One of the key views, computed from the warehouse's current version at each scan.
#[derive(Debug)]
struct KeyTable {
    view: KeyView,
    schema: SchemaRef,
    engine: Arc<Engine>,
}

#[async_trait]
impl ComputedRows for KeyTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    async fn rows(&self, _: &dyn CatalogSession) -> Result<Vec<Vec<ScalarValue>>> {
        let version = self.engine.warehouse().current();
        let mut rows = Vec::new();
        for table in version.tables.values() {
            self.view.rows(&version, table, &mut rows);
        }
        Ok(rows)
    }
}

/// PostgreSQL's name of a column type in `information_schema.columns`, from DataFusion's.
fn sql_type_name(datafusion: &str) -> Option<&'static str> {
    let data_type = DataType::from_str(datafusion).ok()?;
    Some(encode::sql_name(&encode::pg_type(&data_type).0))
}

/// DataFusion's `information_schema.columns`, with PostgreSQL's type names.
#[derive(Debug)]
struct Columns {
    inner: Arc<dyn TableProvider>,
}

#[async_trait]
impl ComputedRows for Columns {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    async fn rows(&self, state: &dyn CatalogSession) -> Result<Vec<Vec<ScalarValue>>> {
        let batches: Vec<RecordBatch> =
            collect(self.inner.scan(state, None, &[], None).await?, state.task_ctx()).await?;
        let type_column = self.inner.schema().index_of("data_type")?;
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let mut values =
                    batch.columns().iter().map(|c| ScalarValue::try_from_array(c, row)).collect::<Result<Vec<_>>>()?;
                if let Some(name) = values[type_column].try_as_str().flatten().and_then(sql_type_name) {
                    values[type_column] = ScalarValue::Utf8(Some(name.to_string()));
                }
                rows.push(values);
            }
        }
        Ok(rows)
    }
}

/// `information_schema`: DataFusion's, with PostgreSQL's type names and the warehouse's keys.
#[derive(Debug)]
pub(crate) struct InformationSchema {
    inner: Arc<dyn SchemaProvider>,
    engine: Arc<Engine>,
}

impl InformationSchema {
    pub fn new(inner: Arc<dyn SchemaProvider>, engine: Arc<Engine>) -> Self {
        Self { inner, engine }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(KeyView::ALL.iter().map(|v| v.name().to_string()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if let Some(view) = KeyView::ALL.into_iter().find(|v| v.name() == name) {
            let table = KeyTable { view, schema: view.schema(), engine: Arc::clone(&self.engine) };
            return Ok(Some(Arc::new(Computed(table))));
        }
        Ok(match self.inner.table(&name).await? {
            Some(inner) if name == "columns" => Some(Arc::new(Computed(Columns { inner }))),
            other => other,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        KeyView::ALL.iter().any(|v| v.name() == name.to_ascii_lowercase()) || self.inner.table_exist(name)
    }
}
