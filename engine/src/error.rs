//! The one error type of the engine. DataFusion's errors are classified here, once, into what a
//! user (or a wire client's SQLSTATE) needs to tell apart.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use starhouse_catalog::{CatalogError, closest_name};

/// Everything that can go wrong running a statement.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The statement does not parse. `line` and `column` are 1-based, when the parser knows them.
    #[error("syntax error: {message}")]
    Syntax { message: String, line: Option<u64>, column: Option<u64> },

    #[error("column {column} does not exist{}", hint(.closest))]
    UnknownColumn { column: String, closest: Option<String> },

    #[error("LOCATION {location} does not exist")]
    LocationNotFound { location: String },

    #[error("LOCATION {location} is not a valid glob: {reason}")]
    InvalidGlob { location: String, reason: String },

    #[error("no Parquet files at {location}: declare the columns to create an empty table, or add files first")]
    NoDataFiles { location: String },

    #[error("the Parquet files at {location} disagree: {detail}")]
    SchemaMismatch { location: String, detail: String },

    #[error("{what} is not supported{}", .hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    Unsupported { what: String, hint: Option<String> },

    #[error("permission denied: {what} changes the warehouse, and this session is read-only (it needs a writer role)")]
    ReadOnly { what: String },

    #[error("invalid demo scale {scale}: give a positive number such as 1 or 0.1")]
    InvalidScale { scale: f64 },

    #[error(
        "table {table} is an external table over files other tools write; loads go into managed tables (CREATE TABLE)"
    )]
    NotManaged { table: String },

    #[error("cannot load {from} into {table}: {}", .mismatches.join("; "))]
    LoadSchemaMismatch { table: String, from: String, mismatches: Vec<String> },

    #[error(
        "load into {table} rejected: {rows} {} violate {kind} constraint {constraint}{}",
        if *.kind == ConstraintKind::PrimaryKey { "duplicate key(s)" } else { "row(s)" },
        for_example(.samples)
    )]
    ConstraintViolation { table: String, kind: ConstraintKind, constraint: String, rows: u64, samples: Vec<String> },

    #[error("no such file")]
    NoSuchFile,

    #[error("line {line}, column {column}: {value:?} is not a valid {data_type}")]
    BadValue { line: u64, column: String, value: String, data_type: String },

    #[error("cannot load {file}: {error}")]
    LoadFile { file: String, error: Box<EngineError> },

    #[error(
        "this session reads version {version} (starhouse.as_of); RESET starhouse.as_of before changing the warehouse"
    )]
    ReadsThePast { version: u64 },

    #[error(
        "invalid value for starhouse.as_of: {value} (give a version number or a timestamp such as '2026-01-31 12:00:00')"
    )]
    InvalidAsOf { value: String },

    #[error(transparent)]
    Catalog(#[from] CatalogError),

    #[error("{}", describe_datafusion(.0))]
    DataFusion(DataFusionError),
}

/// The kind of a constraint a load is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    NotNull,
    PrimaryKey,
    ForeignKey,
}

impl std::fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConstraintKind::NotNull => "not-null",
            ConstraintKind::PrimaryKey => "primary key",
            ConstraintKind::ForeignKey => "foreign key",
        })
    }
}

fn for_example(samples: &[String]) -> String {
    if samples.is_empty() { String::new() } else { format!(", for example {}", samples.join(", ")) }
}

impl EngineError {
    pub(crate) fn unsupported(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Unsupported { what: what.into(), hint: Some(hint.into()) }
    }
}

fn hint(closest: &Option<String>) -> String {
    match closest {
        Some(name) => format!(" (did you mean {name}?)"),
        None => String::new(),
    }
}

/// The innermost error that says what went wrong, under DataFusion's context and diagnostics.
fn root_cause(mut error: &DataFusionError) -> &DataFusionError {
    loop {
        error = match error {
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => inner,
            DataFusionError::Shared(inner) => inner,
            DataFusionError::Collection(errors) if !errors.is_empty() => &errors[0],
            _ => return error,
        }
    }
}

/// DataFusion's message without its "Error during planning:"-style prefix where the cause is
/// clearer alone.
fn describe_datafusion(error: &DataFusionError) -> String {
    match root_cause(error) {
        DataFusionError::Plan(message) | DataFusionError::Execution(message) => message.clone(),
        DataFusionError::NotImplemented(message) => format!("not supported: {message}"),
        DataFusionError::ObjectStore(inner) => inner.to_string(),
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            datafusion::arrow::error::ArrowError::DivideByZero => "division by zero".into(),
            datafusion::arrow::error::ArrowError::ExternalError(external) => external.to_string(),
            other => other.to_string(),
        },
        DataFusionError::IoError(inner) => inner.to_string(),
        other => other.strip_backtrace(),
    }
}

/// The 1-based line and column in a sqlparser message ("... at Line: 3, Column: 7").
fn parser_position(message: &str) -> (Option<u64>, Option<u64>) {
    let number_after = |label: &str| -> Option<u64> {
        let start = message.rfind(label)? + label.len();
        let digits: String = message[start..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    (number_after("Line: "), number_after("Column: "))
}

impl From<datafusion::arrow::error::ArrowError> for EngineError {
    fn from(error: datafusion::arrow::error::ArrowError) -> Self {
        EngineError::DataFusion(DataFusionError::ArrowError(Box::new(error), None))
    }
}

impl From<datafusion::parquet::errors::ParquetError> for EngineError {
    fn from(error: datafusion::parquet::errors::ParquetError) -> Self {
        EngineError::DataFusion(DataFusionError::ParquetError(Box::new(error)))
    }
}

impl From<DataFusionError> for EngineError {
    fn from(error: DataFusionError) -> Self {
        match root_cause(&error) {
            DataFusionError::SQL(parser_error, detail) => {
                let message = parser_error.to_string();
                let message = message
                    .strip_prefix("sql parser error: ")
                    .or_else(|| message.strip_prefix("sql tokenizer error: "))
                    .unwrap_or(&message);
                let (line, column) = parser_position(message);
                EngineError::Syntax {
                    message: format!("{message}{}", detail.as_deref().unwrap_or_default()),
                    line,
                    column,
                }
            }
            DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
                SchemaError::FieldNotFound { field, valid_fields } => {
                    let names: Vec<String> = valid_fields.iter().map(|c| c.flat_name()).collect();
                    let wanted = field.flat_name();
                    let closest = closest_name(&wanted, names.iter().map(String::as_str))
                        .or_else(|| closest_name(field.name(), valid_fields.iter().map(|c| c.name.as_str())));
                    EngineError::UnknownColumn { column: wanted, closest }
                }
                _ => EngineError::DataFusion(error),
            },
            _ => EngineError::DataFusion(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_position_is_read_from_its_message() {
        let message = "Expected: an SQL statement, found: SELEC at Line: 2, Column: 15";
        assert_eq!(parser_position(message), (Some(2), Some(15)));
        assert_eq!(parser_position("no position here"), (None, None));
    }
}
