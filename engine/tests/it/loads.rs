//! Loads into managed tables through the engine's API (`starhouse load` uses it): load ids,
//! several tables in one commit, watermarks, failures that leave nothing behind, concurrent
//! loaders, partitioned layout and pruning, OPTIMIZE and VACUUM on the files themselves.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, Int64Array};
use starhouse_engine::{EngineError, LoadOptions, LoadOutcome, LoadTarget, Session};

use crate::TestEngine;

/// The one integer a query answers.
async fn number(session: &Session, sql: &str) -> i64 {
    let batches = session.sql(&format!("SELECT CAST(({sql}) AS BIGINT)")).await.expect("the query runs");
    let column = batches[0].column(0).as_any().downcast_ref::<Int64Array>().expect("a BIGINT").clone();
    assert!(!column.is_null(0), "{sql} is NULL");
    column.value(0)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a fixture is written");
    path.display().to_string()
}

/// Every Parquet file under a folder, recursively.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found.sort();
    found
}

const STAR: &str = "CREATE TABLE dim_store (store_key INT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE fact_sales (sale_id BIGINT PRIMARY KEY, store_key INT REFERENCES dim_store (store_key),
                             amount DOUBLE, sold_at TIMESTAMP) ORDER BY (sold_at);";

fn target(table: &str, files: &[&str]) -> LoadTarget {
    LoadTarget { table: table.into(), files: files.iter().map(|f| f.to_string()).collect() }
}

#[tokio::test]
async fn a_load_id_loads_once_and_covers_a_fact_with_its_new_dimension_rows() {
    let test = TestEngine::new().await;
    let data = Path::new(&test.data);
    let session = test.engine.session();
    session.sql(STAR).await.expect("the star is created");
    let stores = write(data, "stores.csv", "store_key,name\n1,North\n2,South\n");
    let sales = write(
        data,
        "sales.csv",
        "sale_id,store_key,amount,sold_at\n1,1,10,2026-01-01 10:00:00\n2,2,20,2026-01-02 10:00:00\n",
    );
    let targets = [target("dim_store", &[&stores]), target("fact_sales", &[&sales])];
    let options = LoadOptions { id: Some("batch-1".into()), ..LoadOptions::default() };

    // The fact rows reference store keys that only this load adds: checked together, committed together.
    let first = session.load(&targets, &options).await.expect("the load commits");
    let LoadOutcome::Loaded { version, rows, files, .. } = first.clone() else { panic!("loaded, got {first:?}") };
    assert_eq!((rows, files), (4, 2));
    assert_eq!(test.engine.warehouse().current().number, version, "one commit for both tables");

    let again = session.load(&targets, &options).await.expect("the same id again is no error");
    assert_eq!(again, LoadOutcome::AlreadyLoaded { id: "batch-1".into(), version });
    assert_eq!(test.engine.warehouse().current().number, version, "and commits nothing");
    assert_eq!(number(&session, "SELECT count(*) FROM fact_sales").await, 2);

    // Another process sees the load and its record.
    let other = test.reopen().await.session();
    let recorded = other
        .sql("SELECT load_id, tables, rows, files, version FROM system.loads")
        .await
        .expect("system.loads answers");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&recorded).expect("formats").to_string();
    assert!(text.contains(&format!("| batch-1 | dim_store, fact_sales | 4    | 2     | {version}       |")), "{text}");
    let reloaded = other.load(&targets, &options).await.expect("the id is known to every process");
    assert!(matches!(reloaded, LoadOutcome::AlreadyLoaded { .. }), "{reloaded:?}");
}

