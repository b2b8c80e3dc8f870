//! An object store that counts the requests made through it, by kind, for tests and benchmarks
//! that show how economical remote reads are; and that can refuse writes as a full disk does.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};

/// How many requests of each kind were made. A listing counts once per call (a listing of more
/// than a thousand objects is several requests on S3).
#[derive(Debug, Default)]
pub struct RequestCounts {
    pub list: AtomicUsize,
    pub head: AtomicUsize,
    pub get: AtomicUsize,
    pub put: AtomicUsize,
    pub delete: AtomicUsize,
}

/// A snapshot of [`RequestCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requests {
    pub list: usize,
    pub head: usize,
    pub get: usize,
    pub put: usize,
    pub delete: usize,
}

impl std::ops::Sub for Requests {
    type Output = Requests;
    fn sub(self, before: Requests) -> Requests {
        Requests {
            list: self.list - before.list,
            head: self.head - before.head,
            get: self.get - before.get,
            put: self.put - before.put,
            delete: self.delete - before.delete,
        }
    }
}

impl fmt::Display for Requests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} LIST, {} HEAD, {} GET", self.list, self.head, self.get)?;
        if self.put + self.delete > 0 {
            write!(f, ", {} PUT, {} DELETE", self.put, self.delete)?;
        }
        Ok(())
    }
}

/// Wraps a store and counts what goes through it.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<RequestCounts>,
    full: Arc<AtomicBool>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, counts: Arc::default(), full: Arc::default() }
    }

    /// While set, every write fails as on a full disk (shared with the store, like the counters).
    pub fn full(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.full)
    }

    fn check_space(&self, location: &Path) -> Result<()> {
        if !self.full.load(Ordering::Relaxed) {
            return Ok(());
        }
        let source =
            std::io::Error::new(std::io::ErrorKind::StorageFull, format!("No space left on device: {location}"));
        Err(object_store::Error::Generic { store: "test", source: Box::new(source) })
    }

    /// The counters, shared with the store (they keep counting after the store is handed out).
    pub fn counts(&self) -> Arc<RequestCounts> {
        Arc::clone(&self.counts)
    }
}

impl RequestCounts {
    pub fn snapshot(&self) -> Requests {
        Requests {
            list: self.list.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
        }
    }
}

fn count(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        count(&self.counts.put);
        self.check_space(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        count(&self.counts.put);
        self.check_space(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        count(if options.head { &self.counts.head } else { &self.counts.get });
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let counts = Arc::clone(&self.counts);
        let counted = locations.inspect(move |_| count(&counts.delete)).boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        count(&self.counts.list);
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        count(&self.counts.list);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        count(&self.counts.list);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        count(&self.counts.put);
        self.inner.copy_opts(from, to, options).await
    }
}
