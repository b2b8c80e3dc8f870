//! Loads: rows into managed tables, each load exactly one commit.
//!
//! A load reads its sources (files through DataFusion's readers, or the rows of an `INSERT`),
//! fits them to each table's columns (listing every column that does not fit), writes new
//! Parquet files, checks the table's constraints on the rows it adds (not-null, primary-key
//! uniqueness, foreign keys into their dimensions), and only then commits the files together with
//! a record of the load. Whatever fails before the commit leaves the warehouse as it was; the
//! files written so far are removed (or, if the process dies, ignored until `VACUUM`).
//!
//! A load carries an id. The same id again is a no-op that says which version committed it; an
//! incremental load (`since`) reads only rows above the watermark the last load of the same table
//! and source reached.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use datafusion::arrow::array::{StringArray, UInt64Array};
use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::DFSchema;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::SessionState;
use datafusion::functions::expr_fn::nullif;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, Values};
use datafusion::logical_expr::{cast, col, lit, try_cast};
use datafusion::prelude::{CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext};
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement as SQLStatement,
};
use futures::StreamExt;
use starhouse_catalog::{CatalogError, Change, DataFile, Load, LoadedTable, TableDef, TableName, Version, Watermark};

use crate::error::{ConstraintKind, EngineError};
use crate::session::{Output, Session};
use crate::write::{self, Writers, Written};
use crate::{Engine, scd};

/// The file formats a load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Json,
    Parquet,
}

impl FileFormat {
    /// The format a file's extension says (`.csv`, `.tsv`, `.json`, `.ndjson`, `.jsonl`,
    /// `.parquet`), compressed or not.
    pub fn from_path(path: &str) -> Option<Self> {
        let name = path.rsplit('/').next().unwrap_or(path).to_lowercase();
        let name = [".gz", ".zst", ".bz2", ".xz"].iter().find_map(|c| name.strip_suffix(c)).unwrap_or(&name);
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("csv" | "tsv" | "txt") => Some(Self::Csv),
            Some("json" | "ndjson" | "jsonl") => Some(Self::Json),
            Some("parquet" | "pq") => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// How to read files: their format (from the extension when not given) and CSV's options.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: Option<FileFormat>,
    pub header: bool,
    pub delimiter: u8,
    pub quote: u8,
    /// The text that stands for NULL in a CSV file (empty fields are NULL too).
    pub null: Option<String>,
    /// The columns the file's fields fill, in order (all the table's columns when empty).
    pub columns: Vec<String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self { format: None, header: true, delimiter: b',', quote: b'"', null: None, columns: Vec::new() }
    }
}

/// Files for one table of a load.
#[derive(Debug, Clone)]
pub struct LoadTarget {
    pub table: String,
    pub files: Vec<String>,
}

/// What a load is asked to do beyond reading its files.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The load's id; the same id twice loads once. A random one is given when `None`.
    pub id: Option<String>,
    /// Load only rows whose value in this column is above the last load's watermark (for the
    /// same table and files), and remember the new one.
    pub since: Option<String>,
    /// Rows that violate a constraint go to `<table>_rejects` and the rest commits, rather than
    /// the whole load being rejected.
    pub rejects: bool,
    pub read: ReadOptions,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    Loaded {
        id: String,
        version: u64,
        rows: u64,
        files: u64,
        /// Rows written to rejects tables (with [`LoadOptions::rejects`]), not counted in `rows`.
        rejected: u64,
    },
    /// A load with this id committed before, in `version`; nothing was loaded.
    AlreadyLoaded { id: String, version: u64 },
}

impl LoadOutcome {
    pub fn rows(&self) -> u64 {
        match self {
            LoadOutcome::Loaded { rows, .. } => *rows,
            LoadOutcome::AlreadyLoaded { .. } => 0,
        }
    }
}

/// Rows bound for one table.
pub(crate) struct Input {
    pub table: TableName,
    /// Where the rows come from, for messages and the load record.
    pub source: String,
    pub rows: DataFrame,
    /// How the source was read, when it is a CSV file: a value that does not parse is then
    /// found again to tell its line.
    pub csv: Option<ReadOptions>,
}