#[tokio::test]
async fn a_failed_load_leaves_the_warehouse_exactly_as_it_was() {
    let test = TestEngine::new().await;
    let data = Path::new(&test.data);
    let session = test.engine.session();
    session.sql(STAR).await.expect("the star is created");
    let stores = write(data, "stores.csv", "store_key,name\n1,North\n");
    session.load(&[target("dim_store", &[&stores])], &LoadOptions::default()).await.expect("loaded");
    let before = test.engine.warehouse().current().number;
    let files_before = parquet_files(test.dir.path());

    // A good file then a malformed one: the good one's rows must not become visible either.
    let good = write(data, "good.csv", "sale_id,store_key,amount,sold_at\n1,1,10,2026-01-01 10:00:00\n");
    let bad = write(
        data,
        "bad.csv",
        "sale_id,store_key,amount,sold_at\n2,1,10,2026-01-01 10:00:00\n3,1,ten,2026-01-01 10:00:00\n",
    );
    let error = session
        .load(&[target("fact_sales", &[&good, &bad])], &LoadOptions::default())
        .await
        .expect_err("the second file has a bad value");
    assert_eq!(error.to_string(), format!("cannot load {bad}: line 3, column amount: \"ten\" is not a valid DOUBLE"));

    let missing = data.join("missing.csv").display().to_string();
    let error = session.load(&[target("fact_sales", &[&missing])], &LoadOptions::default()).await.expect_err("no file");
    assert_eq!(error.to_string(), format!("cannot load {missing}: no such file"));

    let fk = write(data, "fk.csv", "sale_id,store_key,amount,sold_at\n4,7,1,2026-01-01 10:00:00\n");
    let error =
        session.load(&[target("fact_sales", &[&fk])], &LoadOptions::default()).await.expect_err("store 7 is unknown");
    assert!(matches!(error, EngineError::ConstraintViolation { rows: 1, .. }), "{error}");

    assert_eq!(test.engine.warehouse().refresh().await.expect("refresh").number, before, "nothing committed");
    assert_eq!(number(&session, "SELECT count(*) FROM fact_sales").await, 0);
    assert_eq!(parquet_files(test.dir.path()), files_before, "the files written for the failed loads are removed");
}

