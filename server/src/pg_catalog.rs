//! The warehouse in `pg_catalog`, where clients look for what it holds: its tables with row
//! counts, their primary keys as indexes and constraints, their foreign keys, their comments, and
//! the functions that describe them (`pg_get_constraintdef`, `pg_get_indexdef`,
//! `obj_description`, `col_description`, `pg_table_size`, ...).
//!
//! `datafusion-pg-catalog` provides `pg_catalog` itself; [`WarehouseCatalog`] lies over it and
//! adds the warehouse's rows to `pg_class`, `pg_attribute`, `pg_constraint`, `pg_index` and
//! `pg_description`. The warehouse's objects get OIDs derived from their names, so that they
//! are the same in every query and every session, and the functions find them without a scan.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session as CatalogSession, TableProvider};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::{ExecutionPlan, collect};
use pgwire::api::Type;
use starhouse_engine::Engine;
use starhouse_engine::catalog::{TableDef, Version};

use crate::commands::Settings;
use crate::encode;

/// `pg_class`'s own OID, the class of table comments in `pg_description`.
const PG_CLASS_OID: i32 = 1259;

/// The namespace `pg_catalog`.
const PG_CATALOG_NAMESPACE: i32 = 11;

/// PostgreSQL's fixed OIDs of its catalog tables, which clients compare with
/// (`classoid = 'pg_catalog.pg_class'::regclass`). The library numbers them as it lists them.
pub(crate) const CATALOG_OIDS: &[(&str, i64)] = &[
    ("pg_aggregate", 2600),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_attribute", 1249),
    ("pg_authid", 1260),
    ("pg_cast", 2605),
    ("pg_class", PG_CLASS_OID as i64),
    ("pg_collation", 3456),
    ("pg_constraint", 2606),
    ("pg_database", 1262),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_enum", 3501),
    ("pg_extension", 3079),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_language", 2612),
    ("pg_namespace", 2615),
    ("pg_opclass", 2616),
    ("pg_operator", 2617),
    ("pg_proc", 1255),
    ("pg_rewrite", 2618),
    ("pg_sequence", 2224),
    ("pg_shdescription", 2396),
    ("pg_statistic", 2619),
    ("pg_tablespace", 1213),
    ("pg_trigger", 2620),
    ("pg_type", 1247),
];
/// The btree access method: primary keys are described as unique btree indexes.
const BTREE_OID: i32 = 403;

/// The OID of a warehouse object, derived from what names it: the same in every session.
fn oid(kind: &str, name: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in kind.bytes().chain([0]).chain(name.bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    // Far above the OIDs PostgreSQL's own objects and datafusion-pg-catalog's counter use.
    100_000_000 + (hash % 2_000_000_000) as i32
}

pub(crate) fn table_oid(table: &str) -> i32 {
    oid("table", table)
}

fn index_oid(table: &str, index: &str) -> i32 {
    oid("index", &format!("{table}.{index}"))
}

fn constraint_oid(table: &str, constraint: &str) -> i32 {
    oid("constraint", &format!("{table}.{constraint}"))
}

/// A constraint (primary or foreign key) as `pg_get_constraintdef` writes it.
fn constraint_definition(version: &Version, oid: i32) -> Option<String> {
    for table in version.tables.values() {
        if let Some(pk) = &table.primary_key
            && constraint_oid(table.name.as_str(), &pk.name) == oid
        {
            return Some(format!("PRIMARY KEY ({})", pk.columns.join(", ")));
        }
        for fk in &table.foreign_keys {
            if constraint_oid(table.name.as_str(), &fk.name) == oid {
                return Some(format!(
                    "FOREIGN KEY ({}) REFERENCES {}({})",
                    fk.columns.join(", "),
                    fk.references,
                    fk.referenced_columns.join(", ")
                ));
            }
        }
    }
    None
}

fn table_by_oid(version: &Version, oid: i32) -> Option<&TableDef> {
    version.tables.values().map(|t| t.as_ref()).find(|t| table_oid(t.name.as_str()) == oid)
}

/// The primary key index with this OID, and its table.
fn index_by_oid(version: &Version, oid: i32) -> Option<&TableDef> {
    version
        .tables
        .values()
        .map(|t| t.as_ref())
        .find(|t| t.primary_key.as_ref().is_some_and(|pk| index_oid(t.name.as_str(), &pk.name) == oid))
}

/// The 1-based numbers of `columns` in the table.
fn attnums(table: &TableDef, columns: &[String]) -> Vec<i16> {
    columns
        .iter()
        .filter_map(|c| table.columns.iter().position(|column| &column.name == c).map(|i| i as i16 + 1))
        .collect()
}

fn total_bytes(table: &TableDef) -> i64 {
    table.files.iter().map(|f| f.size as i64).sum()
}

/// The rows of a table as scalars, one vector per row.
fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|c| ScalarValue::try_from_array(c, row)).collect::<Result<Vec<_>>>()?);
        }
    }
    Ok(rows)
}

