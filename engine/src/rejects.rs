//! Loads that keep going: with `--rejects`, the rows of a load that violate a constraint go to
//! `<table>_rejects` (the table's columns, the reason and the load id) and the rest commits, in
//! the same commit.
//!
//! Each table's new rows are split by one query that gives every row its reasons (a NULL in a NOT
//! NULL column, a duplicate primary key, a foreign key with no match); tables that others in the
//! load reference are split first, so that a fact row whose dimension row was rejected is
//! rejected too.

use std::sync::Arc;

use datafusion::prelude::DataFrame;
use starhouse_catalog::{Column, TableDef, TableName, Version};

use crate::error::EngineError;
use crate::load::{added_rows, after_load, check_context, fit, join_on, quote, quoted_list, register};
use crate::write::{self, Writers, Written};
use crate::{Engine, ddl};

/// The name of a table's rejects table.
fn rejects_name(table: &TableName) -> TableName {
    TableName::new(format!("{table}_rejects"))
}

/// The rejects table of `def`: its columns, all nullable, then why and which load.
fn rejects_table(version: &Version, def: &TableDef) -> Result<Arc<TableDef>, EngineError> {
    let name = rejects_name(&def.name);
    if version.tables.contains_key(&name) {
        return Ok(Arc::clone(crate::load::managed_table(version, name.as_str())?));
    }
    let text = |name: &str| Column {
        name: name.into(),
        data_type: datafusion::arrow::datatypes::DataType::Utf8,
        nullable: true,
        comment: None,
    };
    let mut columns: Vec<Column> =
        def.columns.iter().map(|c| Column { nullable: true, comment: None, ..c.clone() }).collect();
    columns.push(text("reason"));
    columns.push(text("load_id"));
    let mut rejects = TableDef::new(name.clone(), columns, ddl::managed_location(&name));
    rejects.managed = true;
    rejects.comment = Some(format!("Rows rejected by loads into {}", def.name));
    Ok(Arc::new(rejects))
}

/// The loaded tables, those that others in the load reference first.
fn in_dependency_order(written: Vec<(Arc<TableDef>, Written)>) -> Vec<(Arc<TableDef>, Written)> {
    let mut remaining = written;
    let mut ordered = Vec::new();
    while !remaining.is_empty() {
        let next = remaining
            .iter()
            .position(|(def, _)| {
                !def.foreign_keys.iter().any(|fk| {
                    fk.references != def.name && remaining.iter().any(|(other, _)| other.name == fk.references)
                })
            })
            .unwrap_or(0);
        ordered.push(remaining.remove(next));
    }
    ordered
}

/// Splits each table's written rows into the rows that satisfy its constraints (written again)
/// and the others (written to its rejects table). The files first written are removed.
pub(crate) async fn separate(
    engine: &Arc<Engine>,
    state: &datafusion::execution::SessionState,
    version: &Version,
    written: Vec<(Arc<TableDef>, Written)>,
    load_id: &str,
) -> Result<Vec<(Arc<TableDef>, Written)>, EngineError> {
    let ctx = check_context(engine, state);
    let mut kept: Vec<(Arc<TableDef>, Written)> = Vec::new();
    for (def, files) in in_dependency_order(written) {
        // The table as it will be: its rows, the rows of this load kept so far, and these.
        let mut whole = after_load(version, &def.name, &kept)?.as_ref().clone();
        whole.files.extend(files.files.iter().cloned());
        register(engine, &ctx, "added", &added_rows(&def, files.files.clone()))?;
        register(engine, &ctx, "whole", &Arc::new(whole))?;
        for (i, fk) in def.foreign_keys.iter().enumerate() {
            register(engine, &ctx, &format!("referenced_{i}"), &after_load(version, &fk.references, &kept)?)?;
        }
        let reasons = reasons_query(&def);
        let columns = quoted_list(&def.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
        let good = ctx.sql(&format!("SELECT {columns} FROM ({reasons}) WHERE starhouse_reason = ''")).await?;
        let bad = ctx
            .sql(&format!(
                "SELECT {columns}, starhouse_reason AS reason, '{}' AS load_id FROM ({reasons}) WHERE starhouse_reason <> ''",
                load_id.replace('\'', "''")
            ))
            .await?;
        let result = split(state, engine, version, &def, good, bad).await;
        files.discard().await;
        let (good, bad) = result?;
        kept.push((Arc::clone(&def), good));
        if let Some(bad) = bad {
            kept.push(bad);
        }
    }
    Ok(kept)
}

/// Writes the good rows as the table's files and the bad ones (if any) as its rejects table's.
async fn split(
    state: &datafusion::execution::SessionState,
    engine: &Arc<Engine>,
    version: &Version,
    def: &Arc<TableDef>,
    good: DataFrame,
    bad: DataFrame,
) -> Result<(Written, Option<(Arc<TableDef>, Written)>), EngineError> {
    let root = engine.warehouse().root();
    let good = write::write(state, root, def, good, Writers::PerPartition).await?;
    let rejects = rejects_table(version, def)?;
    let bad = match fit(&rejects, "the rejected rows", bad)
        .map(|bad| write::write(state, root, &rejects, bad, Writers::One))
    {
        Ok(writing) => writing.await,
        Err(error) => Err(error),
    };
    match bad {
        Ok(bad) if bad.files.is_empty() => Ok((good, None)),
        Ok(bad) => Ok((good, Some((rejects, bad)))),
        Err(error) => {
            good.discard().await;
            Err(error)
        }
    }
}

/// A query over `added` (with `whole`, the table as it will be, and `referenced_<i>`, the table
/// of its i-th foreign key) with a `starhouse_reason` column: why each row violates the table's
/// constraints, empty for a row that satisfies them.
fn reasons_query(def: &TableDef) -> String {
    let mut reasons = Vec::new();
    let mut joins = Vec::new();
    for column in def.columns.iter().filter(|c| !c.nullable) {
        reasons.push(format!("CASE WHEN a.{} IS NULL THEN '{} is NULL' END", quote(&column.name), column.name));
    }
    if let Some(pk) = &def.primary_key {
        let keys = quoted_list(&pk.columns);
        joins.push(format!(
            "LEFT JOIN (SELECT {keys} FROM whole GROUP BY {keys} HAVING count(*) > 1) d ON {}",
            join_on("d", &pk.columns, "a", &pk.columns)
        ));
        reasons.push(format!(
            "CASE WHEN d.{} IS NOT NULL THEN 'duplicate primary key ({})' END",
            quote(&pk.columns[0]),
            pk.columns.join(", ")
        ));
    }
    for (i, fk) in def.foreign_keys.iter().enumerate() {
        let referenced = format!("referenced_{i}");
        let alias = format!("r{i}");
        joins.push(format!(
            "LEFT JOIN (SELECT DISTINCT {} FROM {referenced}) {alias} ON {}",
            quoted_list(&fk.referenced_columns),
            join_on(&alias, &fk.referenced_columns, "a", &fk.columns)
        ));
        let present =
            fk.columns.iter().map(|c| format!("a.{} IS NOT NULL", quote(c))).collect::<Vec<_>>().join(" AND ");
        reasons.push(format!(
            "CASE WHEN {present} AND {alias}.{} IS NULL THEN '({}) not in {}' END",
            quote(&fk.referenced_columns[0]),
            fk.columns.join(", "),
            fk.references
        ));
    }
    let reason = if reasons.is_empty() { "''".to_string() } else { format!("concat_ws('; ', {})", reasons.join(", ")) };
    format!("SELECT a.*, {reason} AS starhouse_reason FROM added a {}", joins.join(" "))
}