#[tokio::test]
async fn incremental_loads_read_only_rows_past_the_watermark() {
    let test = TestEngine::new().await;
    let data = Path::new(&test.data);
    let session = test.engine.session();
    session.sql(STAR).await.expect("the star is created");
    session.sql("INSERT INTO dim_store VALUES (1, 'North')").await.expect("a store");
    let feed = data.join("feed.csv").display().to_string();
    let options = LoadOptions { since: Some("sold_at".into()), ..LoadOptions::default() };
    let header = "sale_id,store_key,amount,sold_at\n";
    let mut lines = String::from(header);
    let mut loaded = Vec::new();
    for day in 1..=3 {
        // The source grows by one row a day; each scheduled run loads only the new one.
        lines.push_str(&format!("{day},1,{day},2026-01-0{day} 10:00:00\n"));
        write(data, "feed.csv", &lines);
        let outcome = session.load(&[target("fact_sales", &[&feed])], &options).await.expect("the run loads");
        loaded.push(outcome.rows());
    }
    assert_eq!(loaded, [1, 1, 1]);
    let outcome = session.load(&[target("fact_sales", &[&feed])], &options).await.expect("a run with nothing new");
    assert_eq!(outcome.rows(), 0);
    assert_eq!(number(&session, "SELECT count(*) FROM fact_sales").await, 3);
    let marks = session
        .sql("SELECT watermark FROM system.loads WHERE source LIKE '%feed.csv' ORDER BY version DESC LIMIT 1")
        .await
        .expect("the watermark is recorded");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&marks).expect("formats").to_string();
    assert!(text.contains("sold_at = 2026-01-03T10:00:00"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loaders_at_once_both_commit_with_no_lost_rows() {
    let test = TestEngine::new().await;
    test.engine.session().sql(STAR).await.expect("the star is created");
    test.engine.session().sql("INSERT INTO dim_store VALUES (1, 'North')").await.expect("a store");
    let data = Path::new(&test.data);
    let (a, b) = (test.reopen().await, test.reopen().await);
    const BATCHES: i64 = 6;
    let run = |engine: std::sync::Arc<starhouse_engine::Engine>, first: i64| {
        let data = data.to_path_buf();
        async move {
            for batch in 0..BATCHES {
                let id = first + batch * 10;
                let file = write(
                    &data,
                    &format!("sales-{id}.csv"),
                    &format!(
                        "sale_id,store_key,amount,sold_at\n{id},1,1,2026-01-01 10:00:00\n{},1,1,2026-01-01 10:00:00\n",
                        id + 1
                    ),
                );
                engine
                    .session()
                    .load(&[target("fact_sales", &[&file])], &LoadOptions::default())
                    .await
                    .expect("committed");
            }
        }
    };
    tokio::join!(run(a, 1000), run(b, 5000));
    let session = test.reopen().await.session();
    assert_eq!(number(&session, "SELECT count(*) FROM fact_sales").await, 4 * BATCHES);
    assert_eq!(number(&session, "SELECT count(DISTINCT sale_id) FROM fact_sales").await, 4 * BATCHES);
    assert_eq!(number(&session, "SELECT count(*) FROM system.loads WHERE tables = 'fact_sales'").await, 2 * BATCHES);
}

#[tokio::test]
async fn partitioned_tables_write_hive_folders_and_read_only_the_partitions_asked_for() {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    session
        .sql(
            "CREATE TABLE sales (id INT, amount INT, year INT) PARTITION BY (year) ORDER BY (id);
             INSERT INTO sales VALUES (1, 10, 2023), (2, 20, 2024), (3, 30, 2024), (4, 40, NULL);",
        )
        .await
        .expect("a partitioned table is loaded");
    let folder = test.dir.path().join("tables/sales");
    let relative: Vec<String> = parquet_files(&folder)
        .iter()
        .map(|p| p.strip_prefix(&folder).expect("under the table").parent().expect("a folder").display().to_string())
        .collect();
    assert_eq!(relative, ["year=2023", "year=2024", "year=__HIVE_DEFAULT_PARTITION__"]);
    assert_eq!(number(&session, "SELECT sum(amount) FROM sales").await, 100);

    // With the other partitions' files gone, a query on 2024 still answers: it never opens them.
    for other in ["year=2023", "year=__HIVE_DEFAULT_PARTITION__"] {
        std::fs::remove_dir_all(folder.join(other)).expect("removed");
    }
    assert_eq!(number(&session, "SELECT sum(amount) FROM sales WHERE year = 2024").await, 50);
    // The catalog's min/max prune within a partition's files too.
    session.sql("INSERT INTO sales VALUES (100, 1000, 2024)").await.expect("another file");
    assert_eq!(number(&session, "SELECT sum(amount) FROM sales WHERE year = 2024 AND id >= 100").await, 1000);
}

#[tokio::test]
async fn partition_values_holding_slashes_percents_and_equals_signs_read_back_and_restore() {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    let values = ["north/east", "a%b", "k=v #?", "x//y/", "50%2F", ""];
    let rows: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("({i}, '{v}')")).collect();
    session
        .sql(&format!(
            "CREATE TABLE sales (id INT, region TEXT) PARTITION BY (region);
             INSERT INTO sales VALUES {}, (99, NULL);",
            rows.join(", ")
        ))
        .await
        .expect("a table partitioned by awkward values is loaded");
    // One folder per value, each directly under the table's: a `/` in a value is escaped.
    let folder = test.dir.path().join("tables/sales");
    let files = parquet_files(&folder);
    assert_eq!(files.len(), values.len() + 1);
    assert!(files.iter().all(|f| f.parent().and_then(Path::parent) == Some(folder.as_path())), "{files:?}");

    let check = async |session: &Session| {
        assert_eq!(number(session, "SELECT count(*) FROM sales").await, values.len() as i64 + 1);
        for (i, value) in values.iter().enumerate() {
            let sql = format!("SELECT min(id) FROM sales WHERE region = '{value}'");
            assert_eq!(number(session, &sql).await, i as i64, "{value:?} reads back as written");
        }
        assert_eq!(number(session, "SELECT min(id) FROM sales WHERE region IS NULL").await, 99);
    };
    check(&session).await;
    // RESTORE finds the files of the version it restores.
    let before = test.engine.warehouse().current().number;
    session.sql("INSERT INTO sales VALUES (100, 'north/east')").await.expect("one more row");
    session.sql(&format!("RESTORE TABLE sales TO VERSION {before}")).await.expect("the old files are all there");
    check(&session).await;
}

#[tokio::test]
async fn optimize_compacts_small_files_and_vacuum_removes_only_what_no_version_uses() {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    session.sql("CREATE TABLE events (id BIGINT, at TIMESTAMP) ORDER BY (at)").await.expect("created");
    for i in 0..20 {
        session
            .sql(&format!(
                "INSERT INTO events VALUES ({i}, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL '{} minutes')",
                20 - i
            ))
            .await
            .expect("a small load");
    }
    let folder = test.dir.path().join("tables/events");
    assert_eq!(parquet_files(&folder).len(), 20);
    let before = test.engine.warehouse().current().number;
    // A file a crashed loader left: in the folder, in no version.
    std::fs::write(folder.join("orphan-00000.parquet"), b"partial").expect("an orphan");

    session.sql("OPTIMIZE events").await.expect("compacted");
    let version = test.engine.warehouse().current();
    assert_eq!(version.number, before + 1);
    assert_eq!(version.table("events").expect("events").files.len(), 1);
    assert_eq!(number(&session, "SELECT count(*) FROM events").await, 20);
    // The one file is in the declared order.
    let ids = session.sql("SELECT id FROM events").await.expect("read");
    let ids: Vec<i64> = ids
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().expect("ids").values().to_vec())
        .collect();
    assert_eq!(ids, (0..20).rev().collect::<Vec<_>>());

    // With the default retention nothing is old enough to go.
    session.sql("VACUUM events").await.expect("vacuumed");
    assert_eq!(parquet_files(&folder).len(), 22);
    // The version before OPTIMIZE still reads its 20 files.
    session.sql(&format!("SET starhouse.as_of = {before}")).await.expect("as of");
    assert_eq!(number(&session, "SELECT sum(id) FROM events").await, 190);
    session.sql("RESET starhouse.as_of").await.expect("reset");

    let removed = session.sql("VACUUM events RETAIN 0 HOURS").await.expect("vacuumed");
    let removed = removed[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::UInt64Array>()
        .expect("a count")
        .value(0);
    assert_eq!(removed, 21, "the 20 compacted files and the orphan");
    assert_eq!(parquet_files(&folder).len(), 1);
    assert_eq!(number(&session, "SELECT sum(id) FROM events").await, 190);
    let error =
        session.sql(&format!("RESTORE TABLE events TO VERSION {before}")).await.expect_err("its files are gone");
    assert!(error.to_string().contains("20 of its files are gone"), "{error}");
}

#[tokio::test]
async fn with_rejects_the_violating_rows_go_to_a_rejects_table_and_the_rest_commits() {
    let test = TestEngine::new().await;
    let data = Path::new(&test.data);
    let session = test.engine.session();
    session.sql(STAR).await.expect("the star is created");
    let stores = write(data, "stores.csv", "store_key,name\n1,North\n2,\n3,East\n3,Again\n4,West\n");
    let sales = write(
        data,
        "sales.csv",
        "sale_id,store_key,amount,sold_at\n1,1,1,2026-01-01 10:00:00\n2,2,2,2026-01-01 10:00:00\n3,9,3,2026-01-01 10:00:00\n4,4,4,2026-01-01 10:00:00\n",
    );
    let targets = [target("dim_store", &[&stores]), target("fact_sales", &[&sales])];
    let options = LoadOptions { id: Some("with-rejects".into()), rejects: true, ..LoadOptions::default() };
    let outcome = session.load(&targets, &options).await.expect("the load commits what is valid");
    let LoadOutcome::Loaded { rows, rejected, .. } = outcome else { panic!("loaded, got {outcome:?}") };
    // Stores 1 and 4 are valid; 2 has no name, 3 twice. Sales 1 and 4 reference valid stores; sale
    // 2's store was rejected, sale 3's does not exist.
    assert_eq!((rows, rejected), (4, 5));
    let kept = session.sql("SELECT store_key FROM dim_store ORDER BY 1").await.expect("read");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&kept).expect("formats").to_string();
    assert!(text.contains("| 1         |") && text.contains("| 4         |") && !text.contains("| 3 "), "{text}");
    assert_eq!(number(&session, "SELECT count(*) FROM fact_sales WHERE sale_id IN (1, 4)").await, 2);
    let reasons = session
        .sql("SELECT sale_id, reason, load_id FROM fact_sales_rejects ORDER BY sale_id")
        .await
        .expect("the rejects table is queryable");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&reasons).expect("formats").to_string();
    assert!(text.contains("| 2       | (store_key) not in dim_store | with-rejects |"), "{text}");
    assert!(text.contains("| 3       | (store_key) not in dim_store | with-rejects |"), "{text}");
    assert_eq!(number(&session, "SELECT count(*) FROM dim_store_rejects WHERE reason = 'name is NULL'").await, 1);
    assert_eq!(
        number(&session, "SELECT count(*) FROM dim_store_rejects WHERE reason = 'duplicate primary key (store_key)'")
            .await,
        2
    );
    // One commit for the four tables.
    assert_eq!(number(&session, "SELECT count(*) FROM system.versions WHERE load_id = 'with-rejects'").await, 1);
}