/// A row under construction, by column name, for a table of a given schema: columns not set
/// are NULL where they may be, zero, false or empty otherwise.
struct Row<'a> {
    schema: &'a Schema,
    values: Vec<ScalarValue>,
}

impl<'a> Row<'a> {
    fn new(schema: &'a Schema) -> Result<Self> {
        let values = schema
            .fields()
            .iter()
            .map(|f| {
                if f.is_nullable() {
                    ScalarValue::try_from(f.data_type())
                } else {
                    match f.data_type() {
                        DataType::Utf8 => Ok(ScalarValue::Utf8(Some(String::new()))),
                        DataType::Boolean => Ok(ScalarValue::Boolean(Some(false))),
                        other => ScalarValue::new_zero(other),
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { schema, values })
    }

    fn from(schema: &'a Schema, values: Vec<ScalarValue>) -> Self {
        Self { schema, values }
    }

    /// Sets a column, cast to its type; columns the table does not have are ignored.
    fn set(&mut self, column: &str, value: ScalarValue) -> Result<&mut Self> {
        if let Ok(i) = self.schema.index_of(column) {
            self.values[i] = value.cast_to(self.schema.field(i).data_type())?;
        }
        Ok(self)
    }

    fn get(&self, column: &str) -> Option<&ScalarValue> {
        self.schema.index_of(column).ok().map(|i| &self.values[i])
    }
}

fn text(value: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(value.to_string()))
}

fn int(value: i64) -> ScalarValue {
    ScalarValue::Int64(Some(value))
}

fn boolean(value: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(value))
}

/// An `int2[]` (`conkey`, `indkey`), or an `oidvector` of numbers that fit (`indclass`).
fn int2_list(values: &[i16]) -> ScalarValue {
    let array = datafusion::arrow::array::Int16Array::from(values.to_vec());
    ScalarValue::List(Arc::new(datafusion::arrow::array::ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int16, true)),
        datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
        Arc::new(array),
        None,
    )))
}

/// `"[1, 2]"` or `"1 2"` (how the static tables hold key columns) as numbers.
fn parse_int2_list(text: &str) -> Vec<i16> {
    text.split(|c: char| !c.is_ascii_digit() && c != '-').filter_map(|n| n.parse().ok()).collect()
}

/// A key as `pg_constraint` lists it: name, type (`p`, `f`), key columns, and for a foreign
/// key the referenced table and columns.
type KeyRow<'a> = (&'a str, &'static str, Vec<i16>, Option<(&'a str, Vec<i16>)>);

/// How a catalog function computes its value from the warehouse and its arguments.
type Evaluate = Box<dyn Fn(&Version, &[ScalarValue]) -> ScalarValue + Send + Sync>;

/// Which `pg_catalog` table an overlay extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Class,
    Attribute,
    Constraint,
    Index,
    Description,
    Type,
}

impl Kind {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "pg_class" => Kind::Class,
            "pg_attribute" => Kind::Attribute,
            "pg_constraint" => Kind::Constraint,
            "pg_index" => Kind::Index,
            "pg_description" => Kind::Description,
            "pg_type" => Kind::Type,
            _ => return None,
        })
    }

    /// Columns of PostgreSQL's table that the library's lacks (always NULL here).
    fn missing(self) -> &'static [&'static str] {
        match self {
            Kind::Class => &["reloptions", "relacl"],
            _ => &[],
        }
    }

    /// Columns that are arrays in PostgreSQL but text in the static tables.
    fn lists(self) -> &'static [&'static str] {
        match self {
            Kind::Constraint => &["conkey", "confkey"],
            Kind::Index => &["indkey", "indcollation", "indclass", "indoption"],
            _ => &[],
        }
    }

    /// Columns that are `regproc` (a function's OID) in PostgreSQL but its name in the static
    /// tables: Npgsql joins `pg_proc.oid = pg_type.typreceive`.
    fn procedures(self) -> &'static [&'static str] {
        match self {
            Kind::Type => &["typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout", "typanalyze"],
            _ => &[],
        }
    }
}

/// `pg_catalog` with the warehouse in it, and the connection's settings in `pg_settings`.
#[derive(Debug)]
pub(crate) struct WarehouseCatalog {
    inner: Arc<dyn SchemaProvider>,
    engine: Arc<Engine>,
    settings: Arc<Mutex<Settings>>,
}

