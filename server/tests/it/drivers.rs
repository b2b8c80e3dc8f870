//! The drivers analysts and tools use (psycopg2, psycopg 3, asyncpg, SQLAlchemy with pandas,
//! psqlODBC through pyodbc, node-postgres, pgjdbc), each running a program in `tests/drivers/` against a real server. The
//! programs assert content against answers computed here with the engine in process, not over the
//! wire.

use std::path::{Path, PathBuf};
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

/// Runs a driver's test program against a fresh server, with the expected answers in its
/// environment, and fails with its output if it fails.
fn drive(mut program: Command) {
    let server = TestServer::start();
    let store2 = &engine_rows(&server, "SELECT count(*), sum(sale_amount) FROM fact_sales WHERE store_key = 2")[0];
    let revenue = engine_rows(
        &server,
        "SELECT d.year, sum(f.sale_amount) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key \
         GROUP BY d.year ORDER BY d.year",
    );
    let stores = &engine_rows(&server, "SELECT count(*) FROM dim_store")[0][0];
    let output = program
        .env("STARHOUSE_PORT", server.address.port().to_string())
        .env("EXPECTED_STORE2_COUNT", &store2[0])
        .env("EXPECTED_STORE2_AMOUNT", &store2[1])
        .env("EXPECTED_REVENUE", revenue.iter().map(|r| format!("{}:{}", r[0], r[1])).collect::<Vec<_>>().join(","))
        .env("EXPECTED_STORE_COUNT", stores)
        .output()
        .unwrap_or_else(|e| panic!("{program:?} cannot run: {e}"));
    assert!(
        output.status.success(),
        "{program:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn drivers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers")
}

fn python(script: &str) -> Command {
    let mut command = Command::new(starhouse_testkit::tool("python"));
    command.arg(drivers_dir().join(script));
    command
}

#[test]
fn psycopg2_queries_pages_copies_and_reports_errors() {
    drive(python("psycopg2_client.py"));
}

#[test]
fn psycopg3_binds_declared_and_binary_parameters_and_reads_binary_results() {
    drive(python("psycopg3_client.py"));
}

#[test]
fn asyncpg_reads_binary_results_with_introspected_types() {
    drive(python("asyncpg_client.py"));
}

#[test]
fn sqlalchemy_inspects_the_star_schema_and_pandas_reads_a_query() {
    drive(python("sqlalchemy_client.py"));
}

#[test]
fn psqlodbc_lists_tables_columns_and_keys() {
    drive(python("odbc_client.py"));
}

#[test]
fn node_postgres_infers_parameters_and_reads_a_cursor_in_pages() {
    let mut node = Command::new("node");
    node.arg(drivers_dir().join("node_client.js")).env("NODE_PATH", starhouse_testkit::node_modules());
    drive(node);
}

/// pgjdbc, from the system's packages (Debian's libpostgresql-jdbc-java, which `.ci/run` installs).
const PGJDBC: &str = "/usr/share/java/postgresql.jar";

#[test]
fn pgjdbc_reads_tables_columns_and_keys_and_pages_by_fetch_size() {
    assert!(Path::new(PGJDBC).exists(), "{PGJDBC} is missing: install libpostgresql-jdbc-java (as .ci/run does)");
    let classes = tempfile::tempdir().expect("a folder");
    let compiled = Command::new("javac")
        .args(["-cp", PGJDBC, "-d"])
        .arg(classes.path())
        .arg(drivers_dir().join("JdbcClient.java"))
        .status()
        .expect("javac runs");
    assert!(compiled.success(), "JdbcClient.java compiles");
    let mut java = Command::new("java");
    java.arg("-cp").arg(format!("{PGJDBC}:{}", classes.path().display())).arg("JdbcClient");
    drive(java);
}