#[tokio::test]
async fn a_session_reads_the_warehouse_as_it_was_at_a_time() {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    session.sql("CREATE TABLE t (x INT); INSERT INTO t VALUES (1)").await.expect("the first load");
    let first = test.engine.warehouse().current();
    session.sql("INSERT INTO t VALUES (2), (3)").await.expect("the second load");
    // The time of the first load's commit, as a user writes a time (UTC, microseconds).
    let at = first.committed_at.format("%Y-%m-%d %H:%M:%S%.6f");
    session.sql(&format!("SET starhouse.as_of = '{at}'")).await.expect("as of a time");
    assert_eq!(number(&session, "SELECT count(*) FROM t").await, 1);
    // A second session is not affected.
    assert_eq!(number(&test.engine.session(), "SELECT count(*) FROM t").await, 3);
    session.sql("RESET starhouse.as_of").await.expect("reset");
    assert_eq!(number(&session, "SELECT count(*) FROM t").await, 3);
}

#[tokio::test]
async fn a_load_on_a_full_disk_fails_with_the_file_and_changes_nothing() {
    let test = TestEngine::new().await;
    let data = Path::new(&test.data);
    let session = test.engine.session();
    session.sql(STAR).await.expect("the star is created");
    session.sql("INSERT INTO dim_store VALUES (1, 'North')").await.expect("a store");
    let before = test.engine.warehouse().current().number;
    // The tables' files go through a store that can run out of space.
    let url = url::Url::parse("file:///").expect("a URL");
    let local = test.engine.stores().get(&url).expect("the local store");
    let store = starhouse_testkit::CountingStore::new(local);
    let full = store.full();
    test.engine.stores().register(&url, std::sync::Arc::new(store));
    full.store(true, std::sync::atomic::Ordering::Relaxed);

    let sales = write(data, "sales.csv", "sale_id,store_key,amount,sold_at\n1,1,10,2026-01-01 10:00:00\n");
    let error = session.load(&[target("fact_sales", &[&sales])], &LoadOptions::default()).await.expect_err("no space");
    let message = error.to_string();
    assert!(message.starts_with(&format!("cannot load {sales}: ")), "{message}");
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(test.engine.warehouse().refresh().await.expect("refresh").number, before, "nothing committed");
    assert!(parquet_files(&test.dir.path().join("tables/fact_sales")).is_empty());

    // With space again, the same load goes through.
    full.store(false, std::sync::atomic::Ordering::Relaxed);
    session.load(&[target("fact_sales", &[&sales])], &LoadOptions::default()).await.expect("loaded");
    assert_eq!(number(&session, "SELECT count(*) FROM fact_sales").await, 1);
}

