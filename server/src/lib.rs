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

mod commands;
mod compat;
mod connection;
mod copy;
mod cursors;
mod encode;
mod params;
mod pg_catalog;
mod sqlstate;

use std::net::SocketAddr;
use std::sync::Arc;

use starhouse_engine::Engine;
use tokio::net::TcpListener;

use crate::connection::{Handler, Shared};

/// How a server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen (`127.0.0.1:5433`).
    pub listen: SocketAddr,
    /// Connections served at once; the next one is refused with `53300 too many connections`.
    pub max_connections: usize,
    /// Whether clients may change the warehouse (DDL, `SET datafusion.*`, `COPY ... TO` a
    /// file). Off by default: a wire client reads.
    pub allow_writes: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 5433)), max_connections: 100, allow_writes: false }
    }
}

/// Errors that stop a server from serving (a client's errors never do).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
}

/// A server bound to its address, ready to serve.
pub struct Server {
    listener: TcpListener,
    handler: Handler,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listen", &self.listener.local_addr().ok()).finish()
    }
}

impl Server {
    /// Binds the listening socket (port 0 picks a free one; see [`Server::local_addr`]).
    pub async fn bind(engine: Arc<Engine>, options: ServerOptions) -> Result<Self, ServerError> {
        let address = options.listen;
        let listener = TcpListener::bind(address).await.map_err(|source| ServerError::Listen { address, source })?;
        Ok(Self { listener, handler: Handler { shared: Arc::new(Shared::new(engine, options)) } })
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
                    tokio::spawn(async move {
                        let _ = socket.set_nodelay(true);
                        if let Err(error) = pgwire::tokio::process_socket(socket, None, handler).await {
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
