//! Warehouses and tables in object storage (the SQL behaviour on S3 is the `.slt` suite, run
//! there too): tables in other buckets, the demo in a bucket, economical reads, and secrets kept out
//! of everything a user or the catalog sees.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use starhouse_engine::{Engine, Session, demo};
use starhouse_testkit::{CountingStore, RequestCounts, S3Server, SECRET_ACCESS_KEY};
use url::Url;

use crate::{TestEngine, s3_options};

async fn single_i64(session: &Session, sql: &str) -> i64 {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

async fn text(session: &Session, sql: &str) -> String {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("formats").to_string()
}

/// Counts the requests `engine` makes to `bucket` from now on.
fn count_requests(engine: &Engine, bucket: &str) -> Arc<RequestCounts> {
    let url = Url::parse(&format!("s3://{bucket}/")).expect("a bucket URL");
    let inner = engine.stores().get(&url).expect("the bucket's store");
    let counting = CountingStore::new(inner);
    let counts = counting.counts();
    engine.stores().register(&url, Arc::new(counting));
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_warehouse_reads_a_partitioned_table_in_a_bucket() {
    let server = S3Server::shared();
    let bucket = server.new_bucket("lake");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path().to_str().expect("utf-8 path").to_string();
    let test = TestEngine::with(dir, root, None, s3_options(server)).await;
    let session = test.engine.session();
    session
        .sql(&format!(
            "COPY (SELECT * FROM (VALUES (1, 10, '2023'), (2, 20, '2023'), (3, 30, '2024')) AS t(sale_id, amount, year))
               TO 's3://{bucket}/sales/' STORED AS PARQUET PARTITIONED BY (year);
             CREATE EXTERNAL TABLE sales STORED AS PARQUET PARTITIONED BY (year) LOCATION 's3://{bucket}/sales/';"
        ))
        .await
        .expect("the table is declared");
    let def = test.engine.warehouse().current().table("sales").expect("sales").clone();
    assert_eq!(def.location, format!("s3://{bucket}/sales/"), "a location outside the root is stored as given");

    let reopened = test.reopen().await.session();
    assert_eq!(single_i64(&reopened, "SELECT sum(amount) FROM sales WHERE year = '2024'").await, 30);
    assert_eq!(single_i64(&reopened, "SELECT count(*) FROM sales").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_warehouse_can_live_in_a_bucket() {
    let test = TestEngine::on_s3().await;
    let summary = demo::create(&test.engine, 0.01).await.expect("the demo is created in the bucket");
    let version = test.engine.warehouse().current();
    assert_eq!(version.table("fact_sales").expect("fact_sales").location, "data/fact_sales/");

    let session = test.reopen().await.session();
    let sales =
        single_i64(&session, "SELECT count(*) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key").await;
    assert_eq!(sales as usize, summary.rows[4].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_prunes_files_by_catalog_statistics_and_reuses_what_it_read() {
    let test = TestEngine::on_s3().await;
    let data = &test.data;
    let session = test.engine.session();
    // Four files of a hundred sales each, with disjoint ranges of sale_id.
    for file in 0..4 {
        let first = file * 100;
        session
            .sql(&format!(
                "COPY (SELECT value AS sale_id, value % 7 AS amount FROM range({first}, {first} + 100))
                   TO '{data}/sales/part-{file}.parquet' STORED AS PARQUET"
            ))
            .await
            .expect("a fixture file");
    }
    session
        .sql(&format!("CREATE EXTERNAL TABLE sales STORED AS PARQUET WITH ORDER (sale_id) LOCATION '{data}/sales/'"))
        .await
        .expect("declared");
    let version = test.engine.warehouse().current();
    let files = &version.table("sales").expect("sales").files;
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 400, "the catalog knows every file: {files:?}");

    // A new process, whose every request to the bucket is counted.
    let engine = test.reopen().await;
    let bucket = Url::parse(data).expect("a URL").host_str().expect("a bucket").to_string();
    let counts = count_requests(&engine, &bucket);
    let session = engine.session();
    let selective = "SELECT sum(amount) FROM sales WHERE sale_id BETWEEN 120 AND 130";
    let expected: i64 = (120..=130).map(|v| v % 7).sum();
    assert_eq!(single_i64(&session, selective).await, expected);
    let first = counts.snapshot();
    assert_eq!(single_i64(&session, selective).await, expected);
    let second = counts.snapshot() - first;

    assert_eq!((first.list, first.head), (1, 0), "the first query lists the folder once: {first}");
    assert!(first.get < 4, "files outside the range are pruned before any request for them: {first}");
    assert_eq!((second.list, second.head), (0, 0), "the listing is reused: {second}");
    assert_eq!(second.get, 1, "only the matching file's data is read, its footer and page index are cached: {second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_locations_messages_explain_and_the_catalog() {
    let test = TestEngine::on_s3().await;
    let data = &test.data;
    let session = test.engine.session();
    let with_secret = data.replace("s3://", &format!("s3://AKIDEXAMPLE:{SECRET_ACCESS_KEY}@"));
    let error = session
        .sql(&format!("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{with_secret}/t/'"))
        .await
        .expect_err("credentials in a location are refused");
    let message = error.to_string();
    assert!(message.contains("credentials do not belong in a location"), "{message}");
    assert!(!message.contains(SECRET_ACCESS_KEY), "{message}");

    session
        .sql(&format!(
            "COPY (SELECT 1 AS k) TO '{data}/t/part-0.parquet' STORED AS PARQUET;
             CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{data}/t/';"
        ))
        .await
        .expect("declared");
    let plan = text(&session, "EXPLAIN SELECT * FROM t").await;
    assert!(plan.contains("part-0.parquet"), "{plan}");
    assert!(!plan.contains(SECRET_ACCESS_KEY), "{plan}");
    let missing = session.sql("SELECT * FROM t WHERE nosuch = 1").await.expect_err("no such column").to_string();
    assert!(!missing.contains(SECRET_ACCESS_KEY), "{missing}");

    let root = test.engine.warehouse().root();
    let files: Vec<_> =
        root.store().list(Some(&root.path("_starhouse"))).try_collect().await.expect("list the catalog");
    assert!(!files.is_empty());
    for file in files {
        let bytes = root.store().get(&file.location).await.expect("read").bytes().await.expect("bytes");
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET_ACCESS_KEY), "{} holds the secret", file.location);
    }
}
