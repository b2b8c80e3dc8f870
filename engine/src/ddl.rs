//! The warehouse DDL: what `CREATE EXTERNAL TABLE`, `ALTER TABLE`, `COMMENT ON` and `DROP TABLE`
//! mean for the catalog. Each statement becomes one catalog commit.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{DdlStatement, Expr, LogicalPlan};
use datafusion::prelude::DataFrame;
use datafusion::sql::parser::{CreateExternalTable, Statement as DFStatement};
use datafusion::sql::planner::IdentNormalizer;
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnDef, ColumnOption, CommentDef, CommentObject,
    CreateTable as SqlCreateTable, CreateTableOptions, Expr as SqlExpr, ForeignKeyConstraint, Ident, IndexColumn,
    ObjectName, PrimaryKeyConstraint, SqlOption, Statement as SQLStatement, TableConstraint,
};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use starhouse_catalog::{
    CatalogError, Change, Column, ForeignKey, PrimaryKey, Role, SortKey, TableDef, TableName, Version, WarehouseRoot,
};

use crate::error::EngineError;
use crate::session::{Output, Session};
use crate::{SCHEMA_NAME, location, stats, tables};

/// The normalised name of an identifier: unquoted names are folded to lower case.
pub(crate) fn normalize(ident: &Ident) -> String {
    IdentNormalizer::new(true).normalize(ident.clone())
}

/// The warehouse table an object name refers to (`t`, `public.t` or `starhouse.public.t`).
pub(crate) fn table_name(name: &ObjectName) -> Result<TableName, EngineError> {
    let parts: Vec<String> =
        name.0.iter().map(|part| part.as_ident().map(normalize).unwrap_or_else(|| part.to_string())).collect();
    match parts.as_slice() {
        [table] => Ok(TableName::new(table)),
        [schema, table] | [_, schema, table] if schema == SCHEMA_NAME => Ok(TableName::new(table)),
        _ => Err(EngineError::unsupported(
            format!("the table name {name}"),
            format!("warehouse tables live in the {SCHEMA_NAME} schema"),
        )),
    }
}

fn key_columns(columns: &[IndexColumn]) -> Result<Vec<String>, EngineError> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            datafusion::sql::sqlparser::ast::Expr::Identifier(ident) => Ok(normalize(ident)),
            other => {
                Err(EngineError::unsupported(format!("the key expression {other}"), "keys are lists of column names"))
            }
        })
        .collect()
}

/// A key declared in SQL, before it is checked against the table.
enum Key {
    Primary(PrimaryKey),
    Foreign(ForeignKey),
}

/// The key a table constraint declares. `table` names the table for default constraint names.
fn key_from_constraint(def: &TableDef, constraint: &TableConstraint) -> Result<Key, EngineError> {
    match constraint {
        TableConstraint::PrimaryKey(PrimaryKeyConstraint { name, columns, .. }) => Ok(Key::Primary(PrimaryKey {
            name: name.as_ref().map(normalize).unwrap_or_else(|| def.default_primary_key_name()),
            columns: key_columns(columns)?,
        })),
        TableConstraint::ForeignKey(ForeignKeyConstraint {
            name, columns, foreign_table, referred_columns, ..
        }) => {
            let columns: Vec<String> = columns.iter().map(normalize).collect();
            Ok(Key::Foreign(ForeignKey {
                name: name.as_ref().map(normalize).unwrap_or_else(|| def.default_foreign_key_name(&columns)),
                columns,
                references: table_name(foreign_table)?,
                referenced_columns: referred_columns.iter().map(normalize).collect(),
            }))
        }
        other => Err(EngineError::unsupported(
            format!("the constraint {other}"),
            "declare PRIMARY KEY or FOREIGN KEY ... REFERENCES",
        )),
    }
}

/// Adds a declared key to a table definition.
fn add_key(def: &mut TableDef, key: Key) -> Result<(), EngineError> {
    match key {
        Key::Primary(pk) => {
            if let Some(existing) = &def.primary_key {
                return Err(CatalogError::PrimaryKeyExists {
                    table: def.name.to_string(),
                    existing: existing.columns.join(", "),
                }
                .into());
            }
            def.primary_key = Some(pk);
        }
        Key::Foreign(fk) => def.foreign_keys.push(fk),
    }
    Ok(())
}

/// What `CREATE EXTERNAL TABLE` declares beyond what DataFusion plans: keys and column comments.
struct Declarations {
    constraints: Vec<TableConstraint>,
    column_comments: HashMap<String, String>,
}

