//! Star joins planned with what the catalog knows.
//!
//! A tree of inner equi-joins in which one input, the fact side, is joined to each of the others
//! (its dimensions) on columns of its own and a key of the dimension's (so that no join
//! multiplies the fact's rows), is rebuilt as a chain from the fact:
//!
//! - a dimension joined on its whole primary key by a foreign key of the fact, both managed tables
//!   (their loads enforce both keys), with nothing filtering it, matches every fact row exactly
//!   once: if none of its columns but the key is used, it is not joined at all (the key is the
//!   fact's column); otherwise it is joined last, as it removes no rows;
//! - the other dimensions (filtered, or without such a key) come first, so that the joins that
//!   remove fact rows run before those that only add columns; among them, those estimated to
//!   keep fewest rows first (see `selectivity.rs`; ties keep their order in the query), so that
//!   each join probes with as few fact rows as may be;
//! - a snowflake's outer dimension (`nation` of `supplier` of `lineitem`), joined to one dimension
//!   on its own key, is joined to that dimension first when it filters it or matches each of its
//!   rows once: the fact then meets one dimension that carries the outer one's filter.
//!
//! DataFusion then chooses each join's build side (the dimension) and pushes the dimensions'
//! filters into the fact scan as dynamic filters. `SET starhouse.star_joins = false` turns the
//! rule off (to measure it).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Constraint, ExprSchema, NullEquality, Result, extensions_options};
use datafusion::config::{ConfigExtension, ConfigOptions};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, TableScan};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use starhouse_catalog::TableDef;

use crate::managed::ManagedTable;
use crate::selectivity;

extensions_options! {
    /// Starhouse's own planner settings (`SET starhouse.<name> = ...`).
    pub struct StarhouseOptions {
        /// Plan joins of a fact to its dimensions with the catalog's keys (see `star.rs`).
        pub star_joins: bool, default = true
        /// In a star join, join the dimensions estimated to keep fewest rows first (see
        /// `selectivity.rs`); otherwise in the query's order.
        pub selective_joins_first: bool, default = true
        /// Move `IN`/`EXISTS` subqueries below inner joins that filter nothing (see `semi.rs`).
        pub semi_joins: bool, default = true
        /// Apply the join filters pushed through an aggregate under it too (see `prefilter.rs`).
        pub filter_before_aggregate: bool, default = true
        /// Give integer literals added to decimals the decimal's scale (see `decimal.rs`).
        pub decimal_literals: bool, default = true
        /// Order a filter's conditions cheapest first (see `conjuncts.rs`).
        pub cheap_conditions_first: bool, default = true
        /// Drop the rows a join's build keys cannot match before the joins under it (see
        /// `keyfilter.rs`).
        pub join_key_filters: bool, default = true
        /// Keep a filter's leading range on one column apart from its other conditions (see
        /// `conjuncts.rs`).
        pub range_apart: bool, default = true
        /// Compute an aggregate a query uses twice once (see `shared.rs`).
        pub shared_results: bool, default = true
    }
}

impl ConfigExtension for StarhouseOptions {
    const PREFIX: &'static str = "starhouse";
}

impl StarhouseOptions {
    /// The session's settings (the defaults when the session has none of them).
    pub(crate) fn of(options: &ConfigOptions) -> Self {
        options.extensions.get::<Self>().cloned().unwrap_or_default()
    }
}

/// One of Starhouse's logical optimizer rules: its name, the setting that turns it on, and what
/// it does to a plan.
#[derive(Debug)]
pub(crate) struct PlannerRule {
    pub name: &'static str,
    pub enabled: fn(&StarhouseOptions) -> bool,
    pub rewrite: fn(LogicalPlan, &StarhouseOptions) -> Result<Transformed<LogicalPlan>>,
}

impl OptimizerRule for PlannerRule {
    fn name(&self) -> &str {
        self.name
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let starhouse = StarhouseOptions::of(&config.options());
        if !(self.enabled)(&starhouse) {
            return Ok(Transformed::no(plan));
        }
        (self.rewrite)(plan, &starhouse)
    }
}

