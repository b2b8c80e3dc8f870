//! `starbench`: generates the Star Schema Benchmark or TPC-H into a warehouse, and times their
//! queries in process on Starhouse or on plain DataFusion over the same files.
//!
//!     starbench generate ssb --scale 10 --warehouse /data/ssb-sf10
//!     starbench run ssb --warehouse /data/ssb-sf10 --engine starhouse --runs 3 --out ssb.json --results answers/
//!
//! Each query runs once to warm up, then `--runs` times; its median, and the peak resident memory
//! of the process over its runs, are printed and written as JSON. `benches/star/run` runs both
//! engines and DuckDB in one go and prints the comparison.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use datafusion::arrow::csv::WriterBuilder;
use serde::Serialize;
use starhouse_benches::{Benchmark, EngineKind, Runner, create, peak_memory, reset_peak_memory};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "The Star Schema Benchmark and TPC-H on Starhouse")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generates a benchmark's data into a new warehouse (tables with roles and keys, one load).
    Generate {
        benchmark: Benchmark,
        /// The scale factor: 1 is about 6 million fact rows.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long)]
        warehouse: PathBuf,
    },
    /// Times the benchmark's queries.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    benchmark: Benchmark,
    #[arg(long)]
    warehouse: PathBuf,
    #[arg(long, value_enum, default_value_t = EngineKind::Starhouse)]
    engine: EngineKind,
    /// Timed runs of each query, after one to warm up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Settings to run with, as `name=value` (`datafusion.execution.parquet.pushdown_filters=false`).
    #[arg(long = "set")]
    settings: Vec<String>,
    /// Only these queries (`Q1.1`, `Q18`).
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Print each query's plan with its metrics (EXPLAIN ANALYZE) rather than timing it.
    #[arg(long)]
    explain: bool,
    /// Where to write the timings as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A folder to write each query's answer into, as CSV.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// One query's timings.
#[derive(Serialize)]
struct Timing {
    name: String,
    median_ms: f64,
    runs_ms: Vec<f64>,
    peak_bytes: Option<u64>,
    rows: usize,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

async fn run(args: RunArgs) -> Result<Vec<Timing>> {
    let RunArgs { benchmark, warehouse, engine, runs, settings, queries: only, explain, results, .. } = args;
    let runner = Runner::open(engine, benchmark, &warehouse).await?;
    for setting in &settings {
        let (name, value) = setting.split_once('=').with_context(|| format!("{setting}: not name=value"))?;
        runner.run(&format!("SET {name} = '{value}'")).await?;
    }
    if let Some(folder) = &results {
        std::fs::create_dir_all(folder)?;
    }
    let mut timings = Vec::new();
    for query in benchmark.queries() {
        if !only.is_empty() && !only.contains(&query.name) {
            continue;
        }
        if explain {
            let plan = runner.run(&format!("EXPLAIN ANALYZE {}", query.sql)).await?;
            println!("{}\n{}", query.name, datafusion::arrow::util::pretty::pretty_format_batches(&plan)?);
            continue;
        }
        reset_peak_memory();
        let answer = runner.run(&query.sql).await.with_context(|| format!("{} failed", query.name))?;
        let mut runs_ms = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            runner.run(&query.sql).await?;
            runs_ms.push(millis(start.elapsed()));
        }
        let mut sorted = runs_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let median_ms = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        let rows = answer.iter().map(|b| b.num_rows()).sum();
        let peak_bytes = peak_memory();
        println!(
            "{:<6} {:>10.1} ms  {:>8} MB peak  {:>6} rows",
            query.name,
            median_ms,
            peak_bytes.map_or("-".into(), |b| (b / 1_000_000).to_string()),
            rows
        );
        if let Some(folder) = &results {
            let file = std::fs::File::create(folder.join(format!("{}.csv", query.name)))?;
            let mut writer = WriterBuilder::new().with_header(true).build(file);
            for batch in &answer {
                writer.write(batch)?;
            }
        }
        timings.push(Timing { name: query.name, median_ms, runs_ms, peak_bytes, rows });
    }
    Ok(timings)
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate { benchmark, scale, warehouse } => {
            let start = Instant::now();
            let created = create(benchmark, scale, &warehouse).await?;
            println!(
                "{} at scale {scale}: {} rows in {} files, version {}, in {:.1} s",
                benchmark.name(),
                created.rows,
                created.files,
                created.version,
                start.elapsed().as_secs_f64()
            );
        }
        Command::Run(args) => {
            let out = args.out.clone();
            let timings = run(args).await?;
            let total: f64 = timings.iter().map(|t| t.median_ms).sum();
            println!("total  {total:>10.1} ms");
            if let Some(out) = out {
                std::fs::write(&out, serde_json::to_string_pretty(&timings)?)?;
            }
        }
    }
    Ok(())
}