/// Takes the keys and comments out of a statement's columns and constraints (DataFusion plans
/// the rest) and returns them.
fn take_declarations(columns: &mut [ColumnDef], table_constraints: &mut Vec<TableConstraint>) -> Declarations {
    let mut constraints = std::mem::take(table_constraints);
    let mut column_comments = HashMap::new();
    for column in columns {
        let name = normalize(&column.name);
        column.options.retain(|option| {
            let as_table_constraint = match &option.option {
                ColumnOption::PrimaryKey(pk) => Some(TableConstraint::PrimaryKey(PrimaryKeyConstraint {
                    name: option.name.clone(),
                    columns: vec![IndexColumn::from(column.name.clone())],
                    ..pk.clone()
                })),
                ColumnOption::ForeignKey(fk) => Some(TableConstraint::ForeignKey(ForeignKeyConstraint {
                    name: option.name.clone(),
                    columns: vec![column.name.clone()],
                    ..fk.clone()
                })),
                ColumnOption::Unique(unique) => Some(TableConstraint::Unique(unique.clone())),
                ColumnOption::Comment(comment) => {
                    column_comments.insert(name.clone(), comment.clone());
                    return false;
                }
                _ => None,
            };
            match as_table_constraint {
                Some(constraint) => {
                    constraints.push(constraint);
                    false
                }
                None => true,
            }
        });
    }
    Declarations { constraints, column_comments }
}

/// Whether a `CREATE` has nothing to do (the table exists, and `IF NOT EXISTS` was said); an
/// error if the table exists and is not to be replaced either.
fn nothing_to_create(
    session: &Session,
    name: &TableName,
    if_not_exists: bool,
    or_replace: bool,
) -> Result<bool, EngineError> {
    if !session.engine().warehouse().current().tables.contains_key(name) || or_replace && !if_not_exists {
        return Ok(false);
    }
    if if_not_exists {
        return Ok(true);
    }
    Err(CatalogError::TableExists { name: name.to_string() }.into())
}

/// Commits a new table (or, with `or_replace`, a table's new definition).
async fn commit_new_table(
    session: &Session,
    operation: &str,
    def: &TableDef,
    or_replace: bool,
) -> Result<(), EngineError> {
    session
        .engine()
        .warehouse()
        .commit(operation, |current: &Version| {
            if current.tables.contains_key(&def.name) && !or_replace {
                return Err(CatalogError::TableExists { name: def.name.to_string() }.into());
            }
            Ok::<_, EngineError>(vec![Change::put(def.clone())])
        })
        .await?;
    Ok(())
}

/// The folder of a managed table, relative to the warehouse root.
pub(crate) fn managed_location(name: &TableName) -> String {
    format!("tables/{name}/")
}

