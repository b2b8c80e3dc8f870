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
use datafusion::sql::sqlparser::ast::{ObjectName, Statement as SQLStatement};
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::Token;
use starhouse_catalog::Role;

use crate::error::EngineError;

/// One parsed statement, ready for [`crate::Session::execute`].
#[derive(Debug, Clone)]
pub struct Statement(pub(crate) Parsed);

#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    DataFusion(Box<DFStatement>),
    SetRole { table: ObjectName, role: Option<Role> },
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Parsed::DataFusion(statement) => write!(f, "{statement}"),
            Parsed::SetRole { table, role } => {
                let role = role.map(|r| r.to_string().to_uppercase()).unwrap_or_else(|| "NONE".into());
                write!(f, "ALTER TABLE {table} SET ROLE {role}")
            }
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
            Parsed::SetRole { .. } => None,
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
fn parse_extension(
    parser: &mut datafusion::sql::sqlparser::parser::Parser<'_>,
) -> Result<Option<Statement>, ParserError> {
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
        _ => {
            return Err(ParserError::ParserError(format!(
                "Expected: FACT, DIMENSION or NONE, found: {role_token}{}",
                role_token.span.start
            )));
        }
    };
    Ok(Some(Statement(Parsed::SetRole { table, role })))
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
