//! Star joins planned with the catalog's keys (`engine/src/star.rs`): a dimension that matches
//! every fact row once and whose columns are unused is not joined, one that only adds columns is
//! joined last, and every answer is the one DataFusion gives without the rule.

use datafusion::arrow::util::pretty::pretty_format_batches;
use starhouse_engine::Session;

use crate::TestEngine;

async fn run(session: &Session, sql: &str) -> String {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).expect("the rows format").to_string()
}

/// The optimized logical plan of a query.
async fn plan(session: &Session, sql: &str) -> String {
    let batches = session.sql(&format!("EXPLAIN {sql}")).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = pretty_format_batches(&batches).expect("the plan formats").to_string();
    text.split("physical_plan").next().unwrap_or_default().to_string()
}

/// The query's answer and plan with the rule, after checking that the answer is the same without.
async fn with_and_without(session: &Session, sql: &str) -> (String, String) {
    run(session, "SET starhouse.star_joins = false").await;
    let (without, plan_without) = (run(session, sql).await, plan(session, sql).await);
    run(session, "SET starhouse.star_joins = true").await;
    let (with, plan_with) = (run(session, sql).await, plan(session, sql).await);
    assert_eq!(with, without, "{sql}\nwith the rule:\n{plan_with}\nwithout:\n{plan_without}");
    (with, plan_with)
}

const TABLES: &[&str] = &[
    "CREATE TABLE dim_date (date_key INT PRIMARY KEY, year INT NOT NULL) WITH (role = 'dimension')",
    "CREATE TABLE dim_store (store_key INT PRIMARY KEY, region TEXT NOT NULL) WITH (role = 'dimension')",
    "CREATE TABLE dim_customer (customer_key INT PRIMARY KEY, name TEXT NOT NULL) WITH (role = 'dimension', scd = 2)",
    "CREATE TABLE sales (
       sale_id BIGINT PRIMARY KEY,
       date_key INT NOT NULL REFERENCES dim_date (date_key),
       store_key INT NOT NULL REFERENCES dim_store (store_key),
       promo_store_key INT REFERENCES dim_store (store_key),
       customer_key INT NOT NULL,
       amount INT NOT NULL
     ) WITH (role = 'fact')",
    "CREATE EXTERNAL TABLE ext_sales STORED AS PARQUET LOCATION '{data}/ext_sales/'",
    "INSERT INTO dim_date VALUES (20240101, 2024), (20240102, 2024), (20250101, 2025)",
    "INSERT INTO dim_store VALUES (1, 'north'), (2, 'south')",
    "INSERT INTO dim_customer VALUES (1, 'Ann'), (2, 'Bob')",
    // A second version of customer 1: two rows with its key.
    "INSERT INTO dim_customer VALUES (1, 'Ann B')",
    "INSERT INTO sales VALUES (1, 20240101, 1, NULL, 1, 10), (2, 20240102, 2, 1, 2, 20), (3, 20250101, 1, 2, 1, 30)",
];

async fn star() -> (TestEngine, Session) {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    let data = test.data.clone();
    run(&session, &format!("COPY (SELECT * FROM (VALUES (1, 20240101), (2, 20991231)) AS t(sale_id, date_key)) TO '{data}/ext_sales/part.parquet'")).await;
    for statement in TABLES {
        run(&session, &statement.replace("{data}", &data)).await;
    }
    (test, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_dimension_behind_an_enforced_foreign_key_is_not_joined() {
    let (_test, session) = star().await;
    let sql = "SELECT count(*) AS n, sum(amount) AS total FROM sales s JOIN dim_date d ON s.date_key = d.date_key";
    let (answer, plan) = with_and_without(&session, sql).await;
    assert!(answer.contains("| 3 | 60    |"), "{answer}");
    assert!(!plan.contains("dim_date"), "{plan}");
    // The key is still there to group by: it is the fact's.
    let sql = "SELECT d.date_key, sum(amount) AS total FROM sales s JOIN dim_date d ON s.date_key = d.date_key
               GROUP BY d.date_key ORDER BY d.date_key";
    let (answer, plan) = with_and_without(&session, sql).await;
    assert!(answer.contains("| 20250101 | 30    |"), "{answer}");
    assert!(!plan.contains("TableScan: dim_date"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dimensions_that_may_not_match_once_stay_joined() {
    let (_test, session) = star().await;
    let cases = [
        // A foreign key that may be NULL: NULL rows have no match.
        ("SELECT count(*) AS n FROM sales s JOIN dim_store p ON s.promo_store_key = p.store_key", "| 2 |", "dim_store"),
        // A type 2 dimension has a row per version of a key.
        (
            "SELECT count(*) AS n FROM sales s JOIN dim_customer c ON s.customer_key = c.customer_key",
            "| 5 |",
            "dim_customer",
        ),
        // Columns with no foreign key between them.
        ("SELECT count(*) AS n FROM sales s JOIN dim_date d ON s.sale_id = d.date_key", "| 0 |", "dim_date"),
        // A filtered dimension removes rows.
        (
            "SELECT count(*) AS n FROM sales s JOIN dim_store st ON s.store_key = st.store_key WHERE st.region = 'south'",
            "| 1 |",
            "dim_store",
        ),
        // An external table's keys are declared by others, not enforced by loads.
        ("SELECT count(*) AS n FROM ext_sales e JOIN dim_date d ON e.date_key = d.date_key", "| 1 |", "dim_date"),
    ];
    for (sql, expected, dimension) in cases {
        let (answer, plan) = with_and_without(&session, sql).await;
        assert!(answer.contains(expected), "{sql}: {answer}");
        assert!(plan.contains(&format!("TableScan: {dimension}")), "{sql}: {plan}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimension_that_only_adds_columns_is_joined_after_those_that_filter() {
    let (_test, session) = star().await;
    let sql = "SELECT d.year, st.region, sum(amount) AS total
               FROM sales s JOIN dim_date d ON s.date_key = d.date_key JOIN dim_store st ON s.store_key = st.store_key
               WHERE st.region = 'north' GROUP BY d.year, st.region ORDER BY d.year";
    let (answer, reordered) = with_and_without(&session, sql).await;
    assert!(answer.contains("| 2024 | north  | 10    |") && answer.contains("| 2025 | north  | 30    |"), "{answer}");
    // In a left-deep plan the last join's input is printed last.
    let (date, store) = (reordered.find("TableScan: dim_date"), reordered.find("TableScan: dim_store"));
    assert!(date.is_some() && store.is_some() && date > store, "{reordered}");
    run(&session, "SET starhouse.star_joins = false").await;
    let unchanged = plan(&session, sql).await;
    assert!(unchanged.find("TableScan: dim_date") < unchanged.find("TableScan: dim_store"), "{unchanged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_that_can_multiply_the_fact_rows_leaves_the_order_alone() {
    let (_test, session) = star().await;
    // `other` is joined on a column that is no key of its: each sale may meet several. Joining
    // the store (which only adds its region) after it would make that join see more rows.
    let sql = "SELECT st.region, count(*) AS n
               FROM sales s JOIN dim_store st ON s.store_key = st.store_key JOIN sales other ON s.store_key = other.store_key
               GROUP BY st.region ORDER BY st.region";
    let (answer, with) = with_and_without(&session, sql).await;
    assert!(answer.contains("| north  | 4 |") && answer.contains("| south  | 1 |"), "{answer}");
    assert!(with.find("SubqueryAlias: st") < with.find("SubqueryAlias: other"), "{with}");
}
