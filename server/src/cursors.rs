//! SQL cursors: `DECLARE name CURSOR [WITH HOLD] FOR query`, `FETCH [FORWARD] n FROM name` and
//! `CLOSE name`, as psycopg's and psycopg2's server-side cursors use them.
//!
//! A cursor keeps its query's stream and reads it only as far as it is fetched, so a large
//! result is paged with bounded memory. Cursors scan forward only (`NO SCROLL`); one declared
//! without `WITH HOLD` lives until its transaction ends, as in PostgreSQL.

use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, DeclareType, FetchDirection, Ident, Statement as SQLStatement, Value, ValueWithSpan,
};
use futures::StreamExt;
use starhouse_engine::EngineError;
use starhouse_engine::sql::Statement;

use crate::sqlstate::{self, Failure, error};

/// A cursor statement.
pub(crate) enum CursorCommand {
    Declare {
        name: String,
        query: Statement,
        hold: bool,
    },
    /// `FETCH`: up to `count` rows (`None`: all that remain).
    Fetch {
        name: String,
        count: Option<usize>,
    },
    /// `CLOSE name`, or `CLOSE ALL` (`None`).
    Close(Option<String>),
}

/// A name as PostgreSQL folds it: unquoted names are lower case.
fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn count(limit: &ValueWithSpan) -> Result<usize, Failure> {
    match &limit.value {
        Value::Number(n, _) => n.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| error(sqlstate::SYNTAX_ERROR, format!("invalid FETCH count: {limit}")))
}

/// The cursor statement `statement` is, if it is one.
pub(crate) fn command(statement: &SQLStatement) -> Option<Result<CursorCommand, Failure>> {
    Some(match statement {
        SQLStatement::Declare { stmts } => {
            let [declare] = stmts.as_slice() else { return None };
            let (Some(DeclareType::Cursor), [name], Some(query)) =
                (&declare.declare_type, declare.names.as_slice(), &declare.for_query)
            else {
                return None;
            };
            if declare.scroll == Some(true) {
                return Some(Err(error(sqlstate::FEATURE_NOT_SUPPORTED, "SCROLL cursors are not supported")));
            }
            Ok(CursorCommand::Declare {
                name: folded(name),
                query: Statement::from_sql(SQLStatement::Query(query.clone())),
                hold: declare.hold == Some(true),
            })
        }
        SQLStatement::Fetch { name, direction, into: None, .. } => {
            let count = match direction {
                FetchDirection::Next | FetchDirection::Forward { limit: None } => Ok(Some(1)),
                FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
                    count(limit).map(Some)
                }
                FetchDirection::All | FetchDirection::ForwardAll => Ok(None),
                _ => Err(error("55000", "cursor can only scan forward")),
            };
            count.map(|count| CursorCommand::Fetch { name: folded(name), count })
        }
        SQLStatement::Close { cursor } => Ok(CursorCommand::Close(match cursor {
            CloseCursor::All => None,
            CloseCursor::Specific { name } => Some(folded(name)),
        })),
        _ => return None,
    })
}

/// The query of a `DECLARE ... CURSOR FOR query`, which is what is planned when it is prepared.
pub(crate) fn declared_query(statement: &SQLStatement) -> Option<Statement> {
    match command(statement)? {
        Ok(CursorCommand::Declare { query, .. }) => Some(query),
        _ => None,
    }
}

struct Cursor {
    stream: SendableRecordBatchStream,
    /// Rows read from the stream but not yet fetched.
    leftover: Option<RecordBatch>,
    hold: bool,
}

/// A connection's open cursors, by name.
#[derive(Default)]
pub(crate) struct Cursors(Mutex<HashMap<String, Cursor>>);

fn no_such_cursor(name: &str) -> Failure {
    error("34000", format!("cursor \"{name}\" does not exist"))
}

impl Cursors {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cursor>> {
        self.0.lock().expect("the cursor lock is never poisoned")
    }

    pub fn declare(&self, name: String, stream: SendableRecordBatchStream, hold: bool) -> Result<(), Failure> {
        let mut cursors = self.lock();
        if cursors.contains_key(&name) {
            return Err(error("42P03", format!("cursor \"{name}\" already exists")));
        }
        cursors.insert(name, Cursor { stream, leftover: None, hold });
        Ok(())
    }

    /// The columns `FETCH` from cursor `name` answers.
    pub fn schema(&self, name: &str) -> Option<SchemaRef> {
        self.lock().get(name).map(|cursor| cursor.stream.schema())
    }

    /// The next `count` rows of cursor `name` (all that remain for `None`). The rows are read
    /// from the cursor's query now; the cursor stays open, at the row after the last fetched.
    pub async fn fetch(&self, name: &str, count: Option<usize>) -> Result<SendableRecordBatchStream, Failure> {
        let mut cursor = self.lock().remove(name).ok_or_else(|| no_such_cursor(name))?;
        let schema = cursor.stream.schema();
        let read = Self::read(&mut cursor, count).await;
        self.lock().insert(name.to_string(), cursor);
        let batches = read.map_err(|e| sqlstate::engine_error(&e, ""))?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter(batches.into_iter().map(Ok)))))
    }

    async fn read(cursor: &mut Cursor, count: Option<usize>) -> Result<Vec<RecordBatch>, EngineError> {
        let mut batches = Vec::new();
        let mut wanted = count.unwrap_or(usize::MAX);
        while wanted > 0 {
            let batch = match cursor.leftover.take() {
                Some(batch) => batch,
                None => match cursor.stream.next().await {
                    Some(batch) => batch?,
                    None => break,
                },
            };
            if batch.num_rows() > wanted {
                cursor.leftover = Some(batch.slice(wanted, batch.num_rows() - wanted));
                batches.push(batch.slice(0, wanted));
                break;
            }
            wanted -= batch.num_rows();
            batches.push(batch);
        }
        Ok(batches)
    }

    pub fn close(&self, name: Option<&str>) -> Result<(), Failure> {
        let mut cursors = self.lock();
        match name {
            Some(name) => cursors.remove(name).map(drop).ok_or_else(|| no_such_cursor(name)),
            None => {
                cursors.clear();
                Ok(())
            }
        }
    }

    /// Closes the cursors of a transaction that ended (those declared without `WITH HOLD`).
    pub fn end_transaction(&self) {
        self.lock().retain(|_, cursor| cursor.hold);
    }
}
