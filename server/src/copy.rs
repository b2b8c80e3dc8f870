//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT`, in PostgreSQL's text, CSV and binary
//! formats (what psql's `\copy ... to 'file'` asks for), streamed one batch at a time.
//! (`COPY ... FROM STDIN` is in `copy_in`; `COPY ... FROM 'file'` is the engine's.)

use std::fmt::Debug;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::ArrayRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement as SQLStatement,
};
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::response::CommandComplete;
use starhouse_engine::EngineError;

use crate::connection::Connection;
use crate::encode::{self, TextOptions};
use crate::sqlstate::{self, Failure, engine_error, error};

#[derive(Debug, Clone, PartialEq)]
enum Format {
    Text { delimiter: u8, null: String },
    Csv { delimiter: u8, null: String, quote: u8, escape: u8, header: bool },
    Binary,
}

/// A `COPY ... TO STDOUT`: the query whose rows it writes and how.
pub(crate) struct CopyOut {
    pub query: String,
    format: Format,
    stream: Option<SendableRecordBatchStream>,
}

impl CopyOut {
    pub fn with_stream(self, stream: SendableRecordBatchStream) -> Self {
        Self { stream: Some(stream), ..self }
    }
}

fn byte(c: char, what: &str) -> Result<u8, Failure> {
    u8::try_from(c)
        .map_err(|_| error(sqlstate::FEATURE_NOT_SUPPORTED, format!("COPY {what} must be a single one-byte character")))
}

/// The `COPY ... TO STDOUT` a statement is, if it is one; `COPY FROM` is an error.
pub(crate) fn copy_out(statement: &SQLStatement) -> Option<Result<CopyOut, Failure>> {
    let SQLStatement::Copy { source, to, target, options, legacy_options, .. } = statement else {
        return None;
    };
    Some(plan(source, *to, target, options, legacy_options))
}

