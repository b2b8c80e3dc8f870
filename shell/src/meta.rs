//! Meta-commands: the backslash commands of psql that an analyst's fingers already know.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;

use anyhow::{Result, anyhow, bail};
use starhouse_engine::catalog::{TableDef, TableName};

use crate::render::Format;
use crate::runner::{Flow, Runner};

/// Every meta-command with its help line, in the order `\?` lists them.
pub const META_COMMANDS: &[(&str, &str)] = &[
    ("\\dt", "list tables with their role, location and comment"),
    ("\\d [TABLE]", "describe a table: columns, types, keys, role (no TABLE: list tables)"),
    ("\\timing [on|off]", "show how long each statement takes"),
    ("\\x [on|off]", "expanded display: one record per block"),
    ("\\format table|csv|json", "how results are written"),
    ("\\i FILE", "run the statements in FILE"),
    ("\\o [FILE]", "send results to FILE (no FILE: back to the screen)"),
    ("\\?", "this help"),
    ("\\q", "quit (or Ctrl-D)"),
];

/// Parses `on`/`off` (or nothing, which toggles).
fn switch(argument: Option<&str>, current: bool) -> Result<bool> {
    match argument.map(str::to_lowercase).as_deref() {
        None => Ok(!current),
        Some("on" | "true" | "1") => Ok(true),
        Some("off" | "false" | "0") => Ok(false),
        Some(other) => bail!("unrecognized value \"{other}\": expected on or off"),
    }
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

pub async fn run(runner: &mut Runner, line: &str) -> Result<Flow> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    if let Some(extra) = words.next() {
        bail!("{command}: unexpected argument \"{extra}\"");
    }
    match command {
        "\\q" | "\\quit" => return Ok(Flow::Quit),
        "\\?" | "\\help" => {
            let mut help = String::from("Meta-commands:\n");
            for (usage, description) in META_COMMANDS {
                writeln!(help, "  {usage:<24} {description}")?;
            }
            help.push_str("\nSQL statements end with ;  Ctrl-C cancels a running query.\n");
            write!(runner.out(), "{help}")?;
        }
        "\\dt" => runner.run_sql("SHOW TABLES").await?,
        "\\d" => match argument {
            None => runner.run_sql("SHOW TABLES").await?,
            Some(table) => describe(runner, table).await?,
        },
        "\\timing" => {
            runner.timing = switch(argument, runner.timing)?;
            let message = format!("Timing is {}.", on_off(runner.timing));
            writeln!(runner.out(), "{message}")?;
        }
        "\\x" => {
            runner.style.expanded = switch(argument, runner.style.expanded)?;
            let message = format!("Expanded display is {}.", on_off(runner.style.expanded));
            writeln!(runner.out(), "{message}")?;
        }
        "\\format" => {
            let name = argument.ok_or_else(|| anyhow!("\\format: give table, csv or json"))?;
            runner.format = <Format as clap::ValueEnum>::from_str(name, true)
                .map_err(|_| anyhow!("\\format: unknown format \"{name}\": expected table, csv or json"))?;
        }
        "\\i" | "\\include" => {
            let path = argument.ok_or_else(|| anyhow!("\\i: give the file to run"))?;
            return runner.run_file(path).await;
        }
        "\\o" | "\\out" => {
            runner.out().flush()?;
            runner.output = match argument {
                Some(path) => {
                    let file = File::create(path).map_err(|e| anyhow!("\\o: cannot write {path}: {e}"))?;
                    Box::new(BufWriter::new(file))
                }
                None => Box::new(std::io::stdout()),
            };
        }
        other => bail!("invalid command {other}: try \\? for help"),
    }
    Ok(Flow::Continue)
}

/// `\d TABLE`: `DESCRIBE` plus what makes the table part of a star.
async fn describe(runner: &mut Runner, table: &str) -> Result<()> {
    // As in SQL: a quoted name is taken as written, an unquoted one in lower case.
    let name = match table.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => TableName::new(quoted.replace("\"\"", "\"")),
        None => TableName::new(table.to_lowercase()),
    };
    let version = runner.session.engine().warehouse().refresh().await?;
    let def = version.table(name.as_str())?;
    writeln!(runner.out(), "Table \"{name}\"")?;
    let quoted = format!("\"{}\"", name.as_str().replace('"', "\"\""));
    runner.run_sql(&format!("DESCRIBE {quoted}")).await?;
    let referenced_by: Vec<String> = version
        .referencing(&name)
        .flat_map(|t| {
            t.foreign_keys
                .iter()
                .filter(|fk| fk.references == name)
                .map(|fk| format!("{} FOREIGN KEY ({}) on {}", fk.name, fk.columns.join(", "), t.name))
        })
        .collect();
    let footer = table_footer(def, &referenced_by);
    write!(runner.out(), "{footer}")?;
    Ok(())
}

/// The lines under `\d TABLE`'s columns: role, comment, keys, references, location, order.
fn table_footer(def: &TableDef, referenced_by: &[String]) -> String {
    let mut footer = String::new();
    let role = def.role.map(|r| r.to_string()).unwrap_or_else(|| "none".into());
    let _ = writeln!(footer, "Role: {role}");
    if let Some(comment) = &def.comment {
        let _ = writeln!(footer, "Comment: {comment}");
    }
    if let Some(pk) = &def.primary_key {
        let _ = writeln!(footer, "Primary key: {} ({})", pk.name, pk.columns.join(", "));
    }
    if !def.foreign_keys.is_empty() {
        footer.push_str("Foreign keys:\n");
        for fk in &def.foreign_keys {
            let _ = writeln!(
                footer,
                "    {} FOREIGN KEY ({}) REFERENCES {}({})",
                fk.name,
                fk.columns.join(", "),
                fk.references,
                fk.referenced_columns.join(", ")
            );
        }
    }
    if !referenced_by.is_empty() {
        footer.push_str("Referenced by:\n");
        for reference in referenced_by {
            let _ = writeln!(footer, "    {reference}");
        }
    }
    if !def.partition_columns.is_empty() {
        let _ = writeln!(footer, "Partitioned by: {}", def.partition_columns.join(", "));
    }
    if !def.sort_order.is_empty() {
        let keys: Vec<String> = def
            .sort_order
            .iter()
            .map(|k| {
                let direction = if k.descending { "DESC" } else { "ASC" };
                let nulls = if k.nulls_first { "NULLS FIRST" } else { "NULLS LAST" };
                format!("{} {direction} {nulls}", k.column)
            })
            .collect();
        let _ = writeln!(footer, "Sort order: {}", keys.join(", "));
    }
    let _ = writeln!(footer, "Location: {}", def.location);
    footer
}