#[tokio::test]
async fn written_files_keep_dictionaries_for_few_values_and_not_for_keys() {
    use datafusion::parquet::column::page::Page;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    let test = TestEngine::new().await;
    let session = test.engine.session();
    // Distinct keys (a row group's 2 MiB of them, whichever writer writes it) and a code with
    // ten values.
    session
        .sql("CREATE TABLE facts AS SELECT value AS key, value % 10 AS code FROM range(0, 524288)")
        .await
        .expect("the table is written");
    let files = parquet_files(&test.dir.path().join("tables").join("facts"));
    assert!(!files.is_empty());
    for path in files {
        let file = std::fs::File::open(&path).expect("the file opens");
        let reader = SerializedFileReader::new(file).expect("a Parquet file");
        let row_group = reader.get_row_group(0).expect("a row group");
        // The size in bytes of the column's dictionary page, if it has one.
        let dictionary = |column: usize| {
            let mut pages = row_group.get_column_page_reader(column).expect("the column's pages");
            match pages.get_next_page().expect("a page") {
                Some(Page::DictionaryPage { buf, .. }) => Some(buf.len()),
                _ => None,
            }
        };
        let key = dictionary(0).expect("the key starts with a dictionary");
        assert!(key <= 64 * 1024, "{path:?}: the keys' dictionary stops at 64 KiB: {key} bytes");
        assert_eq!(dictionary(1), Some(10 * 8), "{path:?}: the code's ten values");
    }
}