/// Reads the files of `targets` as inputs fitted to their tables.
pub(crate) async fn read_files(
    session: &Session,
    version: &Version,
    targets: &[LoadTarget],
    options: &ReadOptions,
) -> Result<Vec<Input>, EngineError> {
    let mut inputs = Vec::new();
    for target in targets {
        let def = scd::loaded(managed_table(version, &target.table)?);
        for file in &target.files {
            let (rows, format) =
                read_file(session.context(), &def, file, options).await.map_err(|error| match error {
                    // Already says which file.
                    EngineError::LoadSchemaMismatch { .. } => error,
                    error => EngineError::LoadFile { file: file.clone(), error: Box::new(error) },
                })?;
            let csv = (format == FileFormat::Csv).then(|| options.clone());
            inputs.push(Input { table: def.name.clone(), source: file.clone(), rows, csv });
        }
    }
    Ok(inputs)
}

/// The managed table `name`, or why rows cannot be loaded into it.
pub(crate) fn managed_table<'a>(version: &'a Version, name: &str) -> Result<&'a Arc<TableDef>, EngineError> {
    let def = version.table(name)?;
    if !def.managed {
        return Err(EngineError::NotManaged { table: def.name.to_string() });
    }
    Ok(def)
}

async fn read_file(
    ctx: &SessionContext,
    def: &TableDef,
    file: &str,
    options: &ReadOptions,
) -> Result<(DataFrame, FileFormat), EngineError> {
    let url = ListingTableUrl::parse(file)?;
    let store = ctx.runtime_env().object_store(&url)?;
    if url.list_all_files(&ctx.state(), store.as_ref(), "").await?.next().await.is_none() {
        return Err(EngineError::NoSuchFile);
    }
    let format = options.format.or_else(|| FileFormat::from_path(file)).unwrap_or(FileFormat::Csv);
    let rows = match format {
        FileFormat::Parquet => ctx.read_parquet(file, ParquetReadOptions::default()).await?,
        FileFormat::Csv | FileFormat::Json => {
            // Text has no types of its own: its fields are read as the table's columns, in order.
            let fields = if options.columns.is_empty() {
                def.columns.iter().map(|c| c.name.clone()).collect()
            } else {
                options.columns.clone()
            };
            let schema = Schema::new(
                fields
                    .iter()
                    .map(|name| Ok(Field::new(name, def.column(name)?.data_type.clone(), true)))
                    .collect::<Result<Vec<_>, EngineError>>()?,
            );
            if format == FileFormat::Csv {
                read_csv(ctx, file, &schema, options).await?
            } else {
                let read = JsonReadOptions::default().schema(&schema).file_extension(extension(file));
                ctx.read_json(file, read).await?
            }
        }
    };
    Ok((fit(def, file, rows)?, format))
}

/// Everything after the first dot of a file's name (`.csv.gz`): DataFusion reads only files
/// with the extension it is given.
fn extension(file: &str) -> &str {
    let name = file.rsplit('/').next().unwrap_or(file);
    name.find('.').map_or("", |dot| &name[dot..])
}

async fn read_csv(
    ctx: &SessionContext,
    file: &str,
    schema: &Schema,
    options: &ReadOptions,
) -> Result<DataFrame, EngineError> {
    // An empty field is NULL, as in PostgreSQL's CSV. A NULL text (`\N` in the text format) is
    // matched on the text before the fields become their types: DataFusion 55 reads CSV without
    // its null_regex option.
    let Some(null) = &options.null else {
        return Ok(ctx.read_csv(file, csv_options(file, schema, options)).await?);
    };
    let text =
        Schema::new(schema.fields().iter().map(|f| Field::new(f.name(), DataType::Utf8, true)).collect::<Vec<_>>());
    let rows = ctx.read_csv(file, csv_options(file, &text, options)).await?;
    let typed = schema
        .fields()
        .iter()
        .map(|f| {
            cast(nullif(col(format!("\"{}\"", f.name())), lit(null.as_str())), f.data_type().clone()).alias(f.name())
        })
        .collect::<Vec<_>>();
    Ok(rows.select(typed)?)
}

fn csv_options<'a>(file: &'a str, schema: &'a Schema, options: &ReadOptions) -> CsvReadOptions<'a> {
    CsvReadOptions::new()
        .has_header(options.header)
        .delimiter(options.delimiter)
        .quote(options.quote)
        .schema(schema)
        .file_extension(extension(file))
}

