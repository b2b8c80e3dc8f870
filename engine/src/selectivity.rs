//! How many of a table's rows a filter keeps, estimated from the catalog's statistics of the
//! table's files (distinct counts, minimum and maximum) much as PostgreSQL's planner estimates
//! it, with PostgreSQL's defaults where the statistics say nothing:
//!
//! - `c = v` keeps 1 / (distinct values of `c`), `c IN (k values)` k times that;
//! - a range of a number or date column keeps its share of the column's range, and
//!   `c >= a AND c <= b` is taken as one range;
//! - `AND` multiplies, `OR` and `NOT` combine as for independent conditions.
//!
//! The star rule joins the dimensions that keep fewest rows first (see `star.rs`).

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, JoinType, LogicalPlan, Operator, TableScan};
use starhouse_catalog::TableDef;

use crate::star::{keeps_columns, managed_def};

/// PostgreSQL's `DEFAULT_EQ_SEL`: an equality on a column of unknown distinct values.
const EQUAL: f64 = 0.005;
/// PostgreSQL's `DEFAULT_INEQ_SEL`: one bound on a column of unknown range, or any other
/// condition.
const INEQUALITY: f64 = 1.0 / 3.0;
/// PostgreSQL's `DEFAULT_RANGE_INEQ_SEL`: both bounds on a column of unknown range.
const RANGE: f64 = 0.005;
/// PostgreSQL's `DEFAULT_MATCH_SEL`: `LIKE`.
const MATCH: f64 = 0.005;

/// The estimated fraction of its table's rows that `plan` (a table under filters, aliases and
/// projections of its columns, perhaps joined on their keys to dimensions of its own) keeps.
pub(crate) fn fraction(plan: &LogicalPlan) -> f64 {
    if let LogicalPlan::Join(join) = plan {
        // A dimension joined to its own (outer) dimension on that one's key.
        return match join.join_type {
            JoinType::Inner => fraction(&join.left) * fraction(&join.right),
            _ => 1.0,
        };
    }
    let mut conditions = Vec::new();
    match table_conditions(plan, &mut conditions) {
        Some(table) => conjunction(conditions.iter(), managed_def(table).as_deref()),
        None => 1.0,
    }
}

/// Collects the conditions on the table that `plan` scans under filters, aliases and projections
/// of its columns, each once (a filter that a scan takes stays above it too), with unqualified
/// columns; the table's scan, `None` when `plan` is no such table.
fn table_conditions<'a>(plan: &'a LogicalPlan, conditions: &mut Vec<Expr>) -> Option<&'a TableScan> {
    let mut add = |found: Vec<&Expr>| {
        for condition in found {
            let condition = condition
                .clone()
                .transform(|e| match e {
                    Expr::Column(column) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(column.name)))),
                    other => Ok(Transformed::no(other)),
                })
                .map_or_else(|_| condition.clone(), |t| t.data);
            if !conditions.contains(&condition) {
                conditions.push(condition);
            }
        }
    };
    match plan {
        LogicalPlan::TableScan(scan) => {
            add(scan.filters.iter().collect());
            Some(scan)
        }
        LogicalPlan::Filter(filter) => {
            add(split_conjunction(&filter.predicate));
            table_conditions(&filter.input, conditions)
        }
        LogicalPlan::SubqueryAlias(alias) => table_conditions(&alias.input, conditions),
        LogicalPlan::Projection(projection) if keeps_columns(projection) => {
            table_conditions(&projection.input, conditions)
        }
        _ => None,
    }
}

/// What the catalog knows of a column across a table's files.
#[derive(Default)]
struct ColumnFacts {
    distinct: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    numeric: bool,
}

impl ColumnFacts {
    /// At least the distinct values of the file with most (files' counts do not add up: they
    /// share values), and the range of all files' values when every file records it.
    fn of(def: Option<&TableDef>, column: &Column) -> Self {
        let Some(def) = def else { return Self::default() };
        let Ok(data_type) = def.column(&column.name).map(|c| &c.data_type) else { return Self::default() };
        let stats: Vec<_> = def.files.iter().map(|file| file.columns.get(&column.name)).collect();
        let distinct = stats.iter().flatten().filter_map(|s| s.distinct).max().map(|n| n.max(1) as f64);
        let values = |pick: fn(&starhouse_catalog::ColumnStats) -> &Option<String>| -> Option<Vec<f64>> {
            stats.iter().map(|s| pick((*s)?).as_ref().and_then(|v| number_of_text(v, data_type))).collect()
        };
        let min = values(|s| &s.min).and_then(|v| v.into_iter().reduce(f64::min));
        let max = values(|s| &s.max).and_then(|v| v.into_iter().reduce(f64::max));
        Self { distinct, min, max, numeric: number_type(data_type) }
    }