fn plan(
    source: &CopySource,
    to: bool,
    target: &CopyTarget,
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
) -> Result<CopyOut, Failure> {
    if !to {
        return Err(error(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "this COPY FROM is not supported: COPY table FROM STDIN or FROM 'file' loads rows",
        ));
    }
    if !matches!(target, CopyTarget::Stdout) {
        return Err(error(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "COPY TO a server file is written as COPY (query) TO 'path' STORED AS PARQUET|CSV|JSON",
        ));
    }
    let query = match source {
        CopySource::Query(query) => query.to_string(),
        CopySource::Table { table_name, columns } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
        CopySource::Table { table_name, columns } => {
            let columns: Vec<String> = columns.iter().map(ToString::to_string).collect();
            format!("SELECT {} FROM {table_name}", columns.join(", "))
        }
    };
    let (mut csv, mut binary, mut header) = (false, false, false);
    let (mut delimiter, mut null, mut quote, mut escape) = (None, None, b'"', None);
    for option in options {
        match option {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "csv" => csv = true,
                "binary" => binary = true,
                "text" => {}
                other => {
                    return Err(error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("COPY format \"{other}\" not recognized"),
                    ));
                }
            },
            CopyOption::Delimiter(c) => delimiter = Some(byte(*c, "delimiter")?),
            CopyOption::Null(s) => null = Some(s.clone()),
            CopyOption::Header(h) => header = *h,
            CopyOption::Quote(c) => quote = byte(*c, "quote")?,
            CopyOption::Escape(c) => escape = Some(byte(*c, "escape")?),
            _ => {}
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Binary => binary = true,
            CopyLegacyOption::Delimiter(c) => delimiter = Some(byte(*c, "delimiter")?),
            CopyLegacyOption::Null(s) => null = Some(s.clone()),
            CopyLegacyOption::Header => header = true,
            CopyLegacyOption::Csv(csv_options) => {
                csv = true;
                for option in csv_options {
                    match option {
                        CopyLegacyCsvOption::Header => header = true,
                        CopyLegacyCsvOption::Quote(c) => quote = byte(*c, "quote")?,
                        CopyLegacyCsvOption::Escape(c) => escape = Some(byte(*c, "escape")?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let format = if binary {
        Format::Binary
    } else if csv {
        Format::Csv {
            delimiter: delimiter.unwrap_or(b','),
            null: null.unwrap_or_default(),
            quote,
            escape: escape.unwrap_or(quote),
            header,
        }
    } else {
        Format::Text { delimiter: delimiter.unwrap_or(b'\t'), null: null.unwrap_or_else(|| "\\N".into()) }
    };
    Ok(CopyOut { query, format, stream: None })
}

/// One value in COPY's text format: backslash escapes for the delimiter and control characters.
fn text_field(value: &[u8], delimiter: u8, out: &mut BytesMut) {
    for &c in value {
        match c {
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' if delimiter == b'\t' => out.put_slice(b"\\t"),
            c if c == delimiter => {
                out.put_u8(b'\\');
                out.put_u8(c);
            }
            c => out.put_u8(c),
        }
    }
}

/// One value in CSV: quoted when it holds the delimiter, a quote, a line break, or is empty or
/// equal to the NULL string.
fn csv_field(value: &[u8], delimiter: u8, quote: u8, escape: u8, null: &str, out: &mut BytesMut) {
    let needs_quotes = value.is_empty()
        || value == null.as_bytes()
        || value.iter().any(|&c| c == delimiter || c == quote || c == b'\n' || c == b'\r');
    if !needs_quotes {
        out.put_slice(value);
        return;
    }
    out.put_u8(quote);
    for &c in value {
        if c == quote || c == escape {
            out.put_u8(escape);
        }
        out.put_u8(c);
    }
    out.put_u8(quote);
}

/// One row of a batch in the copy's format.
fn encode_row(
    format: &Format,
    columns: &[ArrayRef],
    row: usize,
    options: &TextOptions,
    value: &mut BytesMut,
    out: &mut BytesMut,
) -> Result<(), EngineError> {
    let (delimiter, null) = match format {
        Format::Binary => {
            out.put_i16(columns.len() as i16);
            for column in columns {
                encode::write_field(column.as_ref(), row, true, options, out)?;
            }
            return Ok(());
        }
        Format::Text { delimiter, null } | Format::Csv { delimiter, null, .. } => (*delimiter, null),
    };
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            out.put_u8(delimiter);
        }
        if encode::is_null(column.as_ref(), row) {
            out.put_slice(null.as_bytes());
            continue;
        }
        value.clear();
        encode::write_text(column.as_ref(), row, options, value)?;
        match format {
            Format::Csv { quote, escape, .. } => csv_field(value, delimiter, *quote, *escape, null, out),
            _ => text_field(value, delimiter, out),
        }
    }
    out.put_u8(b'\n');
    Ok(())
}

/// Streams a copy to the client: `CopyOutResponse`, one `CopyData` per row (the header goes
/// with the first, as PostgreSQL sends it and psycopg reads it), `CopyDone` and `COPY n`.
pub(crate) async fn send<C>(client: &mut C, connection: Arc<Connection>, copy: CopyOut) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let Some(mut stream) = copy.stream else {
        return Err(sqlstate::user_error(sqlstate::INTERNAL_ERROR, "COPY has no rows to send"));
    };
    let columns = stream.schema().fields().len() as i16;
    let binary = copy.format == Format::Binary;
    let code = i16::from(binary);
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            code as i8,
            columns,
            vec![code; columns as usize],
        )))
        .await?;
    let options = connection.settings.lock().expect("the settings lock is never poisoned").text.clone();
    let mut first = BytesMut::new();
    match &copy.format {
        Format::Binary => {
            first.put_slice(b"PGCOPY\n\xff\r\n\0");
            first.put_i32(0);
            first.put_i32(0);
        }
        Format::Csv { delimiter, quote, escape, null, header: true } => {
            for (i, field) in stream.schema().fields().iter().enumerate() {
                if i > 0 {
                    first.put_u8(*delimiter);
                }
                csv_field(field.name().as_bytes(), *delimiter, *quote, *escape, null, &mut first);
            }
            first.put_u8(b'\n');
        }
        _ => {}
    }
    let mut data = first;
    let mut value = BytesMut::new();
    let (token, _) = connection.current();
    let mut rows = 0usize;
    loop {
        let next = tokio::select! {
            biased;
            _ = token.cancelled() => return Err(PgWireError::UserError(connection.canceled_error())),
            next = stream.next() => next,
        };
        let batch = match next {
            None => break,
            Some(Ok(batch)) => batch,
            Some(Err(e)) => return Err(PgWireError::UserError(engine_error(&EngineError::from(e), ""))),
        };
        let failed = |e: EngineError| PgWireError::UserError(engine_error(&e, ""));
        let columns = encode::plain_columns(&batch).map_err(|e| failed(e.into()))?;
        for row in 0..batch.num_rows() {
            encode_row(&copy.format, &columns, row, &options, &mut value, &mut data).map_err(failed)?;
            client.feed(PgWireBackendMessage::CopyData(CopyData::new(data.split().freeze()))).await?;
        }
        rows += batch.num_rows();
    }
    if binary {
        data.put_i16(-1);
    }
    if !data.is_empty() {
        client.feed(PgWireBackendMessage::CopyData(CopyData::new(data.split().freeze()))).await?;
    }
    client.feed(PgWireBackendMessage::CopyDone(CopyDone::new())).await?;
    client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(format!("COPY {rows}")))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Result<CopyOut, Failure> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        copy_out(&statements[0]).expect("a COPY")
    }

    #[test]
    fn psql_copy_options_are_understood() {
        let copy = parse("COPY (SELECT 1 AS a) TO STDOUT csv header").expect("valid");
        assert_eq!(copy.query, "SELECT 1 AS a");
        assert_eq!(
            copy.format,
            Format::Csv { delimiter: b',', null: String::new(), quote: b'"', escape: b'"', header: true }
        );
        let copy = parse("COPY t (a, b) TO STDOUT WITH (FORMAT binary)").expect("valid");
        assert_eq!(copy.query, "SELECT a, b FROM t");
        assert_eq!(copy.format, Format::Binary);
        assert_eq!(
            parse("COPY t TO STDOUT").expect("valid").format,
            Format::Text { delimiter: b'\t', null: "\\N".into() }
        );
        assert_eq!(parse("COPY t FROM STDIN").err().map(|e| e.code), Some(sqlstate::FEATURE_NOT_SUPPORTED.to_string()));
    }

    #[test]
    fn fields_are_escaped_for_their_format() {
        let mut out = BytesMut::new();
        text_field(b"a\tb\\c\nd", b'\t', &mut out);
        assert_eq!(&out[..], b"a\\tb\\\\c\\nd");
        let mut out = BytesMut::new();
        csv_field(b"say \"hi\", twice", b',', b'"', b'"', "", &mut out);
        assert_eq!(&out[..], b"\"say \"\"hi\"\", twice\"");
        let mut out = BytesMut::new();
        csv_field(b"", b',', b'"', b'"', "", &mut out);
        assert_eq!(&out[..], b"\"\"", "an empty string is quoted to tell it from NULL");
    }
}