/// The first value of a CSV file that does not parse as its column's type, with its line: read
/// again as text, one partition in file order, each value tried as its type.
async fn bad_value(ctx: &SessionContext, file: &str, def: &TableDef, options: &ReadOptions) -> Option<EngineError> {
    let names: Vec<String> = if options.columns.is_empty() {
        def.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        options.columns.clone()
    };
    let text = Schema::new(names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect::<Vec<_>>());
    let config = ctx.copied_config().with_target_partitions(1).with_repartition_file_scans(false);
    let sequential = SessionContext::new_with_config_rt(config, ctx.runtime_env());
    let rows = read_csv(&sequential, file, &text, options).await.ok()?;
    let numbered = rows.window(vec![row_number().alias("starhouse_row")]).ok()?;
    for name in &names {
        let data_type = def.column(name).ok()?.data_type.clone();
        let value = col(format!("\"{name}\""));
        let bad = numbered
            .clone()
            .filter(value.clone().is_not_null().and(try_cast(value.clone(), data_type.clone()).is_null()))
            .ok()?
            .select(vec![col("starhouse_row"), value])
            .ok()?
            .limit(0, Some(1))
            .ok()?
            .collect()
            .await
            .ok()?;
        let Some(batch) = bad.iter().find(|b| b.num_rows() > 0) else { continue };
        let row = batch.column(0).as_any().downcast_ref::<UInt64Array>()?.value(0);
        let text = batch.column(1).as_any().downcast_ref::<StringArray>()?.value(0).to_string();
        return Some(EngineError::BadValue {
            line: row + u64::from(options.header),
            column: name.clone(),
            value: text,
            data_type: crate::describe::sql_type_name(&data_type),
        });
    }
    None
}

/// The rows with the table's columns, in its order and types: columns matched by name, cast
/// where the types differ, missing nullable columns NULL. Every column that does not fit is
/// listed in the error.
pub(crate) fn fit(def: &TableDef, source: &str, rows: DataFrame) -> Result<DataFrame, EngineError> {
    let schema = rows.schema().as_arrow().clone();
    let mut mismatches = Vec::new();
    let mut exprs = Vec::new();
    for column in &def.columns {
        match schema.field_with_name(&column.name) {
            Ok(field) if field.data_type() == &column.data_type => exprs.push(col(format!("\"{}\"", column.name))),
            Ok(field) if compatible(field.data_type(), &column.data_type) => {
                exprs.push(cast(col(format!("\"{}\"", column.name)), column.data_type.clone()).alias(&column.name))
            }
            Ok(field) => mismatches.push(format!(
                "column {} is {} in the source but {} in the table",
                column.name,
                crate::describe::sql_type_name(field.data_type()),
                crate::describe::sql_type_name(&column.data_type)
            )),
            Err(_) if column.nullable => {
                exprs.push(lit(ScalarValue::try_from(&column.data_type)?).alias(&column.name));
            }
            Err(_) => mismatches.push(format!("column {} (NOT NULL) is missing from the source", column.name)),
        }
    }
    for field in schema.fields() {
        if def.column(field.name()).is_err() {
            mismatches.push(format!("column {} is not in the table", field.name()));
        }
    }
    if !mismatches.is_empty() {
        return Err(EngineError::LoadSchemaMismatch {
            table: def.name.to_string(),
            from: source.to_string(),
            mismatches,
        });
    }
    Ok(rows.select(exprs)?)
}

/// `COPY t [(columns)] FROM 'file' [WITH (FORMAT csv | json | parquet, HEADER, DELIMITER 'c',
/// NULL 'text', QUOTE 'c')]`: a load of one file. As in PostgreSQL, a CSV file has no header
/// unless told; the format is the file's extension's unless told.
pub(crate) async fn copy_from(session: &Session, operation: &str, copy: SQLStatement) -> Result<Output, EngineError> {
    let SQLStatement::Copy { target: CopyTarget::File { filename }, .. } = &copy else {
        return Err(EngineError::unsupported("this COPY", "COPY table FROM 'file' loads a file"));
    };
    let (table, read) = copy_options(&copy, false)?;
    let version = session.engine().warehouse().refresh().await?;
    let targets = [LoadTarget { table: table.to_string(), files: vec![filename.clone()] }];
    let inputs = read_files(session, &version, &targets, &read).await?;
    let options = LoadOptions { read, ..LoadOptions::default() };
    let outcome = load(session, operation, filename, inputs, &options, None).await?;
    Ok(Output::Command(format!("COPY {}", outcome.rows())))
}

