//! Type 2 slowly changing dimensions: `CREATE TABLE ... WITH (scd = 2)`.
//!
//! Such a dimension keeps every version of a row: besides its declared columns it has
//! `valid_from`, `valid_to` (NULL while the version is current) and `is_current`, which loads
//! maintain. Its primary key (the business key) is unique among the current rows. A load brings
//! rows with the declared columns; for each one:
//! - a key the dimension does not have becomes a current row, valid from the load;
//! - a key whose current row has other values closes that row (valid to the load, no longer
//!   current) and adds the new values as the current row;
//! - a key whose current row has the same values changes nothing.
//!
//! The dimension's rows are written anew as its files in the load's commit (files are never
//! changed in place: older versions keep reading theirs until `VACUUM`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::prelude::DataFrame;
use starhouse_catalog::{Column, TableDef};

use crate::Engine;
use crate::error::EngineError;
use crate::load::{check_context, fit, join_on, quote, quoted_list};

pub(crate) const VALID_FROM: &str = "valid_from";
pub(crate) const VALID_TO: &str = "valid_to";
pub(crate) const IS_CURRENT: &str = "is_current";

/// The columns a type 2 dimension has besides its declared ones.
pub(crate) fn history_columns() -> Vec<Column> {
    let column = |name: &str, data_type: DataType, nullable: bool, comment: &str| Column {
        name: name.into(),
        data_type,
        nullable,
        comment: Some(comment.into()),
    };
    let timestamp = DataType::Timestamp(TimeUnit::Nanosecond, None);
    vec![
        column(VALID_FROM, timestamp.clone(), false, "when this version of the row became current (UTC)"),
        column(VALID_TO, timestamp, true, "when a newer version replaced it (UTC); NULL while current"),
        column(IS_CURRENT, DataType::Boolean, false, "whether this is the row's current version"),
    ]
}

fn is_history(column: &Column) -> bool {
    [VALID_FROM, VALID_TO, IS_CURRENT].contains(&column.name.as_str())
}

/// The dimension as loads see it: its declared columns only.
pub(crate) fn declared(def: &TableDef) -> TableDef {
    TableDef { columns: def.columns.iter().filter(|c| !is_history(c)).cloned().collect(), ..def.clone() }
}

/// The columns a load brings into a table: all of them, or a type 2 dimension's declared ones.
pub(crate) fn loaded(def: &Arc<TableDef>) -> Arc<TableDef> {
    if def.scd2 { Arc::new(declared(def)) } else { Arc::clone(def) }
}

/// The dimension's rows after `incoming` (rows with its declared columns) is loaded at `now`, and
/// how many new versions that makes.
pub(crate) async fn versioned(
    engine: &Arc<Engine>,
    state: &datafusion::execution::SessionState,
    def: &Arc<TableDef>,
    incoming: DataFrame,
    now: DateTime<Utc>,
) -> Result<(DataFrame, u64), EngineError> {
    let Some(pk) = &def.primary_key else {
        return Err(EngineError::unsupported(
            format!("a type 2 dimension without a primary key ({})", def.name),
            "declare the business key as the primary key",
        ));
    };
    let ctx = check_context(engine, state);
    ctx.register_table("whole", engine.table(def)?)?;
    ctx.register_table("incoming", incoming.into_view())?;
    let declared: Vec<String> = declared(def).columns.into_iter().map(|c| c.name).collect();
    let attributes: Vec<&String> = declared.iter().filter(|c| !pk.columns.contains(c)).collect();
    let differs = if attributes.is_empty() {
        "FALSE".to_string()
    } else {
        attributes.iter().map(|c| format!("(w.{0} IS DISTINCT FROM i.{0})", quote(c))).collect::<Vec<_>>().join(" OR ")
    };
    let on = join_on("w", &pk.columns, "i", &pk.columns);
    let current = format!("(SELECT * FROM whole WHERE {IS_CURRENT})");
    // The incoming rows that make a new version: new keys, and keys whose values changed.
    let versions = format!(
        "SELECT i.* FROM incoming i LEFT JOIN {current} w ON {on} WHERE (w.{key} IS NULL) OR {differs}",
        key = quote(&pk.columns[0])
    );
    let new_versions = ctx.sql(&versions).await?.count().await? as u64;
    let at = format!("CAST('{}' AS TIMESTAMP)", now.format("%Y-%m-%d %H:%M:%S%.6f"));
    let columns = quoted_list(&declared);
    let closed = join_on("v", &pk.columns, "w", &pk.columns);
    let sql = format!(
        "SELECT {old}, w.{VALID_FROM}, \
                CASE WHEN w.{IS_CURRENT} AND v.{key} IS NOT NULL THEN {at} ELSE w.{VALID_TO} END AS {VALID_TO}, \
                (w.{IS_CURRENT} AND (v.{key} IS NULL)) AS {IS_CURRENT} \
         FROM whole w LEFT JOIN (SELECT DISTINCT {keys} FROM ({versions})) v ON {closed} \
         UNION ALL \
         SELECT {columns}, {at} AS {VALID_FROM}, CAST(NULL AS TIMESTAMP) AS {VALID_TO}, TRUE AS {IS_CURRENT} FROM ({versions})",
        old = declared.iter().map(|c| format!("w.{}", quote(c))).collect::<Vec<_>>().join(", "),
        key = quote(&pk.columns[0]),
        keys = quoted_list(&pk.columns),
    );
    let rows = fit(def, &format!("the new versions of {}", def.name), ctx.sql(&sql).await?)?;
    Ok((rows, new_versions))
}