/// One of Starhouse's physical optimizer rules: its name, the setting that turns it on, and what
/// it does to a plan.
#[derive(Debug)]
pub(crate) struct PhysicalRule {
    pub name: &'static str,
    pub enabled: fn(&StarhouseOptions) -> bool,
    pub rewrite: fn(Plan) -> Result<Plan>,
}

/// A physical plan.
type Plan = Arc<dyn ExecutionPlan>;

impl PhysicalOptimizerRule for PhysicalRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if !(self.enabled)(&StarhouseOptions::of(config)) {
            return Ok(plan);
        }
        (self.rewrite)(plan)
    }

    fn name(&self) -> &str {
        self.name
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The optimizer rule.
pub(crate) const STAR_JOINS: PlannerRule =
    PlannerRule { name: "starhouse_star_joins", enabled: |o| o.star_joins, rewrite };

fn rewrite(plan: LogicalPlan, options: &StarhouseOptions) -> Result<Transformed<LogicalPlan>> {
    plan.transform_down(|node| match star(&node, options)? {
        Some(star) => Ok(Transformed::new(star, true, TreeNodeRecursion::Jump)),
        None => Ok(Transformed::no(node)),
    })
}

/// The inputs of a tree of inner equi-joins on columns, the pairs of columns it joins on and its
/// joins' other conditions.
#[derive(Default)]
struct Tree {
    leaves: Vec<LogicalPlan>,
    pairs: Vec<(Column, Column)>,
    filters: Vec<Expr>,
}

/// Collects the inputs, pairs and filters of `plan` into `tree`; false when `plan` is no such
/// tree.
fn flatten(plan: &LogicalPlan, tree: &mut Tree) -> bool {
    match plan {
        LogicalPlan::Join(join)
            if join.join_type == JoinType::Inner
                && join.null_equality == NullEquality::NullEqualsNothing
                && !join.on.is_empty() =>
        {
            for (left, right) in &join.on {
                let (Expr::Column(left), Expr::Column(right)) = (left, right) else { return false };
                tree.pairs.push((left.clone(), right.clone()));
            }
            tree.filters.extend(join.filter.clone());
            flatten(&join.left, tree) && flatten(&join.right, tree)
        }
        // Between joins, projections only drop columns that nothing above uses.
        LogicalPlan::Projection(projection) if is_join_columns(projection) => flatten(&projection.input, tree),
        other => {
            tree.leaves.push(other.clone());
            true
        }
    }
}

/// Whether the projection only keeps some of its input's columns (under their names).
pub(crate) fn keeps_columns(projection: &Projection) -> bool {
    projection.expr.iter().all(|e| matches!(e, Expr::Column(_)))
}

/// Whether the projection only keeps some columns of a join.
fn is_join_columns(projection: &Projection) -> bool {
    matches!(projection.input.as_ref(), LogicalPlan::Join(_)) && keeps_columns(projection)
}

/// The table scanned under filters, aliases and projections of plain columns (which keep the
/// table's column names), with whether anything filters it.
pub(crate) fn scan_of(plan: &LogicalPlan) -> Option<(&TableScan, bool)> {
    match plan {
        LogicalPlan::TableScan(scan) => Some((scan, !scan.filters.is_empty() || scan.fetch.is_some())),
        LogicalPlan::Filter(filter) => scan_of(&filter.input).map(|(scan, _)| (scan, true)),
        LogicalPlan::SubqueryAlias(alias) => scan_of(&alias.input),
        LogicalPlan::Projection(projection) if keeps_columns(projection) => scan_of(&projection.input),
        _ => None,
    }
}

/// The catalog definition of a managed table's scan.
pub(crate) fn managed_def(scan: &TableScan) -> Option<Arc<TableDef>> {
    let provider: Arc<dyn TableProvider> = source_as_provider(&scan.source).ok()?;
    provider.downcast_ref::<ManagedTable>().map(|table| Arc::clone(table.def()))
}

/// An input of a star: a table (under filters, aliases and projections of its columns), perhaps
/// already joined to dimensions of its own (a snowflake's outer dimensions).
#[derive(Clone)]
struct Input {
    plan: LogicalPlan,
    /// The table whose rows the input has (each at most once), if it is one.
    table: Option<TableScan>,
    /// Whether the input may lack some of the table's rows.
    filtered: bool,
}

impl Input {
    fn new(plan: LogicalPlan) -> Self {
        let (table, filtered) = scan_of(&plan).map_or((None, true), |(scan, filtered)| (Some(scan.clone()), filtered));
        Self { plan, table, filtered }
    }
}

/// A dimension of a star: its input and the (fact, dimension) columns it is joined on.
struct Dimension {
    input: Input,
    keys: Vec<(Column, Column)>,
}

/// Whether the dimension is a table joined on all the columns of its primary key or of a unique
/// constraint (declared: enforced by loads for managed tables).
fn joined_on_unique_key(dimension: &Dimension) -> bool {
    let Some(scan) = &dimension.input.table else { return false };
    let Ok(provider) = source_as_provider(&scan.source) else { return false };
    let schema = provider.schema();
    let joined: HashSet<&str> = dimension.keys.iter().map(|(_, d)| d.name.as_str()).collect();
    provider.constraints().is_some_and(|constraints| {
        constraints.iter().any(|constraint| {
            let (Constraint::PrimaryKey(indices) | Constraint::Unique(indices)) = constraint;
            indices.iter().all(|i| schema.fields().get(*i).is_some_and(|f| joined.contains(f.name().as_str())))
        })
    })
}

/// Whether every fact row matches exactly one row of the dimension: the dimension is a managed
/// table, unfiltered, joined on its whole primary key by a foreign key of the managed fact whose
/// columns cannot be NULL.
fn matches_once(fact: &Input, dimension: &Dimension) -> bool {
    let (Some(fact_scan), Some(dim_scan), false) = (&fact.table, &dimension.input.table, dimension.input.filtered)
    else {
        return false;
    };
    let (Some(fact_def), Some(dim_def)) = (managed_def(fact_scan), managed_def(dim_scan)) else { return false };
    let Some(primary_key) = dim_def.primary_key.as_ref().filter(|_| !dim_def.scd2) else { return false };
    let pairs: HashSet<(&str, &str)> = dimension.keys.iter().map(|(f, d)| (f.name.as_str(), d.name.as_str())).collect();
    let not_null = dimension
        .keys
        .iter()
        .all(|(f, _)| fact.plan.schema().field_from_column(f).is_ok_and(|field| !field.is_nullable()));
    not_null
        && fact_def.foreign_keys.iter().any(|fk| {
            fk.references == dim_def.name
                && fk.columns.len() == pairs.len()
                && HashSet::<&str>::from_iter(fk.referenced_columns.iter().map(String::as_str))
                    == HashSet::from_iter(primary_key.columns.iter().map(String::as_str))
                && fk.columns.iter().zip(&fk.referenced_columns).all(|(f, d)| pairs.contains(&(f.as_str(), d.as_str())))
        })
}

/// A pair of joined columns, each with the index of the input it comes from.
type Side = ((usize, Column), (usize, Column));

/// For each pair of joined columns, the inputs they come from: `None` when some pair's columns
/// are not those of two different inputs.
fn sides(inputs: &[Input], pairs: &[(Column, Column)]) -> Option<Vec<Side>> {
    let input_of = |column: &Column| inputs.iter().position(|input| input.plan.schema().has_column(column));
    pairs
        .iter()
        .map(|(a, b)| match (input_of(a), input_of(b)) {
            (Some(x), Some(y)) if x != y => Some(((x, a.clone()), (y, b.clone()))),
            _ => None,
        })
        .collect()
}

/// The columns joining `dimension` to the other inputs, as (other, dimension) pairs.
fn keys_of(dimension: usize, sides: &[Side]) -> Vec<(usize, Column, Column)> {
    sides
        .iter()
        .filter_map(|((x, a), (y, b))| match (*x == dimension, *y == dimension) {
            (false, true) => Some((*x, a.clone(), b.clone())),
            (true, false) => Some((*y, b.clone(), a.clone())),
            _ => None,
        })
        .collect()
}

/// Joins each input that is joined to only one other, on a key of its own, and that filters the
/// other or matches each of its rows once, into that other input when it is itself a dimension
/// (joined to a third on a key of its own): a snowflake's outer dimension, `nation` of `supplier`
/// of `lineitem`. Until two inputs are left; so that what is left may be a star whose dimensions
/// carry their own dimensions' filters. Whether it joined any.
fn snowflakes(inputs: &mut Vec<Input>, pairs: &mut Vec<(Column, Column)>) -> Result<bool> {
    let mut joined = false;
    while inputs.len() > 2 {
        let Some(sides) = sides(inputs, pairs) else { break };
        let outer = (0..inputs.len()).find_map(|outer| {
            let keys = keys_of(outer, &sides);
            let inner = keys.first()?.0;
            let dimension = Dimension {
                input: inputs[outer].clone(),
                keys: keys.iter().map(|(_, a, b)| (a.clone(), b.clone())).collect(),
            };
            // `inner` is itself a dimension (of another input), not the star's fact.
            let dimension_of = |other: usize| {
                let keys = keys_of(inner, &sides).into_iter().filter(|(o, _, _)| *o == other);
                joined_on_unique_key(&Dimension {
                    input: inputs[inner].clone(),
                    keys: keys.map(|(_, a, b)| (a, b)).collect(),
                })
            };
            (keys.iter().all(|(other, _, _)| *other == inner)
                && joined_on_unique_key(&dimension)
                && (dimension.input.filtered || matches_once(&inputs[inner], &dimension))
                && (0..inputs.len()).any(|other| other != outer && other != inner && dimension_of(other)))
            .then_some((outer, inner, dimension))
        });
        let Some((outer, inner, dimension)) = outer else { break };
        let (inner_keys, outer_keys): (Vec<Column>, Vec<Column>) = dimension.keys.into_iter().unzip();
        let plan = LogicalPlanBuilder::from(inputs[inner].plan.clone())
            .join(dimension.input.plan.clone(), JoinType::Inner, (inner_keys, outer_keys), None)?
            .build()?;
        pairs.retain(|(a, b)| !(plan.schema().has_column(a) && plan.schema().has_column(b)));
        let filtered = inputs[inner].filtered || dimension.input.filtered;
        inputs[inner] = Input { plan, table: inputs[inner].table.clone(), filtered };
        inputs.remove(outer);
        joined = true;
    }
    Ok(joined)
}

/// The star rebuilt, when `plan` is the top of a star join that the rule changes.
fn star(plan: &LogicalPlan, options: &StarhouseOptions) -> Result<Option<LogicalPlan>> {
    let mut tree = Tree::default();
    if !matches!(plan, LogicalPlan::Join(_)) || !flatten(plan, &mut tree) {
        return Ok(None);
    }
    let mut inputs: Vec<Input> = tree.leaves.into_iter().map(Input::new).collect();
    let joined = snowflakes(&mut inputs, &mut tree.pairs)?;
    let Some(sides) = sides(&inputs, &tree.pairs) else { return Ok(None) };
    // The fact: the input in every join. (With two inputs, either may be; the first whose
    // dimension the rule can drop.)
    for fact in 0..inputs.len() {
        if !sides.iter().all(|((x, _), (y, _))| *x == fact || *y == fact) {
            continue;
        }
        let dimensions: Vec<Dimension> = (0..inputs.len())
            .filter(|index| *index != fact)
            .map(|index| Dimension {
                input: inputs[index].clone(),
                keys: keys_of(index, &sides).into_iter().map(|(_, f, d)| (f, d)).collect(),
            })
            .collect();
        // Each other input a dimension: joined on a key of its own, so that no join multiplies
        // the fact's rows (or the order chosen here could make later joins see more rows).
        if !dimensions.iter().all(joined_on_unique_key) {
            continue;
        }
        if let Some(rebuilt) = rebuild(plan, &inputs[fact], dimensions, &tree.filters, joined, options)? {
            return Ok(Some(rebuilt));
        }
    }
    Ok(None)
}

/// The fact joined to its dimensions in the rule's order, then the joins' other conditions,
/// under a projection giving the original join's columns; `None` when that is the plan as it was
/// (`joined`: some dimensions were joined to their own).
fn rebuild(
    plan: &LogicalPlan,
    fact: &Input,
    dimensions: Vec<Dimension>,
    filters: &[Expr],
    joined: bool,
    options: &StarhouseOptions,
) -> Result<Option<LogicalPlan>> {
    let count = dimensions.len();
    let (mut first, mut last, mut dropped): (Vec<(usize, f64, Dimension)>, _, _) = (Vec::new(), Vec::new(), Vec::new());
    for dimension in dimensions {
        if !matches_once(fact, &dimension) {
            let fraction =
                if options.selective_joins_first { selectivity::fraction(&dimension.input.plan) } else { 1.0 };
            first.push((first.len(), fraction, dimension));
        } else if dimension.input.plan.schema().columns().iter().all(|c| dimension.keys.iter().any(|(_, d)| d == c)) {
            dropped.push(dimension);
        } else {
            last.push(dimension);
        }
    }
    first.sort_by(|(_, a, _), (_, b, _)| a.total_cmp(b));
    let reordered = first.iter().enumerate().any(|(position, (index, _, _))| position != *index);
    // Unchanged: nothing dropped, the dimensions that remove rows in the order the rule chose and
    // those that only add columns already at the end.
    if !joined
        && !reordered
        && dropped.is_empty()
        && (last.is_empty() || first.is_empty() || already_last(plan, &last, count))
    {
        return Ok(None);
    }
    let mut builder = LogicalPlanBuilder::from(rewrite(fact.plan.clone(), options)?.data);
    let order: Vec<Dimension> = first.into_iter().map(|(_, _, dimension)| dimension).chain(last).collect();
    let joins = order.len();
    for (index, dimension) in order.into_iter().enumerate() {
        let (fact_keys, dim_keys): (Vec<Column>, Vec<Column>) = dimension.keys.into_iter().unzip();
        // The joins' other conditions stay join conditions, on the last join (a filter above the
        // joins would have DataFusion flatten and reorder them).
        let filter = if index + 1 == joins { conjunction(filters.iter().cloned()) } else { None };
        builder = builder.join(
            rewrite(dimension.input.plan, options)?.data,
            JoinType::Inner,
            (fact_keys, dim_keys),
            filter,
        )?;
    }
    let joined = builder.build()?;
    let exprs = plan
        .schema()
        .columns()
        .into_iter()
        .map(|column| {
            let copy = dropped.iter().flat_map(|d| &d.keys).find(|(_, d)| *d == column).map(|(f, _)| f.clone());
            match copy {
                Some(fact_column) => Expr::Column(fact_column).alias_qualified(column.relation.clone(), &column.name),
                None => Expr::Column(column),
            }
        })
        .collect();
    Ok(Some(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(joined))?)))
}

/// Whether the dimensions in `last` are already the last joins of the left-deep tree `plan`.
fn already_last(plan: &LogicalPlan, last: &[Dimension], count: usize) -> bool {
    let mut node = plan;
    let mut outermost = Vec::new();
    loop {
        match node {
            LogicalPlan::Join(join) => {
                outermost.push(join.right.as_ref());
                node = join.left.as_ref();
            }
            LogicalPlan::Projection(projection) if is_join_columns(projection) => node = projection.input.as_ref(),
            _ => break,
        }
    }
    outermost.len() == count
        && outermost.iter().take(last.len()).all(|right| last.iter().any(|d| &d.input.plan == *right))
}
