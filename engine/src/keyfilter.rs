//! Join key filters: the fact rows that a dimension's keys cannot match, dropped before any join
//! probes them.
//!
//! A hash join that builds one table from a dimension (`CollectLeft`) probes every row of its
//! other side, and in a star join that is every fact row for the first dimension: SSB Q4.1
//! probes all 60 million `lineorder` rows against the customers of one region, at 5 to 9 ns a
//! row. The dynamic filter DataFusion hands the fact scan only skips row groups by min/max
//! (see `prefilter.rs` on `pushdown_filters`). This rule records the keys of the build side as
//! they stream into the join, in a bitmap over their range (one bit per key value, at most
//! [`MAX_RANGE`] bits), and filters the join's other side with it below the joins under it, down
//! to the fact scan. There the filters of all dimensions meet in one node, which tests each row
//! with one bit per dimension and keeps only the rows that every dimension can match, so the
//! joins probe those only. A filter that keeps nearly every row (the date dimension of a query
//! that keeps every date) stops testing. `SET starhouse.join_key_filters = false` turns it off.
//!
//! A filter waits for its join's build side before it passes a row on. The join collects that
//! side before it reads the other, and the filter only ever sits under its own join, so it
//! waits at most for work the join does anyway.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use datafusion::arrow::array::BooleanBufferBuilder;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::compute::{BatchCoalescer, max, min};
use datafusion::arrow::datatypes::{
    ArrowNativeType, ArrowNumericType, ArrowPrimitiveType, DataType, Int8Type, Int16Type, Int32Type, Int64Type,
    SchemaRef, UInt8Type, UInt16Type, UInt32Type,
};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinType, NullEquality, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionRef;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::work_table::WorkTableExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    ReplaceChildrenOptions, replace_children_if_necessary,
};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::watch;

use crate::star::PhysicalRule;

/// The widest range of keys a bitmap covers: 2^27 bits, 16 MiB. A build side whose keys span
/// more gets no filter.
const MAX_RANGE: u64 = 1 << 27;

/// A filter stops testing a join's keys once it has seen this many rows and the keys kept more
/// than nine in ten of them.
const TRIAL_ROWS: usize = 1 << 17;

/// The physical optimizer rule.
pub(crate) const JOIN_KEY_FILTERS: PhysicalRule =
    PhysicalRule { name: "starhouse_join_key_filters", enabled: |o| o.join_key_filters, rewrite };

fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    // A recursive query runs its plan again for each step, with other keys each time.
    if plan.exists(|node| Ok(node.is::<WorkTableExec>()))? {
        return Ok(plan);
    }
    plan.transform_up(|node| match filter_join(&node)? {
        Some(join) => Ok(Transformed::yes(join)),
        None => Ok(Transformed::no(node)),
    })
    .map(|transformed| transformed.data)
}

/// `node` with its build side's keys recorded and its other side filtered by them, when it is a
/// hash join that builds one table, drops the rows of its other side that match no key, and
/// joins on an integer column.
fn filter_join(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else { return Ok(None) };
    if join.mode != PartitionMode::CollectLeft
        || join.null_equality != NullEquality::NullEqualsNothing
        || !matches!(join.join_type, JoinType::Inner | JoinType::RightSemi | JoinType::LeftSemi)
        || join.left().output_partitioning().partition_count() != 1
    {
        return Ok(None);
    }
    let build_schema = join.left().schema();
    let pair = join.on().iter().find_map(|(build, probe)| {
        let (build, probe) = (build.downcast_ref::<Column>()?, probe.downcast_ref::<Column>()?);
        is_integer(build_schema.field(build.index()).data_type()).then_some((build.index(), probe.index()))
    });
    let Some((build, probe)) = pair else { return Ok(None) };
    let keys = Arc::new(BuildKeys::default());
    let left = Arc::new(JoinKeysExec::new(Arc::clone(join.left()), build, Arc::clone(&keys)));
    let right = push(Arc::clone(join.right()), probe, keys)?;
    replace_children_if_necessary(Arc::clone(node), vec![left, right]).map(Some)
}

