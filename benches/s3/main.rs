//! Requests and time of a selective star query over a 200-file fact table in S3 (a real
//! S3-compatible server on loopback), for Starhouse and for plain DataFusion on the same files.
//!
//!     cargo run --release -p starhouse-benches --bin s3-requests
//!
//! Each engine starts as a new process would: Starhouse opens the warehouse (its catalog knows the
//! tables, their files and statistics); plain DataFusion declares the tables with `CREATE EXTERNAL
//! TABLE` (default settings). Then the query runs twice. Requests are counted from the server's
//! log, so every request of every client is seen: LIST, HEAD, GET and PUT.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use starhouse_engine::catalog::ObjectStores;
use starhouse_engine::{Engine, EngineOptions, demo};
use starhouse_testkit::S3Server;

const FILES: usize = 200;
const BUCKET: &str = "bench";
const QUERY: &str = "SELECT d.day_of_week, count(*) AS sales, sum(f.sale_amount) AS revenue
FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key
WHERE d.year = 2024 AND d.month_of_year = 12
GROUP BY d.day_of_week ORDER BY d.day_of_week";

/// Requests seen in the server's log.
#[derive(Debug, Default, Clone, Copy)]
struct Requests {
    list: usize,
    head: usize,
    get: usize,
    put: usize,
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>4} LIST {:>4} HEAD {:>4} GET {:>3} PUT", self.list, self.head, self.get, self.put)
    }
}

/// The text without terminal colour codes (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Counts the requests in the server's log after its first `skip` lines.
fn requests(server: &S3Server, skip: usize) -> (Requests, usize) {
    let log = without_colours(&server.log_text());
    let lines: Vec<&str> = log.lines().filter(|line| line.contains(" HTTP/1.1\"")).collect();
    let mut counts = Requests::default();
    for line in &lines[skip.min(lines.len())..] {
        let request = line.split('"').nth(1).unwrap_or_default();
        let mut words = request.split_whitespace();
        let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
        match method {
            "GET" if target.contains("list-type=") => counts.list += 1,
            "GET" => counts.get += 1,
            "HEAD" => counts.head += 1,
            "PUT" | "POST" => counts.put += 1,
            _ => {}
        }
    }
    (counts, lines.len())
}

/// The demo star at scale 1, with its fact table re-cut into `FILES` files in date order, in the
/// bucket; declared in a Starhouse warehouse in the same bucket.
async fn prepare(options: &EngineOptions) -> Result<()> {
    let local = tempfile::tempdir()?;
    let (source, _) = Engine::open(local.path().to_str().context("utf-8 path")?, options.clone()).await?;
    demo::create(&source, 1.0).await?;
    let session = source.session();
    let data = format!("s3://{BUCKET}/data");
    session.sql(&format!("COPY dim_date TO '{data}/dim_date/part-0.parquet' STORED AS PARQUET")).await?;
    let rows = 1_000_000 / FILES;
    for file in 0..FILES {
        session
            .sql(&format!(
                "COPY (SELECT * FROM fact_sales ORDER BY date_key, sale_id LIMIT {rows} OFFSET {})
                   TO '{data}/fact_sales/part-{file:03}.parquet' STORED AS PARQUET",
                file * rows
            ))
            .await?;
    }
    let (warehouse, _) = Engine::open(&format!("s3://{BUCKET}/warehouse"), options.clone()).await?;
    warehouse
        .session()
        .sql(&format!(
            "CREATE EXTERNAL TABLE dim_date (PRIMARY KEY (date_key)) STORED AS PARQUET LOCATION '{data}/dim_date/';
             CREATE EXTERNAL TABLE fact_sales (FOREIGN KEY (date_key) REFERENCES dim_date (date_key))
               STORED AS PARQUET WITH ORDER (date_key) LOCATION '{data}/fact_sales/';"
        ))
        .await?;
    Ok(())
}

/// Runs `work`, prints its requests and time, and returns what it made.
async fn measure<T>(server: &S3Server, label: &str, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let (_, before) = requests(server, usize::MAX);
    let started = Instant::now();
    let made = work.await?;
    let elapsed = started.elapsed();
    // The server writes its log line after answering; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (counts, _) = requests(server, before);
    println!("{label:<44} {counts}   {:>8.1} ms", elapsed.as_secs_f64() * 1000.0);
    Ok(made)
}

/// The query's rows, checked to be one per weekday.
fn check(batches: &[RecordBatch]) -> Result<()> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    anyhow::ensure!(rows == 7, "expected a row per weekday, got {rows}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let server = S3Server::start(false);
    server.create_bucket(BUCKET);
    let options = EngineOptions { storage: starhouse_testkit::s3_storage(server.endpoint()), ..Default::default() };
    eprintln!("Preparing the demo star with a {FILES}-file fact table in s3://{BUCKET}/ ...");
    prepare(&options).await?;
    println!("A selective star query (December 2024) over a {FILES}-file fact table on loopback S3:\n");

    let root = format!("s3://{BUCKET}/warehouse");
    let open = async { Ok(Engine::open(&root, options.clone()).await?) };
    let (engine, _) = measure(&server, "Starhouse: open the warehouse", open).await?;
    let session = engine.session();
    for run in ["first", "repeated"] {
        let batches =
            measure(&server, &format!("Starhouse: {run} query"), async { Ok(session.sql(QUERY).await?) }).await?;
        check(&batches)?;
    }

    let ctx = SessionContext::new();
    let bucket = url::Url::parse(&format!("s3://{BUCKET}/"))?;
    ctx.register_object_store(
        &bucket,
        ObjectStores::new(starhouse_testkit::s3_storage(server.endpoint())).get(&bucket)?,
    );
    measure(&server, "DataFusion: CREATE EXTERNAL TABLE (both)", async {
        for table in ["dim_date", "fact_sales"] {
            let create =
                format!("CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION 's3://{BUCKET}/data/{table}/'");
            ctx.sql(&create).await?.collect().await?;
        }
        Ok(())
    })
    .await?;
    for run in ["first", "repeated"] {
        let query = async { Ok(ctx.sql(QUERY).await?.execute_stream().await?.try_collect::<Vec<_>>().await?) };
        check(&measure(&server, &format!("DataFusion: {run} query"), query).await?)?;
    }
    Ok(())
}
