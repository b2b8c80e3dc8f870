//! The Python drivers analysts and tools use (psycopg2, psycopg 3, asyncpg, SQLAlchemy with
//! pandas), each running a script in `tests/drivers/` against a real server. The scripts assert
//! content against answers computed here with the engine in process, not over the wire.

use std::path::Path;
use std::process::Command;

use datafusion::arrow::util::display::array_value_to_string;
use starhouse_engine::Engine;

use crate::TestServer;

/// The rows of `sql`, each value as text, computed by the engine over the server's warehouse.
fn engine_rows(server: &TestServer, sql: &str) -> Vec<Vec<String>> {
    let root = server.dir.path().to_str().expect("utf-8 path").to_string();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let (engine, _) = Engine::open(&root, Default::default()).await.expect("the warehouse opens");
        let batches = engine.session().sql(sql).await.expect("the query runs");
        let mut rows = Vec::new();
        for batch in batches {
            for row in 0..batch.num_rows() {
                let values = batch.columns().iter().map(|c| array_value_to_string(c, row).expect("a value"));
                rows.push(values.collect());
            }
        }
        rows
    })
}

fn run(script: &str) {
    let server = TestServer::start();
    let store2 = &engine_rows(&server, "SELECT count(*), sum(sale_amount) FROM fact_sales WHERE store_key = 2")[0];
    let revenue = engine_rows(
        &server,
        "SELECT d.year, sum(f.sale_amount) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key \
         GROUP BY d.year ORDER BY d.year",
    );
    let stores = &engine_rows(&server, "SELECT count(*) FROM dim_store")[0][0];
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers").join(script);
    let output = Command::new(starhouse_testkit::tool("python"))
        .arg(&path)
        .env("STARHOUSE_PORT", server.address.port().to_string())
        .env("EXPECTED_STORE2_COUNT", &store2[0])
        .env("EXPECTED_STORE2_AMOUNT", &store2[1])
        .env("EXPECTED_REVENUE", revenue.iter().map(|r| format!("{}:{}", r[0], r[1])).collect::<Vec<_>>().join(","))
        .env("EXPECTED_STORE_COUNT", stores)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn psycopg2_queries_pages_copies_and_reports_errors() {
    run("psycopg2_client.py");
}

#[test]
fn psycopg3_binds_declared_and_binary_parameters_and_reads_binary_results() {
    run("psycopg3_client.py");
}

#[test]
fn asyncpg_reads_binary_results_with_introspected_types() {
    run("asyncpg_client.py");
}

#[test]
fn sqlalchemy_inspects_the_star_schema_and_pandas_reads_a_query() {
    run("sqlalchemy_client.py");
}
