//! Integration tests of the engine: the `.slt` files in `tests/slt/` (SQL behaviour), and what
//! SQL files cannot show (persistence across processes, the demo warehouse).

mod demo;
mod loads;
mod persistence;
mod robustness;
mod s3;
mod slt;
mod star;

use std::sync::Arc;

use starhouse_engine::{Engine, EngineOptions};
use starhouse_testkit::S3Server;

/// An engine on a new warehouse, in a temporary folder or in a bucket of its own, that lives as
/// long as the value. `data` is where a test puts its Parquet fixtures, outside the warehouse: a
/// folder of its own, or another prefix of the bucket.
pub struct TestEngine {
    /// The warehouse folder, for a local warehouse.
    pub dir: tempfile::TempDir,
    _fixtures: tempfile::TempDir,
    pub root: String,
    pub data: String,
    pub options: EngineOptions,
    pub engine: Arc<Engine>,
}

/// Options that reach the S3 server, with credentials given in code (tests do not change the
/// process's environment).
pub fn s3_options(server: &S3Server) -> EngineOptions {
    EngineOptions { storage: starhouse_testkit::s3_storage(server.endpoint()), ..Default::default() }
}

impl TestEngine {
    /// A warehouse in a temporary folder, with fixtures in another.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path().to_str().expect("utf-8 path").to_string();
        Self::with(dir, root, None, EngineOptions::default()).await
    }

    /// A warehouse at `s3://<new bucket>/warehouse`, with fixtures under `s3://<bucket>/data`.
    pub async fn on_s3() -> Self {
        Self::on_s3_with(|_| {}).await
    }

    /// The same, with options changed by `change`.
    pub async fn on_s3_with(change: impl FnOnce(&mut EngineOptions)) -> Self {
        let server = S3Server::shared();
        let bucket = server.new_bucket("engine");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = format!("s3://{bucket}/data");
        let mut options = s3_options(server);
        change(&mut options);
        Self::with(dir, format!("s3://{bucket}/warehouse"), Some(data), options).await
    }

    /// A warehouse at `root`, with fixtures at `data` (or in a temporary folder).
    pub async fn with(dir: tempfile::TempDir, root: String, data: Option<String>, options: EngineOptions) -> Self {
        let fixtures = tempfile::tempdir().expect("a temporary folder");
        let data = data.unwrap_or_else(|| fixtures.path().to_str().expect("utf-8 path").to_string());
        let engine = Engine::open(&root, options.clone()).await.expect("the warehouse opens").0;
        Self { dir, _fixtures: fixtures, root, data, options, engine }
    }

    /// Another engine on the same warehouse, as another process would open it.
    pub async fn reopen(&self) -> Arc<Engine> {
        Engine::open(&self.root, self.options.clone()).await.expect("the warehouse opens").0
    }
}