/// The table and read options of `COPY t [(columns)] FROM STDIN [options]`, for a front end that
/// receives the data itself (the wire server's copy-in) and loads it as a file; `None` for any
/// other statement.
pub fn copy_from_stdin(statement: &SQLStatement) -> Option<Result<(String, ReadOptions), EngineError>> {
    match statement {
        SQLStatement::Copy { to: false, target: CopyTarget::Stdin, .. } => {
            Some(copy_options(statement, true).map(|(table, read)| (table.to_string(), read)))
        }
        _ => None,
    }
}

/// The table and read options of a `COPY t [(columns)] FROM ...`: PostgreSQL's options (and its
/// defaults: no header; `text`, tab-separated with `\N` for NULL, when no format is given for
/// STDIN; a file's format is its extension's) plus `json` and `parquet`.
fn copy_options(copy: &SQLStatement, stdin: bool) -> Result<(TableName, ReadOptions), EngineError> {
    let SQLStatement::Copy { source: CopySource::Table { table_name, columns }, options, legacy_options, .. } = copy
    else {
        return Err(EngineError::unsupported("this COPY", "COPY table FROM 'file' loads a file"));
    };
    let table = crate::ddl::table_name(table_name)?;
    let mut read = ReadOptions {
        header: false,
        columns: columns.iter().map(crate::ddl::normalize).collect(),
        ..ReadOptions::default()
    };
    let unsupported = |option: String| {
        EngineError::unsupported(
            format!("the COPY option {option}"),
            "COPY FROM takes FORMAT (csv, text, json, parquet), HEADER, DELIMITER, NULL and QUOTE",
        )
    };
    // The format first: it sets the defaults the other options change.
    let format = options.iter().find_map(|option| match option {
        CopyOption::Format(format) => Some(format.value.to_lowercase()),
        _ => None,
    });
    let legacy_csv = legacy_options.iter().any(|option| matches!(option, CopyLegacyOption::Csv(_)));
    match (format.as_deref(), legacy_csv) {
        (Some("csv"), _) | (None, true) => read.format = Some(FileFormat::Csv),
        (Some("json" | "ndjson"), _) => read.format = Some(FileFormat::Json),
        (Some("parquet"), _) => read.format = Some(FileFormat::Parquet),
        (Some("text"), _) | (None, false) if stdin || format.is_some() => {
            read.format = Some(FileFormat::Csv);
            read.delimiter = b'\t';
            read.null = Some("\\N".into());
        }
        (None, false) => {}
        (Some(other), _) => return Err(unsupported(format!("FORMAT {other}"))),
    }
    for option in options {
        match option {
            CopyOption::Format(_) => {}
            CopyOption::Header(header) => read.header = *header,
            CopyOption::Delimiter(c) => read.delimiter = ascii(*c, "DELIMITER")?,
            CopyOption::Quote(c) => read.quote = ascii(*c, "QUOTE")?,
            CopyOption::Null(text) => read.null = Some(text.clone()),
            other => return Err(unsupported(other.to_string())),
        }
    }
    for option in legacy_options {
        match option {
            CopyLegacyOption::Delimiter(c) => read.delimiter = ascii(*c, "DELIMITER")?,
            CopyLegacyOption::Null(text) => read.null = Some(text.clone()),
            CopyLegacyOption::Header => read.header = true,
            CopyLegacyOption::Csv(csv) => {
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => read.header = true,
                        CopyLegacyCsvOption::Quote(c) => read.quote = ascii(*c, "QUOTE")?,
                        other => return Err(unsupported(other.to_string())),
                    }
                }
            }
            other => return Err(unsupported(other.to_string())),
        }
    }
    Ok((table, read))
}

fn ascii(c: char, option: &str) -> Result<u8, EngineError> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| EngineError::unsupported(format!("{option} '{c}'"), format!("{option} is one ASCII character")))
}