/// `CREATE TABLE`: a managed table, whose files Starhouse writes. Keys as in PostgreSQL;
/// `PARTITION BY (columns)` writes `key=value` folders; `ORDER BY (columns)` sorts each file;
/// `WITH (role = 'fact' | 'dimension', scd = 2)` sets the role and history. `CREATE TABLE ... AS SELECT` loads the
/// query's rows in the same commit.
pub(crate) async fn create_table(
    session: &Session,
    operation: &str,
    mut create: SqlCreateTable,
) -> Result<Output, EngineError> {
    const TAG: &str = "CREATE TABLE";
    let name = table_name(&create.name)?;
    let (if_not_exists, or_replace) = (create.if_not_exists, create.or_replace);
    if nothing_to_create(session, &name, if_not_exists, or_replace)? {
        return Ok(Output::Command(TAG.into()));
    }
    let order_by = create.order_by.take();
    let partition_by = create.partition_by.take();
    let comment = create.comment.take();
    let (role, scd2) = match std::mem::replace(&mut create.table_options, CreateTableOptions::None) {
        CreateTableOptions::None => (None, false),
        CreateTableOptions::With(options) => table_options(&options)?,
        other => {
            return Err(EngineError::unsupported(
                format!("the table options {other}"),
                "CREATE TABLE takes WITH (role = 'fact' | 'dimension', scd = 2)",
            ));
        }
    };
    let declarations = take_declarations(&mut create.columns, &mut create.constraints);
    let state = session.context().state();
    let plan = state.statement_to_plan(DFStatement::Statement(Box::new(SQLStatement::CreateTable(create)))).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(planned)) = plan else {
        return Err(EngineError::DataFusion(datafusion::common::internal_datafusion_err!(
            "CREATE TABLE was planned as {}",
            plan.display()
        )));
    };
    let schema = planned.input.schema().as_arrow().clone();
    let columns: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut column = column(f.name(), f.data_type(), f.is_nullable());
            column.comment = declarations.column_comments.get(f.name()).cloned();
            column
        })
        .collect();
    let mut columns = columns;
    if scd2 {
        columns.extend(crate::scd::history_columns());
    }
    let mut def = TableDef::new(name.clone(), columns, managed_location(&name));
    def.managed = true;
    def.role = role;
    def.scd2 = scd2;
    def.comment = comment.map(|c| match c {
        CommentDef::WithEq(text) | CommentDef::WithoutEq(text) => text,
    });
    def.sort_order = column_list(order_by.map(|o| o.into_iter().collect()), "ORDER BY")?
        .into_iter()
        .map(|column| SortKey { column, descending: false, nulls_first: false })
        .collect();
    let partition_exprs = partition_by.map(|expr| match *expr {
        SqlExpr::Tuple(items) => items,
        SqlExpr::Nested(inner) => vec![*inner],
        other => vec![other],
    });
    def.partition_columns = column_list(partition_exprs, "PARTITION BY")?;
    // Partition columns come last, as the files' readers put them.
    let (data, partitions): (Vec<Column>, Vec<Column>) =
        def.columns.drain(..).partition(|c| !def.partition_columns.contains(&c.name));
    def.columns = data
        .into_iter()
        .chain(def.partition_columns.iter().filter_map(|p| partitions.iter().find(|c| &c.name == p).cloned()))
        .collect();
    for constraint in &declarations.constraints {
        let key = key_from_constraint(&def, constraint)?;
        add_key(&mut def, key)?;
    }
    if def.scd2 && def.primary_key.is_none() {
        return Err(EngineError::unsupported(
            format!("a type 2 dimension without a primary key ({name})"),
            "declare the business key as the primary key: loads version rows by it",
        ));
    }
    // A declared key column cannot hold NULL, as in PostgreSQL.
    let key_columns: Vec<String> = def.primary_key.iter().flat_map(|pk| pk.columns.clone()).collect();
    for column in &mut def.columns {
        if key_columns.contains(&column.name) {
            column.nullable = false;
        }
    }
    let query = match planned.input.as_ref() {
        LogicalPlan::EmptyRelation(_) => None,
        input => Some(input.clone()),
    };
    let Some(query) = query else {
        commit_new_table(session, operation, &def, or_replace).await?;
        return Ok(Output::Command(TAG.into()));
    };
    // The table and its rows in one commit.
    let rows = DataFrame::new(state, query);
    let input = crate::load::Input { table: name.clone(), source: "CREATE TABLE AS".into(), rows, csv: None };
    let created = crate::load::Created { def, or_replace };
    let outcome =
        crate::load::load(session, operation, "CREATE TABLE AS", vec![input], &Default::default(), Some(created))
            .await?;
    Ok(Output::Command(format!("SELECT {}", outcome.rows())))
}

/// `role = 'fact'` and `scd = 2` among `WITH (...)` options.
fn table_options(options: &[SqlOption]) -> Result<(Option<Role>, bool), EngineError> {
    let mut role = None;
    let mut scd2 = false;
    for option in options {
        match option {
            SqlOption::KeyValue { key, value } if normalize(key) == "scd" => {
                scd2 = match value.to_string().trim_matches('\'').to_lowercase().as_str() {
                    "2" | "type2" | "type 2" => true,
                    "1" | "0" | "none" => false,
                    _ => {
                        return Err(EngineError::unsupported(
                            format!("scd = {value}"),
                            "a dimension is type 2 (scd = 2), or overwritten (scd = 1, the default)",
                        ));
                    }
                };
            }
            SqlOption::KeyValue { key, value } if normalize(key) == "role" => {
                let text = value.to_string().trim_matches('\'').to_lowercase();
                role = match text.as_str() {
                    "fact" => Some(Role::Fact),
                    "dimension" => Some(Role::Dimension),
                    "none" => None,
                    _ => {
                        return Err(EngineError::unsupported(
                            format!("the role {value}"),
                            "a table's role is 'fact', 'dimension' or 'none'",
                        ));
                    }
                };
            }
            other => {
                return Err(EngineError::unsupported(
                    format!("the table option {other}"),
                    "CREATE TABLE takes WITH (role = 'fact' | 'dimension', scd = 2)",
                ));
            }
        }
    }
    Ok((role, scd2))
}

