//! The PostgreSQL wire protocol for Starhouse: psql, drivers and BI tools connect to a warehouse
//! as they would to PostgreSQL 16.
//!
//! The crate owns the protocol (on pgwire), the mapping of Arrow results to PostgreSQL types and
//! formats, the session behaviour clients expect (transactions, settings, `COPY TO STDOUT`,
//! cancel, SQLSTATEs) and the `pg_catalog` compatibility layer. It knows nothing of the terminal;
//! queries are run by the engine.
//!
//! Start reading at [`Server`], then `connection` (the handlers), `encode` (Arrow to
//! PostgreSQL), `commands` (what the server answers itself) and `sqlstate` (errors).

mod auth;
mod commands;
mod compat;
mod connection;
mod copy;
mod copy_in;
mod cursors;
mod encode;
mod information_schema;
mod params;
mod pg_catalog;
mod sqlstate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use starhouse_engine::Engine;
use starhouse_engine::catalog::{CatalogError, read_users};
use tokio::net::TcpListener;

use crate::auth::WarehouseUsers;
pub use crate::auth::scram_verifier;
use crate::connection::{Handler, Shared};

/// How a server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen (`127.0.0.1:5433`).
    pub listen: SocketAddr,
    /// Connections served at once; the next one is refused with `53300 too many connections`.
    pub max_connections: usize,
    /// Whether clients may change the warehouse (DDL, `SET datafusion.*`, `COPY ... TO` a
    /// file) without being a writer. Off by default: a wire client reads.
    pub allow_writes: bool,
    /// TLS: when given, every client must connect over it.
    pub tls: Option<TlsFiles>,
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 5433)), max_connections: 100, allow_writes: false, tls: None }
    }
}

/// Errors that stop a server from serving (a client's errors never do).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("TLS is misconfigured: {reason}")]
    Tls { reason: String },
    #[error(
        "refusing to listen on {address}: the warehouse has no users, and without them only loopback clients can be \
         trusted (add one with `starhouse user add NAME`)"
    )]
    NoUsers { address: SocketAddr },
    #[error("cannot read the warehouse's users: {0}")]
    Users(#[from] CatalogError),
}

/// A server bound to its address, ready to serve.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: Handler,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listen", &self.listener.local_addr().ok()).finish()
    }
}

impl Server {
    /// Binds the listening socket (port 0 picks a free one; see [`Server::local_addr`]), after
    /// checking that clients can be let in safely: TLS that loads, and users unless the address
    /// is a loopback one.
    pub async fn bind(engine: Arc<Engine>, options: ServerOptions) -> Result<Self, ServerError> {
        let address = options.listen;
        let (tls, certificate) = match &options.tls {
            Some(files) => {
                let (acceptor, pem) = auth::tls_acceptor(&files.certificate, &files.key)?;
                (Some(acceptor), Some(pem))
            }
            None => (None, None),
        };
        if !address.ip().is_loopback() && read_users(engine.warehouse().root()).await?.is_empty() {
            return Err(ServerError::NoUsers { address });
        }
        let users = Arc::new(WarehouseUsers::new(Arc::clone(&engine)));
        let scram = auth::scram(Arc::clone(&users), certificate.as_deref())
            .map_err(|e| ServerError::Tls { reason: format!("the certificate cannot bind SCRAM channels: {e}") })?;
        let listener = TcpListener::bind(address).await.map_err(|source| ServerError::Listen { address, source })?;
        Ok(Self { listener, tls, handler: Handler { shared: Arc::new(Shared::new(engine, options, scram, users)) } })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves connections until `shutdown` completes. Each connection runs in a task of its
    /// own; a client that misbehaves loses only its own connection.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((socket, peer)) => {
                    let handler = self.handler.clone();
                    let tls = self.tls.clone();
                    tokio::spawn(async move {
                        let _ = socket.set_nodelay(true);
                        if let Err(error) = pgwire::tokio::process_socket(socket, tls, handler).await {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors, for example: wait a moment rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}
