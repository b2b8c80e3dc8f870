//! The Star Schema Benchmark and TPC-H on Starhouse: their data generated into a warehouse of
//! managed tables with roles, primary keys and foreign keys, their queries, and the two engines
//! they are timed on in process (Starhouse over its catalog, plain DataFusion over the same files).
//!
//! `starbench` (`main.rs`) generates and times; `compare.py` times DuckDB on the same files and
//! compares every answer.

pub mod ssb;
pub mod tpch;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use starhouse_engine::{Engine, EngineOptions, LoadOptions, LoadOutcome, LoadTarget, Session};

/// Generated rows of a table, batch by batch.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// A benchmark: its tables, how they are generated and declared, and its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Benchmark {
    /// The Star Schema Benchmark (13 queries).
    Ssb,
    /// TPC-H (22 queries).
    Tpch,
}

/// A named query of a benchmark.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub sql: String,
}

impl Benchmark {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ssb => "ssb",
            Self::Tpch => "tpch",
        }
    }

    /// The tables, each before those that reference it.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Ssb => &ssb::TABLES,
            Self::Tpch => &tpch::TABLES,
        }
    }

    fn generate(self, table: &str, scale: f64, part: usize, parts: usize) -> Batches {
        match self {
            Self::Ssb => ssb::generate(table, scale, part, parts),
            Self::Tpch => tpch::generate(table, scale, part, parts),
        }
    }

    /// `CREATE TABLE` statements for the tables, with roles and keys.
    fn schema(self) -> &'static str {
        match self {
            Self::Ssb => include_str!("sql/ssb-schema.sql"),
            Self::Tpch => include_str!("sql/tpch-schema.sql"),
        }
    }

    /// The benchmark's queries, in order.
    pub fn queries(self) -> Vec<Query> {
        parse_queries(match self {
            Self::Ssb => include_str!("sql/ssb-queries.sql"),
            Self::Tpch => include_str!("sql/tpch-queries.sql"),
        })
    }
}

/// The queries of a file where each starts after a `-- Qname` line.
fn parse_queries(text: &str) -> Vec<Query> {
    let mut queries: Vec<Query> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- Q") {
            queries.push(Query { name: format!("Q{}", name.trim()), sql: String::new() });
        } else if let Some(query) = queries.last_mut().filter(|_| !line.trim().is_empty()) {
            query.sql.push_str(line);
            query.sql.push('\n');
        }
    }
    queries
}

/// Writes the table's rows as Parquet files into `folder` (one per part, generated on as many
/// threads as there are cores) and returns them.
fn write_table(benchmark: Benchmark, table: &str, scale: f64, folder: &Path) -> Result<Vec<PathBuf>> {
    let parts = std::thread::available_parallelism().map_or(1, usize::from);
    std::fs::create_dir_all(folder)?;
    let written: Vec<Result<Option<PathBuf>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=parts)
            .map(|part| {
                scope.spawn(move || -> Result<Option<PathBuf>> {
                    let mut batches = benchmark.generate(table, scale, part, parts).peekable();
                    let Some(Ok(first)) = batches.peek() else {
                        return batches.next().transpose().map(|_| None).map_err(Into::into);
                    };
                    let path = folder.join(format!("{table}-{part}.parquet"));
                    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
                    let mut writer =
                        ArrowWriter::try_new(std::fs::File::create(&path)?, first.schema(), Some(properties))?;
                    for batch in batches {
                        writer.write(&batch?)?;
                    }
                    writer.close()?;
                    Ok(Some(path))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a generator panicked")))).collect()
    });
    written.into_iter().filter_map(Result::transpose).collect()
}

/// What [`create`] made.
#[derive(Debug)]
pub struct Created {
    pub version: u64,
    pub rows: u64,
    pub files: u64,
}

/// Generates the benchmark at scale factor `scale` into a new warehouse at the local folder
/// `root`: its tables are created with roles and keys, then loaded in one commit (keys checked),
/// from Parquet files generated into a staging folder that is removed after.
pub async fn create(benchmark: Benchmark, scale: f64, root: &Path) -> Result<Created> {
    std::fs::create_dir_all(root)?;
    if std::fs::read_dir(root)?.next().is_some() {
        bail!("{} is not empty: the benchmark is generated into a new warehouse", root.display());
    }
    let staging = tempfile::tempdir_in(root)?;
    let mut targets = Vec::new();
    for table in benchmark.tables() {
        let files = write_table(benchmark, table, scale, &staging.path().join(table))
            .with_context(|| format!("generating {table}"))?;
        let files = files.iter().map(|f| f.display().to_string()).collect();
        targets.push(LoadTarget { table: table.to_string(), files });
    }
    let (engine, _) = Engine::open(&root.display().to_string(), EngineOptions::default()).await?;
    let session = engine.session();
    session.sql(benchmark.schema()).await?;
    let options = LoadOptions { id: Some(format!("{}-sf{scale}", benchmark.name())), ..Default::default() };
    let outcome = session.load(&targets, &options).await?;
    staging.close()?;
    match outcome {
        LoadOutcome::Loaded { version, rows, files, .. } => Ok(Created { version, rows, files }),
        other => bail!("the load did not happen: {other:?}"),
    }
}

/// An engine the queries are timed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Starhouse: the warehouse opened through its catalog.
    Starhouse,
    /// Plain DataFusion 55 with its default settings, each table registered as its folder of
    /// Parquet files.
    Datafusion,
}

