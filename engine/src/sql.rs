//! Starhouse's SQL: DataFusion's dialect plus the statements that describe a star schema.
//!
//! Everything DataFusion parses is accepted as DataFusion parses it. On top of that:
//! - `ALTER TABLE t SET ROLE {FACT | DIMENSION | NONE}`: the table's part in the star.
//!
//! Keys and comments use standard syntax that DataFusion's parser already reads (`PRIMARY KEY`,
//! `FOREIGN KEY ... REFERENCES`, `ALTER TABLE ... ADD CONSTRAINT`, `COMMENT ON`); the engine gives
//! them meaning.

use std::fmt;

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{CopyTarget, ObjectName, Statement as SQLStatement};
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use starhouse_catalog::Role;

use crate::error::EngineError;

/// One parsed statement, ready for [`crate::Session::execute`].
#[derive(Debug, Clone)]
pub struct Statement(pub(crate) Parsed);

#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    DataFusion(Box<DFStatement>),
    SetRole {
        table: ObjectName,
        role: Option<Role>,
    },
    /// `COPY t [(columns)] FROM 'file' [WITH (options)]`: a load (sqlparser's `Copy`).
    CopyFrom(Box<SQLStatement>),
    /// `RESTORE [TABLE] t TO {VERSION n | TIMESTAMP 'time'}`.
    Restore {
        table: ObjectName,
        to: AsOf,
    },
    /// `VACUUM [t] [RETAIN n {MINUTES | HOURS | DAYS}]`.
    Vacuum {
        table: Option<ObjectName>,
        retain: Option<Retain>,
    },
    /// `OPTIMIZE t`.
    Optimize {
        table: ObjectName,
    },
}

/// A point in the warehouse's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Version(u64),
    Time(chrono::DateTime<chrono::Utc>),
}

impl AsOf {
    /// A version number (`42`) or a time (`2026-01-31 12:00:00`, RFC 3339, or a date), as a user
    /// writes it; times without a zone are UTC.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(number) = text.parse::<u64>() {
            return Some(AsOf::Version(number));
        }
        if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
            return Some(AsOf::Time(time.with_timezone(&chrono::Utc)));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
            if let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, format) {
                return Some(AsOf::Time(time.and_utc()));
            }
        }
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(AsOf::Time(date.and_hms_opt(0, 0, 0)?.and_utc()))
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Version(number) => write!(f, "VERSION {number}"),
            AsOf::Time(time) => write!(f, "TIMESTAMP '{}'", time.format("%Y-%m-%d %H:%M:%S%.f")),
        }
    }
}

/// How long `VACUUM` keeps what newer versions no longer use, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retain {
    pub amount: u64,
    pub unit: &'static str,
}

impl Retain {
    pub fn duration(&self) -> chrono::Duration {
        let amount = i64::try_from(self.amount).unwrap_or(i64::MAX / 86_400_000);
        match self.unit {
            "MINUTES" => chrono::Duration::minutes(amount.min(i64::MAX / 60_000)),
            "HOURS" => chrono::Duration::hours(amount.min(i64::MAX / 3_600_000)),
            _ => chrono::Duration::days(amount.min(i64::MAX / 86_400_000)),
        }
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Parsed::DataFusion(statement) => write!(f, "{statement}"),
            Parsed::SetRole { table, role } => {
                let role = role.map(|r| r.to_string().to_uppercase()).unwrap_or_else(|| "NONE".into());
                write!(f, "ALTER TABLE {table} SET ROLE {role}")
            }
            Parsed::CopyFrom(copy) => write!(f, "{copy}"),
            Parsed::Restore { table, to } => write!(f, "RESTORE TABLE {table} TO {to}"),
            Parsed::Vacuum { table, retain } => {
                f.write_str("VACUUM")?;
                if let Some(table) = table {
                    write!(f, " {table}")?;
                }
                if let Some(Retain { amount, unit }) = retain {
                    write!(f, " RETAIN {amount} {unit}")?;
                }
                Ok(())
            }
            Parsed::Optimize { table } => write!(f, "OPTIMIZE {table}"),
        }
    }
}