/// `INSERT INTO t ...`: the rows DataFusion planned (already in the table's columns), as a load.
pub(crate) async fn insert(session: &Session, operation: &str, dml: &DmlStatement) -> Result<Output, EngineError> {
    let version = session.engine().warehouse().refresh().await?;
    let def = managed_table(&version, dml.table_name.table())?;
    // DataFusion types `VALUES` with the table's nullability, so a NULL in a NOT NULL column would
    // fail inside the plan; the load's checks report it with the constraint's name instead.
    let input = dml.input.as_ref().clone().transform_up(|node| match node {
        LogicalPlan::Values(Values { schema, values }) => {
            let fields = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>();
            let qualifiers = schema.iter().map(|(q, _)| q.cloned()).collect();
            let schema = DFSchema::from_field_specific_qualified_schema(qualifiers, &Arc::new(Schema::new(fields)))?;
            Ok(Transformed::yes(LogicalPlan::Values(Values { schema: Arc::new(schema), values })))
        }
        other => Ok(Transformed::no(other)),
    })?;
    let rows = DataFrame::new(session.context().state(), input.data);
    let loaded = scd::loaded(def);
    let rows = if def.scd2 {
        // DataFusion fills the history columns with NULL; the load sets them.
        rows.select_columns(&loaded.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())?
    } else {
        rows
    };
    let rows = fit(&loaded, "INSERT", rows)?;
    let input = Input { table: def.name.clone(), source: "INSERT".into(), rows, csv: None };
    let outcome = load(session, operation, "INSERT", vec![input], &LoadOptions::default(), None).await?;
    Ok(Output::Command(format!("INSERT 0 {}", outcome.rows())))
}

/// A type 2 dimension is written anew by a load: its inputs (several files) become one.
fn merge_scd2_inputs(version: &Version, inputs: Vec<Input>) -> Result<Vec<Input>, EngineError> {
    let mut merged: Vec<Input> = Vec::new();
    for input in inputs {
        let scd2 = version.tables.get(&input.table).is_some_and(|d| d.scd2);
        match merged.iter_mut().find(|m| scd2 && m.table == input.table) {
            Some(into) => {
                into.rows = into.rows.clone().union(input.rows)?;
                into.source = format!("{}, {}", into.source, input.source);
                into.csv = None;
            }
            None => merged.push(input),
        }
    }
    Ok(merged)
}

/// Whether a source column of type `from` loads into a column of type `to`: within the same kind
/// of values (numbers, text, times, booleans) and castable. A number that does not fit (a
/// BIGINT over INT's range) fails the load when it is met.
fn compatible(from: &DataType, to: &DataType) -> bool {
    fn kind(t: &DataType) -> Option<u8> {
        match t {
            t if t.is_numeric() => Some(0),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(1),
            DataType::Dictionary(_, value) => kind(value),
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => Some(2),
            DataType::Boolean => Some(3),
            DataType::Null => None,
            _ => Some(4),
        }
    }
    from == &DataType::Null || (kind(from) == kind(to) && can_cast_types(from, to))
}

/// A table a load creates in its commit (`CREATE TABLE ... AS`).
pub(crate) struct Created {
    pub def: TableDef,
    /// Whether it replaces a table of the same name.
    pub or_replace: bool,
}

