//! Errors as PostgreSQL clients know them: every error the server sends is classified here, in
//! one place, into a SQLSTATE, a message and, for syntax errors, the position in the query.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};
use starhouse_engine::catalog::CatalogError;
use starhouse_engine::{ConstraintKind, EngineError};

pub(crate) const SYNTAX_ERROR: &str = "42601";
pub(crate) const UNDEFINED_TABLE: &str = "42P01";
pub(crate) const UNDEFINED_COLUMN: &str = "42703";
pub(crate) const UNDEFINED_FUNCTION: &str = "42883";
pub(crate) const UNDEFINED_OBJECT: &str = "42704";
pub(crate) const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub(crate) const DIVISION_BY_ZERO: &str = "22012";
pub(crate) const INVALID_TEXT_REPRESENTATION: &str = "22P02";
pub(crate) const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub(crate) const OUT_OF_MEMORY: &str = "53200";
pub(crate) const TOO_MANY_CONNECTIONS: &str = "53300";
pub(crate) const INVALID_AUTHORIZATION: &str = "28000";
pub(crate) const INVALID_PASSWORD: &str = "28P01";
pub(crate) const QUERY_CANCELED: &str = "57014";
pub(crate) const IN_FAILED_TRANSACTION: &str = "25P02";
pub(crate) const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub(crate) const PROTOCOL_VIOLATION: &str = "08P01";
pub(crate) const INVALID_PARAMETER_VALUE: &str = "22023";
pub(crate) const INTERNAL_ERROR: &str = "XX000";

/// An error as sent to a client. Boxed: it is large, and pgwire takes it boxed.
pub(crate) type Failure = Box<ErrorInfo>;

/// An `ERROR` with a SQLSTATE and a message.
pub(crate) fn error(code: &str, message: impl Into<String>) -> Failure {
    Box::new(ErrorInfo::new("ERROR".to_string(), code.to_string(), message.into()))
}

pub(crate) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(error(code, message))
}

/// `canceling statement due to user request`, or due to `statement_timeout`.
pub(crate) fn canceled(timeout: bool) -> Failure {
    let reason = if timeout { "statement timeout" } else { "user request" };
    error(QUERY_CANCELED, format!("canceling statement due to {reason}"))
}

/// The error PostgreSQL gives for any command in a transaction that already failed.
pub(crate) fn in_failed_transaction() -> Failure {
    error(IN_FAILED_TRANSACTION, "current transaction is aborted, commands ignored until end of transaction block")
}

/// The 1-based character position of `line`, `column` in `query`.
fn position(query: &str, line: u64, column: u64) -> Option<usize> {
    let mut offset = 0;
    for (number, text) in query.split_inclusive('\n').enumerate() {
        if number as u64 + 1 == line {
            let column = usize::try_from(column).ok()?;
            return Some(offset + column.min(text.chars().count() + 1));
        }
        offset += text.chars().count();
    }
    None
}

/// An engine error as the client sees it; `query` is the statement text, for positions.
pub(crate) fn engine_error(error: &EngineError, query: &str) -> Failure {
    let message = error.to_string();
    let code = match error {
        EngineError::Syntax { line, column, message } => {
            let mut info = self::error(SYNTAX_ERROR, format!("syntax error: {message}"));
            if let (Some(line), Some(column)) = (line, column) {
                info.position = position(query, *line, *column).map(|p| p.to_string());
            }
            return info;
        }
        EngineError::UnknownColumn { .. } => UNDEFINED_COLUMN,
        EngineError::LocationNotFound { .. } | EngineError::NoDataFiles { .. } | EngineError::NoSuchFile => "58P01",
        EngineError::BadValue { .. } => INVALID_TEXT_REPRESENTATION,
        EngineError::SchemaMismatch { .. } => "42804",
        EngineError::InvalidGlob { .. } => INVALID_PARAMETER_VALUE,
        EngineError::Unsupported { .. } => FEATURE_NOT_SUPPORTED,
        EngineError::ReadOnly { .. } => INSUFFICIENT_PRIVILEGE,
        EngineError::InvalidScale { .. } | EngineError::InvalidAsOf { .. } => INVALID_PARAMETER_VALUE,
        EngineError::NotManaged { .. } => "42809",
        EngineError::LoadSchemaMismatch { .. } => "42804",
        EngineError::ConstraintViolation { kind, .. } => match kind {
            ConstraintKind::NotNull => "23502",
            ConstraintKind::PrimaryKey => "23505",
            ConstraintKind::ForeignKey => "23503",
        },
        EngineError::ReadsThePast { .. } => "25006",
        EngineError::LoadFile { error: inner, .. } => {
            // The cause's code (a malformed value, a missing file), with the file in the message.
            let mut info = engine_error(inner, query);
            info.message = message;
            info.position = None;
            return info;
        }
        EngineError::Catalog(catalog) => catalog_code(catalog),
        EngineError::DataFusion(error) => datafusion_code(error),
    };
    self::error(code, message)
}