impl WarehouseCatalog {
    pub fn new(inner: Arc<dyn SchemaProvider>, engine: Arc<Engine>, settings: Arc<Mutex<Settings>>) -> Self {
        Self { inner, engine, settings }
    }
}

/// `pg_settings`: the connection's settings, as `SHOW ALL` lists them.
#[derive(Debug)]
struct SettingsTable {
    schema: SchemaRef,
    settings: Arc<Mutex<Settings>>,
}

#[async_trait]
impl ComputedRows for SettingsTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    async fn rows(&self, _: &dyn CatalogSession) -> Result<Vec<Vec<ScalarValue>>> {
        let all = match self.settings.lock() {
            Ok(settings) => settings.all(),
            Err(_) => return exec_err!("the settings lock is poisoned"),
        };
        let mut rows = Vec::new();
        for (name, value) in all {
            let mut row = Row::new(&self.schema)?;
            row.set("name", text(&name))?
                .set("setting", text(&value))?
                .set("reset_val", text(&value))?
                .set("vartype", text("string"))?
                .set("context", text("user"))?
                .set("source", text("session"))?;
            rows.push(row.values);
        }
        Ok(rows)
    }
}

#[async_trait]
impl SchemaProvider for WarehouseCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(inner) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if name.eq_ignore_ascii_case("pg_settings") {
            let settings = SettingsTable { schema: inner.schema(), settings: Arc::clone(&self.settings) };
            return Ok(Some(Arc::new(Computed(settings))));
        }
        let Some(kind) = Kind::of(&name.to_ascii_lowercase()) else {
            return Ok(Some(inner));
        };
        let inner_schema = inner.schema();
        let mut fields: Vec<Field> = inner_schema
            .fields()
            .iter()
            .map(|f| {
                if kind.lists().contains(&f.name().as_str()) {
                    Field::new(f.name(), DataType::new_list(DataType::Int16, true), true)
                } else if kind.procedures().contains(&f.name().as_str()) {
                    Field::new(f.name(), DataType::Int32, true)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        for column in kind.missing() {
            if inner_schema.index_of(column).is_err() {
                fields.push(Field::new(*column, DataType::Utf8, true));
            }
        }
        let schema = Arc::new(Schema::new(fields));
        Ok(Some(Arc::new(Computed(Overlay { inner, kind, schema, engine: Arc::clone(&self.engine) }))))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// A `pg_catalog` table with the warehouse's rows added (or its rows changed).
#[derive(Debug)]
struct Overlay {
    inner: Arc<dyn TableProvider>,
    kind: Kind,
    schema: SchemaRef,
    engine: Arc<Engine>,
}

impl Overlay {
    async fn inner_rows(
        &self,
        state: &dyn CatalogSession,
        table: &Arc<dyn TableProvider>,
    ) -> Result<Vec<Vec<ScalarValue>>> {
        let plan = table.scan(state, None, &[], None).await?;
        rows(&collect(plan, state.task_ctx()).await?)
    }

    /// The OIDs of the library's functions, by name (for `regproc` columns), if this table has
    /// such columns.
    async fn procedure_oids(&self, state: &dyn CatalogSession) -> Result<HashMap<String, ScalarValue>> {
        if self.kind.procedures().is_empty() {
            return Ok(HashMap::new());
        }
        let catalog = state.catalog_list().catalog(starhouse_engine::CATALOG_NAME);
        let Some(proc) = catalog.and_then(|c| c.schema("pg_catalog")) else {
            return exec_err!("pg_catalog is missing");
        };
        let Some(proc) = proc.table("pg_proc").await? else {
            return exec_err!("pg_catalog.pg_proc is missing");
        };
        let schema = proc.schema();
        let mut oids = HashMap::new();
        for values in self.inner_rows(state, &proc).await? {
            let row = Row::from(&schema, values);
            if let (Some(name), Some(oid)) = (row.get("proname").and_then(|v| v.try_as_str().flatten()), row.get("oid"))
            {
                oids.entry(name.to_string()).or_insert(oid.cast_to(&DataType::Int32)?);
            }
        }
        Ok(oids)
    }

    /// The library's OIDs of the warehouse's tables, and the namespace they are in.
    async fn library_oids(&self, state: &dyn CatalogSession, version: &Version) -> Result<(HashMap<i32, String>, i32)> {
        let class = match self.kind {
            Kind::Class => Arc::clone(&self.inner),
            _ => {
                let catalog = state.catalog_list().catalog(starhouse_engine::CATALOG_NAME);
                let schema = catalog.and_then(|c| c.schema("pg_catalog"));
                let table = match schema {
                    Some(schema) => schema.table("pg_class").await?,
                    None => None,
                };
                match table {
                    // The overlay over pg_class; its inner table holds the library's OIDs.
                    Some(table) => match (table.as_ref() as &dyn Any).downcast_ref::<Computed<Overlay>>() {
                        Some(overlay) => Arc::clone(&overlay.0.inner),
                        None => table,
                    },
                    None => return exec_err!("pg_catalog.pg_class is missing"),
                }
            }
        };
        let schema = class.schema();
        let mut oids = HashMap::new();
        let mut namespace = 2200;
        for values in self.inner_rows(state, &class).await? {
            let row = Row::from(&schema, values);
            let name = row.get("relname").and_then(|v| v.try_as_str().flatten()).unwrap_or_default().to_string();
            let kind = row.get("relkind").and_then(|v| v.try_as_str().flatten()).unwrap_or_default().to_string();
            if kind == "r"
                && version.tables.keys().any(|t| t.as_str() == name)
                && let (Some(ScalarValue::Int32(Some(oid))), Some(ScalarValue::Int32(Some(ns)))) =
                    (row.get("oid"), row.get("relnamespace"))
            {
                namespace = *ns;
                oids.insert(*oid, name);
            }
        }
        Ok((oids, namespace))
    }

    async fn overlay_rows(&self, state: &dyn CatalogSession) -> Result<Vec<Vec<ScalarValue>>> {
        let version = self.engine.warehouse().current();
        let inner_schema = self.inner.schema();
        let schema = self.schema.as_ref();
        let mut out = Vec::new();
        let (library, namespace) = self.library_oids(state, &version).await?;
        let procedures = self.procedure_oids(state).await?;
        for mut values in self.inner_rows(state, &self.inner).await? {
            // Columns the library lacks are NULL; the static tables hold arrays as text, the
            // overlay's schema has lists.
            for field in &schema.fields()[values.len()..] {
                values.push(ScalarValue::try_from(field.data_type())?);
            }
            let mut row = Row::from(schema, values);
            for column in self.kind.lists() {
                if let Some(i) = inner_schema.index_of(column).ok()
                    && let Some(text) = row.values[i].try_as_str().flatten().map(str::to_string)
                {
                    row.values[i] = int2_list(&parse_int2_list(&text));
                } else if let Ok(i) = inner_schema.index_of(column) {
                    row.values[i] = ScalarValue::try_from(schema.field(i).data_type())?;
                }
            }
            for column in self.kind.procedures() {
                if let Ok(i) = inner_schema.index_of(column) {
                    // "-" (no function) is OID 0, as in PostgreSQL.
                    let name = row.values[i].try_as_str().flatten().unwrap_or("-");
                    row.values[i] = procedures.get(name).cloned().unwrap_or(ScalarValue::Int32(Some(0)));
                }
            }
            // The warehouse's tables get their own OIDs (and what the catalog knows of them).
            match self.kind {
                Kind::Class => {
                    if let Some(ScalarValue::Int32(Some(oid))) = row.get("oid").cloned()
                        && let Some(name) = library.get(&oid)
                        && let Ok(table) = version.table(name)
                    {
                        let rows: u64 = table.files.iter().map(|f| f.rows).sum();
                        let pages = (total_bytes(table) + 8191) / 8192;
                        // PostgreSQL keeps foreign keys with triggers, and psql looks for
                        // them only on tables that have some.
                        let keyed = !table.foreign_keys.is_empty() || version.referencing(&table.name).next().is_some();
                        row.set("oid", int(i64::from(table_oid(name))))?
                            .set("relhasindex", boolean(table.primary_key.is_some()))?
                            .set("relhastriggers", boolean(keyed))?
                            .set(
                                "reltuples",
                                ScalarValue::Float64(Some(if table.files.is_empty() { -1.0 } else { rows as f64 })),
                            )?
                            .set("relpages", int(pages))?;
                    } else if row.get("relnamespace") == Some(&ScalarValue::Int32(Some(PG_CATALOG_NAMESPACE)))
                        && let Some(name) = row.get("relname").and_then(|v| v.try_as_str().flatten())
                        && let Some((_, oid)) = CATALOG_OIDS.iter().find(|(catalog, _)| *catalog == name)
                    {
                        row.set("oid", int(*oid))?;
                    }
                }
                Kind::Attribute => {
                    if let Some(ScalarValue::Int32(Some(oid))) = row.get("attrelid").cloned()
                        && let Some(name) = library.get(&oid)
                        && let Ok(table) = version.table(name)
                    {
                        let attnum = match row.get("attnum") {
                            Some(ScalarValue::Int16(Some(n))) => usize::try_from(*n).unwrap_or(0),
                            _ => 0,
                        };
                        row.set("attrelid", int(i64::from(table_oid(name))))?;
                        if let Some(column) = attnum.checked_sub(1).and_then(|i| table.columns.get(i)) {
                            row.set("atttypmod", int(i64::from(encode::pg_type(&column.data_type).1)))?;
                        }
                    }
                }
                _ => {}
            }
            out.push(row.values);
        }
        for table in version.tables.values() {
            self.warehouse_rows(schema, &version, table, namespace, &mut out)?;
        }
        Ok(out)
    }

    /// What one warehouse table adds to this catalog table.
    fn warehouse_rows(
        &self,
        schema: &Schema,
        version: &Version,
        table: &TableDef,
        namespace: i32,
        out: &mut Vec<Vec<ScalarValue>>,
    ) -> Result<()> {
        let name = table.name.as_str();
        let relation = i64::from(table_oid(name));
        match self.kind {
            Kind::Class => {
                if let Some(pk) = &table.primary_key {
                    let mut row = Row::new(schema)?;
                    row.set("oid", int(i64::from(index_oid(name, &pk.name))))?
                        .set("relname", text(&pk.name))?
                        .set("relnamespace", int(i64::from(namespace)))?
                        .set("relowner", int(10))?
                        .set("relam", int(i64::from(BTREE_OID)))?
                        .set("relkind", text("i"))?
                        .set("relpersistence", text("p"))?
                        .set("relnatts", int(pk.columns.len() as i64))?
                        .set("relispopulated", boolean(true))?
                        .set("relreplident", text("n"))?
                        .set("reltuples", ScalarValue::Float64(Some(-1.0)))?;
                    out.push(row.values);
                }
            }
            Kind::Constraint => {
                let mut keys: Vec<KeyRow> = Vec::new();
                if let Some(pk) = &table.primary_key {
                    keys.push((&pk.name, "p", attnums(table, &pk.columns), None));
                }
                for fk in &table.foreign_keys {
                    let target = version.table(fk.references.as_str()).ok().map(|t| attnums(t, &fk.referenced_columns));
                    keys.push((
                        &fk.name,
                        "f",
                        attnums(table, &fk.columns),
                        Some((fk.references.as_str(), target.unwrap_or_default())),
                    ));
                }
                for (constraint, kind, columns, references) in keys {
                    let mut row = Row::new(schema)?;
                    row.set("oid", int(i64::from(constraint_oid(name, constraint))))?
                        .set("conname", text(constraint))?
                        .set("connamespace", int(i64::from(namespace)))?
                        .set("contype", text(kind))?
                        .set("convalidated", boolean(true))?
                        .set("conrelid", int(relation))?
                        .set("conislocal", boolean(true))?
                        .set("connoinherit", boolean(true))?
                        .set("conkey", int2_list(&columns))?;
                    match references {
                        None => {
                            row.set("conindid", int(i64::from(index_oid(name, constraint))))?;
                        }
                        Some((target, target_columns)) => {
                            let index = version
                                .table(target)
                                .ok()
                                .and_then(|t| t.primary_key.as_ref().map(|pk| index_oid(target, &pk.name)))
                                .unwrap_or(0);
                            row.set("confrelid", int(i64::from(table_oid(target))))?
                                .set("conindid", int(i64::from(index)))?
                                .set("confkey", int2_list(&target_columns))?
                                .set("confupdtype", text("a"))?
                                .set("confdeltype", text("a"))?
                                .set("confmatchtype", text("s"))?;
                        }
                    }
                    out.push(row.values);
                }
            }
            Kind::Index => {
                if let Some(pk) = &table.primary_key {
                    let columns = attnums(table, &pk.columns);
                    let mut row = Row::new(schema)?;
                    row.set("indexrelid", int(i64::from(index_oid(name, &pk.name))))?
                        .set("indrelid", int(relation))?
                        .set("indnatts", int(columns.len() as i64))?
                        .set("indnkeyatts", int(columns.len() as i64))?
                        .set("indisunique", boolean(true))?
                        .set("indisprimary", boolean(true))?
                        .set("indimmediate", boolean(true))?
                        .set("indisvalid", boolean(true))?
                        .set("indisready", boolean(true))?
                        .set("indislive", boolean(true))?
                        .set("indkey", int2_list(&columns))?
                        .set("indcollation", int2_list(&vec![0; columns.len()]))?
                        .set("indclass", int2_list(&vec![0; columns.len()]))?
                        .set("indoption", int2_list(&vec![0; columns.len()]))?;
                    out.push(row.values);
                }
            }
            Kind::Description => {
                let comments = table.comment.iter().map(|c| (0i64, c)).chain(
                    table
                        .columns
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.comment.as_ref().map(|comment| (i as i64 + 1, comment))),
                );
                for (column, comment) in comments {
                    let mut row = Row::new(schema)?;
                    row.set("objoid", int(relation))?
                        .set("classoid", int(i64::from(PG_CLASS_OID)))?
                        .set("objsubid", int(column))?
                        .set("description", text(comment))?;
                    out.push(row.values);
                }
            }
            Kind::Attribute => {
                // The primary key's index has the key's columns as its attributes (psqlODBC
                // reads primary keys through them).
                if let Some(pk) = &table.primary_key {
                    let index = i64::from(index_oid(name, &pk.name));
                    for (position, column) in pk.columns.iter().enumerate() {
                        let Some(def) = table.columns.iter().find(|c| &c.name == column) else { continue };
                        let (pg, typmod) = encode::pg_type(&def.data_type);
                        let mut row = Row::new(schema)?;
                        row.set("attrelid", int(index))?
                            .set("attname", text(column))?
                            .set("atttypid", int(i64::from(pg.oid())))?
                            .set("attnum", int(position as i64 + 1))?
                            .set("atttypmod", int(i64::from(typmod)))?
                            .set("attnotnull", boolean(true))?
                            .set("attisdropped", boolean(false))?;
                        out.push(row.values);
                    }
                }
            }
            Kind::Type => {}
        }
        Ok(())
    }
}

#[async_trait]
impl ComputedRows for Overlay {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    async fn rows(&self, state: &dyn CatalogSession) -> Result<Vec<Vec<ScalarValue>>> {
        self.overlay_rows(state).await
    }
}

/// How a table computed in memory at each scan (one vector of values per row, in its schema's
/// order) gets its rows.
#[async_trait]
pub(crate) trait ComputedRows: std::fmt::Debug + Send + Sync {
    fn schema(&self) -> SchemaRef;

    async fn rows(&self, state: &dyn CatalogSession) -> Result<Vec<Vec<ScalarValue>>>;
}

/// A catalog table whose rows are computed at each scan.
#[derive(Debug)]
pub(crate) struct Computed<T>(pub T);

#[async_trait]
impl<T: ComputedRows + 'static> TableProvider for Computed<T> {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.0.schema();
        let rows = self.0.rows(state).await?;
        let columns: Vec<ArrayRef> = (0..schema.fields().len())
            .map(|i| {
                if rows.is_empty() {
                    Ok(datafusion::arrow::array::new_empty_array(schema.field(i).data_type()))
                } else {
                    ScalarValue::iter_to_array(rows.iter().map(|row| row[i].clone()))
                }
            })
            .collect::<Result<_>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        MemTable::try_new(schema, vec![vec![batch]])?.scan(state, projection, filters, limit).await
    }
}

