//! The protocol as `tokio-postgres` drives it: simple and extended queries, parameters, portals,
//! transactions, settings, cancel, COPY and error codes.

use std::time::Duration;

use futures::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::TestServer;

fn code(error: &tokio_postgres::Error) -> String {
    error.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

fn message(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map(|e| e.message().to_string()).unwrap_or_else(|| error.to_string())
}

/// The rows of a simple query as text.
async fn simple(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_star_query_answers_over_both_protocols() {
    let server = TestServer::start();
    let client = server.connect().await;
    let sql = "SELECT d.year, count(*) AS sales FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key \
               GROUP BY d.year ORDER BY d.year";
    let text = simple(&client, sql).await;
    let rows = client.query(sql, &[]).await.expect("extended");
    assert_eq!(text.len(), 4);
    assert_eq!(rows.len(), 4);
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>("sales")).sum();
    assert_eq!(total, 10_000);
    for (row, text) in rows.iter().zip(&text) {
        assert_eq!(Some(row.get::<_, i32>("year").to_string()), text[0]);
        assert_eq!(Some(row.get::<_, i64>("sales").to_string()), text[1]);
    }
}

#[tokio::test]
async fn parameters_are_typed_by_the_plan_and_described_before_binding() {
    let server = TestServer::start();
    let client = server.connect().await;
    let statement = client
        .prepare("SELECT product_key, product_name, unit_price FROM dim_product WHERE product_key BETWEEN $1 AND $2 ORDER BY product_key")
        .await
        .expect("prepares");
    assert_eq!(statement.params(), &[Type::INT4, Type::INT4]);
    let types: Vec<&Type> = statement.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(types, [&Type::INT4, &Type::TEXT, &Type::NUMERIC]);
    let rows = client.query(&statement, &[&3i32, &5i32]).await.expect("runs");
    let keys: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, [3, 4, 5]);

    // A parameter the client declares as text is cast to what the plan needs.
    let statement = client
        .prepare_typed("SELECT count(*) FROM dim_store WHERE store_key < $1::int", &[Type::TEXT])
        .await
        .expect("prepares");
    assert_eq!(statement.params(), &[Type::TEXT]);
    let row = client.query_one(&statement, &[&"10"]).await.expect("runs");
    assert_eq!(row.get::<_, i64>(0), 9);
}

#[tokio::test]
async fn a_portal_returns_rows_in_pages() {
    let server = TestServer::start();
    let mut client = server.connect().await;
    let transaction = client.transaction().await.expect("begin");
    let statement = transaction.prepare("SELECT store_key FROM dim_store ORDER BY store_key").await.expect("prepares");
    let portal = transaction.bind(&statement, &[]).await.expect("binds");
    let mut seen = Vec::new();
    loop {
        let page = transaction.query_portal(&portal, 20).await.expect("a page");
        assert!(page.len() <= 20);
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (1..=50).collect::<Vec<i32>>());
    transaction.commit().await.expect("commit");
}

#[tokio::test]
async fn errors_carry_postgresql_sqlstates() {
    let server = TestServer::start();
    let client = server.connect().await;
    let cases = [
        ("SELEC 1", SqlState::SYNTAX_ERROR.code()),
        ("SELECT * FROM nosuch", SqlState::UNDEFINED_TABLE.code()),
        ("SELECT nosuch FROM dim_store", SqlState::UNDEFINED_COLUMN.code()),
        ("SELECT nosuch_function(1)", SqlState::UNDEFINED_FUNCTION.code()),
        ("SELECT 1 / 0", SqlState::DIVISION_BY_ZERO.code()),
        ("SELECT CAST('abc' AS INT)", SqlState::INVALID_TEXT_REPRESENTATION.code()),
        ("DROP TABLE dim_store", SqlState::INSUFFICIENT_PRIVILEGE.code()),
        ("SET datafusion.execution.batch_size = 10", SqlState::INSUFFICIENT_PRIVILEGE.code()),
        // A load, and this server's sessions only read.
        ("COPY dim_store FROM STDIN", SqlState::INSUFFICIENT_PRIVILEGE.code()),
        ("SHOW nosuch_setting", SqlState::UNDEFINED_OBJECT.code()),
    ];
    for (sql, expected) in cases {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&error), expected, "{sql}: {error:?}");
        let error = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(code(&error), expected, "extended {sql}: {error:?}");
    }
    let error = client.simple_query("SELECT 1 FROM dim_store WHERE = 1").await.expect_err("syntax");
    let position = error.as_db_error().and_then(|e| e.position().cloned());
    assert!(
        matches!(position, Some(tokio_postgres::error::ErrorPosition::Original(31))),
        "the position points at =: {position:?}"
    );
    // The connection is still usable after every error.
    assert_eq!(simple(&client, "SELECT 1").await, [[Some("1".to_string())]]);
}