fn catalog_code(error: &CatalogError) -> &'static str {
    match error {
        CatalogError::UnknownTable { .. } => UNDEFINED_TABLE,
        CatalogError::TableExists { .. } => "42P07",
        CatalogError::UnknownColumn { .. } => UNDEFINED_COLUMN,
        CatalogError::DuplicateColumn { .. } => "42701",
        CatalogError::UnknownConstraint { .. } => UNDEFINED_OBJECT,
        CatalogError::ConstraintExists { .. } | CatalogError::PrimaryKeyExists { .. } => "42710",
        CatalogError::InvalidForeignKey { .. } => "42830",
        CatalogError::StillReferenced { .. } => "2BP01",
        CatalogError::InvalidTable { .. } => "42P16",
        CatalogError::CommitConflict { .. } => "40001",
        CatalogError::InvalidRoot { .. } | CatalogError::InvalidLocation { .. } => INVALID_PARAMETER_VALUE,
        CatalogError::NoSuchVersion { .. } => UNDEFINED_OBJECT,
        CatalogError::BeforeHistory { .. } => INVALID_PARAMETER_VALUE,
        CatalogError::LoadExists { .. } => "42710",
        CatalogError::Store { .. } => "58030",
        CatalogError::NotAWarehouse { .. }
        | CatalogError::CorruptVersion { .. }
        | CatalogError::MissingVersion { .. } => "XX001",
    }
}

/// DataFusion reports most errors as text; the kinds clients act on are told apart here.
fn datafusion_code(error: &DataFusionError) -> &'static str {
    match error {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => datafusion_code(inner),
        DataFusionError::Shared(inner) => datafusion_code(inner),
        DataFusionError::ArrowError(arrow, _) => arrow_code(arrow),
        DataFusionError::ResourcesExhausted(_) => OUT_OF_MEMORY,
        DataFusionError::NotImplemented(_) => FEATURE_NOT_SUPPORTED,
        DataFusionError::SQL(_, _) => SYNTAX_ERROR,
        DataFusionError::SchemaError(_, _) => UNDEFINED_COLUMN,
        DataFusionError::External(inner) => match inner.downcast_ref::<ArrowError>() {
            Some(arrow) => arrow_code(arrow),
            None => INTERNAL_ERROR,
        },
        DataFusionError::Plan(message) | DataFusionError::Execution(message) => message_code(message),
        _ => INTERNAL_ERROR,
    }
}

fn arrow_code(error: &ArrowError) -> &'static str {
    match error {
        ArrowError::DivideByZero => DIVISION_BY_ZERO,
        ArrowError::CastError(_) | ArrowError::ParseError(_) => INVALID_TEXT_REPRESENTATION,
        ArrowError::ArithmeticOverflow(_) => NUMERIC_VALUE_OUT_OF_RANGE,
        ArrowError::ComputeError(message) => message_code(message),
        ArrowError::MemoryError(_) => OUT_OF_MEMORY,
        // A malformed CSV or JSON file being loaded: bad_copy_file_format.
        ArrowError::CsvError(_) | ArrowError::JsonError(_) => "22P04",
        _ => INTERNAL_ERROR,
    }
}

fn message_code(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if lower.contains("invalid function")
        || lower.contains("no function matches")
        || lower.contains("function not found")
    {
        UNDEFINED_FUNCTION
    } else if lower.contains("table") && lower.contains("not found") {
        UNDEFINED_TABLE
    } else if lower.contains("divide by zero") || lower.contains("division by zero") {
        DIVISION_BY_ZERO
    } else if lower.contains("cannot cast") || lower.contains("cast error") || lower.contains("parse error") {
        INVALID_TEXT_REPRESENTATION
    } else if lower.contains("overflow") {
        NUMERIC_VALUE_OUT_OF_RANGE
    } else if lower.contains("resources exhausted") {
        OUT_OF_MEMORY
    } else if lower.contains("not supported") || lower.contains("unsupported") {
        FEATURE_NOT_SUPPORTED
    } else {
        INTERNAL_ERROR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_points_at_its_character() {
        let query = "SELECT 1\n  FROM t WHERE = 1";
        let error = EngineError::Syntax { message: "Expected: an expression".into(), line: Some(2), column: Some(16) };
        let info = engine_error(&error, query);
        assert_eq!(info.code, SYNTAX_ERROR);
        // Line 1 is 9 characters with its newline; column 16 of line 2 is the `=`.
        assert_eq!(info.position.as_deref(), Some("25"));
        assert_eq!(query.chars().nth(24), Some('='));
    }
}
