//! The demo warehouse: created by the same SQL a user would type, and consistent with itself.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use starhouse_engine::demo;

use crate::TestEngine;

async fn single_i64(session: &starhouse_engine::Session, sql: &str) -> i64 {
    let batches = session.sql(sql).await.expect("the query runs");
    let column = batches[0].column(0);
    assert!(!column.is_null(0), "{sql} returned NULL");
    column.as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn the_demo_star_is_declared_and_joins_completely() {
    let test = TestEngine::new().await;
    let summary = demo::create(&test.engine, 0.01).await.expect("the demo is created");
    let session = test.engine.session();

    let version = test.engine.warehouse().current();
    let names: Vec<&str> = version.tables.keys().map(|t| t.as_str()).collect();
    assert_eq!(names, ["dim_customer", "dim_date", "dim_product", "dim_store", "fact_sales"]);
    let fact = version.table("fact_sales").expect("fact_sales");
    assert_eq!(fact.foreign_keys.len(), 4);

    for (table, rows) in &summary.rows {
        let counted = single_i64(&session, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(counted as usize, *rows, "{table}");
    }
    // Every foreign key finds its dimension row: inner joins keep every sale.
    let joined = single_i64(
        &session,
        "SELECT count(*) FROM fact_sales f
         JOIN dim_date d ON f.date_key = d.date_key
         JOIN dim_product p ON f.product_key = p.product_key
         JOIN dim_store s ON f.store_key = s.store_key
         JOIN dim_customer c ON f.customer_key = c.customer_key",
    )
    .await;
    assert_eq!(joined as usize, summary.rows[4].1);
    // Revenue by year adds up to the total.
    let by_year = single_i64(
        &session,
        "SELECT CAST(sum(revenue) * 100 AS BIGINT) FROM (
           SELECT d.year, sum(f.sale_amount) AS revenue FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key GROUP BY d.year)",
    )
    .await;
    let total = single_i64(&session, "SELECT CAST(sum(sale_amount) * 100 AS BIGINT) FROM fact_sales").await;
    assert_eq!(by_year, total);
    // December sells more than February: the seasonality is there.
    let december = single_i64(
        &session,
        "SELECT count(*) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key WHERE d.month_of_year = 12",
    )
    .await;
    let february = single_i64(
        &session,
        "SELECT count(*) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key WHERE d.month_of_year = 2",
    )
    .await;
    assert!(december > 2 * february, "december {december}, february {february}");
}

#[tokio::test]
async fn recreating_the_demo_replaces_it() {
    let test = TestEngine::new().await;
    demo::create(&test.engine, 0.01).await.expect("first");
    let summary = demo::create(&test.engine, 0.02).await.expect("second, larger");
    let rows = single_i64(&test.engine.session(), "SELECT count(*) FROM fact_sales").await;
    assert_eq!(rows as usize, summary.rows[4].1);
    assert_eq!(rows, 20_000);
}

#[tokio::test]
async fn a_nonsense_scale_is_refused() {
    let test = TestEngine::new().await;
    let error = demo::create(&test.engine, -1.0).await.expect_err("negative scale");
    assert!(error.to_string().contains("invalid demo scale -1"), "{error}");
}