/// Loads `inputs` in one commit recorded under `options.id` (which also creates `created`).
pub(crate) async fn load(
    session: &Session,
    operation: &str,
    source: &str,
    inputs: Vec<Input>,
    options: &LoadOptions,
    created: Option<Created>,
) -> Result<LoadOutcome, EngineError> {
    let started = Instant::now();
    let started_at = Utc::now();
    let targets: Vec<TableName> = inputs.iter().map(|i| i.table.clone()).collect();
    let warehouse = session.engine().warehouse();
    let version = warehouse.refresh().await?;
    // The load reads and checks against the version as it will be, with the table it creates.
    let version = match &created {
        Some(created) => Arc::new(version.apply(&[Change::put(created.def.clone())], started_at)?),
        None => version,
    };
    let id = options.id.clone().unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    if let Some(entry) = version.loads.get(&id) {
        return Ok(LoadOutcome::AlreadyLoaded { id, version: entry.version });
    }
    let watermark = match &options.since {
        Some(column) => Some(since(&version, &inputs, source, column)?),
        None => None,
    };
    let state = session.context().state();
    let inputs = merge_scd2_inputs(&version, inputs)?;
    if options.rejects && inputs.iter().any(|i| version.tables.get(&i.table).is_some_and(|d| d.scd2)) {
        return Err(EngineError::unsupported(
            "--rejects with a type 2 dimension",
            "load the dimension without --rejects: its rows are versioned, not appended",
        ));
    }
    let mut written: Vec<(Arc<TableDef>, Written)> = Vec::new();
    let result = async {
        for input in inputs {
            let def = managed_table(&version, input.table.as_str())?;
            let rows = match &watermark {
                Some((column, Some(after))) => {
                    input.rows.filter(col(format!("\"{column}\"")).gt(lit(after.clone())))?
                }
                _ => input.rows,
            };
            let (rows, new_rows) = if def.scd2 {
                let (rows, versions) = scd::versioned(session.engine(), &state, def, rows, started_at).await?;
                (rows, Some(versions))
            } else {
                (rows, None)
            };
            let mut files = match write::write(&state, warehouse.root(), def, rows, Writers::PerPartition).await {
                Ok(files) => files,
                Err(error) => {
                    let error = match &input.csv {
                        Some(read) => {
                            bad_value(session.context(), &input.source, &scd::loaded(def), read).await.unwrap_or(error)
                        }
                        None => error,
                    };
                    return Err(EngineError::LoadFile { file: input.source.clone(), error: Box::new(error) });
                }
            };
            if def.scd2 {
                files.replaces = Some(def.files.clone());
                files.new_rows = new_rows;
            }
            written.push((Arc::clone(def), files));
        }
        if options.rejects {
            written =
                crate::rejects::separate(session.engine(), &state, &version, std::mem::take(&mut written), &id).await?;
            return Ok(());
        }
        check(session.engine(), &state, &version, &written).await
    }
    .await;
    let discard = |written: Vec<(Arc<TableDef>, Written)>| async move {
        for (_, files) in written {
            files.discard().await;
        }
    };
    if let Err(error) = result {
        discard(written).await;
        return Err(error);
    }
    let mut tables: Vec<LoadedTable> = Vec::new();
    for (def, files) in &written {
        match tables.iter_mut().find(|t| t.table == def.name) {
            Some(table) => {
                table.rows += files.rows();
                table.files += files.files.len() as u64;
            }
            None => tables.push(LoadedTable {
                table: def.name.clone(),
                rows: files.rows(),
                files: files.files.len() as u64,
            }),
        }
    }
    let watermark = match &watermark {
        Some((column, previous)) => new_watermark(column, previous.as_ref(), &written),
        None => None,
    };
    let record = Load {
        id: id.clone(),
        source: source.to_string(),
        tables: tables.clone(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        watermark,
    };
    let mut committed_before = None;
    let committed = warehouse
        .commit(operation, |current: &Version| {
            if let Some(entry) = current.loads.get(&id) {
                committed_before = Some(entry.version);
                return Ok(Vec::new());
            }
            let mut changes = Vec::new();
            for table in &tables {
                let mut def = match (&created, written.iter().find(|(d, _)| d.name == table.table)) {
                    // The table this load creates.
                    (Some(created), _) if created.def.name == table.table => {
                        if current.tables.contains_key(&created.def.name) && !created.or_replace {
                            return Err(CatalogError::TableExists { name: created.def.name.to_string() }.into());
                        }
                        TableDef { files: Vec::new(), ..created.def.clone() }
                    }
                    // A rejects table this load creates.
                    (_, Some((new, _)))
                        if !version.tables.contains_key(&new.name) && !current.tables.contains_key(&new.name) =>
                    {
                        TableDef { files: Vec::new(), ..new.as_ref().clone() }
                    }
                    _ => managed_table(current, table.table.as_str())?.as_ref().clone(),
                };
                let ours = written.iter().filter(|(d, _)| d.name == table.table);
                for (at_write, files) in ours {
                    if def.columns != at_write.columns || def.partition_columns != at_write.partition_columns {
                        return Err(EngineError::unsupported(
                            format!("loading into {} while its columns change", def.name),
                            "another session altered the table during the load; run the load again",
                        ));
                    }
                    if let Some(replaced) = &files.replaces {
                        if &def.files != replaced {
                            return Err(EngineError::unsupported(
                                format!("loading {} while another load changes it", def.name),
                                "a type 2 dimension is written anew by each load; run the load again",
                            ));
                        }
                        def.files.clear();
                    }
                    def.files.extend(files.files.iter().cloned());
                }
                changes.push(Change::put(def));
            }
            changes.push(Change::RecordLoad(Box::new(record.clone())));
            Ok::<_, EngineError>(changes)
        })
        .await;
    match (committed, committed_before) {
        (Ok(version), None) => {
            let (loaded, rejected): (Vec<&LoadedTable>, Vec<&LoadedTable>) =
                tables.iter().partition(|t| targets.contains(&t.table));
            Ok(LoadOutcome::Loaded {
                id,
                version: version.number,
                rows: loaded.iter().map(|t| t.rows).sum(),
                files: loaded.iter().map(|t| t.files).sum(),
                rejected: rejected.iter().map(|t| t.rows).sum(),
            })
        }
        (Ok(_), Some(version)) => {
            discard(written).await;
            Ok(LoadOutcome::AlreadyLoaded { id, version })
        }
        (Err(error), _) => {
            discard(written).await;
            Err(error)
        }
    }
}

/// The column an incremental load filters on, with the watermark the last load of the same
/// table and source reached (none the first time).
fn since(
    version: &Version,
    inputs: &[Input],
    source: &str,
    column: &str,
) -> Result<(String, Option<ScalarValue>), EngineError> {
    let mut previous = None;
    for input in inputs {
        let def = version.table(input.table.as_str())?;
        let data_type = def.column(column)?.data_type.clone();
        if let Some(mark) = version.watermark(&input.table, source).filter(|m| m.column == column) {
            previous = Some(ScalarValue::try_from_string(mark.value.clone(), &data_type)?);
        }
    }
    Ok((column.to_string(), previous))
}

/// The greatest value of the watermark column among the rows written (or the previous mark, if
/// no row was newer).
fn new_watermark(
    column: &str,
    previous: Option<&ScalarValue>,
    written: &[(Arc<TableDef>, Written)],
) -> Option<Watermark> {
    let mut best: Option<ScalarValue> = previous.cloned();
    for (def, files) in written {
        let Ok(data_type) = def.column(column).map(|c| c.data_type.clone()) else { continue };
        for file in &files.files {
            let max = file.columns.get(column).and_then(|s| s.max.clone());
            let Some(max) = max.and_then(|m| ScalarValue::try_from_string(m, &data_type).ok()) else { continue };
            if best.as_ref().is_none_or(|b| max.partial_cmp(b) == Some(std::cmp::Ordering::Greater)) {
                best = Some(max);
            }
        }
    }
    let value = best?;
    let array = value.to_array().ok()?;
    let text = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).ok()?.value(0).to_string();
    Some(Watermark { column: column.to_string(), value: text })
}