impl Statement {
    /// A statement that a caller parsed (or rewrote) itself.
    pub fn from_sql(statement: SQLStatement) -> Self {
        Statement(Parsed::DataFusion(Box::new(DFStatement::Statement(Box::new(statement)))))
    }

    /// The statement as SQL's abstract syntax, when it is plain SQL (not one of DataFusion's or
    /// Starhouse's own statements).
    pub fn as_sql(&self) -> Option<&SQLStatement> {
        match &self.0 {
            Parsed::DataFusion(statement) => match statement.as_ref() {
                DFStatement::Statement(statement) => Some(statement),
                _ => None,
            },
            _ => None,
        }
    }

    /// Changes the plain SQL of the statement (other statements are left as they are).
    pub fn map_sql(self, change: impl FnOnce(SQLStatement) -> SQLStatement) -> Self {
        match self.0 {
            Parsed::DataFusion(statement) => match *statement {
                DFStatement::Statement(statement) => Self::from_sql(change(*statement)),
                other => Statement(Parsed::DataFusion(Box::new(other))),
            },
            other => Statement(other),
        }
    }
}

/// Parses a string of `;`-separated statements. Empty statements are skipped.
pub fn parse(sql: &str) -> Result<Vec<Statement>, EngineError> {
    parse_with_dialect(sql, &GenericDialect {})
}

/// Parses as [`parse`] does, with the expressions and operators of `dialect` (the wire server
/// parses PostgreSQL's).
pub fn parse_with_dialect(sql: &str, dialect: &dyn Dialect) -> Result<Vec<Statement>, EngineError> {
    let mut parser = DFParserBuilder::new(sql).with_dialect(dialect).build()?;
    let mut statements = Vec::new();
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {}
        if parser.parser.peek_token() == Token::EOF {
            break;
        }
        if let Some(statement) = parse_extension(&mut parser.parser).map_err(sql_error)? {
            statements.push(statement);
        } else {
            statements.push(Statement(Parsed::DataFusion(Box::new(parser.parse_statement()?))));
        }
        let next = parser.parser.peek_token();
        if next.token != Token::SemiColon && next.token != Token::EOF {
            return Err(EngineError::from(sql_error(ParserError::ParserError(format!(
                "Expected: end of statement, found: {next}{}",
                next.span.start
            )))));
        }
    }
    Ok(statements)
}

fn sql_error(error: ParserError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::SQL(Box::new(error), None)
}