/// A catalog function of the warehouse's current version, evaluated row by row.
struct CatalogFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    engine: Arc<Engine>,
    evaluate: Evaluate,
}

impl std::fmt::Debug for CatalogFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFunction").field("name", &self.name).finish()
    }
}

impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CatalogFunction {}

impl std::hash::Hash for CatalogFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let version = self.engine.warehouse().current();
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let value = |arg: &ColumnarValue, row: usize| match arg {
            ColumnarValue::Scalar(value) => Ok(value.clone()),
            ColumnarValue::Array(array) => ScalarValue::try_from_array(array, row),
        };
        let results = (0..if scalar { 1 } else { args.number_rows })
            .map(|row| {
                let values = args.args.iter().map(|a| value(a, row)).collect::<Result<Vec<_>>>()?;
                (self.evaluate)(&version, &values).cast_to(&self.returns)
            })
            .collect::<Result<Vec<_>>>()?;
        if scalar {
            return Ok(ColumnarValue::Scalar(results.into_iter().next().unwrap_or(ScalarValue::Null)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(results)?))
    }
}

fn as_i64(value: &ScalarValue) -> Option<i64> {
    match value.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(v) => v,
        _ => None,
    }
}

fn as_oid(value: Option<&ScalarValue>) -> Option<i32> {
    i32::try_from(as_i64(value?)?).ok()
}

