//! A filter's conditions ordered cheapest first.
//!
//! DataFusion evaluates `a AND b` by evaluating `a` on the whole batch and, when `a` keeps at
//! most a fifth of its rows, `b` on those rows only. So the order of a filter's conditions
//! decides how many rows the later ones see. TPC-H Q12 lists `l_shipmode IN ('MAIL', 'SHIP')`
//! (string comparisons, keeping 2 rows in 7) before the date range (integer comparisons, 1 row
//! in 7): all 60 million rows went through the string comparisons. The rule moves conditions
//! that compare a column with a constant or with another column ahead of the rest, numbers and
//! dates before strings, and keeps the written order otherwise. Only such conditions, which
//! cannot fail, move ahead: the others (a division, a cast, a function) keep their order after
//! them. `SET starhouse.cheap_conditions_first = false` turns the rule off (to measure it).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::physical_expr::expressions::BinaryExpr as PhysicalBinaryExpr;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{conjunction as physical_conjunction, split_conjunction as physical_split};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};

use crate::star::{PhysicalRule, PlannerRule, StarhouseOptions};

/// The optimizer rule.
pub(crate) const CHEAP_CONDITIONS_FIRST: PlannerRule =
    PlannerRule { name: "starhouse_cheap_conditions_first", enabled: |o| o.cheap_conditions_first, rewrite };

fn rewrite(plan: LogicalPlan, _: &StarhouseOptions) -> Result<Transformed<LogicalPlan>> {
    plan.transform_up(|node| {
        let LogicalPlan::Filter(mut filter) = node else { return Ok(Transformed::no(node)) };
        let schema = filter.input.schema();
        let mut conditions: Vec<(Cost, &Expr)> =
            split_conjunction(&filter.predicate).into_iter().map(|c| (cost(c, schema), c)).collect();
        if conditions.is_sorted_by_key(|(cost, _)| *cost) {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        // A stable sort: conditions of one cost keep their order.
        conditions.sort_by_key(|(cost, _)| *cost);
        if let Some(predicate) = conjunction(conditions.into_iter().map(|(_, c)| c.clone())) {
            filter.predicate = predicate;
        }
        Ok(Transformed::yes(LogicalPlan::Filter(filter)))
    })
}

/// How much a condition costs per row, cheapest first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Cost {
    /// A number or date column against a constant, or whether a column is null.
    Constant,
    /// Two number or date columns compared.
    Columns,
    /// Strings compared (with a constant or each other).
    Strings,
    /// Anything else, which may also fail: stays after the others, in its order.
    Other,
}

fn cost(condition: &Expr, schema: &DFSchema) -> Cost {
    let text =
        |expr: &Expr| matches!(expr.get_type(schema), Ok(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8));
    let constant = |expr: &Expr| matches!(expr, Expr::Literal(..));
    let against_constants = |column: &Expr| if text(column) { Cost::Strings } else { Cost::Constant };
    match condition {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => cost(left, schema).max(cost(right, schema)),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq,
            right,
        }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(_), Expr::Literal(..)) => against_constants(left),
            (Expr::Literal(..), Expr::Column(_)) => against_constants(right),
            (Expr::Column(_), Expr::Column(_)) if text(left) || text(right) => Cost::Strings,
            (Expr::Column(_), Expr::Column(_)) => Cost::Columns,
            _ => Cost::Other,
        },
        Expr::IsNull(expr) | Expr::IsNotNull(expr) if matches!(expr.as_ref(), Expr::Column(_)) => Cost::Constant,
        Expr::InList(list) if matches!(list.expr.as_ref(), Expr::Column(_)) && list.list.iter().all(constant) => {
            against_constants(&list.expr)
        }
        Expr::Between(Between { expr, low, high, .. })
            if matches!(expr.as_ref(), Expr::Column(_)) && constant(low) && constant(high) =>
        {
            against_constants(expr)
        }
        _ => Cost::Other,
    }
}

