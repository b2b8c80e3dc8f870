//! What one process declares, the next one sees: tables, keys, roles and comments live in the
//! warehouse, not in the process.

use starhouse_engine::catalog::{Role, TableName};

use crate::TestEngine;

#[tokio::test]
async fn a_declared_star_survives_a_new_process() {
    let test = TestEngine::new().await;
    let fixture = test.dir.path().join("fixture");
    let session = test.engine.session();
    session
        .sql(&format!(
            "COPY (SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(k, name)) TO '{dim}' STORED AS PARQUET;
             COPY (SELECT * FROM (VALUES (10, 1), (11, 2), (12, 2)) AS t(id, k)) TO '{fact}' STORED AS PARQUET;
             CREATE EXTERNAL TABLE dim (PRIMARY KEY (k)) STORED AS PARQUET LOCATION '{dim}';
             CREATE EXTERNAL TABLE fact (FOREIGN KEY (k) REFERENCES dim (k)) STORED AS PARQUET LOCATION '{fact}';
             ALTER TABLE fact SET ROLE FACT;
             COMMENT ON TABLE dim IS 'the dimension';
             COMMENT ON COLUMN fact.id IS 'the sale';",
            dim = fixture.join("dim.parquet").display(),
            fact = fixture.join("fact.parquet").display(),
        ))
        .await
        .expect("the star is declared");

    let reopened = test.reopen().await;
    let version = reopened.warehouse().current();
    let fact = version.table("fact").expect("fact is there");
    assert_eq!(fact.role, Some(Role::Fact));
    assert_eq!(fact.foreign_keys[0].references, TableName::new("dim"));
    assert_eq!(fact.column("id").expect("id").comment.as_deref(), Some("the sale"));
    assert_eq!(version.table("dim").expect("dim").comment.as_deref(), Some("the dimension"));

    let batches = reopened
        .session()
        .sql("SELECT d.name, count(*) AS sales FROM fact f JOIN dim d ON f.k = d.k GROUP BY d.name ORDER BY d.name")
        .await
        .expect("the new process queries the tables");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("formats").to_string();
    assert!(text.contains("| a    | 1     |") && text.contains("| b    | 2     |"), "{text}");
}

#[tokio::test]
async fn a_location_inside_the_warehouse_is_stored_relative_to_it() {
    let test = TestEngine::new().await;
    let data = test.dir.path().join("data/t");
    let session = test.engine.session();
    session
        .sql(&format!(
            "COPY (SELECT 1 AS x) TO '{file}' STORED AS PARQUET;
             CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{folder}';",
            file = data.join("part-0.parquet").display(),
            folder = data.display(),
        ))
        .await
        .expect("created");
    let location = test.engine.warehouse().current().table("t").expect("t").location.clone();
    assert_eq!(location, "data/t/");

    // The whole warehouse folder moves, and the table still reads.
    let moved = tempfile::tempdir().expect("a temporary folder");
    let target = moved.path().join("wh");
    std::fs::rename(test.dir.path(), &target).expect("move the warehouse");
    let (engine, created) = starhouse_engine::Engine::open(target.to_str().expect("utf-8"), Default::default())
        .await
        .expect("the moved warehouse opens");
    assert!(!created);
    let batches = engine.session().sql("SELECT count(*) FROM t").await.expect("reads");
    assert_eq!(batches[0].num_rows(), 1);
    // Put it back so that the temporary folder is cleaned up.
    std::fs::rename(&target, test.dir.path()).expect("move back");
}

#[tokio::test]
async fn the_catalog_records_file_statistics_and_analyze_catches_up_with_new_files() {
    let test = TestEngine::new().await;
    let data = &test.data;
    let session = test.engine.session();
    session
        .sql(&format!(
            "COPY (SELECT value AS k, 'x' AS v FROM range(10, 20)) TO '{data}/t/part-0.parquet' STORED AS PARQUET;
             CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{data}/t/';
             COPY (SELECT value AS k, CAST(NULL AS VARCHAR) AS v FROM range(100, 105)) TO '{data}/t/part-1.parquet' STORED AS PARQUET;"
        ))
        .await
        .expect("a table, then a new file");
    let files = |engine: &starhouse_engine::Engine| engine.warehouse().current().table("t").expect("t").files.clone();
    let created = files(&test.engine);
    assert_eq!(created.len(), 1, "the file present at CREATE is recorded");
    assert_eq!(created[0].path, "part-0.parquet");
    assert_eq!(created[0].rows, 10);
    let k = &created[0].columns["k"];
    assert_eq!((k.min.as_deref(), k.max.as_deref(), k.nulls), (Some("10"), Some("19"), Some(0)));

    session.sql("ANALYZE t").await.expect("analyze");
    let reopened = test.reopen().await;
    let analyzed = files(&reopened);
    let summary: Vec<(&str, u64, Option<u64>)> =
        analyzed.iter().map(|f| (f.path.as_str(), f.rows, f.columns["v"].nulls)).collect();
    assert_eq!(summary, [("part-0.parquet", 10, Some(0)), ("part-1.parquet", 5, Some(5))]);
    let version = reopened.warehouse().current().number;
    session.sql("ANALYZE").await.expect("analyze every table");
    assert_eq!(test.reopen().await.warehouse().current().number, version, "nothing changed, nothing was committed");
}
