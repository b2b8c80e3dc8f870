//! Integration tests of the engine: the `.slt` files in `tests/slt/` (SQL behaviour), and what
//! SQL files cannot show (persistence across processes, the demo warehouse).

mod demo;
mod persistence;
mod robustness;
mod slt;

use std::sync::Arc;

use starhouse_engine::Engine;

/// An engine on a new warehouse in a temporary folder that lives as long as the value.
pub struct TestEngine {
    pub dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
}

impl TestEngine {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let engine = Self::open(&dir).await;
        Self { dir, engine }
    }

    /// Another engine on the same warehouse, as another process would open it.
    pub async fn reopen(&self) -> Arc<Engine> {
        Self::open(&self.dir).await
    }

    async fn open(dir: &tempfile::TempDir) -> Arc<Engine> {
        let root = dir.path().to_str().expect("utf-8 path");
        Engine::open(root).await.expect("the warehouse opens").0
    }
}
