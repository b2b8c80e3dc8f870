//! Shared results: an aggregate a query uses twice is computed once.
//!
//! A common table expression named twice, as in TPC-H Q15's `revenue0` (joined to `supplier`,
//! and again under `max(total_revenue)` in a scalar subquery), is planned by DataFusion as two
//! copies of the same plan, each of which scans and aggregates `lineitem`. PostgreSQL and DuckDB
//! compute such a CTE once. Here an analyzer rule finds the subplans that hold an aggregate and
//! occur more than once in a query (counting those in subqueries), and wraps each occurrence in
//! a [`SharedPlan`] node with the same id. The node keeps the optimizer from pushing anything
//! into one copy that it does not push into the other (filters and limits stop at it; it needs
//! all of its input's columns), so the copies stay the same query. Each is planned as a
//! [`SharedExec`]; once the physical plan is complete, [`LINK_SHARED`] gives the copies of each
//! id one [`SharedResults`]: for each partition, the first copy to run computes it, the others
//! read its batches, and the batches are dropped once every copy has had them.
//! `SET starhouse.shared_results = false` turns it off.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::Session as PlanningSession;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, DataFusionError, Result};
use datafusion::config::ConfigOptions;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    ReplaceChildrenOptions, Statistics,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryStreamExt};

use crate::keyfilter::{one_input_in_order, only_child};
use crate::star::{PhysicalRule, StarhouseOptions};

/// The analyzer rule that wraps the repeated aggregates of a query in [`SharedPlan`] nodes.
#[derive(Debug)]
pub(crate) struct ShareRepeatedAggregates;

