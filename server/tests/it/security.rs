//! Passwords, roles and TLS: SCRAM-SHA-256 against the warehouse's users with the real `psql`
//! and `tokio-postgres`, readers and writers, TLS with a certificate made here, and a server that
//! refuses to start rather than serve insecurely.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use starhouse_engine::Engine;
use starhouse_engine::catalog::{User, put_user};
use starhouse_server::{Server, ServerError, ServerOptions, TlsFiles, scram_verifier};

use crate::TestServer;

fn loopback() -> ServerOptions {
    ServerOptions { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerOptions::default() }
}

/// `psql` with a connection string and a password, running `sql`.
fn psql(connection: &str, password: &str, sql: &str) -> Output {
    Command::new("psql")
        .arg(connection)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .expect("psql runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn url(server: &TestServer, user: &str, extra: &str) -> String {
    format!("postgresql://{user}@127.0.0.1:{}/starhouse?{extra}", server.address.port())
}

#[test]
fn users_sign_in_with_scram_and_wrong_passwords_get_28p01() {
    let server = TestServer::with_users(loopback(), vec![("ana", "correct horse", false)]);
    let output = psql(&url(&server, "ana", ""), "correct horse", "SELECT count(*) FROM dim_store");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "50");

    for (user, password) in [("ana", "wrong"), ("nobody", "correct horse")] {
        let output = psql(&url(&server, user, ""), password, "SELECT 1");
        assert!(!output.status.success());
        let message = text(&output.stderr);
        assert!(message.contains(&format!("password authentication failed for user \"{user}\"")), "{message}");
    }
}

#[tokio::test]
async fn the_sqlstate_of_a_wrong_password_is_28p01_and_readers_cannot_write() {
    let server = TestServer::with_users(loopback(), vec![("ana", "pw-ana", false), ("wes", "pw-wes", true)]);
    let config = |user: &str, password: &str| {
        format!("host=127.0.0.1 port={} user={user} password={password} dbname=starhouse", server.address.port())
    };
    let error = tokio_postgres::connect(&config("ana", "nope"), tokio_postgres::NoTls).await.err().expect("refused");
    assert_eq!(error.code().map(|c| c.code()), Some("28P01"), "{error}");

    let comment = "COMMENT ON TABLE dim_store IS 'Stores, by city'";
    let (reader, connection) =
        tokio_postgres::connect(&config("ana", "pw-ana"), tokio_postgres::NoTls).await.expect("ana");
    tokio::spawn(connection);
    let error = reader.batch_execute(comment).await.expect_err("a reader cannot write");
    assert_eq!(error.code().map(|c| c.code()), Some("42501"), "{error}");
    // Nor change DataFusion's settings, some of which the whole server shares; Starhouse's planner
    // settings are its session's own.
    let error = reader.batch_execute("SET datafusion.execution.batch_size = 100").await.expect_err("refused");
    assert_eq!(error.code().map(|c| c.code()), Some("42501"), "{error}");
    reader.batch_execute("SET starhouse.join_key_filters = false").await.expect("a planner setting");
    // In the simple protocol, and in the extended one, where it is described before it runs.
    let shown = reader.simple_query("SHOW starhouse.join_key_filters").await.expect("shown");
    let value = shown.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(1).map(str::to_string),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("false"));
    let row = reader.query_one("SHOW starhouse.join_key_filters", &[]).await.expect("described and shown");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("starhouse.join_key_filters".into(), "false".into())
    );
    let tables = reader.query("SHOW TABLES", &[]).await.expect("described and shown");
    assert!(tables.iter().any(|t| t.get::<_, String>(0) == "dim_store"), "{} tables", tables.len());

    let (writer, connection) =
        tokio_postgres::connect(&config("wes", "pw-wes"), tokio_postgres::NoTls).await.expect("wes");
    tokio::spawn(connection);
    writer.batch_execute(comment).await.expect("a writer writes");
    let row = reader
        .query_one("SELECT obj_description('dim_store'::regclass, 'pg_class')", &[])
        .await
        .expect("the comment reads back");
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("Stores, by city"));
}