/// The column names of an `ORDER BY` or `PARTITION BY` list.
fn column_list(exprs: Option<Vec<SqlExpr>>, clause: &str) -> Result<Vec<String>, EngineError> {
    exprs
        .unwrap_or_default()
        .iter()
        .map(|expr| match expr {
            SqlExpr::Identifier(ident) => Ok(normalize(ident)),
            other => Err(EngineError::unsupported(format!("{clause} {other}"), format!("{clause} takes column names"))),
        })
        .collect()
}

pub(crate) async fn create_external_table(
    session: &Session,
    operation: &str,
    mut create: CreateExternalTable,
) -> Result<Output, EngineError> {
    const TAG: &str = "CREATE EXTERNAL TABLE";
    let name = table_name(&create.name)?;
    if !create.file_type.eq_ignore_ascii_case("parquet") {
        return Err(EngineError::unsupported(
            format!("STORED AS {}", create.file_type),
            "external tables are Parquet (STORED AS PARQUET)",
        ));
    }
    if create.unbounded || create.temporary {
        return Err(EngineError::unsupported(
            "UNBOUNDED or TEMPORARY external tables",
            "warehouse tables are bounded and persistent",
        ));
    }
    let [user_location] = create.locations.as_slice() else {
        return Err(EngineError::unsupported("more than one LOCATION", "give one folder, file or glob"));
    };
    let user_location = user_location.clone();
    let (if_not_exists, or_replace) = (create.if_not_exists, create.or_replace);
    if nothing_to_create(session, &name, if_not_exists, or_replace)? {
        return Ok(Output::Command(TAG.into()));
    }

    let declarations = take_declarations(&mut create.columns, &mut create.constraints);
    let state = session.context().state();
    let plan = state.statement_to_plan(DFStatement::CreateExternalTable(create)).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(planned)) = plan else {
        return Err(EngineError::DataFusion(datafusion::common::internal_datafusion_err!(
            "CREATE EXTERNAL TABLE was planned as {}",
            plan.display()
        )));
    };

    let root = session.engine().warehouse().root();
    let location = location::from_user(root, session.engine().stores(), &user_location).await?;
    let TableFiles { url, store, files } = list_files(&state, root, &location).await?;

    let declared: &Schema = planned.schema.as_arrow();
    let partition_columns = &planned.table_partition_cols;
    let file_schema =
        if files.is_empty() { None } else { Some(common_file_schema(&state, &store, &files, &user_location).await?) };
    let mut columns: Vec<Column> = if declared.fields().is_empty() {
        // The schema is the files', with the partition columns (strings, as DataFusion reads them).
        let Some(inferred) = &file_schema else {
            return Err(EngineError::NoDataFiles { location: user_location });
        };
        let partition_type = DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8));
        inferred
            .fields()
            .iter()
            .map(|f| column(f.name(), f.data_type(), f.is_nullable()))
            .chain(partition_columns.iter().map(|p| column(p, &partition_type, false)))
            .collect()
    } else {
        if let Some(inferred) = &file_schema
            && let Some(missing) = declared
                .fields()
                .iter()
                .find(|f| !partition_columns.contains(f.name()) && inferred.field_with_name(f.name()).is_err())
        {
            return Err(EngineError::SchemaMismatch {
                location: user_location,
                detail: format!("declared column {} is not in the files", missing.name()),
            });
        }
        // Partition columns last, as DataFusion's listing tables have them.
        let (data, partitions): (Vec<_>, Vec<_>) =
            declared.fields().iter().partition(|f| !partition_columns.contains(f.name()));
        data.into_iter().chain(partitions).map(|f| column(f.name(), f.data_type(), f.is_nullable())).collect()
    };
    for column in &mut columns {
        column.comment = declarations.column_comments.get(&column.name).cloned();
    }

    let mut def = TableDef::new(name.clone(), columns, location);
    def.partition_columns = partition_columns.clone();
    def.sort_order = sort_order(&planned.order_exprs)?;
    for constraint in &declarations.constraints {
        let key = key_from_constraint(&def, constraint)?;
        add_key(&mut def, key)?;
    }
    if !def.partition_columns.is_empty() {
        let options = tables::listing_options(&Default::default(), &def, tables::extension(&url))?;
        options.validate_partitions(&state, &url).await?;
    }
    def.files = stats::collect(&state, &store, &url, &tables::file_schema(&def), &files).await?;

    commit_new_table(session, operation, &def, or_replace).await?;
    Ok(Output::Command(TAG.into()))
}

