//! The benchmarks' data and queries at a small scale: the generated warehouse follows the
//! specifications, and every query answers on Starhouse as on plain DataFusion over the same files.

use std::path::Path;

use starhouse_benches::{Benchmark, EngineKind, Runner, create, rows};

const SCALE: f64 = 0.01;

async fn answers(kind: EngineKind, benchmark: Benchmark, root: &Path) -> Vec<(String, Vec<String>)> {
    let runner = Runner::open(kind, benchmark, root).await.expect("open");
    let mut answers = Vec::new();
    for query in benchmark.queries() {
        let batches = runner.run(&query.sql).await.unwrap_or_else(|e| panic!("{} on {kind:?}: {e:#}", query.name));
        let mut lines = rows(&batches).expect("rows");
        lines.sort();
        answers.push((query.name, lines));
    }
    answers
}

async fn same_answers_as_plain_datafusion(benchmark: Benchmark, queries: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    create(benchmark, SCALE, dir.path()).await.expect("generate");
    let starhouse = answers(EngineKind::Starhouse, benchmark, dir.path()).await;
    let datafusion = answers(EngineKind::Datafusion, benchmark, dir.path()).await;
    assert_eq!(starhouse.len(), queries);
    for ((name, ours), (_, theirs)) in starhouse.iter().zip(&datafusion) {
        assert_eq!(ours, theirs, "{name}");
    }
    // The answers are not all empty: the data reaches the queries' filters.
    let answered = starhouse.iter().filter(|(_, rows)| !rows.is_empty()).count();
    assert!(answered >= queries - 4, "only {answered} queries answered rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssb_queries_answer_as_on_plain_datafusion() {
    same_answers_as_plain_datafusion(Benchmark::Ssb, 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_queries_answer_as_on_plain_datafusion() {
    same_answers_as_plain_datafusion(Benchmark::Tpch, 22).await;
}

/// One row of text from a query on the warehouse.
async fn one(runner: &Runner, sql: &str) -> String {
    let batches = runner.run(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:#}"));
    rows(&batches).expect("rows").join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssb_data_follows_the_specification() {
    let dir = tempfile::tempdir().expect("tempdir");
    create(Benchmark::Ssb, SCALE, dir.path()).await.expect("generate");
    let ssb = Runner::open(EngineKind::Starhouse, Benchmark::Ssb, dir.path()).await.expect("open");
    let counts = "SELECT (SELECT count(*) FROM customer) AS c, (SELECT count(*) FROM supplier) AS s,
        (SELECT count(*) FROM part) AS p, (SELECT count(*) FROM dwdate) AS d, (SELECT count(*) FROM lineorder) AS lo";
    // TPC-H's 60,175 line items at scale 0.01 are the line orders; 7 years of days.
    assert_eq!(one(&ssb, counts).await, "300|20|2000|2557|60175");
    let derived = "SELECT count(*) FROM lineorder
        WHERE lo_revenue <> lo_extendedprice * (100 - lo_discount) / 100
           OR lo_discount NOT BETWEEN 0 AND 10 OR lo_quantity NOT BETWEEN 1 AND 50 OR lo_tax NOT BETWEEN 0 AND 8";
    assert_eq!(one(&ssb, derived).await, "0");
    let years = "SELECT min(d_year), max(d_year), count(DISTINCT d_yearmonth), min(d_datekey) FROM dwdate";
    assert_eq!(one(&ssb, years).await, "1992|1998|84|19920101");
    let parts = "SELECT count(DISTINCT p_mfgr), count(DISTINCT p_category), max(length(p_brand1)),
        count(*) FILTER (WHERE substr(p_brand1, 1, 7) <> p_category) FROM part";
    assert_eq!(one(&ssb, parts).await, "5|25|9|0");
    let cities = "SELECT count(*) FILTER (WHERE length(c_city) <> 10 OR substr(c_city, 1, 9) <> rpad(substr(c_nation, 1, 9), 9)),
        count(DISTINCT c_region) FROM customer";
    assert_eq!(one(&ssb, cities).await, "0|5");
}