    fn equal(&self) -> f64 {
        self.distinct.map_or(EQUAL, |n| 1.0 / n)
    }

    /// The share of the column's range that `range` covers; `None` when the column or an end is
    /// not a number or a date, or the column's range is unknown.
    fn share(&self, range: Range) -> Option<f64> {
        let (min, max) = (self.min?, self.max?);
        if !self.numeric || max <= min {
            return None;
        }
        let low = range.low.unwrap_or(Some(min))?.max(min);
        let high = range.high.unwrap_or(Some(max))?.min(max);
        Some(((high - low) / (max - min)).clamp(0.0, 1.0))
    }
}

fn number_type(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating() || data_type.is_decimal() || *data_type == DataType::Date32
}

fn number_of_text(value: &str, data_type: &DataType) -> Option<f64> {
    if !number_type(data_type) {
        return None;
    }
    number(&ScalarValue::try_from_string(value.to_string(), data_type).ok()?)
}

/// A number, or a date as days since 1970.
fn number(value: &ScalarValue) -> Option<f64> {
    match value {
        ScalarValue::Date32(days) => days.map(f64::from),
        value if value.data_type().is_numeric() => match value.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(number) => number,
            _ => None,
        },
        _ => None,
    }
}

/// A column compared with a literal, the literal first or second.
fn column_and_literal<'a>(left: &'a Expr, right: &'a Expr) -> Option<(&'a Column, &'a ScalarValue, bool)> {
    match (left, right) {
        (Expr::Column(column), Expr::Literal(value, _)) => Some((column, value, false)),
        (Expr::Literal(value, _), Expr::Column(column)) => Some((column, value, true)),
        _ => None,
    }
}

/// One end of a range: the value as a number, `None` when it is not a number or a date.
type End = Option<f64>;

/// The ends that range conditions put on a column (either may be open).
#[derive(Default, Clone, Copy)]
struct Range {
    low: Option<End>,
    high: Option<End>,
}

/// The tighter of two ends of a range (`pick` chooses between two numbers).
fn tighter(a: Option<End>, b: Option<End>, pick: fn(f64, f64) -> f64) -> Option<End> {
    match (a, b) {
        (Some(Some(a)), Some(Some(b))) => Some(Some(pick(a, b))),
        (a, b) => b.or(a),
    }
}

/// The column a range condition (`c < 5`, `'1997' <= c`) is on, and the range it keeps.
fn bound(expr: &Expr) -> Option<(&Column, Range)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else { return None };
    let (column, value, swapped) = column_and_literal(left, right)?;
    let op = if swapped { op.swap()? } else { *op };
    let value = Some(number(value));
    match op {
        Operator::Gt | Operator::GtEq => Some((column, Range { low: value, high: None })),
        Operator::Lt | Operator::LtEq => Some((column, Range { low: None, high: value })),
        _ => None,
    }
}

/// The fraction of rows that all of `conditions` keep.
fn conjunction<'a>(conditions: impl Iterator<Item = &'a Expr>, def: Option<&TableDef>) -> f64 {
    let mut ranges: BTreeMap<&Column, Range> = BTreeMap::new();
    let mut fraction = 1.0;
    for condition in conditions {
        match bound(condition) {
            Some((column, bound)) => {
                let range = ranges.entry(column).or_default();
                range.low = tighter(range.low, bound.low, f64::max);
                range.high = tighter(range.high, bound.high, f64::min);
            }
            None => fraction *= selectivity(condition, def),
        }
    }
    for (column, range) in ranges {
        let default = if range.low.is_some() && range.high.is_some() { RANGE } else { INEQUALITY };
        fraction *= ColumnFacts::of(def, column).share(range).unwrap_or(default);
    }
    fraction
}