/// How many sample rows a rejected load shows.
const SAMPLES: usize = 5;

/// A context of its own, with the session's settings, where the tables under check are
/// registered by the names the checks' queries use.
pub(crate) fn check_context(engine: &Arc<Engine>, state: &SessionState) -> SessionContext {
    SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::from(state.config_options().as_ref().clone())
            .with_default_catalog_and_schema("datafusion", "public")
            .with_create_default_catalog_and_schema(true),
        Arc::clone(&engine.runtime),
    )
}

/// A table as it will be once the load commits: its files at `version` and the load's (`written`)
/// after them, or instead of them for a table written anew.
pub(crate) fn after_load(
    version: &Version,
    name: &TableName,
    written: &[(Arc<TableDef>, Written)],
) -> Result<Arc<TableDef>, EngineError> {
    let mut def = version.table(name.as_str())?.as_ref().clone();
    for (_, files) in written.iter().filter(|(d, _)| &d.name == name) {
        if files.replaces.is_some() {
            def.files.clear();
        }
        def.files.extend(files.files.iter().cloned());
    }
    Ok(Arc::new(def))
}

/// The rows a load adds to `def` (its new `files`), read with every column nullable, so that a NULL
/// in a NOT NULL column can be found at all.
pub(crate) fn added_rows(def: &TableDef, files: Vec<DataFile>) -> Arc<TableDef> {
    let mut added = TableDef { files, ..def.clone() };
    for column in &mut added.columns {
        column.nullable = true;
    }
    Arc::new(added)
}