/// `plan` with its rows filtered by `keys` on its column `column`, as far down as the rows pass
/// unchanged (into an existing filter when there is one).
fn push(plan: Arc<dyn ExecutionPlan>, column: usize, keys: Arc<BuildKeys>) -> Result<Arc<dyn ExecutionPlan>> {
    if let Some(filter) = plan.downcast_ref::<JoinKeyFilterExec>() {
        let mut filters = filter.filters.clone();
        filters.push((column, keys));
        return Ok(Arc::new(JoinKeyFilterExec::new(Arc::clone(&filter.input), filters)));
    }
    let mut children: Vec<_> = plan.children().into_iter().cloned().collect();
    let Some((slot, column)) =
        origin(&plan, column).and_then(|(child, column)| Some((children.get_mut(child)?, column)))
    else {
        return Ok(Arc::new(JoinKeyFilterExec::new(plan, vec![(column, keys)])));
    };
    *slot = push(Arc::clone(slot), column, keys)?;
    replace_children_if_necessary(plan, children)
}

/// The child of `plan` and its column that `column` of `plan` is, when `plan` passes that
/// child's rows on unchanged except for dropping some, and dropping more of them only drops the
/// rows that would have come out of them.
fn origin(plan: &Arc<dyn ExecutionPlan>, column: usize) -> Option<(usize, usize)> {
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        // The rows of a join's probe side come out with the build side's columns first (or
        // alone). A build side that must keep its unmatched rows would change if probe rows went.
        let first = match join.join_type {
            JoinType::Inner | JoinType::Right => join.left().schema().fields().len(),
            JoinType::RightSemi | JoinType::RightAnti => 0,
            _ => return None,
        };
        let joined = projected(join.projection.as_ref(), column)?;
        return Some((1, joined.checked_sub(first)?));
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let expr = &projection.expr().get(column)?.expr;
        return Some((0, expr.downcast_ref::<Column>()?.index()));
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        if filter.fetch().is_some() {
            return None;
        }
        return Some((0, projected(filter.projection().as_ref(), column)?));
    }
    plan.is::<RepartitionExec>().then_some((0, column))
}

/// The input column that `column` of a node's output is, through the node's projection if any.
fn projected(projection: Option<&ProjectionRef>, column: usize) -> Option<usize> {
    projection.map_or(Some(column), |p| p.get(column).copied())
}

/// Calls `$f::<T>(args)` with the Arrow type `T` of an integer type whose values all fit an
/// `i64`; `None` for any other type.
macro_rules! with_integer_type {
    ($data_type:expr, $f:ident($($arg:expr),*)) => {
        match $data_type {
            DataType::Int8 => Some($f::<Int8Type>($($arg),*)),
            DataType::Int16 => Some($f::<Int16Type>($($arg),*)),
            DataType::Int32 => Some($f::<Int32Type>($($arg),*)),
            DataType::Int64 => Some($f::<Int64Type>($($arg),*)),
            DataType::UInt8 => Some($f::<UInt8Type>($($arg),*)),
            DataType::UInt16 => Some($f::<UInt16Type>($($arg),*)),
            DataType::UInt32 => Some($f::<UInt32Type>($($arg),*)),
            _ => None,
        }
    };
}

fn is_integer(data_type: &DataType) -> bool {
    fn arrow_type<T: ArrowPrimitiveType>() -> DataType {
        T::DATA_TYPE
    }
    with_integer_type!(data_type, arrow_type()).is_some()
}

/// The smallest and largest value of `array` (of type `T`) that is not NULL.
fn bounds<T: ArrowNumericType>(array: &dyn Array) -> Option<(i64, i64)> {
    let array = array.as_primitive::<T>();
    Some((min(array)?.to_i64()?, max(array)?.to_i64()?))
}

/// Adds the values of `array` (of type `T`) that are not NULL to `keys`.
fn insert<T: ArrowPrimitiveType>(array: &dyn Array, keys: &mut KeySet) {
    let array = array.as_primitive::<T>();
    let insert = |value: T::Native| {
        let Some((word, bit)) = value.to_i64().and_then(|v| keys.slot(v)) else { return };
        if let Some(word) = keys.words.get_mut(word) {
            *word |= bit;
        }
    };
    match array.nulls() {
        Some(_) => array.iter().flatten().for_each(insert),
        None => array.values().iter().copied().for_each(insert),
    }
}

/// Which values of `array` (of type `T`) are in `keys` (NULL never is), testing only the rows
/// set in `among` when it is given (the others are not set in the result).
fn found<T: ArrowPrimitiveType>(array: &dyn Array, keys: &KeySet, among: Option<&BooleanBuffer>) -> BooleanBuffer {
    let array = array.as_primitive::<T>();
    let values = array.values();
    let contains = |i: usize| values[i].to_i64().is_some_and(|v| keys.contains(v));
    let found = match among {
        // Few rows left: test those only.
        Some(among) if among.count_set_bits() * 4 < values.len() => {
            let mut found = BooleanBufferBuilder::new(values.len());
            found.append_n(values.len(), false);
            among.set_indices().filter(|i| contains(*i)).for_each(|i| found.set_bit(i, true));
            found.finish()
        }
        Some(among) => &found_all(values, keys) & among,
        None => found_all(values, keys),
    };
    match array.nulls() {
        Some(nulls) => &found & nulls.inner(),
        None => found,
    }
}