/// A function returning text (NULL where `evaluate` has nothing to say).
fn text_function(
    engine: &Arc<Engine>,
    name: &'static str,
    evaluate: impl Fn(&Version, &[ScalarValue]) -> Option<String> + Send + Sync + 'static,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        signature: Signature::variadic_any(Volatility::Stable),
        returns: DataType::Utf8,
        engine: Arc::clone(engine),
        evaluate: Box::new(move |version, args| ScalarValue::Utf8(evaluate(version, args))),
    })
}

/// A function that is true of everything it is asked about (visibility of catalog objects).
fn true_function(engine: &Arc<Engine>, name: &'static str) -> ScalarUDF {
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        signature: Signature::variadic_any(Volatility::Stable),
        returns: DataType::Boolean,
        engine: Arc::clone(engine),
        evaluate: Box::new(|_, _| ScalarValue::Boolean(Some(true))),
    })
}

/// The bytes of a warehouse table's files (as of its creation or last `ANALYZE`), 0 for
/// anything else.
fn size_function(engine: &Arc<Engine>, name: &'static str) -> ScalarUDF {
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        signature: Signature::variadic_any(Volatility::Stable),
        returns: DataType::Int64,
        engine: Arc::clone(engine),
        evaluate: Box::new(|version, args| {
            let bytes = as_oid(args.first()).and_then(|oid| table_by_oid(version, oid)).map(total_bytes);
            ScalarValue::Int64(Some(bytes.unwrap_or(0)))
        }),
    })
}