impl AnalyzerRule for ShareRepeatedAggregates {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        if !StarhouseOptions::of(config).shared_results || plan.exists(|node| Ok(shared_id(node).is_some()))? {
            return Ok(plan);
        }
        // Each shareable subplan with the order it was first met in (for ids that do not change
        // from one run to the next) and how often it occurs.
        let mut seen: HashMap<LogicalPlan, (usize, usize)> = HashMap::new();
        plan.apply_with_subqueries(|node| {
            if shareable(node)? {
                let first = seen.len();
                seen.entry(node.clone()).or_insert((first, 0)).1 += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let mut repeated: Vec<(LogicalPlan, usize)> =
            seen.into_iter().filter(|(_, (_, count))| *count > 1).map(|(node, (first, _))| (node, first)).collect();
        if repeated.is_empty() {
            return Ok(plan);
        }
        repeated.sort_by_key(|(_, first)| *first);
        let ids: HashMap<LogicalPlan, usize> =
            repeated.into_iter().enumerate().map(|(id, (node, _))| (node, id)).collect();
        plan.transform_down_with_subqueries(|node| match ids.get(&node) {
            Some(&id) => {
                let shared = SharedPlan { id, input: node };
                Ok(Transformed::new(
                    LogicalPlan::Extension(Extension { node: Arc::new(shared) }),
                    true,
                    TreeNodeRecursion::Jump,
                ))
            }
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "starhouse_shared_results"
    }
}

/// Whether a subplan is worth computing once: it aggregates, and it reads nothing of an outer
/// query (a correlated subquery's rows differ for each outer row) nor of a recursive one. (A
/// subquery's own root, the `Subquery` node, stays as it is: what is shared is under it.)
fn shareable(node: &LogicalPlan) -> Result<bool> {
    if matches!(node, LogicalPlan::Subquery(_)) {
        return Ok(false);
    }
    let (mut aggregates, mut varies) = (false, false);
    node.apply_with_subqueries(|n| {
        aggregates |= matches!(n, LogicalPlan::Aggregate(_));
        varies |= matches!(n, LogicalPlan::RecursiveQuery(_)) || n.contains_outer_reference();
        Ok(if varies { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    })?;
    Ok(aggregates && !varies)
}

/// The id of a [`SharedPlan`] node.
fn shared_id(node: &LogicalPlan) -> Option<usize> {
    match node {
        LogicalPlan::Extension(Extension { node }) => node.as_any().downcast_ref::<SharedPlan>().map(|s| s.id),
        _ => None,
    }
}

/// One occurrence of a subplan that the query holds more than once: the copies have the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct SharedPlan {
    id: usize,
    input: LogicalPlan,
}

impl UserDefinedLogicalNodeCore for SharedPlan {
    fn name(&self) -> &str {
        "Shared"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Shared: id={}", self.id)
    }

    fn with_exprs_and_inputs(&self, _: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let [input] =
            <[_; 1]>::try_from(inputs).map_err(|_| DataFusionError::Internal("a Shared node has one input".into()))?;
        Ok(SharedPlan { id: self.id, input })
    }
}

/// Plans queries with DataFusion's planner, and [`SharedPlan`] nodes as [`SharedExec`].
#[derive(Debug)]
pub(crate) struct StarhousePlanner;

#[async_trait]
impl QueryPlanner for StarhousePlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn PlanningSession,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(StarhousePlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

#[async_trait]
impl ExtensionPlanner for StarhousePlanner {
    async fn plan_extension(
        &self,
        _: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _: &dyn PlanningSession,
        _: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(shared) = node.as_any().downcast_ref::<SharedPlan>() else {
            return Ok(None);
        };
        let input = only_child(physical_inputs.to_vec(), "Shared")?;
        Ok(Some(Arc::new(SharedExec { input, id: shared.id, results: None })))
    }
}

/// The physical rule that links the copies of each shared subplan (see the module's comment).
pub(crate) const LINK_SHARED: PhysicalRule =
    PhysicalRule { name: "starhouse_link_shared", enabled: |o| o.shared_results, rewrite: link };

/// Gives the copies of each id one [`SharedResults`], or, when only one copy is left or the
/// copies were planned with different partitionings, removes the nodes.
fn link(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let mut copies: HashMap<usize, Vec<usize>> = HashMap::new();
    plan.apply(|node| {
        if let Some(shared) = node.downcast_ref::<SharedExec>() {
            copies.entry(shared.id).or_default().push(shared.input.output_partitioning().partition_count());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let results: HashMap<usize, Arc<SharedResults>> = copies
        .into_iter()
        .filter(|(_, partitions)| partitions.len() > 1 && partitions.iter().all(|p| *p == partitions[0]))
        .map(|(id, partitions)| (id, Arc::new(SharedResults::new(partitions[0], partitions.len()))))
        .collect();
    plan.transform_up(|node| {
        let Some(shared) = node.downcast_ref::<SharedExec>() else {
            return Ok(Transformed::no(node));
        };
        Ok(Transformed::yes(match results.get(&shared.id) {
            Some(results) => Arc::new(SharedExec {
                input: Arc::clone(&shared.input),
                id: shared.id,
                results: Some(Arc::clone(results)),
            }),
            None => Arc::clone(&shared.input),
        }))
    })
    .map(|t| t.data)
}

/// One copy of a shared subplan: it passes on its input's batches, computed by whichever copy
/// runs a partition first.
#[derive(Debug)]
struct SharedExec {
    input: Arc<dyn ExecutionPlan>,
    id: usize,
    /// What the copies share, once [`LINK_SHARED`] has linked them.
    results: Option<Arc<SharedResults>>,
}

impl DisplayAs for SharedExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedExec: id={}", self.id)
    }
}

impl ExecutionPlan for SharedExec {
    one_input_in_order!("SharedExec");

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = only_child(children, "SharedExec")?;
        Ok(Arc::new(SharedExec { input, id: self.id, results: self.results.clone() }))
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(&self, inputs: &[Arc<Statistics>], _: &StatisticsArgs) -> Result<Arc<Statistics>> {
        inputs.first().cloned().ok_or_else(|| DataFusionError::Internal("SharedExec has one input".into()))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(results) = &self.results else {
            return self.input.execute(partition, context);
        };
        let input = Arc::clone(&self.input);
        let run = results.run(partition, move || computed(input, partition, context).boxed().shared())?;
        let batches = futures::stream::once(run).map(|computed| match computed {
            Ok(computed) => Ok(futures::stream::iter(computed.batches.clone().into_iter().map(Ok))),
            Err(error) => Err(DataFusionError::Shared(error)),
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), batches.try_flatten())))
    }
}

/// A partition's batches, computed once, with the memory they hold reserved.
#[derive(Debug)]
struct Computed {
    batches: Vec<RecordBatch>,
    _reservation: MemoryReservation,
}

/// Computing a partition of a shared subplan; every copy that reads it awaits a clone.
type Run = Shared<BoxFuture<'static, Result<Arc<Computed>, Arc<DataFusionError>>>>;

async fn computed(
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    context: Arc<TaskContext>,
) -> Result<Arc<Computed>, Arc<DataFusionError>> {
    let reservation = MemoryConsumer::new(format!("SharedExec[{partition}]")).register(context.memory_pool());
    let mut stream = input.execute(partition, context).map_err(Arc::new)?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Arc::new)?;
        reservation.try_grow(batch.get_array_memory_size()).map_err(Arc::new)?;
        batches.push(batch);
    }
    Ok(Arc::new(Computed { batches, _reservation: reservation }))
}

/// What the copies of a shared subplan share: per partition, its computation, and how many
/// copies have taken it.
#[derive(Debug)]
struct SharedResults {
    copies: usize,
    partitions: Vec<Mutex<Option<(Run, usize)>>>,
}

impl SharedResults {
    fn new(partitions: usize, copies: usize) -> Self {
        SharedResults { copies, partitions: (0..partitions).map(|_| Mutex::new(None)).collect() }
    }

    /// The computation of a partition: started by the first copy to ask, forgotten once every
    /// copy has asked (so that the batches go when the last copy is done with them, and a plan
    /// run again computes them again).
    fn run(&self, partition: usize, start: impl FnOnce() -> Run) -> Result<Run> {
        let slot = self
            .partitions
            .get(partition)
            .ok_or_else(|| DataFusionError::Internal(format!("SharedExec has no partition {partition}")))?;
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let (run, taken) = slot.get_or_insert_with(|| (start(), 0));
        let run = run.clone();
        *taken += 1;
        if *taken == self.copies {
            *slot = None;
        }
        Ok(run)
    }
}