/// Parses a Starhouse extension statement if one starts here; leaves the parser untouched if not.
fn parse_extension(parser: &mut Parser<'_>) -> Result<Option<Statement>, ParserError> {
    let leading = match &parser.peek_token().token {
        Token::Word(word) => word.value.to_uppercase(),
        _ => return Ok(None),
    };
    let parsed = match leading.as_str() {
        "COPY" => parser
            .maybe_parse(|p| {
                p.expect_keyword(Keyword::COPY)?;
                match p.parse_copy()? {
                    copy @ SQLStatement::Copy { to: false, target: CopyTarget::File { .. }, .. } => Ok(copy),
                    _ => Err(ParserError::ParserError("not a COPY FROM a file".into())),
                }
            })?
            .map(|copy| Parsed::CopyFrom(Box::new(copy))),
        "RESTORE" => {
            parser.next_token();
            let _ = parser.parse_keyword(Keyword::TABLE);
            let table = parser.parse_object_name(false)?;
            parser.expect_keyword(Keyword::TO)?;
            let to = if parser.parse_keyword(Keyword::VERSION) {
                let _ = parser.parse_keywords(&[Keyword::AS, Keyword::OF]);
                let token = parser.next_token();
                match &token.token {
                    Token::Number(n, _) => n.parse().ok().map(AsOf::Version),
                    _ => None,
                }
                .ok_or_else(|| expected("a version number", &token))?
            } else {
                parser.expect_keyword(Keyword::TIMESTAMP)?;
                let _ = parser.parse_keywords(&[Keyword::AS, Keyword::OF]);
                let token = parser.peek_token();
                let text = parser.parse_literal_string()?;
                match AsOf::parse(&text) {
                    Some(AsOf::Time(time)) => AsOf::Time(time),
                    _ => return Err(expected("a timestamp such as '2026-01-31 12:00:00'", &token)),
                }
            };
            Some(Parsed::Restore { table, to })
        }
        "VACUUM" => {
            parser.next_token();
            let table = match &parser.peek_token().token {
                Token::Word(word) if word.keyword != Keyword::RETAIN => Some(parser.parse_object_name(false)?),
                _ => None,
            };
            let retain = if parser.parse_keyword(Keyword::RETAIN) {
                let token = parser.next_token();
                let amount = match &token.token {
                    Token::Number(n, _) => n.parse::<u64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| expected("a number", &token))?;
                let unit = parser.next_token();
                let unit = match &unit.token {
                    Token::Word(w) if w.value.to_uppercase().starts_with("MINUTE") => "MINUTES",
                    Token::Word(w) if w.value.to_uppercase().starts_with("HOUR") => "HOURS",
                    Token::Word(w) if w.value.to_uppercase().starts_with("DAY") => "DAYS",
                    _ => return Err(expected("MINUTES, HOURS or DAYS", &unit)),
                };
                Some(Retain { amount, unit })
            } else {
                None
            };
            Some(Parsed::Vacuum { table, retain })
        }
        "OPTIMIZE" => {
            parser.next_token();
            Some(Parsed::Optimize { table: parser.parse_object_name(false)? })
        }
        _ => None,
    };
    if let Some(parsed) = parsed {
        return Ok(Some(Statement(parsed)));
    }
    let table = parser.maybe_parse(|p| {
        p.expect_keywords(&[Keyword::ALTER, Keyword::TABLE])?;
        let table = p.parse_object_name(false)?;
        p.expect_keywords(&[Keyword::SET, Keyword::ROLE])?;
        Ok(table)
    })?;
    let Some(table) = table else {
        return Ok(None);
    };
    let role_token = parser.next_token();
    let role = match &role_token.token {
        Token::Word(word) if word.value.eq_ignore_ascii_case("fact") => Some(Role::Fact),
        Token::Word(word) if word.value.eq_ignore_ascii_case("dimension") => Some(Role::Dimension),
        Token::Word(word) if word.value.eq_ignore_ascii_case("none") => None,
        _ => return Err(expected("FACT, DIMENSION or NONE", &role_token)),
    };
    Ok(Some(Statement(Parsed::SetRole { table, role })))
}

fn expected(what: &str, found: &TokenWithSpan) -> ParserError {
    ParserError::ParserError(format!("Expected: {what}, found: {found}{}", found.span.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_role_is_parsed_and_printed() {
        let statements = parse("alter table fact_sales set role fact; ALTER TABLE d SET ROLE none").expect("parses");
        let printed: Vec<String> = statements.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["ALTER TABLE fact_sales SET ROLE FACT", "ALTER TABLE d SET ROLE NONE"]);
    }

    #[test]
    fn other_alter_table_statements_go_to_datafusion() {
        let statements = parse("ALTER TABLE f ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES d (a)").expect("parses");
        assert!(matches!(statements[0].0, Parsed::DataFusion(_)));
    }

    #[test]
    fn an_unknown_role_is_a_syntax_error_with_its_position() {
        let error = parse("ALTER TABLE t SET ROLE bridge").expect_err("bridge is not a role");
        match error {
            EngineError::Syntax { message, line, column } => {
                assert!(message.contains("Expected: FACT, DIMENSION or NONE, found: bridge"), "{message}");
                assert_eq!((line, column), (Some(1), Some(24)));
            }
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn two_statements_without_a_separator_are_a_syntax_error() {
        let error = parse("SELECT 1 SELECT 2").expect_err("missing ;");
        assert!(matches!(error, EngineError::Syntax { .. }), "{error}");
    }
}