/// Which of `values` are in `keys`, 64 values to a word.
fn found_all<N: ArrowNativeType>(values: &[N], keys: &KeySet) -> BooleanBuffer {
    let words: Vec<u64> = values
        .chunks(64)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0, |word, (bit, value)| word | u64::from(value.to_i64().is_some_and(|v| keys.contains(v))) << bit)
        })
        .collect();
    BooleanBuffer::new(Buffer::from_vec(words), 0, values.len())
}

/// The keys of a build side: one bit for each value from the smallest key to the largest.
#[derive(Debug, PartialEq)]
pub(crate) struct KeySet {
    min: i64,
    words: Vec<u64>,
}

impl KeySet {
    /// The keys that are not NULL in `arrays` (integer arrays of one type); `None` when they
    /// span more than [`MAX_RANGE`] values or are not integers.
    pub(crate) fn of(arrays: &[ArrayRef]) -> Option<KeySet> {
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for array in arrays {
            if let Some((low, high)) = with_integer_type!(array.data_type(), bounds(array.as_ref()))? {
                (min, max) = (min.min(low), max.max(high));
            }
        }
        if min > max {
            return Some(KeySet { min: 0, words: Vec::new() });
        }
        let len = u64::try_from(i128::from(max) - i128::from(min) + 1).ok().filter(|len| *len <= MAX_RANGE)?;
        let mut keys = KeySet { min, words: vec![0; len.div_ceil(64) as usize] };
        for array in arrays {
            with_integer_type!(array.data_type(), insert(array.as_ref(), &mut keys))?;
        }
        Some(keys)
    }

    pub(crate) fn contains(&self, key: i64) -> bool {
        // The bits past the largest key are clear, so the word's bound is the range's.
        self.slot(key).and_then(|(word, bit)| self.words.get(word).map(|word| word & bit != 0)).unwrap_or(false)
    }

    /// The word and bit of `key`'s offset from the smallest key (the word may be past the last).
    fn slot(&self, key: i64) -> Option<(usize, u64)> {
        let offset = key.wrapping_sub(self.min) as u64;
        Some((usize::try_from(offset / 64).ok()?, 1 << (offset % 64)))
    }

    /// Which values of `array` are keys, among the rows set in `among` if given; `None` when
    /// `array` is not an integer array.
    pub(crate) fn found(&self, array: &dyn Array, among: Option<&BooleanBuffer>) -> Option<BooleanBuffer> {
        with_integer_type!(array.data_type(), found(array, self, among))
    }
}

/// What a filter knows of its join's build side.
#[derive(Debug, Clone)]
enum Keys {
    /// The join has not read all of it yet.
    Pending,
    /// All its keys.
    Known(Arc<KeySet>),
    /// Too wide a range, or the build side did not finish: the filter keeps every row.
    Unknown,
}

/// The keys of one join's build side, shared by the node that records them and the filter that
/// uses them.
#[derive(Debug)]
struct BuildKeys(watch::Sender<Keys>);

impl Default for BuildKeys {
    fn default() -> Self {
        BuildKeys(watch::Sender::new(Keys::Pending))
    }
}

impl BuildKeys {
    /// The keys once the build side is read; `None` when they are not known.
    async fn wait(&self) -> Option<Arc<KeySet>> {
        let mut receiver = self.0.subscribe();
        match receiver.wait_for(|keys| !matches!(keys, Keys::Pending)).await.as_deref() {
            Ok(Keys::Known(keys)) => Some(Arc::clone(keys)),
            _ => None,
        }
    }
}

/// The methods of a node that passes on its one input's rows, or some of them, unchanged: the
/// same schema, order and partitioning.
macro_rules! one_input_in_order {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn properties(&self) -> &Arc<PlanProperties> {
            self.input.properties()
        }

        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![&self.input]
        }

        fn maintains_input_order(&self) -> Vec<bool> {
            vec![true]
        }

        fn apply_expressions(
            &self,
            _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
        ) -> Result<TreeNodeRecursion> {
            Ok(TreeNodeRecursion::Continue)
        }

        fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
            self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
        }
    };
}
pub(crate) use one_input_in_order;

