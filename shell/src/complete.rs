//! The line editor's helper: tab completion of keywords, tables, columns and meta-commands, and
//! multi-line input that runs when a statement ends with `;`.

use std::sync::Arc;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use starhouse_engine::catalog::Warehouse;

use crate::input;
use crate::meta::META_COMMANDS;

const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "COLUMN",
    "COMMENT",
    "CONSTRAINT",
    "COPY",
    "COUNT",
    "CREATE",
    "CROSS",
    "CURRENT_DATE",
    "DATE",
    "DECIMAL",
    "DESC",
    "DESCRIBE",
    "DIMENSION",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FACT",
    "FALSE",
    "FILTER",
    "FOREIGN",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INTERSECT",
    "INTERVAL",
    "IS",
    "JOIN",
    "KEY",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCATION",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OPTIONS",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARQUET",
    "PARTITION",
    "PARTITIONED",
    "PRIMARY",
    "REFERENCES",
    "RIGHT",
    "ROLE",
    "SELECT",
    "SET",
    "SHOW",
    "STORED",
    "TABLE",
    "TABLES",
    "THEN",
    "TRUE",
    "UNION",
    "USING",
    "VALUES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "AVG",
    "MAX",
    "MIN",
    "SUM",
    "ROUND",
    "EXTRACT",
    "DATE_TRUNC",
    "COALESCE",
    "ROW_NUMBER",
    "RANK",
];

/// Completion and input validation for the REPL, reading names from the warehouse's current
/// version at each key press (the catalog is in memory, so this is cheap).
pub struct ShellHelper {
    warehouse: Arc<Warehouse>,
}

impl ShellHelper {
    pub fn new(warehouse: Arc<Warehouse>) -> Self {
        Self { warehouse }
    }

    /// The candidates for `word`, which starts at `start` in `line`. Keywords and table names end
    /// with a space, as the next word follows them; column names do not (a `,` or `)` may).
    fn candidates(&self, line: &str, start: usize, word: &str) -> Vec<String> {
        if line[..start].trim().is_empty() && word.starts_with('\\') {
            return META_COMMANDS
                .iter()
                .map(|(command, _)| command.split(' ').next().unwrap_or(command).to_string())
                .filter(|command| command.starts_with(word))
                .collect();
        }
        let version = self.warehouse.current();
        // After `alias.` complete the column part only.
        let (qualifier, prefix) = match word.rfind('.') {
            Some(dot) => (Some(&word[..=dot]), &word[dot + 1..]),
            None => (None, word),
        };
        let lower = prefix.to_lowercase();
        let mut names: Vec<String> = Vec::new();
        if qualifier.is_none() {
            names.extend(version.tables.keys().map(|t| format!("{t} ")));
        }
        for table in version.tables.values() {
            names.extend(table.columns.iter().map(|c| c.name.clone()));
        }
        if qualifier.is_none() {
            let upper = prefix.chars().next().is_some_and(char::is_uppercase);
            names.extend(
                KEYWORDS.iter().map(|k| if upper { format!("{k} ") } else { format!("{} ", k.to_lowercase()) }),
            );
        }
        names.retain(|name| name.to_lowercase().starts_with(&lower));
        names.sort();
        names.dedup();
        names.into_iter().map(|name| format!("{}{name}", qualifier.unwrap_or(""))).collect()
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '\\')))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let pairs = self
            .candidates(line, start, word)
            .into_iter()
            .map(|name| Pair { display: name.trim_end().to_string(), replacement: name })
            .collect();
        Ok((start, pairs))
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if input::is_complete(ctx.input()) { ValidationResult::Valid(None) } else { ValidationResult::Incomplete })
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Helper for ShellHelper {}
