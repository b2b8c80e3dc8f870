//! Star joins planned with the catalog's keys (`engine/src/star.rs`): a dimension that matches
//! every fact row once and whose columns are unused is not joined, one that only adds columns is
//! joined last, a snowflake's outer dimensions are joined to theirs first; subqueries filter
//! before the joins that cannot (`semi.rs`); join filters apply under aggregates (`prefilter.rs`);
//! the dimensions that keep fewest rows (by the catalog's distinct counts) are joined first; an
//! aggregate used twice is computed once (`shared.rs`); and every answer is the one DataFusion
//! gives without the rule.

use datafusion::arrow::util::pretty::pretty_format_batches;
use starhouse_engine::Session;

use crate::TestEngine;

async fn run(session: &Session, sql: &str) -> String {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).expect("the rows format").to_string()
}

/// The optimized logical and physical plans of a query.
async fn plans(session: &Session, sql: &str) -> Plans {
    let batches = session.sql(&format!("EXPLAIN {sql}")).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = pretty_format_batches(&batches).expect("the plan formats").to_string();
    let (logical, physical) = text.split_once("physical_plan").unwrap_or((&text, ""));
    (logical.to_string(), physical.to_string())
}

const STAR_JOINS: &str = "starhouse.star_joins";

/// (Logical, physical) plans.
type Plans = (String, String);

/// The query's answer and its plans with the rule that `setting` turns on and without, after
/// checking that the answer is the same both ways.
async fn with_and_without(session: &Session, setting: &str, sql: &str) -> (String, Plans, Plans) {
    run(session, &format!("SET {setting} = false")).await;
    let (without, plans_without) = (run(session, sql).await, plans(session, sql).await);
    run(session, &format!("SET {setting} = true")).await;
    let (with, plans_with) = (run(session, sql).await, plans(session, sql).await);
    assert_eq!(with, without, "{sql}\nwith {setting}:\n{plans_with:?}\nwithout:\n{plans_without:?}");
    (with, plans_with, plans_without)
}

