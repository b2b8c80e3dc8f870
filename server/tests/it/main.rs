//! Integration tests of the wire server: a real server on an ephemeral loopback port, over a
//! small demo warehouse, driven by real clients: the `psql` binary (`psql`), `tokio-postgres` in
//! process (`protocol`, `types`, `catalog`), the Python drivers (`drivers`), bad input on raw
//! sockets (`robustness`), and passwords and TLS (`security`).

mod catalog;
mod drivers;
mod protocol;
mod psql;
mod robustness;
mod security;
mod types;

use std::net::SocketAddr;
use std::sync::Arc;

use starhouse_engine::catalog::{User, put_user};
use starhouse_engine::{Engine, demo};
use starhouse_server::{Server, ServerOptions, scram_verifier};

/// A server on a fresh demo warehouse (scale 0.01: 10,000 sales), in a thread of its own, stopped
/// when the value is dropped.
pub struct TestServer {
    pub address: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::with(ServerOptions { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerOptions::default() })
    }

    pub fn with(options: ServerOptions) -> Self {
        Self::with_users(options, Vec::new())
    }

    /// A server whose warehouse has `users` (name, password, writer).
    pub fn with_users(options: ServerOptions, users: Vec<(&str, &str, bool)>) -> Self {
        let users: Vec<User> = users
            .into_iter()
            .map(|(name, password, writer)| User { name: name.into(), verifier: scram_verifier(password), writer })
            .collect();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path().to_str().expect("utf-8 path").to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let (engine, _) = Engine::open(&root, Default::default()).await.expect("the warehouse opens");
                demo::create(&engine, 0.01).await.expect("the demo is created");
                for user in users {
                    put_user(engine.warehouse().root(), user).await.expect("the user is added");
                }
                let server = Server::bind(Arc::clone(&engine), options).await.expect("the server binds");
                ready_tx.send(server.local_addr().expect("an address")).expect("the test waits");
                server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let address = ready_rx.recv().expect("the server starts");
        Self { address, dir, stop: Some(stop), thread: Some(thread) }
    }

    /// A connection string for libpq clients.
    pub fn url(&self) -> String {
        format!("postgresql://tester@{}:{}/starhouse", self.address.ip(), self.address.port())
    }

    /// A `tokio-postgres` client (its connection runs on the caller's runtime).
    pub async fn connect(&self) -> tokio_postgres::Client {
        self.connect_with("").await
    }

    pub async fn connect_with(&self, options: &str) -> tokio_postgres::Client {
        let config = format!(
            "host={} port={} user=tester dbname=starhouse application_name=tests {options}",
            self.address.ip(),
            self.address.port()
        );
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
