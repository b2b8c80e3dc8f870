//! Integer literals added to or subtracted from decimals given the decimal's scale.
//!
//! In `l_extendedprice * (1 - l_discount)` (TPC-H Q1, Q3, Q5 and others) type coercion makes the
//! `1` a `decimal(20, 0)`. Arrow adds and subtracts decimals of different scales by multiplying
//! each value by a power of ten first, with overflow checks on 128-bit integers, which are slow:
//! that subtraction took about as long as the rest of the sum. Written as `decimal(22, 2)`, the
//! same literal has the column's scale, Arrow subtracts the two directly and the result's type
//! is the same (as many digits before the point, the same scale), and so is every answer. `SET
//! starhouse.decimal_literals = false` turns the rule off (to measure it).

use datafusion::arrow::datatypes::{DECIMAL128_MAX_PRECISION, DataType};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

use crate::star::{PlannerRule, StarhouseOptions};

/// The optimizer rule.
pub(crate) const DECIMAL_LITERALS: PlannerRule =
    PlannerRule { name: "starhouse_decimal_literals", enabled: |o| o.decimal_literals, rewrite };

fn rewrite(plan: LogicalPlan, _: &StarhouseOptions) -> Result<Transformed<LogicalPlan>> {
    plan.transform_up(|node| {
        // A scan's filters are typed by its table's columns, the others by their inputs'.
        let schema = match &node {
            LogicalPlan::TableScan(scan) => {
                DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema())?
            }
            _ => merge_schema(&node.inputs()),
        };
        // The rewritten expressions keep their names, so that the node's schema is unchanged.
        let names = NamePreserver::new(&node);
        node.map_expressions(|expr| {
            if matches!(expr, Expr::GroupingSet(_)) {
                return Ok(Transformed::no(expr));
            }
            let name = names.save(&expr);
            let rewritten = expr.transform_up(|expr| rescaled(expr, &schema))?;
            Ok(if rewritten.transformed { rewritten.update_data(|expr| name.restore(expr)) } else { rewritten })
        })
    })
}

/// `expr` with its decimal literal given the other operand's scale, if it adds or subtracts a
/// decimal literal and a decimal of larger scale.
fn rescaled(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Plus | Operator::Minus), right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let scale_of = |operand: &Expr| match operand.get_type(schema) {
        Ok(DataType::Decimal128(_, scale)) => Some(scale),
        _ => None,
    };
    let (left, right) = match (at_scale(left, || scale_of(right)), at_scale(right, || scale_of(left))) {
        (Some(literal), None) => (literal, right.as_ref().clone()),
        (None, Some(literal)) => (left.as_ref().clone(), literal),
        _ => return Ok(Transformed::no(expr)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(Box::new(left), *op, Box::new(right)))))
}

/// `literal` as a decimal of `scale` (the other operand's, typed only for a decimal literal) with
/// as many digits before the point, if it is a decimal literal of a smaller scale and the wider
/// decimal fits.
fn at_scale(literal: &Expr, scale: impl FnOnce() -> Option<i8>) -> Option<Expr> {
    let Expr::Literal(ScalarValue::Decimal128(Some(value), precision, from), metadata) = literal else { return None };
    let scale = scale()?;
    let more = u32::try_from(scale.checked_sub(*from)?).ok().filter(|more| *more > 0)?;
    let precision = precision.checked_add(u8::try_from(more).ok()?).filter(|p| *p <= DECIMAL128_MAX_PRECISION)?;
    let value = value.checked_mul(10_i128.checked_pow(more)?)?;
    Some(Expr::Literal(ScalarValue::Decimal128(Some(value), precision, scale), metadata.clone()))
}
