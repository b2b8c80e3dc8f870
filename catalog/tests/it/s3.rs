//! What only object storage has: buckets that do not exist, credentials that are refused and
//! endpoints that do not answer, each reported with the location and quickly.

use std::time::{Duration, Instant};

use starhouse_catalog::{ObjectStores, Warehouse, WarehouseRoot};
use starhouse_testkit::{S3Server, SECRET_ACCESS_KEY, free_port};

use starhouse_testkit::s3_storage;

async fn open_error(root: &str, endpoint: String) -> String {
    let parsed = WarehouseRoot::parse(root, &ObjectStores::new(s3_storage(endpoint))).expect("a well-formed root");
    match Warehouse::open_or_create(parsed).await {
        Ok(_) => panic!("{root} opened"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn a_missing_bucket_is_named() {
    let message = open_error("s3://no-such-bucket/wh", S3Server::shared().endpoint()).await;
    assert!(message.contains("s3://no-such-bucket/wh/_starhouse/log/"), "{message}");
    assert!(message.contains("bucket no-such-bucket does not exist"), "{message}");
}

#[tokio::test]
async fn refused_credentials_are_reported_without_the_secret() {
    let strict = S3Server::start(true);
    let message = open_error("s3://any-bucket/wh", strict.endpoint()).await;
    assert!(message.contains("s3://any-bucket/wh/_starhouse/log/"), "{message}");
    assert!(message.contains("the credentials were refused"), "{message}");
    assert!(!message.contains(SECRET_ACCESS_KEY), "{message}");
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_fails_quickly() {
    let started = Instant::now();
    let message = open_error("s3://bucket/wh", format!("http://127.0.0.1:{}", free_port())).await;
    assert!(message.contains("s3://bucket/wh/_starhouse/log/"), "{message}");
    assert!(message.contains("cannot reach"), "{message}");
    // Retries are bounded (30 s at most), unlike object_store's default of three minutes.
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}
