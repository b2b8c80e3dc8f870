//! Runs every `tests/slt/*.slt` file against a fresh warehouse, with the `sqllogictest` crate.
//!
//! In the files, `$__TEST_DIR__` is a temporary folder for fixtures (written with `COPY ... TO`)
//! and `$WAREHOUSE` the warehouse root.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests() {
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
        let test = TestEngine::new().await;
        let engine = test.engine.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let session = engine.session();
            async move { Ok(Db { session }) }
        });
        runner.set_var("WAREHOUSE".into(), test.dir.path().display().to_string());
        if let Err(error) = runner.run_file_async(file).await {
            failures.push(format!("{}: {error}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} files failed:\n{}", failures.len(), files.len(), failures.join("\n\n"));
}
