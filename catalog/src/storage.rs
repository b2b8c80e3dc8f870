//! The object stores of one process: local disk, and S3 buckets reached with the standard `AWS_*`
//! environment plus per-warehouse settings. One store per bucket, built on first use and shared by
//! the catalog and the query engine, so that connections and caches are shared too.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use crate::error::CatalogError;

/// S3 credentials given in code rather than by the environment. Never printed.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// How S3 is reached, over what the standard `AWS_*` environment variables say (credentials,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...). What is set here wins.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// The S3 endpoint, for an S3-compatible server (`http://127.0.0.1:9000`).
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    /// Plain HTTP to the endpoint (for a local server; never for AWS itself).
    pub s3_allow_http: Option<bool>,
    /// Virtual-hosted-style requests (`bucket.endpoint/key`) rather than path-style
    /// (`endpoint/bucket/key`, the default).
    pub s3_virtual_hosted_style: Option<bool>,
    /// Credentials, when not taken from the environment (tests and embedding programs).
    pub s3_credentials: Option<S3Credentials>,
}

/// How long a request may take, counting retries, before its error is reported.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a failed request (a timeout, a 5xx, a dropped connection) is retried.
const MAX_RETRIES: usize = 3;
const CONNECT_TIMEOUT: &str = "5s";

/// The object stores of one process, one per scheme and bucket.
pub struct ObjectStores {
    options: StorageOptions,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl fmt::Debug for ObjectStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("ObjectStores").field("stores", &keys).finish()
    }
}

/// The part of a URL that picks its store: `file://` or `s3://bucket`.
fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

/// A URL as it may be shown: without credentials, query or fragment.
pub fn redact(location: &str) -> String {
    match Url::parse(location) {
        Ok(mut url) if url.scheme().len() > 1 => {
            let hidden = !url.username().is_empty() || url.password().is_some();
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            let shown = url.to_string();
            match (hidden, shown.split_once("://")) {
                (true, Some((scheme, rest))) => format!("{scheme}://***@{rest}"),
                _ => shown,
            }
        }
        _ => location.to_string(),
    }
}

impl ObjectStores {
    pub fn new(options: StorageOptions) -> Self {
        Self { options, stores: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        self.stores.lock().expect("the store map lock is never poisoned")
    }

    /// Checks that a location URL is one Starhouse can use: a supported scheme, and no
    /// credentials, query or fragment in it (credentials belong in the environment, never in a
    /// location that the catalog stores and messages show).
    pub fn check_url(url: &Url) -> Result<(), CatalogError> {
        let invalid =
            |reason: &str| CatalogError::InvalidLocation { location: redact(url.as_str()), reason: reason.to_string() };
        match url.scheme() {
            "file" => Ok(()),
            "s3" | "s3a" => {
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(invalid(
                        "credentials do not belong in a location; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    ));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(invalid("a location has no query or fragment"));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("an S3 location names a bucket: s3://bucket/path"));
                }
                Ok(())
            }
            other => {
                Err(invalid(&format!("the {other}:// scheme is not supported; use a local folder, file:// or s3://")))
            }
        }
    }

    /// The store that serves `url` (`file://...` or `s3://bucket/...`), built on first use.
    pub fn get(&self, url: &Url) -> Result<Arc<dyn ObjectStore>, CatalogError> {
        Self::check_url(url)?;
        let key = store_key(url);
        let mut stores = self.lock();
        if let Some(store) = stores.get(&key) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(crate::local::LocalFiles::default()),
            _ => Arc::new(self.s3(&key)?),
        };
        stores.insert(key, Arc::clone(&store));
        Ok(store)
    }

    /// Puts `store` in place of the one serving `url`'s scheme and bucket (for example a store
    /// that counts requests), returning the one it replaces.
    pub fn register(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.lock().insert(store_key(url), store)
    }

    fn s3(&self, bucket_url: &str) -> Result<object_store::aws::AmazonS3, CatalogError> {
        let options = &self.options;
        let mut builder = AmazonS3Builder::from_env()
            .with_url(bucket_url)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: MAX_RETRIES,
                retry_timeout: RETRY_TIMEOUT,
            })
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), CONNECT_TIMEOUT);
        if let Some(endpoint) = &options.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &options.s3_region {
            builder = builder.with_region(region);
        }
        if let Some(allow_http) = options.s3_allow_http {
            builder = builder.with_allow_http(allow_http);
        }
        if let Some(virtual_hosted) = options.s3_virtual_hosted_style {
            builder = builder.with_virtual_hosted_style_request(virtual_hosted);
        }
        if let Some(credentials) = &options.s3_credentials {
            builder = builder
                .with_access_key_id(&credentials.access_key_id)
                .with_secret_access_key(&credentials.secret_access_key);
            if let Some(token) = &credentials.session_token {
                builder = builder.with_token(token);
            }
        }
        builder.build().map_err(|source| CatalogError::InvalidLocation {
            location: bucket_url.to_string(),
            reason: source.to_string(),
        })
    }
}

