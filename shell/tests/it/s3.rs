//! The binary on a warehouse in a bucket of a real S3-compatible server: set up from the standard
//! AWS environment or from the command line's S3 options, and seen by the next process.

use starhouse_testkit::S3Server;

use crate::{Sandbox, stderr, stdout};

#[test]
fn a_warehouse_in_a_bucket_is_created_and_seen_by_the_next_process() {
    let server = S3Server::shared();
    let bucket = server.new_bucket("shell");
    let sandbox = Sandbox::empty();
    let root = format!("s3://{bucket}/retail");

    // The first process takes everything from the standard AWS environment.
    let created = sandbox.run_with_env(&["-w", &root, "demo", "--scale", "0.01"], "", &server.aws_env());
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stderr(&created).contains(&format!("Creating the demo warehouse (scale 0.01) at {root}/")),
        "{}",
        stderr(&created)
    );

    // The next one gives the endpoint on the command line; only the credentials come from the
    // environment.
    let credentials: Vec<(&str, String)> = server
        .aws_env()
        .into_iter()
        .filter(|(key, _)| key.starts_with("AWS_ACCESS") || key.starts_with("AWS_SECRET"))
        .collect();
    let endpoint = server.endpoint();
    let args =
        ["-w", &root, "--s3-endpoint", &endpoint, "--s3-allow-http", "--s3-region", "us-east-1", "--format", "csv"];
    let query = "SELECT count(*) AS sales FROM fact_sales f JOIN dim_store s ON f.store_key = s.store_key;";
    let output = sandbox.run_with_env(&args, query, &credentials);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "sales\n10000\n");
}

#[test]
fn a_missing_bucket_is_named_and_the_exit_status_is_one() {
    let server = S3Server::shared();
    let sandbox = Sandbox::empty();
    let output = sandbox.run_with_env(&["-w", "s3://no-such-bucket/wh", "-c", "SELECT 1"], "", &server.aws_env());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Error: cannot open the warehouse s3://no-such-bucket/wh: cannot write \
         s3://no-such-bucket/wh/_starhouse/log/00000000000000000000.json: bucket no-such-bucket does not exist\n"
    );
}

#[test]
fn plain_http_to_an_endpoint_must_be_allowed() {
    let server = S3Server::shared();
    let bucket = server.new_bucket("shell");
    let sandbox = Sandbox::empty();
    let env: Vec<(&str, String)> = server.aws_env().into_iter().filter(|(key, _)| *key != "AWS_ALLOW_HTTP").collect();
    let output = sandbox.run_with_env(&["-w", &format!("s3://{bucket}/wh"), "-c", "SELECT 1"], "", &env);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("plain HTTP to {} is not allowed", server.endpoint())), "{message}");
}
