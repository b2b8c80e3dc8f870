//! Table locations: from what a user typed to what the catalog stores, and back to what
//! DataFusion lists.
//!
//! A user writes a path (relative to the current directory, or absolute), a glob, or a URL. The
//! catalog stores it relative to the warehouse root when it is inside the root, so that a
//! warehouse can be moved or copied whole, and absolute otherwise.

use std::path::PathBuf;

use datafusion::datasource::listing::ListingTableUrl;
use starhouse_catalog::WarehouseRoot;
use url::Url;

use crate::error::EngineError;

fn is_glob(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// The location as the catalog stores it, or an error if it names nothing that exists.
pub(crate) fn from_user(root: &WarehouseRoot, location: &str) -> Result<String, EngineError> {
    let not_found = || EngineError::LocationNotFound { location: location.to_string() };
    let path = match Url::parse(location) {
        Ok(url) if url.scheme() == "file" => url.to_file_path().map_err(|()| not_found())?,
        Ok(url) if url.scheme().len() > 1 => {
            return Err(EngineError::unsupported(
                format!("LOCATION with the {}:// scheme", url.scheme()),
                "tables can be in local folders for now",
            ));
        }
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

/// The location as DataFusion lists it.
pub(crate) fn to_listing_url(root: &WarehouseRoot, location: &str) -> Result<ListingTableUrl, EngineError> {
    Ok(ListingTableUrl::parse(root.resolve(location))?)
}
