//! Runs every `tests/slt/*.slt` file against a fresh warehouse, with the `sqllogictest` crate:
//! once with the warehouse and its fixtures in a local folder, once in a bucket on the S3 server.
//!
//! In the files, `$DATA` is where fixtures go (written with `COPY ... TO`): a temporary folder,
//! or a prefix of the bucket.

use std::path::PathBuf;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use sqllogictest::{DBOutput, DefaultColumnType};
use starhouse_engine::{EngineError, Output, Session};

use crate::TestEngine;

struct Db {
    session: Session,
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    match data_type {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() || t.is_decimal() => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, EngineError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| match f.value(row).to_string() {
                        empty if empty.is_empty() => "(empty)".to_string(),
                        value => value,
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = EngineError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, EngineError> {
        let mut output = DBOutput::StatementComplete(0);
        for statement in starhouse_engine::sql::parse(sql)? {
            output = match self.session.execute(statement).await? {
                Output::Command(_) => DBOutput::StatementComplete(0),
                Output::Rows(stream) => {
                    let schema = stream.schema();
                    let batches: Vec<RecordBatch> = stream.try_collect().await?;
                    if schema.fields().is_empty() {
                        DBOutput::StatementComplete(0)
                    } else {
                        DBOutput::Rows {
                            types: schema.fields().iter().map(|f| column_type(f.data_type())).collect(),
                            rows: rows(&batches)?,
                        }
                    }
                }
            };
        }
        Ok(output)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "starhouse"
    }
}

/// Runs every file, each on a new warehouse made by `new_engine`.
async fn run_files<F, Fut>(new_engine: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = TestEngine>,
{
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the slt folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let test = new_engine().await;
        let engine = test.engine.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let session = engine.session();
            async move { Ok(Db { session }) }
        });
        runner.set_var("DATA".into(), test.data.clone());
        if let Err(error) = runner.run_file_async(file).await {
            failures.push(format!("{}: {error}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} files failed:\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests() {
    run_files(TestEngine::new).await;
}

/// With listings not reused, so that a file added to a folder is seen by the next query on S3
/// as on local disk (`s3::a_repeated_selective_query_lists_nothing_...` covers the reuse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests_on_s3() {
    run_files(|| TestEngine::on_s3_with(|options| options.listing_cache_ttl = Some(std::time::Duration::ZERO))).await;
}