/// Passes a join's build side on and records its keys.
#[derive(Debug)]
struct JoinKeysExec {
    input: Arc<dyn ExecutionPlan>,
    column: usize,
    keys: Arc<BuildKeys>,
}

impl JoinKeysExec {
    fn new(input: Arc<dyn ExecutionPlan>, column: usize, keys: Arc<BuildKeys>) -> Self {
        JoinKeysExec { input, column, keys }
    }
}

impl DisplayAs for JoinKeysExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "JoinKeysExec: {}@{}", self.input.schema().field(self.column).name(), self.column)
    }
}

impl ExecutionPlan for JoinKeysExec {
    one_input_in_order!("JoinKeysExec");

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = only_child(children, "JoinKeysExec")?;
        Ok(Arc::new(JoinKeysExec::new(input, self.column, Arc::clone(&self.keys))))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.keys.0.send_replace(Keys::Pending);
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(KeysStream {
            input,
            column: self.column,
            arrays: Vec::new(),
            keys: Arc::clone(&self.keys),
            done: false,
        }))
    }
}

pub(crate) fn only_child(children: Vec<Arc<dyn ExecutionPlan>>, name: &str) -> Result<Arc<dyn ExecutionPlan>> {
    let [input] = <[_; 1]>::try_from(children)
        .map_err(|_| datafusion::error::DataFusionError::Internal(format!("{name} has one child")))?;
    Ok(input)
}

struct KeysStream {
    input: SendableRecordBatchStream,
    column: usize,
    arrays: Vec<ArrayRef>,
    keys: Arc<BuildKeys>,
    done: bool,
}

impl Stream for KeysStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = ready!(self.input.poll_next_unpin(cx));
        match &next {
            Some(Ok(batch)) => {
                let keys = Arc::clone(batch.column(self.column));
                self.arrays.push(keys);
            }
            Some(Err(_)) => {}
            None => {
                let keys = KeySet::of(&self.arrays).map_or(Keys::Unknown, |keys| Keys::Known(Arc::new(keys)));
                self.keys.0.send_replace(keys);
                self.arrays.clear();
                self.done = true;
            }
        }
        Poll::Ready(next)
    }
}

impl RecordBatchStream for KeysStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

impl Drop for KeysStream {
    fn drop(&mut self) {
        if !self.done {
            self.keys.0.send_replace(Keys::Unknown);
        }
    }
}

/// Drops the rows whose key, in any of its columns, is not among its join's build keys.
#[derive(Debug)]
struct JoinKeyFilterExec {
    input: Arc<dyn ExecutionPlan>,
    /// A column of `input` and the keys its values must be among.
    filters: Vec<(usize, Arc<BuildKeys>)>,
    metrics: ExecutionPlanMetricsSet,
}

impl JoinKeyFilterExec {
    fn new(input: Arc<dyn ExecutionPlan>, filters: Vec<(usize, Arc<BuildKeys>)>) -> Self {
        JoinKeyFilterExec { input, filters, metrics: ExecutionPlanMetricsSet::new() }
    }
}

impl DisplayAs for JoinKeyFilterExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let schema = self.input.schema();
        let columns: Vec<_> = self.filters.iter().map(|(c, _)| format!("{}@{c}", schema.field(*c).name())).collect();
        write!(f, "JoinKeyFilterExec: {}", columns.join(", "))
    }
}