/// The data files at a location, as DataFusion will list them when the table is queried.
struct TableFiles {
    url: ListingTableUrl,
    store: Arc<dyn ObjectStore>,
    /// The non-empty files.
    files: Vec<ObjectMeta>,
}

async fn list_files(state: &SessionState, root: &WarehouseRoot, location: &str) -> Result<TableFiles, EngineError> {
    let (url, store) = location::listing_store(state.runtime_env(), root, location)?;
    let files: Vec<ObjectMeta> = url
        .list_all_files(state, store.as_ref(), tables::extension(&url))
        .await?
        .try_filter(|meta| futures::future::ready(meta.size > 0))
        .try_collect()
        .await?;
    Ok(TableFiles { url, store, files })
}

/// `ANALYZE [t]`: reads the footers of the table's files (or every table's) and records their
/// statistics in the catalog, in one commit, so that every process plans and prunes with them.
/// A file's distinct counts (made when Starhouse wrote it) stay while the file is the same.
pub(crate) async fn analyze(
    session: &Session,
    operation: &str,
    table: Option<&ObjectName>,
) -> Result<Output, EngineError> {
    let current = session.engine().warehouse().current();
    let names = match table {
        Some(table) => vec![table_name(table)?],
        None => current.tables.keys().cloned().collect(),
    };
    let state = session.context().state();
    let root = session.engine().warehouse().root();
    let mut analyzed = Vec::new();
    for name in names {
        let def = current.table(name.as_str())?;
        let TableFiles { url, store, files } = if def.managed {
            // A managed table is exactly the files its version lists (others in its folder are
            // unfinished loads or older versions' files).
            let (url, store) = location::listing_store(state.runtime_env(), root, &def.location)?;
            let files = def.files.iter().map(|file| stats::object_meta(&url, file)).collect();
            TableFiles { url, store, files }
        } else {
            list_files(&state, root, &def.location).await?
        };
        let mut files = stats::collect(&state, &store, &url, &tables::file_schema(def), &files).await?;
        stats::keep_distinct_counts(&mut files, &def.files);
        analyzed.push((name, files));
    }
    session
        .engine()
        .warehouse()
        .commit(operation, |current: &Version| {
            let mut changes = Vec::new();
            for (name, files) in &analyzed {
                let def = current.table(name.as_str())?;
                if &def.files != files {
                    changes.push(Change::put(TableDef { files: files.clone(), ..def.as_ref().clone() }));
                }
            }
            Ok::<_, EngineError>(changes)
        })
        .await?;
    Ok(Output::Command("ANALYZE".into()))
}

fn column(name: &str, data_type: &DataType, nullable: bool) -> Column {
    Column { name: name.to_string(), data_type: data_type.clone(), nullable, comment: None }
}

