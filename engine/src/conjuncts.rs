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

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

use crate::star::{PlannerRule, StarhouseOptions};

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