impl ExecutionPlan for JoinKeyFilterExec {
    one_input_in_order!("JoinKeyFilterExec");

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = only_child(children, "JoinKeyFilterExec")?;
        Ok(Arc::new(JoinKeyFilterExec::new(input, self.filters.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let batch_size = context.session_config().batch_size();
        let input = self.input.execute(partition, context)?;
        let filters = self.filters.clone();
        let ready = async move {
            let mut probes = Vec::new();
            for (column, keys) in filters {
                if let Some(keys) = keys.wait().await {
                    probes.push(Probe { column, keys, seen: 0, kept: 0 });
                }
            }
            probes
        };
        Ok(Box::pin(FilterStream {
            coalescer: BatchCoalescer::new(input.schema(), batch_size),
            input,
            ready: Some(ready.boxed()),
            probes: Vec::new(),
            done: false,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One join's keys tested on one column, and how many of the rows they were tested on they
/// kept so far.
struct Probe {
    column: usize,
    keys: Arc<KeySet>,
    seen: usize,
    kept: usize,
}

impl Probe {
    fn share(&self) -> f64 {
        (self.kept + 1) as f64 / (self.seen + 1) as f64
    }
}

struct FilterStream {
    input: SendableRecordBatchStream,
    /// The build sides' keys, until they are known.
    ready: Option<BoxFuture<'static, Vec<Probe>>>,
    /// The keys still tested.
    probes: Vec<Probe>,
    coalescer: BatchCoalescer,
    done: bool,
    metrics: BaselineMetrics,
}

impl FilterStream {
    /// Which rows of `batch` every tested join's keys keep; `None` when that is all of them.
    fn kept(&mut self, batch: &RecordBatch) -> Option<BooleanArray> {
        // The keys that kept the fewest rows so far go first; the others test only what is left.
        self.probes.sort_by(|a, b| a.share().total_cmp(&b.share()));
        let mut kept: Option<(BooleanBuffer, usize)> = None;
        for probe in &mut self.probes {
            let among = kept.as_ref().map(|(among, _)| among);
            let Some(found) = probe.keys.found(batch.column(probe.column), among) else { continue };
            let count = found.count_set_bits();
            probe.seen += kept.as_ref().map_or(batch.num_rows(), |(_, count)| *count);
            probe.kept += count;
            kept = Some((found, count));
            if count == 0 {
                break;
            }
        }
        self.probes.retain(|p| p.seen < TRIAL_ROWS || p.kept * 10 <= p.seen * 9);
        kept.filter(|(_, count)| *count < batch.num_rows()).map(|(kept, _)| BooleanArray::from(kept))
    }

    fn poll_filtered(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RecordBatch>>> {
        if let Some(ready) = &mut self.ready {
            self.probes = ready!(ready.poll_unpin(cx));
            self.ready = None;
        }
        loop {
            if let Some(batch) = self.coalescer.next_completed_batch() {
                return Poll::Ready(Some(Ok(batch)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match ready!(self.input.poll_next_unpin(cx)) {
                Some(Ok(batch)) => {
                    let elapsed = self.metrics.elapsed_compute().clone();
                    let _timer = elapsed.timer();
                    match self.kept(&batch) {
                        None if self.coalescer.is_empty() => return Poll::Ready(Some(Ok(batch))),
                        None => self.coalescer.push_batch(batch)?,
                        Some(kept) => self.coalescer.push_batch_with_filter(batch, &kept)?,
                    }
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => {
                    self.coalescer.finish_buffered_batch()?;
                    self.done = true;
                }
            }
        }
    }
}

impl Stream for FilterStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let poll = self.poll_filtered(cx);
        self.metrics.record_poll(poll)
    }
}

impl RecordBatchStream for FilterStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, UInt32Array};

    use datafusion::arrow::buffer::BooleanBuffer;

    use super::{KeySet, MAX_RANGE};

    #[test]
    fn a_key_set_holds_exactly_the_build_keys() {
        let build: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(-3), None, Some(70)])),
            Arc::new(Int64Array::from(vec![Some(5), Some(5)])),
        ];
        let keys = KeySet::of(&build).expect("a narrow range");
        let probe =
            Int64Array::from(vec![Some(-3), Some(-4), None, Some(5), Some(6), Some(70), Some(71), Some(i64::MIN)]);
        let found = keys.found(&probe, None).expect("an integer column");
        assert_eq!(found.iter().collect::<Vec<_>>(), [true, false, false, true, false, true, false, false]);
        // Among some rows only, whether few (tested one by one) or many.
        let few = BooleanBuffer::from_iter((0..8).map(|i| i == 0));
        let found = keys.found(&probe, Some(&few)).expect("an integer column");
        assert_eq!(found.iter().collect::<Vec<_>>(), [true, false, false, false, false, false, false, false]);
        let many = BooleanBuffer::from_iter((0..8).map(|i| i != 0));
        let found = keys.found(&probe, Some(&many)).expect("an integer column");
        assert_eq!(found.iter().collect::<Vec<_>>(), [false, false, false, true, false, true, false, false]);
    }

    #[test]
    fn no_build_keys_match_nothing_and_a_wide_range_gets_no_set() {
        let empty: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(vec![None::<i32>]))];
        let keys = KeySet::of(&empty).expect("no keys");
        assert!(!keys.contains(0));
        let wide: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(vec![0, MAX_RANGE as u32]))];
        assert_eq!(KeySet::of(&wide), None);
        let strings: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec!["a"]))];
        assert_eq!(KeySet::of(&strings), None);
    }
}