/// The schema every file at the location has, or an error naming the first file that differs.
async fn common_file_schema(
    state: &datafusion::execution::SessionState,
    store: &Arc<dyn object_store::ObjectStore>,
    files: &[ObjectMeta],
    location: &str,
) -> Result<Arc<Schema>, EngineError> {
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let format = &format;
    let schemas: Vec<Arc<Schema>> = futures::stream::iter(files.iter().cloned())
        .map(|file: ObjectMeta| async move { format.infer_schema(state, store, &[file]).await })
        .buffered(16)
        .try_collect()
        .await?;
    let Some(first) = schemas.first() else {
        return Err(EngineError::NoDataFiles { location: location.to_string() });
    };
    let mut fields: Vec<_> = first.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (schema, file) in schemas.iter().zip(files).skip(1) {
        if let Some(detail) = schema_difference(first, schema, &files[0].location, &file.location) {
            return Err(EngineError::SchemaMismatch { location: location.to_string(), detail });
        }
        for field in &mut fields {
            if schema.field_with_name(field.name()).is_ok_and(|f| f.is_nullable()) {
                field.set_nullable(true);
            }
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// How two files' schemas differ, if they do (names and types; nullability may differ).
fn schema_difference(
    a: &Schema,
    b: &Schema,
    a_path: &object_store::path::Path,
    b_path: &object_store::path::Path,
) -> Option<String> {
    for field in a.fields() {
        match b.field_with_name(field.name()) {
            Err(_) => return Some(format!("column {} is in /{a_path} but not in /{b_path}", field.name())),
            Ok(other) if other.data_type() != field.data_type() => {
                return Some(format!(
                    "column {} is {} in /{a_path} but {} in /{b_path}",
                    field.name(),
                    field.data_type(),
                    other.data_type()
                ));
            }
            Ok(_) => {}
        }
    }
    b.fields()
        .iter()
        .find(|f| a.field_with_name(f.name()).is_err())
        .map(|f| format!("column {} is in /{b_path} but not in /{a_path}", f.name()))
}

/// The sort order of `WITH ORDER (...)`: column names only, one ordering.
fn sort_order(orderings: &[Vec<datafusion::logical_expr::SortExpr>]) -> Result<Vec<SortKey>, EngineError> {
    let [ordering] = orderings else {
        if orderings.is_empty() {
            return Ok(Vec::new());
        }
        return Err(EngineError::unsupported(
            "more than one WITH ORDER clause",
            "declare the one order the files are sorted by",
        ));
    };
    ordering
        .iter()
        .map(|sort| match &sort.expr {
            Expr::Column(column) => {
                Ok(SortKey { column: column.name.clone(), descending: !sort.asc, nulls_first: sort.nulls_first })
            }
            other => Err(EngineError::unsupported(
                format!("WITH ORDER by the expression {other}"),
                "sort keys are column names",
            )),
        })
        .collect()
}

/// Commits a change to one table's definition, re-applied on the latest version if another
/// writer commits first.
async fn alter(
    session: &Session,
    operation: &str,
    name: &TableName,
    change: impl Fn(&mut TableDef) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    session
        .engine()
        .warehouse()
        .commit(operation, |current: &Version| {
            let mut def = current.table(name.as_str())?.as_ref().clone();
            change(&mut def)?;
            Ok::<_, EngineError>(vec![Change::put(def)])
        })
        .await?;
    Ok(())
}

pub(crate) async fn set_role(
    session: &Session,
    operation: &str,
    table: &ObjectName,
    role: Option<Role>,
) -> Result<Output, EngineError> {
    let name = table_name(table)?;
    alter(session, operation, &name, |def| {
        def.role = role;
        Ok(())
    })
    .await?;
    Ok(Output::Command("ALTER TABLE".into()))
}

pub(crate) async fn alter_table(
    session: &Session,
    operation: &str,
    alter_table: AlterTable,
) -> Result<Output, EngineError> {
    let name = table_name(&alter_table.name)?;
    if alter_table.if_exists && !session.engine().warehouse().current().tables.contains_key(&name) {
        return Ok(Output::Command("ALTER TABLE".into()));
    }
    // The Arrow types of the columns added or changed, worked out before the commit.
    let mut types = Vec::new();
    for op in &alter_table.operations {
        let sql_type = match op {
            AlterTableOperation::AddColumn { column_def, .. } => &column_def.data_type,
            AlterTableOperation::AlterColumn { op: AlterColumnOperation::SetDataType { data_type, .. }, .. } => {
                data_type
            }
            _ => continue,
        };
        types.push(arrow_type(session, sql_type).await?);
    }
    alter(session, operation, &name, |def| {
        let mut types = types.iter();
        for op in &alter_table.operations {
            match op {
                AlterTableOperation::AddColumn { if_not_exists, column_def, .. } => {
                    let data_type = types.next().cloned().unwrap_or(DataType::Null);
                    add_column(def, column_def, data_type, *if_not_exists)?;
                }
                AlterTableOperation::AlterColumn {
                    column_name,
                    op: AlterColumnOperation::SetDataType { using: None, .. },
                } => {
                    let data_type = types.next().cloned().unwrap_or(DataType::Null);
                    widen_column(def, &normalize(column_name), data_type)?;
                }
                AlterTableOperation::AddConstraint { constraint, .. } => {
                    let key = key_from_constraint(def, constraint)?;
                    add_key(def, key)?;
                }
                AlterTableOperation::DropConstraint { if_exists, name, .. } => {
                    drop_constraint(def, &normalize(name), *if_exists)?;
                }
                AlterTableOperation::DropForeignKey { name, .. } => drop_constraint(def, &normalize(name), false)?,
                AlterTableOperation::DropPrimaryKey { .. } => {
                    let pk = def.primary_key.as_ref().map(|pk| pk.name.clone());
                    match pk {
                        Some(pk) => drop_constraint(def, &pk, false)?,
                        None => {
                            return Err(CatalogError::UnknownConstraint {
                                table: def.name.to_string(),
                                name: "PRIMARY KEY".into(),
                            }
                            .into());
                        }
                    }
                }
                other => {
                    return Err(EngineError::unsupported(
                        format!("ALTER TABLE ... {other}"),
                        "ALTER TABLE can add nullable columns (ADD COLUMN), widen a column's type (ALTER COLUMN ... TYPE), add and drop keys (ADD PRIMARY KEY, ADD FOREIGN KEY, DROP CONSTRAINT) and set the role (SET ROLE)",
                    ));
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(Output::Command("ALTER TABLE".into()))
}

/// The Arrow type DataFusion gives a SQL type.
async fn arrow_type(
    session: &Session,
    sql_type: &datafusion::sql::sqlparser::ast::DataType,
) -> Result<DataType, EngineError> {
    let create = format!("CREATE TABLE starhouse_type (c {sql_type})");
    let statements = crate::sql::parse(&create)?;
    let Some(SQLStatement::CreateTable(create)) = statements.first().and_then(|s| s.as_sql()) else {
        return Err(EngineError::unsupported(
            format!("the type {sql_type}"),
            "use a SQL type such as INT, TEXT, DECIMAL(10,2)",
        ));
    };
    let state = session.context().state();
    let plan =
        state.statement_to_plan(DFStatement::Statement(Box::new(SQLStatement::CreateTable(create.clone())))).await?;
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(planned)) => {
            Ok(planned.input.schema().field(0).data_type().clone())
        }
        other => Err(EngineError::DataFusion(datafusion::common::internal_datafusion_err!(
            "a type was planned as {}",
            other.display()
        ))),
    }
}

/// `ADD COLUMN`: a nullable column at the end of the stored columns (old files read it as NULL).
fn add_column(
    def: &mut TableDef,
    column_def: &ColumnDef,
    data_type: DataType,
    if_not_exists: bool,
) -> Result<(), EngineError> {
    let name = normalize(&column_def.name);
    if def.column(&name).is_ok() {
        if if_not_exists {
            return Ok(());
        }
        return Err(CatalogError::DuplicateColumn { table: def.name.to_string(), column: name }.into());
    }
    let mut comment = None;
    for option in &column_def.options {
        match &option.option {
            ColumnOption::Null => {}
            ColumnOption::Comment(text) => comment = Some(text.clone()),
            other => {
                return Err(EngineError::unsupported(
                    format!("ADD COLUMN ... {other}"),
                    "a new column is nullable, without a default: the rows already loaded have no value for it",
                ));
            }
        }
    }
    let at = def.columns.len() - def.partition_columns.len();
    def.columns.insert(at, Column { name, data_type, nullable: true, comment });
    Ok(())
}

/// `ALTER COLUMN c TYPE t`: only to a type that holds every value of the old one, so that files
/// already written read as the new type.
fn widen_column(def: &mut TableDef, name: &str, to: DataType) -> Result<(), EngineError> {
    let table = def.name.to_string();
    let column = def.column_mut(name)?;
    if !widens(&column.data_type, &to) {
        return Err(EngineError::unsupported(
            format!(
                "changing column {name} of {table} from {} to {}",
                crate::describe::sql_type_name(&column.data_type),
                crate::describe::sql_type_name(&to)
            ),
            "a column's type can only be widened (SMALLINT to INT to BIGINT, REAL to DOUBLE, a DECIMAL to one with more digits, INT to DOUBLE or DECIMAL), because files already written keep their values",
        ));
    }
    column.data_type = to;
    Ok(())
}

/// Whether every value of `from` is exactly a value of `to`.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let int_bits = |t: &DataType| match t {
        Int8 => Some(8),
        Int16 => Some(16),
        Int32 => Some(32),
        Int64 => Some(64),
        _ => None,
    };
    match (from, to) {
        _ if from == to => true,
        (Float32, Float64) => true,
        (Utf8, Utf8View | LargeUtf8) | (Utf8View, Utf8 | LargeUtf8) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        (Date32, Timestamp(_, None)) => true,
        _ => match (int_bits(from), int_bits(to), to) {
            (Some(a), Some(b), _) => a <= b,
            (Some(bits), None, Float64) => bits <= 32,
            (Some(bits), None, Decimal128(p, s)) => {
                let digits = match bits {
                    8 => 3,
                    16 => 5,
                    32 => 10,
                    _ => 19,
                };
                i16::from(*p) - i16::from(*s) >= digits
            }
            _ => false,
        },
    }
}

fn drop_constraint(def: &mut TableDef, name: &str, if_exists: bool) -> Result<(), EngineError> {
    if def.primary_key.as_ref().is_some_and(|pk| pk.name == name) {
        def.primary_key = None;
        return Ok(());
    }
    let before = def.foreign_keys.len();
    def.foreign_keys.retain(|fk| fk.name != name);
    if def.foreign_keys.len() == before && !if_exists {
        return Err(CatalogError::UnknownConstraint { table: def.name.to_string(), name: name.to_string() }.into());
    }
    Ok(())
}

pub(crate) async fn comment(
    session: &Session,
    operation: &str,
    object_type: CommentObject,
    object: &ObjectName,
    comment: Option<String>,
    if_exists: bool,
) -> Result<Output, EngineError> {
    let (table, column) = match object_type {
        CommentObject::Table => (table_name(object)?, None),
        CommentObject::Column => {
            let mut parts = object.0.clone();
            let column = parts.pop().and_then(|p| p.as_ident().map(normalize));
            let (Some(column), false) = (column, parts.is_empty()) else {
                return Err(EngineError::unsupported(
                    format!("COMMENT ON COLUMN {object}"),
                    "name the column as table.column",
                ));
            };
            (table_name(&ObjectName(parts))?, Some(column))
        }
        other => {
            return Err(EngineError::unsupported(
                format!("COMMENT ON {other}"),
                "comments can be set on tables and columns",
            ));
        }
    };
    if if_exists && !session.engine().warehouse().current().tables.contains_key(&table) {
        return Ok(Output::Command("COMMENT".into()));
    }
    alter(session, operation, &table, |def| {
        match &column {
            Some(column) => def.column_mut(column)?.comment = comment.clone(),
            None => def.comment = comment.clone(),
        }
        Ok(())
    })
    .await?;
    Ok(Output::Command("COMMENT".into()))
}

pub(crate) async fn drop_tables(
    session: &Session,
    operation: &str,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<Output, EngineError> {
    let names = names.iter().map(table_name).collect::<Result<Vec<_>, _>>()?;
    session
        .engine()
        .warehouse()
        .commit(operation, |current: &Version| {
            let mut dropped = Vec::new();
            for name in &names {
                if current.tables.contains_key(name) {
                    dropped.push(name.clone());
                } else if !if_exists {
                    current.table(name.as_str())?;
                }
            }
            let mut changes = Vec::new();
            if cascade {
                // Like PostgreSQL, CASCADE drops the foreign keys that reference the tables, not
                // the tables that hold them.
                for table in current.tables.values().filter(|t| !dropped.contains(&t.name)) {
                    if table.foreign_keys.iter().any(|fk| dropped.contains(&fk.references)) {
                        let mut def = table.as_ref().clone();
                        def.foreign_keys.retain(|fk| !dropped.contains(&fk.references));
                        changes.push(Change::put(def));
                    }
                }
            }
            changes.extend(dropped.into_iter().map(Change::DropTable));
            Ok::<_, EngineError>(changes)
        })
        .await?;
    Ok(Output::Command("DROP TABLE".into()))
}

/// A friendly name for a DDL statement DataFusion would run in memory, which the warehouse
/// does not store.
pub(crate) fn ddl_statement_name(ddl: &DdlStatement) -> &'static str {
    match ddl {
        DdlStatement::CreateMemoryTable(_) => "CREATE TABLE",
        DdlStatement::CreateView(_) => "CREATE VIEW",
        DdlStatement::CreateCatalogSchema(_) => "CREATE SCHEMA",
        DdlStatement::CreateCatalog(_) => "CREATE DATABASE",
        DdlStatement::DropView(_) => "DROP VIEW",
        DdlStatement::DropCatalogSchema(_) => "DROP SCHEMA",
        DdlStatement::CreateFunction(_) => "CREATE FUNCTION",
        DdlStatement::DropFunction(_) => "DROP FUNCTION",
        DdlStatement::CreateIndex(_) => "CREATE INDEX",
        DdlStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE",
        DdlStatement::DropTable(_) => "DROP TABLE",
    }
}
