//! Join filters applied under the aggregates whose rows the join would drop.
//!
//! A hash join hands its build side's keys to the scans of its probe side as a dynamic filter,
//! and DataFusion pushes that filter down through aggregates grouped by the join keys: in TPC-H
//! Q17 the average quantity per part is computed over all of `lineitem` and then joined to the
//! 0.1% of parts a filter keeps. A scan uses such a filter only to skip row groups by their
//! min/max (unless `pushdown_filters` is on, which costs more than it saves on star joins, where
//! the join drops a fact row as cheaply as the scan would; measured in `benches/`), so the
//! aggregate still groups every row the join will drop. This rule applies the scan's dynamic
//! filters in a filter right under such an aggregate. `SET starhouse.filter_before_aggregate =
//! false` turns it off (to measure it).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::utils::{collect_columns, reassign_expr_columns};
use datafusion::physical_expr::{PhysicalExpr, conjunction, split_conjunction};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};

use crate::star::PhysicalRule;

/// The physical optimizer rule.
pub(crate) const FILTER_BEFORE_AGGREGATE: PhysicalRule =
    PhysicalRule { name: "starhouse_filter_before_aggregate", enabled: |o| o.filter_before_aggregate, rewrite };

fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_down(|node| {
        if !node.is::<AggregateExec>() {
            return Ok(Transformed::no(node));
        }
        let [input] = node.children()[..] else { return Ok(Transformed::no(node)) };
        match join_filter(input)? {
            Some(filter) => {
                let input: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(filter, Arc::clone(input))?);
                Ok(Transformed::yes(replace_children_if_necessary(node, vec![input])?))
            }
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|transformed| transformed.data)
}

/// The dynamic filters of the scan under `plan` (through filters and repartitions, which keep
/// the scan's column names), on `plan`'s columns; `None` when there are none or `plan` lacks a
/// column they use.
fn join_filter(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn PhysicalExpr>>> {
    let mut node = plan;
    while node.is::<FilterExec>() || node.is::<RepartitionExec>() {
        let [input] = node.children()[..] else { return Ok(None) };
        node = input;
    }
    let Some(predicate) = node
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
        .and_then(|config| config.file_source.filter())
    else {
        return Ok(None);
    };
    let dynamic: Vec<_> =
        split_conjunction(&predicate).into_iter().filter(|e| e.is::<DynamicFilterPhysicalExpr>()).cloned().collect();
    let schema = plan.schema();
    let mut columns = dynamic.iter().flat_map(collect_columns);
    if dynamic.is_empty() || columns.any(|c| schema.index_of(c.name()).is_err()) {
        return Ok(None);
    }
    Ok(Some(reassign_expr_columns(conjunction(dynamic), &schema)?))
}