/// An engine ready to answer a benchmark's queries.
pub enum Runner {
    Starhouse(Session),
    DataFusion(SessionContext),
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Starhouse(_) => "Runner::Starhouse",
            Self::DataFusion(_) => "Runner::DataFusion",
        })
    }
}

impl Runner {
    /// Opens the warehouse at `root` with the engine.
    pub async fn open(kind: EngineKind, benchmark: Benchmark, root: &Path) -> Result<Self> {
        match kind {
            EngineKind::Starhouse => {
                let (engine, _) = Engine::open(&root.display().to_string(), EngineOptions::default()).await?;
                Ok(Self::Starhouse(engine.session()))
            }
            EngineKind::Datafusion => {
                let ctx = SessionContext::new();
                for table in benchmark.tables() {
                    let folder = format!("{}/", table_folder(root, table).display());
                    ctx.register_parquet(*table, &folder, ParquetReadOptions::default()).await?;
                }
                Ok(Self::DataFusion(ctx))
            }
        }
    }

    /// Runs a query to its end and returns its rows.
    pub async fn run(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        match self {
            Self::Starhouse(session) => Ok(session.sql(sql).await?),
            Self::DataFusion(ctx) => Ok(ctx.sql(sql).await?.collect().await?),
        }
    }
}

/// The folder of a managed table's files in the warehouse at `root`.
pub fn table_folder(root: &Path, table: &str) -> PathBuf {
    root.join("tables").join(table)
}

/// A query's rows as text, one line per row, in order; floats rounded to 6 significant digits,
/// so that answers summed in another order compare equal.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<String>> {
    use datafusion::arrow::array::{Array, Float64Array};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null("NULL");
    let mut lines = Vec::new();
    for batch in batches {
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); batch.num_rows()];
        for column in batch.columns() {
            if column.data_type().is_floating() {
                let floats = cast(column, &DataType::Float64)?;
                let floats = floats.as_any().downcast_ref::<Float64Array>().context("a float column")?;
                for (row, cell) in cells.iter_mut().enumerate() {
                    cell.push(if floats.is_null(row) { "NULL".into() } else { format!("{:.5e}", floats.value(row)) });
                }
            } else {
                let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
                for (row, cell) in cells.iter_mut().enumerate() {
                    cell.push(formatter.value(row).to_string());
                }
            }
        }
        lines.extend(cells.into_iter().map(|c| c.join("|")));
    }
    Ok(lines)
}

/// The peak resident memory of this process since the last [`reset_peak_memory`], in bytes
/// (Linux's `VmHWM`), or `None` where the system does not tell.
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts a new peak for [`peak_memory`] from the current resident memory.
pub fn reset_peak_memory() {
    // Writing 5 to clear_refs resets the peak (Linux 4.0 and later); elsewhere nothing happens.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