/// Registers `def`'s table in a check context under `name`, in place of what was there.
pub(crate) fn register(
    engine: &Engine,
    ctx: &SessionContext,
    name: &str,
    def: &Arc<TableDef>,
) -> Result<(), EngineError> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, engine.table(def)?)?;
    Ok(())
}

/// Checks the tables' constraints on the rows the load adds, against the tables as they will be
/// once it commits (a fact's keys may reference dimension rows loaded with it).
async fn check(
    engine: &Arc<Engine>,
    state: &SessionState,
    version: &Version,
    written: &[(Arc<TableDef>, Written)],
) -> Result<(), EngineError> {
    let ctx = check_context(engine, state);
    let mut checked = Vec::new();
    for (def, _) in written {
        if checked.contains(&def.name) {
            continue;
        }
        checked.push(def.name.clone());
        let files = written.iter().filter(|(d, _)| d.name == def.name).flat_map(|(_, w)| w.files.clone());
        register(engine, &ctx, "added", &added_rows(def, files.collect()))?;
        register(engine, &ctx, "whole", &after_load(version, &def.name, written)?)?;
        for column in def.columns.iter().filter(|c| !c.nullable) {
            let sql = format!("SELECT * FROM added WHERE {} IS NULL", quote(&column.name));
            violations(&ctx, def, ConstraintKind::NotNull, &column.name, &sql).await?;
        }
        if let Some(pk) = &def.primary_key {
            let keys = quoted_list(&pk.columns);
            let on = join_on("w", &pk.columns, "a", &pk.columns);
            // A type 2 dimension's key is unique among its current rows.
            let current = if def.scd2 { format!(" AND w.{0} AND a.{0}", scd::IS_CURRENT) } else { String::new() };
            let sql = format!(
                "SELECT {keys} FROM whole w WHERE EXISTS (SELECT 1 FROM added a WHERE {on}{current}) \
                 GROUP BY {keys} HAVING count(*) > 1"
            );
            violations(&ctx, def, ConstraintKind::PrimaryKey, &pk.name, &sql).await?;
        }
        for fk in &def.foreign_keys {
            register(engine, &ctx, "referenced", &after_load(version, &fk.references, written)?)?;
            let present = fk.columns.iter().map(|c| format!("a.{} IS NOT NULL", quote(c))).collect::<Vec<_>>();
            let on = join_on("r", &fk.referenced_columns, "a", &fk.columns);
            let sql = format!(
                "SELECT {} FROM added a WHERE {} AND NOT EXISTS (SELECT 1 FROM referenced r WHERE {on})",
                fk.columns.iter().map(|c| format!("a.{}", quote(c))).collect::<Vec<_>>().join(", "),
                present.join(" AND ")
            );
            violations(&ctx, def, ConstraintKind::ForeignKey, &fk.name, &sql).await?;
        }
    }
    Ok(())
}

pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn quoted_list(names: &[String]) -> String {
    names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ")
}

pub(crate) fn join_on(left: &str, left_columns: &[String], right: &str, right_columns: &[String]) -> String {
    left_columns
        .iter()
        .zip(right_columns)
        .map(|(l, r)| format!("{left}.{} = {right}.{}", quote(l), quote(r)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Runs a query that finds the rows violating a constraint; any row rejects the load.
async fn violations(
    ctx: &SessionContext,
    def: &TableDef,
    kind: ConstraintKind,
    constraint: &str,
    sql: &str,
) -> Result<(), EngineError> {
    let found = ctx.sql(sql).await?;
    let counted = found.clone().count().await? as u64;
    if counted == 0 {
        return Ok(());
    }
    let batches = found.limit(0, Some(SAMPLES))?.collect().await?;
    let mut samples = Vec::new();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default().with_null("NULL")))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let names = batch.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>().join(", ");
            let values = formatters.iter().map(|f| f.value(row).to_string()).collect::<Vec<_>>().join(", ");
            samples.push(format!("({names})=({values})"));
        }
    }
    Err(EngineError::ConstraintViolation {
        table: def.name.to_string(),
        kind,
        constraint: constraint.to_string(),
        rows: counted,
        samples,
    })
}
