//! Semi and anti joins (`IN`, `EXISTS`, `NOT IN`, `NOT EXISTS` subqueries) moved below the inner
//! joins they filter.
//!
//! DataFusion turns `WHERE x IN (subquery)` into a semi join on top of the query's joins, so that
//! in `customer, orders, lineitem WHERE o_orderkey IN (...)` all of `orders ⋈ lineitem` is built
//! before the subquery removes most of it. A semi or anti join keeps or drops each row of its
//! input by that row's own columns, so when those columns all come from one input of an inner
//! join it may run on that input instead, with the same answer: `(A ⋈ B) ⋉ S = (A ⋉ S) ⋈ B`.
//!
//! Whether that is faster depends on what the other input removes: the rule moves the semi join
//! only when the other input filters nothing (unfiltered tables joined by inner joins), as the
//! inner join then cannot make the semi join's input smaller than `A` by much. `SET
//! starhouse.semi_joins = false` turns the rule off (to measure it).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Join, JoinType, LogicalPlan, Projection};

use crate::star::{PlannerRule, StarhouseOptions, keeps_columns, scan_of};

/// The optimizer rule.
pub(crate) const SEMI_JOINS: PlannerRule =
    PlannerRule { name: "starhouse_semi_joins", enabled: |o| o.semi_joins, rewrite };

fn rewrite(plan: LogicalPlan, _: &StarhouseOptions) -> Result<Transformed<LogicalPlan>> {
    plan.transform_down(|node| match pushed(&node)? {
        Some(plan) => Ok(Transformed::yes(plan)),
        None => Ok(Transformed::no(node)),
    })
}

/// `plan` with its semi or anti join moved one step down (below a projection of columns or into
/// one input of an inner join), if it is such a join and the rule moves it.
fn pushed(plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    let LogicalPlan::Join(semi) = plan else { return Ok(None) };
    if !matches!(semi.join_type, JoinType::LeftSemi | JoinType::LeftAnti) {
        return Ok(None);
    }
    let below = |input: &Arc<LogicalPlan>| on_inputs(semi, input, &semi.right).map(Arc::new);
    match semi.left.as_ref() {
        // Below a projection only on the way into a join's input: otherwise the move would only
        // lose the projection, and the join below would hand the semi join columns nothing uses.
        LogicalPlan::Projection(projection) if keeps_columns(projection) => {
            match pushed(below(&projection.input)?.as_ref())? {
                Some(input) => {
                    Ok(Some(LogicalPlan::Projection(Projection::try_new(projection.expr.clone(), Arc::new(input))?)))
                }
                None => Ok(None),
            }
        }
        LogicalPlan::Join(inner) if inner.join_type == JoinType::Inner => {
            // The columns of the semi join's input that decide which of its rows it keeps.
            let mut used: HashSet<&Column> = semi.on.iter().flat_map(|(left, _)| left.column_refs()).collect();
            if let Some(filter) = &semi.filter {
                used.extend(filter.column_refs().into_iter().filter(|c| semi.left.schema().has_column(c)));
            }
            let within = |side: &LogicalPlan| used.iter().all(|c| side.schema().has_column(c));
            let (left, right) = if within(&inner.left) && unfiltered(&inner.right) {
                (below(&inner.left)?, Arc::clone(&inner.right))
            } else if within(&inner.right) && unfiltered(&inner.left) {
                (Arc::clone(&inner.left), below(&inner.right)?)
            } else {
                return Ok(None);
            };
            Ok(Some(on_inputs(inner, &left, &right)?))
        }
        _ => Ok(None),
    }
}

/// `join` (its type and conditions) over other inputs.
fn on_inputs(join: &Join, left: &Arc<LogicalPlan>, right: &Arc<LogicalPlan>) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Join(Join::try_new(
        Arc::clone(left),
        Arc::clone(right),
        join.on.clone(),
        join.filter.clone(),
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )?))
}

/// Whether `plan` is tables that nothing filters, joined by inner joins without filters.
fn unfiltered(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Join(join) => {
            join.join_type == JoinType::Inner
                && join.filter.is_none()
                && unfiltered(&join.left)
                && unfiltered(&join.right)
        }
        LogicalPlan::Projection(projection) if keeps_columns(projection) => unfiltered(&projection.input),
        other => matches!(scan_of(other), Some((_, false))),
    }
}