/// The text between `<tag>` and `</tag>` in an S3 error body quoted in a message.
fn xml_element<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + text[start..].find(&format!("</{tag}>"))?;
    Some(&text[start..end])
}

/// What went wrong with a request to a store, in a user's words: a missing bucket, refused
/// credentials, an endpoint that does not answer, or the store's own message. Object stores report
/// S3 errors as text (the status and the XML body), so the S3 error code is read from it.
pub(crate) fn explain(error: &object_store::Error) -> String {
    // The whole chain: the top error often leaves the cause ("URL scheme is not allowed") to its sources.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    let code = xml_element(&text, "Code");
    let message = xml_element(&text, "Message").unwrap_or_default();
    // "Error performing PUT http://host:port/bucket/key in ..." names the endpoint.
    let endpoint = || {
        text.split_whitespace()
            .filter_map(|word| Url::parse(word).ok())
            .find(|url| matches!(url.scheme(), "http" | "https"))
            .map(|url| format!("{}://{}", url.scheme(), &url[url::Position::BeforeHost..url::Position::AfterPort]))
            .unwrap_or_else(|| "endpoint".to_string())
    };
    match code {
        Some("NoSuchBucket") => match xml_element(&text, "BucketName") {
            Some(bucket) => format!("bucket {bucket} does not exist"),
            None => "the bucket does not exist".to_string(),
        },
        Some(
            code @ ("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" | "ExpiredToken" | "InvalidToken"
            | "TokenRefreshRequired" | "InvalidClientTokenId"),
        ) => format!(
            "the credentials were refused ({code}: {message}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
        ),
        Some(code) => format!("{code}: {message}"),
        None if text.contains("URL scheme is not allowed") => {
            format!("plain HTTP to {} is not allowed: set AWS_ALLOW_HTTP=true (or --s3-allow-http) for a local server", endpoint())
        }
        None if text.contains("169.254.169.254") => {
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the instance metadata service, tried next, did not answer)".to_string()
        }
        None if text.contains("error sending request") || text.contains("Connect") => {
            format!("cannot reach {} (after {MAX_RETRIES} retries)", endpoint())
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_location_are_refused_and_never_shown() {
        let url = Url::parse("s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket/wh/").expect("a URL");
        let message = ObjectStores::check_url(&url).expect_err("credentials are refused").to_string();
        assert!(message.contains("s3://***@bucket/wh/"), "{message}");
        assert!(!message.contains("wJalrXUtnFEMI") && !message.contains("AKIDEXAMPLE"), "{message}");
    }

    #[test]
    fn one_store_serves_a_bucket() {
        let stores = ObjectStores::new(StorageOptions {
            s3_region: Some("eu-west-1".into()),
            s3_credentials: Some(S3Credentials {
                access_key_id: "key".into(),
                secret_access_key: "secret".into(),
                session_token: None,
            }),
            ..Default::default()
        });
        let a = stores.get(&Url::parse("s3://bucket-a/x/").expect("a URL")).expect("a store");
        let again = stores.get(&Url::parse("s3://bucket-a/y/z.parquet").expect("a URL")).expect("a store");
        let b = stores.get(&Url::parse("s3://bucket-b/").expect("a URL")).expect("a store");
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(!format!("{stores:?} {:?}", StorageOptions::default()).contains("secret"));
    }

    #[test]
    fn an_unsupported_scheme_is_named() {
        let error = ObjectStores::check_url(&Url::parse("gs://bucket/wh").expect("a URL")).expect_err("gs");
        assert!(error.to_string().contains("the gs:// scheme is not supported"), "{error}");
    }
}