/// The physical rule that keeps a filter's leading range on one column apart from its other
/// conditions, `(a >= x AND a < y) AND (b ... AND c ...)`, after DataFusion's filter pushdown has
/// rebuilt the filters' predicates as flat chains. DataFusion evaluates the right side of an
/// `AND` on the rows its left side keeps when those are at most a fifth: gathering them and
/// scattering the result costs per run of kept rows, so the rest is better evaluated in one
/// step than condition by condition (TPC-H Q6: a year of `l_shipdate`, then the discount and
/// quantity on that seventh of the rows). `SET starhouse.range_apart = false` turns it off.
pub(crate) const RANGE_APART: PhysicalRule =
    PhysicalRule { name: "starhouse_grouped_range", enabled: |o| o.range_apart, rewrite: grouped_ranges };

fn grouped_ranges(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(filter) = node.downcast_ref::<FilterExec>() else { return Ok(Transformed::no(node)) };
        let conditions = physical_split(filter.predicate());
        let first = conditions.first().map(|c| collect_columns(c)).unwrap_or_default();
        let range = conditions.iter().take_while(|c| collect_columns(c) == first).count();
        if first.len() != 1 || range < 2 || range >= conditions.len() {
            return Ok(Transformed::no(node));
        }
        let (range, rest) = conditions.split_at(range);
        let grouped = Arc::new(PhysicalBinaryExpr::new(
            physical_conjunction(range.iter().map(|c| Arc::clone(c))),
            Operator::And,
            physical_conjunction(rest.iter().map(|c| Arc::clone(c))),
        ));
        let rebuilt = FilterExecBuilder::from(filter).with_predicate(grouped).build()?;
        Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>))
    })
    .map(|transformed| transformed.data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::ScalarValue;
    use datafusion::config::ConfigOptions;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::PhysicalExpr;
    use datafusion::physical_expr::expressions::{BinaryExpr, col, lit};
    use datafusion::physical_optimizer::PhysicalOptimizerRule;
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::physical_plan::filter::FilterExec;

    use super::RANGE_APART;

    fn filter_of(conditions: &[(&str, Operator, i32)]) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(["a", "b", "c"].map(|n| Field::new(n, DataType::Int32, false)).to_vec()));
        let condition = |(name, op, value): &(&str, Operator, i32)| -> Arc<dyn PhysicalExpr> {
            let column = col(name, &schema).expect("a column");
            Arc::new(BinaryExpr::new(column, *op, lit(ScalarValue::Int32(Some(*value)))))
        };
        let predicate = datafusion::physical_expr::conjunction(conditions.iter().map(condition));
        Arc::new(FilterExec::try_new(predicate, Arc::new(EmptyExec::new(schema))).expect("a filter"))
    }

    #[test]
    fn a_leading_range_is_kept_apart_from_the_other_conditions() {
        let range_then_more = filter_of(&[
            ("a", Operator::GtEq, 1),
            ("a", Operator::Lt, 5),
            ("b", Operator::Eq, 2),
            ("c", Operator::Lt, 3),
        ]);
        let grouped = RANGE_APART.optimize(range_then_more, &ConfigOptions::default()).expect("optimized");
        let grouped = grouped.downcast_ref::<FilterExec>().expect("a filter").predicate();
        let and = grouped.downcast_ref::<BinaryExpr>().expect("an AND");
        assert_eq!(*and.op(), Operator::And);
        assert_eq!(and.left().to_string(), "a@0 >= 1 AND a@0 < 5");
        assert_eq!(and.right().to_string(), "b@1 = 2 AND c@2 < 3");
        // One condition first, or a range alone: left as it is.
        for conditions in [
            &[("a", Operator::GtEq, 1), ("b", Operator::Eq, 2), ("c", Operator::Lt, 3)][..],
            &[("a", Operator::GtEq, 1), ("a", Operator::Lt, 5)][..],
        ] {
            let plan = filter_of(conditions);
            let after = RANGE_APART.optimize(Arc::clone(&plan), &ConfigOptions::default()).expect("optimized");
            assert!(Arc::ptr_eq(&plan, &after), "{conditions:?}");
        }
    }
}