#[tokio::test]
async fn a_user_added_while_the_server_runs_can_sign_in() {
    let server = TestServer::with_users(loopback(), vec![("ana", "pw-ana", false)]);
    let (engine, _) =
        Engine::open(server.dir.path().to_str().expect("utf-8"), Default::default()).await.expect("opens");
    let user = User { name: "late".into(), verifier: scram_verifier("pw-late"), writer: false };
    put_user(engine.warehouse().root(), user).await.expect("added");
    let config = format!("host=127.0.0.1 port={} user=late password=pw-late dbname=starhouse", server.address.port());
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("late signs in");
    tokio::spawn(connection);
    let row = client.query_one("SELECT current_user", &[]).await.expect("runs");
    assert_eq!(row.get::<_, String>(0), "late");
}

/// A self-signed certificate for `localhost`, written as PEM files in `dir`.
fn certificate(dir: &Path) -> TlsFiles {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let files = TlsFiles { certificate: dir.join("server.crt"), key: dir.join("server.key") };
    std::fs::write(&files.certificate, generated.cert.pem()).expect("write the certificate");
    std::fs::write(&files.key, generated.signing_key.serialize_pem()).expect("write the key");
    files
}

#[test]
fn tls_is_required_when_configured_and_verifies_with_channel_binding() {
    let dir = tempfile::tempdir().expect("a folder");
    let tls = certificate(dir.path());
    let root = tls.certificate.display().to_string();
    let server = TestServer::with_users(ServerOptions { tls: Some(tls), ..loopback() }, vec![("ana", "pw", false)]);
    let secure = format!(
        "postgresql://ana@localhost:{}/starhouse?sslmode=verify-full&sslrootcert={root}&channel_binding=require",
        server.address.port()
    );
    let output = psql(&secure, "pw", "SELECT count(*) FROM dim_store");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "50");

    let output = psql(&url(&server, "ana", "sslmode=disable"), "pw", "SELECT 1");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("only over TLS"), "{}", text(&output.stderr));
}

#[tokio::test]
async fn a_server_refuses_to_start_rather_than_serve_insecurely() {
    let dir = tempfile::tempdir().expect("a folder");
    let (engine, _) = Engine::open(dir.path().to_str().expect("utf-8"), Default::default()).await.expect("opens");
    let bind = |options: ServerOptions| Server::bind(Arc::clone(&engine), options);

    let missing = TlsFiles { certificate: dir.path().join("none.crt"), key: dir.path().join("none.key") };
    let error = bind(ServerOptions { tls: Some(missing), ..loopback() }).await.expect_err("no certificate");
    assert!(matches!(error, ServerError::Tls { .. }), "{error}");
    assert!(error.to_string().contains("none.crt"), "{error}");

    let first = certificate(&folder(dir.path().join("a")));
    let second = certificate(&folder(dir.path().join("b")));
    let mismatched = TlsFiles { certificate: first.certificate, key: second.key };
    let error = bind(ServerOptions { tls: Some(mismatched), ..loopback() }).await.expect_err("a foreign key");
    assert!(error.to_string().contains("do not go together"), "{error}");

    let everywhere = ServerOptions { listen: SocketAddr::from(([0, 0, 0, 0], 0)), ..ServerOptions::default() };
    let error = bind(everywhere.clone()).await.expect_err("no users");
    assert!(matches!(error, ServerError::NoUsers { .. }), "{error}");
    let user = User { name: "ana".into(), verifier: scram_verifier("pw"), writer: false };
    put_user(engine.warehouse().root(), user).await.expect("added");
    bind(everywhere).await.expect("with users, any address");
}

/// `path`, created as a folder.
fn folder(path: std::path::PathBuf) -> std::path::PathBuf {
    std::fs::create_dir_all(&path).expect("a folder");
    path
}