#[tokio::test]
async fn written_files_record_distinct_counts_and_analyze_keeps_them_and_the_tables_files() {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    session
        .sql("CREATE TABLE facts AS SELECT value AS key, value % 10 AS code, NULL AS nothing FROM range(0, 100000)")
        .await
        .expect("the table is written");
    session.sql("INSERT INTO facts VALUES (100000, 3, NULL)").await.expect("a second load");
    let recorded = test.engine.warehouse().current().table("facts").expect("facts").files.clone();
    for file in &recorded {
        let distinct = |column: &str| file.columns[column].distinct;
        assert!(distinct("code").is_some_and(|n| n.abs_diff(10.min(file.rows)) <= 1), "{file:?}");
        assert!(distinct("key").is_some_and(|n| n.abs_diff(file.rows) <= file.rows / 20), "{file:?}");
        assert_eq!(distinct("nothing"), Some(0), "NULLs are no values");
    }
    // Two loads' files are compacted into one; the old files stay in the folder (for time
    // travel), with a file a crashed loader left.
    session.sql("OPTIMIZE facts").await.expect("compacted");
    let folder = test.dir.path().join("tables/facts");
    std::fs::write(folder.join("orphan-00000.parquet"), b"partial").expect("an orphan");
    let optimized = test.engine.warehouse().current().table("facts").expect("facts").files.clone();

    session.sql("ANALYZE facts").await.expect("analyzed");
    let analyzed = test.engine.warehouse().current().table("facts").expect("facts").files.clone();
    assert_eq!(analyzed, optimized, "the same files, with the statistics they had");
    assert_eq!(number(&session, "SELECT count(*) FROM facts").await, 100_001);
}
