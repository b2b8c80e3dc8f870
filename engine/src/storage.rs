//! DataFusion's view of the process's object stores: the catalog's [`ObjectStores`], so that the
//! catalog and the queries share one store (and its connections) per bucket, and a table in any
//! bucket is reachable without registering it first.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use starhouse_catalog::ObjectStores;
use url::Url;

#[derive(Debug)]
pub(crate) struct Registry(pub Arc<ObjectStores>);

impl ObjectStoreRegistry for Registry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.0.register(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.0.get(url).map_err(|e| DataFusionError::External(Box::new(e)))
    }
}