const TABLES: &[&str] = &[
    "CREATE TABLE dim_date (date_key INT PRIMARY KEY, year INT NOT NULL) WITH (role = 'dimension')",
    "CREATE TABLE dim_country (country_key INT PRIMARY KEY, name TEXT NOT NULL) WITH (role = 'dimension')",
    "CREATE TABLE dim_store (
       store_key INT PRIMARY KEY,
       region TEXT NOT NULL,
       country_key INT NOT NULL REFERENCES dim_country (country_key)
     ) WITH (role = 'dimension')",
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
    "INSERT INTO dim_country VALUES (1, 'FR'), (2, 'DE'), (3, 'IT')",
    "INSERT INTO dim_store VALUES (1, 'north', 1), (2, 'south', 2)",
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
    let (answer, (plan, _), _) = with_and_without(&session, STAR_JOINS, sql).await;
    assert!(answer.contains("| 3 | 60    |"), "{answer}");
    assert!(!plan.contains("dim_date"), "{plan}");
    // The key is still there to group by: it is the fact's.
    let sql = "SELECT d.date_key, sum(amount) AS total FROM sales s JOIN dim_date d ON s.date_key = d.date_key
               GROUP BY d.date_key ORDER BY d.date_key";
    let (answer, (plan, _), _) = with_and_without(&session, STAR_JOINS, sql).await;
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
        let (answer, (plan, _), _) = with_and_without(&session, STAR_JOINS, sql).await;
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
    let (answer, (reordered, _), (unchanged, _)) = with_and_without(&session, STAR_JOINS, sql).await;
    assert!(answer.contains("| 2024 | north  | 10    |") && answer.contains("| 2025 | north  | 30    |"), "{answer}");
    // In a left-deep plan the last join's input is printed last.
    let (date, store) = (reordered.find("TableScan: dim_date"), reordered.find("TableScan: dim_store"));
    assert!(date.is_some() && store.is_some() && date > store, "{reordered}");
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
    let (answer, (with, _), _) = with_and_without(&session, STAR_JOINS, sql).await;
    assert!(answer.contains("| north  | 4 |") && answer.contains("| south  | 1 |"), "{answer}");
    assert!(with.find("SubqueryAlias: st") < with.find("SubqueryAlias: other"), "{with}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snowflakes_outer_dimension_is_joined_to_its_own_dimension_first() {
    let (_test, session) = star().await;
    let sql = "SELECT c.name, count(*) AS n, sum(amount) AS total
               FROM sales s JOIN dim_store st ON s.store_key = st.store_key JOIN dim_country c ON st.country_key = c.country_key
               WHERE c.name = 'DE' GROUP BY c.name";
    let (answer, (with, _), (unchanged, _)) = with_and_without(&session, STAR_JOINS, sql).await;
    assert!(answer.contains("| DE   | 1 | 20    |"), "{answer}");
    // The country's filter reaches the stores before the stores meet the sales.
    let (fact_join, outer_join) =
        (with.find("Join: s.store_key = st.store_key"), with.find("Join: st.country_key = c.country_key"));
    assert!(fact_join.is_some() && outer_join.is_some() && fact_join < outer_join, "{with}");
    assert!(
        unchanged.find("Join: s.store_key = st.store_key") > unchanged.find("Join: st.country_key = c.country_key"),
        "{unchanged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_across_two_snowflake_arms_keeps_each_arm_apart() {
    let (_test, session) = star().await;
    // The same table twice, under two names, with a condition on both (TPC-H Q7's shape): each
    // arm is joined to its own country, and the condition still tells the two apart.
    let sql = "SELECT s.sale_id, c1.name AS sold_in, c2.name AS promoted_in
               FROM sales s
               JOIN dim_store st ON s.store_key = st.store_key JOIN dim_country c1 ON st.country_key = c1.country_key
               JOIN dim_store p ON s.promo_store_key = p.store_key JOIN dim_country c2 ON p.country_key = c2.country_key
               WHERE (c1.name = 'FR' AND c2.name = 'DE') OR (c1.name = 'DE' AND c2.name = 'FR')
               ORDER BY s.sale_id";
    let (answer, (with, _), _) = with_and_without(&session, STAR_JOINS, sql).await;
    assert!(answer.contains("| 2       | DE      | FR          |"), "{answer}");
    assert!(answer.contains("| 3       | FR      | DE          |"), "{answer}");
    assert!(
        with.find("Join: s.store_key = st.store_key") < with.find("Join: st.country_key = c1.country_key"),
        "{with}"
    );
}

const SEMI_JOINS: &str = "starhouse.semi_joins";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subquery_filters_the_fact_before_joins_that_filter_nothing() {
    let (_test, session) = star().await;
    let sql = "SELECT st.region, count(*) AS n FROM sales s JOIN dim_store st ON s.store_key = st.store_key
               WHERE s.date_key IN (SELECT date_key FROM dim_date WHERE year = 2024)
               GROUP BY st.region ORDER BY st.region";
    let (answer, (with, _), (unchanged, _)) = with_and_without(&session, SEMI_JOINS, sql).await;
    assert!(answer.contains("| north  | 1 |") && answer.contains("| south  | 1 |"), "{answer}");
    let (inner, semi) = (with.find("Inner Join"), with.find("LeftSemi Join"));
    assert!(inner.is_some() && semi.is_some() && inner < semi, "{with}");
    assert!(unchanged.find("LeftSemi Join") < unchanged.find("Inner Join"), "{unchanged}");
    // NOT IN over a nullable column, and NOT EXISTS: the same answers with the rule.
    for (sql, expected) in [
        (
            "SELECT s.sale_id, st.region FROM sales s JOIN dim_store st ON s.store_key = st.store_key
             WHERE s.promo_store_key NOT IN (SELECT store_key FROM dim_store WHERE region = 'south') ORDER BY s.sale_id",
            // Sale 1's NULL is not "not in" anything.
            "| 2       | south  |\n+",
        ),
        (
            "SELECT s.sale_id, st.region FROM sales s JOIN dim_store st ON s.store_key = st.store_key
             WHERE NOT EXISTS (SELECT 1 FROM dim_date d WHERE d.date_key = s.date_key AND d.year = 2025) ORDER BY s.sale_id",
            "| 1       | north  |\n| 2       | south  |\n+",
        ),
    ] {
        let (answer, (with, _), _) = with_and_without(&session, SEMI_JOINS, sql).await;
        assert!(answer.contains(expected), "{sql}: {answer}");
        assert!(with.find("Inner Join") < with.find("LeftAnti Join"), "{sql}: {with}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subquery_stays_above_a_join_that_filters() {
    let (_test, session) = star().await;
    // Here the join keeps only the north's sales: the subquery should see only those.
    let sql = "SELECT st.region, count(*) AS n FROM sales s JOIN dim_store st ON s.store_key = st.store_key
               WHERE st.region = 'north' AND s.date_key IN (SELECT date_key FROM dim_date WHERE year = 2024)
               GROUP BY st.region";
    let (answer, (with, _), _) = with_and_without(&session, SEMI_JOINS, sql).await;
    assert!(answer.contains("| north  | 1 |"), "{answer}");
    assert!(with.find("LeftSemi Join") < with.find("Inner Join"), "{with}");
    // And above the projection, which hands it only the columns used (the join's keys not).
    let below = with.lines().skip_while(|line| !line.contains("LeftSemi Join")).nth(1).unwrap_or_default();
    assert!(below.contains("Projection: s.date_key, st.region"), "{with}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_filter_applies_under_the_aggregate_it_was_pushed_through() {
    let (_test, session) = star().await;
    // TPC-H Q17's shape: each store's average, compared with the sales of the north's stores.
    let sql =
        "SELECT count(*) AS n, sum(s.amount) AS total FROM sales s JOIN dim_store st ON s.store_key = st.store_key
               WHERE st.region = 'north'
                 AND s.amount >= (SELECT avg(s2.amount) FROM sales s2 WHERE s2.store_key = st.store_key)";
    let (answer, (_, physical), (_, unchanged)) =
        with_and_without(&session, "starhouse.filter_before_aggregate", sql).await;
    assert!(answer.contains("| 1 | 30    |"), "{answer}");
    assert!(physical.contains("FilterExec: DynamicFilter"), "{physical}");
    assert!(!unchanged.contains("FilterExec: DynamicFilter"), "{unchanged}");
}

#[tokio::test]
async fn an_integer_added_to_a_decimal_takes_its_scale_and_every_name_and_answer_stays() {
    let (_test, session) = star().await;
    run(
        &session,
        "CREATE TABLE lines (flag TEXT NOT NULL, price DECIMAL(15, 2), discount DECIMAL(15, 2), tax DECIMAL(15, 2))",
    )
    .await;
    run(
        &session,
        "INSERT INTO lines VALUES ('A', 100.10, 0.05, 0.08), ('A', 20.00, 0.10, 0.00), ('B', 7.77, NULL, 0.02)",
    )
    .await;
    // TPC-H Q1's arithmetic, in an aggregate, a projection, a filter and a grouping, unnamed so
    // that the columns' names are the expressions'.
    let sql = "SELECT flag, 1 + tax, sum(price * (1 - discount)), sum(price * (1 - discount) * (1 + tax)), 2 - discount
               FROM lines WHERE 1 - discount > 0.91 OR discount IS NULL
               GROUP BY flag, 1 + tax, 2 - discount ORDER BY flag, 1 + tax";
    let (answer, (logical, _), (unchanged, _)) = with_and_without(&session, "starhouse.decimal_literals", sql).await;
    assert!(answer.contains("| Int64(1) + lines.tax | sum(lines.price * Int64(1) - lines.discount) |"), "{answer}");
    assert!(answer.contains("| A    | 1.08                 | 95.0950"), "{answer}");
    assert!(answer.contains("| B    | 1.02                 |"), "{answer}");
    assert!(logical.contains("Decimal128(1.00,22,2) - lines.discount"), "{logical}");
    assert!(logical.contains("Decimal128(1.00,22,2) + lines.tax"), "{logical}");
    assert!(!unchanged.contains("Decimal128(1.00,22,2)"), "{unchanged}");
}

#[tokio::test]
async fn a_filters_cheap_conditions_come_first_and_one_that_may_fail_stays_last() {
    let (_test, session) = star().await;
    run(&session, "CREATE TABLE lines (flag TEXT NOT NULL, quantity INT, price INT, discount INT)").await;
    run(&session, "INSERT INTO lines VALUES ('A', 1, 10, 1), ('A', 2, 30, 2), ('B', 3, 20, 5), ('C', 4, 50, 1)").await;
    let sql = "SELECT flag, price FROM lines
               WHERE flag IN ('A', 'B') AND quantity <> 0 AND price / quantity > 5 AND discount < price AND price > 15
               ORDER BY flag, price";
    let (answer, (logical, _), _) = with_and_without(&session, "starhouse.cheap_conditions_first", sql).await;
    assert!(answer.contains("| A    | 30    |") && answer.contains("| B    | 20    |"), "{answer}");
    let filter = logical.lines().find(|line| line.contains("Filter:")).unwrap_or_default();
    let at = |text: &str| filter.find(text).unwrap_or_else(|| panic!("{text} in {filter}"));
    // Integers against constants, then integer columns (written the other way round by
    // DataFusion), then strings (the IN list written as ORs); the division, which may fail,
    // after all of them.
    assert!(at("lines.quantity != Int32(0)") < at("lines.price > Int32(15)"), "{filter}");
    assert!(at("lines.price > Int32(15)") < at("lines.price > lines.discount"), "{filter}");
    assert!(at("lines.price > lines.discount") < at("lines.flag = Utf8View(\"A\")"), "{filter}");
    assert!(at("lines.flag = Utf8View(\"A\")") < at("lines.price / lines.quantity"), "{filter}");
}

/// A star of `items` (`rows` of them, sizes `value % 10`, colors `value % 7`) and its two
/// dimensions: 10 sizes, half of them 'S', and 10 colors, each named for its key.
async fn sizes_and_colors(rows: u64) -> (TestEngine, Session) {
    let (test, session) = star().await;
    run(&session, "CREATE TABLE size (size_key INT PRIMARY KEY, name TEXT NOT NULL) WITH (role = 'dimension')").await;
    run(&session, "CREATE TABLE color (color_key INT PRIMARY KEY, name TEXT NOT NULL) WITH (role = 'dimension')").await;
    run(&session, "INSERT INTO size SELECT value, CASE WHEN value % 2 = 0 THEN 'S' ELSE 'L' END FROM range(0, 10)")
        .await;
    run(&session, "INSERT INTO color SELECT value, 'color ' || value FROM range(0, 10)").await;
    run(
        &session,
        "CREATE TABLE items (size_key INT NOT NULL REFERENCES size (size_key),
                             color_key INT NOT NULL REFERENCES color (color_key), n INT NOT NULL) WITH (role = 'fact')",
    )
    .await;
    run(&session, &format!("INSERT INTO items SELECT value % 10, value % 7, 1 FROM range(0, {rows})")).await;
    (test, session)
}

/// The join key filter's line, with its metrics, in `EXPLAIN ANALYZE` of `sql`.
async fn key_filter_run(session: &Session, sql: &str) -> String {
    let analyzed = run(session, &format!("EXPLAIN ANALYZE {sql}")).await;
    let filter = analyzed.lines().find(|line| line.contains("JoinKeyFilterExec"));
    filter.unwrap_or_else(|| panic!("{analyzed}")).to_string()
}

/// The items of size 'S' and color 'color 3'.
const SIZE_S_COLOR_3: &str = "SELECT count(*) AS n FROM items i JOIN size s ON i.size_key = s.size_key
    JOIN color c ON i.color_key = c.color_key WHERE s.name = 'S' AND c.name = 'color 3'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dimension_that_keeps_fewest_rows_is_joined_first() {
    let (_test, session) = sizes_and_colors(100).await;
    // Both conditions are equalities: only the columns' distinct counts (2 sizes, 10 colors) tell
    // that the color keeps fewer rows.
    let sql = SIZE_S_COLOR_3;
    let (answer, (selective, _), (written, _)) =
        with_and_without(&session, "starhouse.selective_joins_first", sql).await;
    assert!(answer.contains("| 7 |"), "{answer}");
    // In a left-deep plan the last join's input is printed last.
    let at = |plan: &str, table: &str| plan.find(&format!("TableScan: {table}")).unwrap_or_else(|| panic!("{plan}"));
    assert!(at(&selective, "color") < at(&selective, "size"), "{selective}");
    assert!(at(&written, "size") < at(&written, "color"), "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fact_rows_that_no_dimension_key_matches_are_dropped_before_the_joins() {
    let (_test, session) = sizes_and_colors(10_000).await;
    let sql = SIZE_S_COLOR_3;
    let (answer, (_, filtered), (_, unfiltered)) = with_and_without(&session, "starhouse.join_key_filters", sql).await;
    let matching = run(&session, "SELECT count(*) AS n FROM items WHERE size_key % 2 = 0 AND color_key = 3").await;
    assert_eq!(answer, matching);
    // One filter over the fact's scan tests both dimensions' keys.
    let filter =
        filtered.lines().find(|line| line.contains("JoinKeyFilterExec")).unwrap_or_else(|| panic!("{filtered}"));
    assert!(filter.contains("size_key@") && filter.contains("color_key@"), "{filtered}");
    assert!(!unfiltered.contains("JoinKey"), "{unfiltered}");
    // It lets through exactly the rows that both joins keep.
    let filter = key_filter_run(&session, sql).await;
    let kept = matching.lines().nth(3).and_then(|row| row.trim_matches(|c| c == '|' || c == ' ').parse::<u64>().ok());
    assert!(filter.contains(&format!("output_rows={}", kept.expect("a count"))), "{filter}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimension_filter_that_keeps_no_key_leaves_no_fact_row() {
    let (_test, session) = star().await;
    let sql =
        "SELECT count(*) AS n FROM sales s JOIN dim_store st ON s.store_key = st.store_key WHERE st.region = 'east'";
    let (answer, _, _) = with_and_without(&session, "starhouse.join_key_filters", sql).await;
    assert!(answer.contains("| 0 |"), "{answer}");
    // The filter over the fact's scan lets none of its rows through to the join.
    let filter = key_filter_run(&session, sql).await;
    assert!(filter.contains("output_rows=0,"), "{filter}");
}

const SHARED_RESULTS: &str = "starhouse.shared_results";

/// How many groups the final aggregates of `EXPLAIN ANALYZE` of `sql` put out, all copies of
/// them together (a copy that never ran shows no metrics).
async fn groups_computed(session: &Session, sql: &str) -> u64 {
    let analyzed = run(session, &format!("EXPLAIN ANALYZE {sql}")).await;
    let finals = analyzed.lines().filter(|line| line.contains("AggregateExec: mode=FinalPartitioned"));
    let rows = finals.filter_map(|line| line.split_once("output_rows=")?.1.split(',').next()?.parse::<u64>().ok());
    rows.sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_a_query_uses_twice_is_computed_once() {
    let (_test, session) = sizes_and_colors(10_000).await;
    // A CTE under a scalar subquery and in the main query, as in TPC-H Q15.
    let sql = "WITH per_color AS (SELECT color_key, count(*) AS n FROM items GROUP BY color_key)
        SELECT color_key, n FROM per_color WHERE n = (SELECT max(n) FROM per_color) ORDER BY color_key";
    let (answer, (_, shared), (_, unshared)) = with_and_without(&session, SHARED_RESULTS, sql).await;
    let windowed = "SELECT color_key, n FROM (SELECT color_key, count(*) AS n, max(count(*)) OVER () AS top
        FROM items GROUP BY color_key) WHERE n = top ORDER BY color_key";
    assert_eq!(answer, run(&session, windowed).await);
    assert_eq!(shared.matches("SharedExec: id=").count(), 2, "{shared}");
    assert!(!unshared.contains("SharedExec"), "{unshared}");
    // Seven colors, grouped once (twice without the rule).
    assert_eq!(groups_computed(&session, sql).await, 7);
    run(&session, &format!("SET {SHARED_RESULTS} = false")).await;
    assert_eq!(groups_computed(&session, sql).await, 14);
    run(&session, &format!("SET {SHARED_RESULTS} = true")).await;

    // Both sides of one join: each partition is computed by the side that asks first.
    let sql = "WITH per_color AS (SELECT color_key, count(*) AS n FROM items GROUP BY color_key)
        SELECT a.color_key, b.n - a.n AS more FROM per_color a JOIN per_color b ON b.color_key = a.color_key + 1
        ORDER BY a.color_key";
    let (answer, (_, shared), _) = with_and_without(&session, SHARED_RESULTS, sql).await;
    assert_eq!(answer.lines().count(), 6 + 4, "six pairs of colors: {answer}");
    assert_eq!(shared.matches("SharedExec: id=").count(), 2, "{shared}");
    assert_eq!(groups_computed(&session, sql).await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correlated_subquery_used_twice_is_not_shared() {
    let (_test, session) = sizes_and_colors(1_000).await;
    // The same subquery twice, but its rows differ with each outer row.
    let sql = "SELECT c.color_key,
            (SELECT count(*) FROM items i WHERE i.color_key = c.color_key) AS a,
            (SELECT count(*) FROM items i WHERE i.color_key = c.color_key) AS b
        FROM color c ORDER BY c.color_key";
    let (answer, (_, plan), _) = with_and_without(&session, SHARED_RESULTS, sql).await;
    assert!(!plan.contains("SharedExec"), "{plan}");
    let direct = run(
        &session,
        "SELECT c.color_key, count(i.color_key) AS a, count(i.color_key) AS b
        FROM color c LEFT JOIN items i ON i.color_key = c.color_key GROUP BY c.color_key ORDER BY c.color_key",
    )
    .await;
    assert_eq!(answer, direct);
}