/// `array_to_string` over PostgreSQL arrays as DataFusion holds them: lists, and the text form
/// (`{a,b}`) of the access lists and options that catalog tables keep as text.
#[derive(Debug)]
struct ArrayToString {
    signature: Signature,
    lists: Arc<ScalarUDF>,
}

impl Default for ArrayToString {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            lists: datafusion::functions_nested::string::array_to_string_udf(),
        }
    }
}

impl PartialEq for ArrayToString {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ArrayToString {}

impl std::hash::Hash for ArrayToString {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "array_to_string".hash(state);
    }
}

impl ScalarUDFImpl for ArrayToString {
    fn name(&self) -> &str {
        "array_to_string"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let is_list = args.arg_fields.first().is_some_and(|f| f.data_type().is_nested());
        if is_list {
            return self.lists.invoke_with_args(args);
        }
        let rows = args.number_rows;
        let value = |arg: &ColumnarValue, row: usize| match arg {
            ColumnarValue::Scalar(value) => Ok(value.clone()),
            ColumnarValue::Array(array) => ScalarValue::try_from_array(array, row),
        };
        let results = (0..rows.max(1))
            .map(|row| {
                let text = value(&args.args[0], row)?.cast_to(&DataType::Utf8)?;
                let delimiter = match args.args.get(1) {
                    Some(arg) => value(arg, row)?.cast_to(&DataType::Utf8)?,
                    None => ScalarValue::Utf8(Some(",".into())),
                };
                Ok(match (text.try_as_str().flatten(), delimiter.try_as_str().flatten()) {
                    (Some(text), Some(delimiter)) => {
                        let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
                        ScalarValue::Utf8(Some(
                            inner.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(delimiter),
                        ))
                    }
                    _ => ScalarValue::Utf8(None),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            return Ok(ColumnarValue::Scalar(results.into_iter().next().unwrap_or(ScalarValue::Utf8(None))));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(results)?))
    }
}

/// `pg_size_pretty` as PostgreSQL rounds: bytes below 10 kB, then kB, MB, GB, TB, PB, halves
/// rounded away from zero.
pub(crate) fn size_pretty(bytes: i64) -> String {
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = bytes;
    if size.abs() < 10 * 1024 {
        return format!("{size} bytes");
    }
    size >>= 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < 20 * 1024 - 1 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} PB", half_rounded(size))
}

/// The catalog functions that describe warehouse objects by OID, and their companions that
/// clients call beside them.
/// The OID of a built-in type by its name or its SQL spelling (`to_regtype`): `None` for types
/// PostgreSQL has only as extensions (`hstore`, `citext`), which a warehouse never has.
fn type_oid(name: &str) -> Option<u32> {
    let name = name.trim().trim_start_matches("pg_catalog.").to_ascii_lowercase();
    let name = match name.as_str() {
        "integer" | "int" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" => "float8",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "decimal" => "numeric",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "time with time zone" => "timetz",
        other => other,
    };
    static BY_NAME: std::sync::LazyLock<HashMap<String, u32>> = std::sync::LazyLock::new(|| {
        // Every built-in type postgres-types knows has an OID below 10,000.
        (1..10_000).filter_map(Type::from_oid).map(|t| (t.name().to_string(), t.oid())).collect()
    });
    BY_NAME.get(name).copied()
}

pub(crate) fn functions(engine: &Arc<Engine>) -> Vec<ScalarUDF> {
    vec![
        text_function(engine, "pg_get_constraintdef", |version, args| {
            constraint_definition(version, as_oid(args.first())?)
        }),
        text_function(engine, "pg_get_indexdef", |version, args| {
            let table = index_by_oid(version, as_oid(args.first())?)?;
            let pk = table.primary_key.as_ref()?;
            match args.get(1).and_then(as_i64).unwrap_or(0) {
                0 => Some(format!(
                    "CREATE UNIQUE INDEX {} ON public.{} USING btree ({})",
                    pk.name,
                    table.name,
                    pk.columns.join(", ")
                )),
                column => pk.columns.get(usize::try_from(column).ok()?.checked_sub(1)?).cloned(),
            }
        }),
        text_function(engine, "obj_description", |version, args| {
            let catalog = args.get(1).and_then(|a| a.try_as_str().flatten()).unwrap_or("pg_class");
            if catalog != "pg_class" {
                return None;
            }
            table_by_oid(version, as_oid(args.first())?)?.comment.clone()
        }),
        text_function(engine, "col_description", |version, args| {
            let table = table_by_oid(version, as_oid(args.first())?)?;
            let column = usize::try_from(as_i64(args.get(1)?)?).ok()?.checked_sub(1)?;
            table.columns.get(column)?.comment.clone()
        }),
        text_function(engine, crate::compat::REGCLASS_NAME, |version, args| {
            let oid = as_oid(args.first())?;
            let name = match (table_by_oid(version, oid), index_by_oid(version, oid)) {
                (Some(table), _) => table.name.to_string(),
                (None, Some(table)) => table.primary_key.as_ref()?.name.clone(),
                (None, None) => oid.to_string(),
            };
            Some(name)
        }),
        text_function(engine, "pg_size_pretty", |_, args| Some(size_pretty(as_i64(args.first()?)?))),
        text_function(engine, "shobj_description", |_, _| None),
        text_function(engine, "pg_get_viewdef", |_, _| None),
        text_function(engine, "pg_get_function_result", |_, _| None),
        text_function(engine, "pg_get_function_arguments", |_, _| None),
        text_function(engine, "pg_get_function_identity_arguments", |_, _| None),
        ScalarUDF::new_from_impl(CatalogFunction {
            name: "pg_database_size",
            signature: Signature::variadic_any(Volatility::Stable),
            returns: DataType::Int64,
            engine: Arc::clone(engine),
            evaluate: Box::new(|version, _| {
                ScalarValue::Int64(Some(version.tables.values().map(|t| total_bytes(t)).sum()))
            }),
        }),
        ScalarUDF::new_from_impl(CatalogFunction {
            name: "to_regtype",
            signature: Signature::variadic_any(Volatility::Stable),
            returns: DataType::Int64,
            engine: Arc::clone(engine),
            evaluate: Box::new(|_, args| {
                let name = args.first().and_then(|a| a.try_as_str().flatten());
                ScalarValue::Int64(name.and_then(type_oid).map(i64::from))
            }),
        }),
        true_function(engine, "pg_function_is_visible"),
        true_function(engine, "pg_type_is_visible"),
        true_function(engine, "pg_has_role"),
        text_function(engine, "pg_typeof", |_, args| {
            Some(encode::sql_name(&encode::pg_type(&args.first()?.data_type()).0).to_string())
        }),
        ScalarUDF::new_from_impl(ArrayToString::default()),
        size_function(engine, "pg_table_size"),
        size_function(engine, "pg_relation_size"),
        size_function(engine, "pg_total_relation_size"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_pretty_as_postgresql_makes_them() {
        assert_eq!(size_pretty(8191), "8191 bytes");
        assert_eq!(size_pretty(10 * 1024), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(123_456_789), "118 MB");
        assert_eq!(size_pretty(-20_000), "-20 kB");
    }

    #[test]
    fn key_columns_read_from_either_text_form() {
        assert_eq!(parse_int2_list("[2, 20, 3]"), [2, 20, 3]);
        assert_eq!(parse_int2_list("1 2"), [1, 2]);
        assert!(parse_int2_list("").is_empty());
    }

    #[test]
    fn oids_are_stable_and_apart_from_postgresql_objects() {
        assert_eq!(table_oid("fact_sales"), table_oid("fact_sales"));
        assert_ne!(table_oid("fact_sales"), table_oid("dim_date"));
        assert!(table_oid("fact_sales") >= 100_000_000);
    }
}
