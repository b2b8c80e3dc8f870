//! Where a warehouse lives: its root URL and the object store that reaches it.

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use url::Url;

use crate::error::CatalogError;
use crate::storage::ObjectStores;

/// The root of a warehouse: a URL, the object store serving it and the path of the root inside
/// that store. Local roots are absolute `file://` URLs, whatever form the user gave.
#[derive(Clone)]
pub struct WarehouseRoot {
    url: Url,
    /// The folder, for a local root.
    local: Option<std::path::PathBuf>,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl fmt::Debug for WarehouseRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarehouseRoot").field("url", &self.url.as_str()).finish()
    }
}

impl fmt::Display for WarehouseRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local_path() {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str(self.url.as_str()),
        }
    }
}

impl WarehouseRoot {
    /// Parses a root given by a user: a plain path (relative to the current directory), a
    /// `file://` URL, or an `s3://bucket/prefix` URL. A local folder that does not exist yet is
    /// created; a bucket must exist.
    pub fn parse(root: &str, stores: &ObjectStores) -> Result<Self, CatalogError> {
        let invalid = |reason: String| CatalogError::InvalidRoot { root: crate::storage::redact(root), reason };
        let path = match Url::parse(root) {
            Ok(url) if url.scheme() == "file" => {
                url.to_file_path().map_err(|()| invalid("not a valid file:// URL".into()))?
            }
            // A one-letter scheme is a Windows drive, not a URL.
            Ok(url) if url.scheme().len() > 1 => return Self::remote(url, stores),
            _ => std::path::PathBuf::from(root),
        };
        std::fs::create_dir_all(&path).map_err(|e| invalid(format!("cannot create the folder: {e}")))?;
        let path = path.canonicalize().map_err(|e| invalid(format!("cannot resolve the folder: {e}")))?;
        let url = Url::from_directory_path(&path).map_err(|()| invalid("not an absolute folder".into()))?;
        let prefix = Path::from_absolute_path(&path).map_err(|e| invalid(e.to_string()))?;
        Ok(Self { store: stores.get(&url)?, url, local: Some(path), prefix })
    }

    /// A root in object storage: the URL's path is the prefix of the warehouse in its bucket.
    fn remote(mut url: Url, stores: &ObjectStores) -> Result<Self, CatalogError> {
        let store = stores.get(&url).map_err(|error| match error {
            CatalogError::InvalidLocation { location, reason } => CatalogError::InvalidRoot { root: location, reason },
            other => other,
        })?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let prefix = Path::from_url_path(url.path())
            .map_err(|e| CatalogError::InvalidRoot { root: url.to_string(), reason: e.to_string() })?;
        Ok(Self { url, local: None, store, prefix })
    }

    /// The root as a URL ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store that holds the warehouse (rooted at the store's root, not the warehouse's).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The local folder of the warehouse, if it is on local disk.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        self.local.as_deref()
    }

    /// A path in the root's store as a user would look for it: a local path, or a URL.
    pub fn display_path(&self, path: &Path) -> String {
        match self.local_path() {
            Some(_) => format!("/{path}"),
            None => format!("{}://{}/{path}", self.url.scheme(), self.url.host_str().unwrap_or_default()),
        }
    }

    /// The store path of `relative` (a `/`-separated path) under the root.
    pub fn path(&self, relative: &str) -> Path {
        let relative = Path::from(relative);
        Path::from_iter(self.prefix.parts().chain(relative.parts()))
    }

    /// Resolves a table location as stored in the catalog (absolute, or relative to the root) to
    /// an absolute one: a local path for a local root, a URL otherwise.
    pub fn resolve(&self, location: &str) -> String {
        if is_absolute(location) {
            return location.to_string();
        }
        match self.local_path() {
            Some(root) => format!("{}/{location}", root.display()),
            None => format!("{}{location}", self.url),
        }
    }

    /// The form of an absolute location (a local path or a URL) to store in the catalog: relative
    /// to the root when it is inside it, so that a warehouse can be moved or copied whole.
    pub fn relativize(&self, absolute: &str) -> String {
        let base = match self.local_path() {
            Some(root) => format!("{}/", root.display()),
            None => self.url.to_string(),
        };
        match absolute.strip_prefix(&base) {
            Some(relative) if !relative.is_empty() => relative.to_string(),
            _ => absolute.to_string(),
        }
    }
}

/// A local absolute path, or a URL with a scheme (a one-letter scheme is a Windows drive).
fn is_absolute(location: &str) -> bool {
    std::path::Path::new(location).is_absolute() || Url::parse(location).is_ok_and(|url| url.scheme().len() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> ObjectStores {
        ObjectStores::new(Default::default())
    }

    #[test]
    fn locations_inside_the_root_are_stored_relative_and_resolve_back() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = WarehouseRoot::parse(dir.path().to_str().expect("utf-8 path"), &stores()).expect("a local root");
        let local = root.local_path().expect("a local root");
        let inside = format!("{}/data/fact_sales/", local.display());
        assert_eq!(root.relativize(&inside), "data/fact_sales/");
        assert_eq!(root.resolve("data/fact_sales/"), inside);
        assert_eq!(root.relativize("/elsewhere/t/"), "/elsewhere/t/");
        assert_eq!(root.resolve("/elsewhere/t/"), "/elsewhere/t/");
        assert_eq!(root.resolve("file:///elsewhere/t/"), "file:///elsewhere/t/");
    }

    #[test]
    fn an_unsupported_scheme_is_refused_with_its_name() {
        let error = WarehouseRoot::parse("gs://bucket/wh", &stores()).expect_err("gs is not supported");
        assert!(error.to_string().contains("gs:// scheme is not supported"), "{error}");
    }

    #[test]
    fn an_s3_root_is_a_prefix_in_its_bucket() {
        let root = WarehouseRoot::parse("s3://lake/warehouses/retail", &stores()).expect("an S3 root");
        assert_eq!(root.url().as_str(), "s3://lake/warehouses/retail/");
        assert_eq!(root.local_path(), None);
        let log = root.path("_starhouse/log/1.json");
        assert_eq!(log.as_ref(), "warehouses/retail/_starhouse/log/1.json");
        assert_eq!(root.display_path(&log), "s3://lake/warehouses/retail/_starhouse/log/1.json");
        assert_eq!(root.relativize("s3://lake/warehouses/retail/data/t/"), "data/t/");
        assert_eq!(root.resolve("data/t/"), "s3://lake/warehouses/retail/data/t/");
        assert_eq!(root.resolve("s3://other/t/"), "s3://other/t/");
    }
}
