//! Table locations: from what a user typed to what the catalog stores, and back to what
//! DataFusion lists.
//!
//! A user writes a path (relative to the current directory, or absolute), a glob, or a URL
//! (`file://`, `s3://bucket/path`). The catalog stores it relative to the warehouse root when it
//! is inside the root, so that a warehouse can be moved or copied whole, and absolute otherwise.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use starhouse_catalog::{CatalogError, ObjectStores, WarehouseRoot};
use url::Url;

use crate::error::EngineError;

fn is_glob(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// The location as the catalog stores it, or an error if it names nothing that exists.
pub(crate) async fn from_user(
    root: &WarehouseRoot,
    stores: &ObjectStores,
    location: &str,
) -> Result<String, EngineError> {
    let not_found = || EngineError::LocationNotFound { location: location.to_string() };
    let path = match Url::parse(location) {
        Ok(url) if url.scheme() == "file" => url.to_file_path().map_err(|()| not_found())?,
        Ok(url) if url.scheme().len() > 1 => return Ok(root.relativize(&remote(stores, url, location).await?)),
        _ => PathBuf::from(location),
    };
    // Resolve the folders before the first glob component; keep the glob as written.
    let mut base = PathBuf::new();
    let mut pattern = Vec::new();
    for component in path.components() {
        let text = component.as_os_str().to_string_lossy();
        if !pattern.is_empty() || is_glob(&text) {
            pattern.push(text.into_owned());
        } else {
            base.push(component);
        }
    }
    let base = base.canonicalize().map_err(|_| not_found())?;
    let mut absolute = base.to_string_lossy().into_owned();
    if !pattern.is_empty() {
        absolute = format!("{}/{}", absolute.trim_end_matches('/'), pattern.join("/"));
    } else if base.is_dir() {
        absolute.push('/');
    }
    Ok(root.relativize(&absolute))
}

/// A location in object storage, checked to exist: a file, or a folder (a prefix) with at least
/// one object under it. A glob is checked by its folder part. Folders end in `/`.
async fn remote(stores: &ObjectStores, url: Url, location: &str) -> Result<String, EngineError> {
    let store = stores.get(&url)?;
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    let glob_at = segments.iter().position(|s| is_glob(s));
    let base = Path::from_iter(segments[..glob_at.unwrap_or(segments.len())].iter().copied());
    let shown = format!("{}://{}/{base}", url.scheme(), url.host_str().unwrap_or_default());
    let failed = |action: &'static str, source| {
        EngineError::Catalog(CatalogError::Store { action, path: shown.clone(), source })
    };
    if glob_at.is_none() && !url.path().ends_with('/') && !base.as_ref().is_empty() {
        match store.head(&base).await {
            Ok(_) => return Ok(url.to_string()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(failed("read", error)),
        }
    }
    match store.list(Some(&base)).next().await {
        Some(Ok(_)) => {}
        Some(Err(error)) => return Err(failed("list", error)),
        None => return Err(EngineError::LocationNotFound { location: location.to_string() }),
    }
    let mut url = url;
    if glob_at.is_none() && !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url.to_string())
}

/// The location as DataFusion lists it, with the object store that holds it.
pub(crate) fn listing_store(
    runtime: &RuntimeEnv,
    root: &WarehouseRoot,
    location: &str,
) -> Result<(ListingTableUrl, Arc<dyn ObjectStore>), EngineError> {
    let url = to_listing_url(root, location)?;
    let store = runtime.object_store(&url)?;
    Ok((url, store))
}

/// The location as DataFusion lists it.
pub(crate) fn to_listing_url(root: &WarehouseRoot, location: &str) -> Result<ListingTableUrl, EngineError> {
    let resolved = root.resolve(location);
    let url = match Url::parse(&resolved) {
        Ok(url) if url.scheme().len() > 1 && url.scheme() != "file" => url,
        _ => return Ok(ListingTableUrl::parse(resolved)?),
    };
    // DataFusion reads globs in local paths only; a URL's glob is split off here: the folders
    // before its first glob character are listed, and the rest is matched against what is found.
    let path = url.path().to_string();
    let Some(first_glob) = path.find(['*', '?', '[']) else {
        return Ok(ListingTableUrl::parse(resolved)?);
    };
    let split = path[..first_glob].rfind('/').map_or(0, |i| i + 1);
    let pattern = glob::Pattern::new(&path[split..])
        .map_err(|e| EngineError::InvalidGlob { location: location.to_string(), reason: e.to_string() })?;
    let mut base = url;
    base.set_path(&path[..split]);
    Ok(ListingTableUrl::try_new(base, Some(pattern))?)
}