#[tokio::test]
async fn a_failed_transaction_refuses_commands_until_rollback() {
    let server = TestServer::start();
    let client = server.connect().await;
    client.batch_execute("BEGIN").await.expect("begin");
    client.batch_execute("SELECT * FROM nosuch").await.expect_err("fails");
    let error = client.batch_execute("SELECT 1").await.expect_err("aborted");
    assert_eq!(code(&error), SqlState::IN_FAILED_SQL_TRANSACTION.code());
    let error = client.query("SELECT 1", &[]).await.expect_err("aborted, extended too");
    assert_eq!(code(&error), SqlState::IN_FAILED_SQL_TRANSACTION.code());
    client.batch_execute("ROLLBACK").await.expect("rollback");
    client.batch_execute("BEGIN; SAVEPOINT a; SELECT 1; RELEASE a; COMMIT").await.expect("savepoints");
    assert_eq!(simple(&client, "SELECT 2").await, [[Some("2".to_string())]]);
}

#[tokio::test]
async fn settings_belong_to_one_connection_and_show_under_canonical_names() {
    let server = TestServer::start();
    let first = server.connect().await;
    let second = server.connect().await;
    first.batch_execute("SET TimeZone = 'Asia/Kolkata'; SET extra_float_digits = 3").await.expect("set");
    let messages = first.simple_query("SHOW timezone").await.expect("show");
    let SimpleQueryMessage::Row(row) = &messages[1] else { panic!("a row: {messages:?}") };
    assert_eq!(row.columns()[0].name(), "TimeZone");
    assert_eq!(row.get(0), Some("Asia/Kolkata"));
    assert_eq!(simple(&second, "SHOW TimeZone").await, [[Some("UTC".to_string())]]);
    assert_eq!(simple(&second, "SHOW transaction isolation level").await, [[Some("read committed".to_string())]]);
    assert_eq!(simple(&first, "SELECT current_setting('server_version_num')").await, [[Some("160006".to_string())]]);
    let zoned = "SELECT arrow_cast(TIMESTAMP '2024-01-31 10:00:00', 'Timestamp(Microsecond, Some(\"UTC\"))')";
    assert_eq!(simple(&first, zoned).await, [[Some("2024-01-31 15:30:00+05:30".to_string())]]);
    assert_eq!(simple(&second, zoned).await, [[Some("2024-01-31 10:00:00+00".to_string())]]);
}

#[tokio::test]
async fn a_cancel_request_stops_a_running_query_and_the_connection_goes_on() {
    let server = TestServer::start();
    let client = server.connect().await;
    let token = client.cancel_token();
    let canceler = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(NoTls).await.expect("the cancel request is sent");
    });
    let error = client.simple_query("SELECT sum(value % 7) FROM range(100000000000)").await.expect_err("canceled");
    assert_eq!(code(&error), SqlState::QUERY_CANCELED.code(), "{error:?}");
    assert_eq!(message(&error), "canceling statement due to user request");
    canceler.await.expect("canceler");
    assert_eq!(simple(&client, "SELECT 3").await, [[Some("3".to_string())]]);

    client.batch_execute("SET statement_timeout = '300ms'").await.expect("set");
    let error = client.query("SELECT sum(value % 7) FROM range(100000000000)", &[]).await.expect_err("timed out");
    assert_eq!(code(&error), SqlState::QUERY_CANCELED.code());
    assert_eq!(message(&error), "canceling statement due to statement timeout");
}

#[tokio::test]
async fn copy_to_stdout_writes_csv_and_text() {
    let server = TestServer::start();
    let client = server.connect().await;
    let read = |sql: &'static str| {
        let client = &client;
        async move {
            let stream = client.copy_out(sql).await.expect("copy starts");
            let chunks: Vec<bytes::Bytes> = stream.try_collect().await.expect("copy finishes");
            String::from_utf8(chunks.concat()).expect("utf-8")
        }
    };
    let csv = read("COPY (SELECT store_key, store_name FROM dim_store WHERE store_key <= 2 ORDER BY 1) TO STDOUT (FORMAT csv, HEADER)").await;
    let expected = simple(&client, "SELECT store_key, store_name FROM dim_store WHERE store_key <= 2 ORDER BY 1").await;
    let lines: Vec<String> = expected
        .iter()
        .map(|r| format!("{},{}", r[0].as_deref().unwrap_or(""), r[1].as_deref().unwrap_or("")))
        .collect();
    assert_eq!(csv, format!("store_key,store_name\n{}\n", lines.join("\n")));
    let text = read("COPY (SELECT 'a\tb' AS s, NULL::int AS n) TO STDOUT").await;
    assert_eq!(text, "a\\tb\t\\N\n");
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_with_53300() {
    let server = TestServer::with(starhouse_server::ServerOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        max_connections: 2,
        ..Default::default()
    });
    let _first = server.connect().await;
    let second = server.connect().await;
    let config = format!("host={} port={} user=tester dbname=starhouse", server.address.ip(), server.address.port());
    let error = tokio_postgres::connect(&config, NoTls).await.err().expect("refused");
    assert_eq!(code(&error), SqlState::TOO_MANY_CONNECTIONS.code(), "{error:?}");
    drop(second);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _connected = tokio_postgres::connect(&config, NoTls).await.expect("a place is free again");
}

#[tokio::test]
async fn a_writer_server_accepts_ddl() {
    let server = TestServer::with(starhouse_server::ServerOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        allow_writes: true,
        ..Default::default()
    });
    let client = server.connect().await;
    client.batch_execute("COMMENT ON TABLE dim_store IS 'the stores'").await.expect("a writer may comment");
    client.batch_execute("SET datafusion.execution.batch_size = 1024").await.expect("and change engine settings");
}