/// The fraction of rows that `condition` keeps.
fn selectivity(condition: &Expr, def: Option<&TableDef>) -> f64 {
    match condition {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            conjunction([left.as_ref(), right.as_ref()].into_iter(), def)
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let (a, b) = (selectivity(left, def), selectivity(right, def));
            a + b - a * b
        }
        Expr::Not(inner) => 1.0 - selectivity(inner, def),
        Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Eq | Operator::NotEq), right }) => {
            match column_and_literal(left, right) {
                Some((column, _, _)) => {
                    let equal = ColumnFacts::of(def, column).equal();
                    if *op == Operator::Eq { equal } else { 1.0 - equal }
                }
                None => INEQUALITY,
            }
        }
        Expr::InList(InList { expr, list, negated }) => match expr.as_ref() {
            Expr::Column(column) => {
                let any = (list.len() as f64 * ColumnFacts::of(def, column).equal()).min(1.0);
                if *negated { 1.0 - any } else { any }
            }
            _ => INEQUALITY,
        },
        Expr::Between(Between { expr, negated, low, high }) => {
            let range = [Expr::gt_eq(*expr.clone(), *low.clone()), Expr::lt_eq(*expr.clone(), *high.clone())];
            let within = conjunction(range.iter(), def);
            if *negated { 1.0 - within } else { within }
        }
        Expr::Like(like) => {
            if like.negated {
                1.0 - MATCH
            } else {
                MATCH
            }
        }
        _ => INEQUALITY,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};
    use starhouse_catalog::{Column as TableColumn, ColumnStats, DataFile, TableName};

    use super::*;

    fn def() -> TableDef {
        let column =
            |name: &str, data_type| TableColumn { name: name.into(), data_type, nullable: false, comment: None };
        let mut def = TableDef::new(
            TableName::new("customer"),
            vec![
                column("c_region", DataType::Utf8),
                column("c_year", DataType::Int32),
                column("c_name", DataType::Utf8),
            ],
            "customer",
        );
        let stats = |min: &str, max: &str, distinct| ColumnStats {
            min: Some(min.into()),
            max: Some(max.into()),
            distinct: Some(distinct),
            ..ColumnStats::default()
        };
        def.files = [("AFRICA", 1990, 4), ("EUROPE", 2000, 5)]
            .into_iter()
            .map(|(region, year, regions)| DataFile {
                path: format!("{region}.parquet"),
                size: 1,
                last_modified: chrono::Utc::now(),
                rows: 100,
                bytes: None,
                columns: [
                    ("c_region".to_string(), stats("AFRICA", region, regions)),
                    ("c_year".to_string(), stats("1990", &year.to_string(), 11)),
                ]
                .into_iter()
                .collect(),
            })
            .collect();
        def
    }

    fn estimate(condition: Expr) -> f64 {
        let def = def();
        conjunction(split_conjunction(&condition).into_iter(), Some(&def))
    }

    #[test]
    fn equalities_keep_one_in_the_distinct_values() {
        assert_eq!(estimate(col("c_region").eq(lit("ASIA"))), 1.0 / 5.0, "the file with most values counts");
        assert_eq!(estimate(col("c_region").in_list(vec![lit("ASIA"), lit("EUROPE")], false)), 2.0 / 5.0);
        assert_eq!(estimate(lit("ASIA").not_eq(col("c_region"))), 4.0 / 5.0);
        let either = estimate(col("c_region").eq(lit("ASIA")).or(col("c_region").eq(lit("EUROPE"))));
        assert!((either - 0.36).abs() < 1e-9, "{either}");
        assert_eq!(estimate(col("c_name").eq(lit("Bob"))), EQUAL, "no statistics: PostgreSQL's default");
    }

    #[test]
    fn a_condition_both_on_a_filter_and_in_its_scan_counts_once() {
        use std::sync::Arc;

        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::logical_expr::{LogicalPlanBuilder, LogicalTableSource};

        let schema = Schema::new(vec![Field::new("region", DataType::Utf8, false)]);
        let source = Arc::new(LogicalTableSource::new(Arc::new(schema)));
        let condition = col("region").eq(lit("ASIA"));
        let scan = LogicalPlanBuilder::scan_with_filters("customer", source, None, vec![condition.clone()])
            .and_then(|scan| scan.alias("c"))
            .and_then(|alias| alias.filter(col("c.region").eq(lit("ASIA"))))
            .and_then(|filter| filter.build())
            .expect("a plan");
        assert_eq!(fraction(&scan), EQUAL, "{scan}");
    }

    #[test]
    fn ranges_keep_their_share_of_the_columns_range() {
        assert_eq!(estimate(col("c_year").gt_eq(lit(1995))), 0.5);
        assert_eq!(estimate(lit(1992).gt(col("c_year"))), 0.2, "a literal on the left bounds from above");
        let between = estimate(col("c_year").gt_eq(lit(1994)).and(col("c_year").lt_eq(lit(1996))));
        assert!((between - 0.2).abs() < 1e-9, "both bounds make one range: {between}");
        let tighter = estimate(col("c_year").gt(lit(1991)).and(col("c_year").gt(lit(1998))));
        assert!((tighter - 0.2).abs() < 1e-9, "the tighter bound counts: {tighter}");
        assert_eq!(estimate(col("c_year").between(lit(2010), lit(2020))), 0.0);
        let strings = estimate(col("c_region").gt_eq(lit("B")).and(col("c_region").lt_eq(lit("C"))));
        assert_eq!(strings, RANGE, "not a number: PostgreSQL's default for a range");
        let both = estimate(col("c_year").gt_eq(lit(1995)).and(col("c_region").eq(lit("ASIA"))));
        assert!((both - 0.1).abs() < 1e-9, "conditions on two columns multiply: {both}");
    }
}
