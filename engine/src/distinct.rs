//! Distinct counts: about how many different values each column of a file has, estimated with a
//! HyperLogLog sketch per column while the file is written. The catalog keeps them with the
//! file's other statistics; the planner estimates how many rows a filter keeps with them (see
//! `selectivity.rs`).

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::common::hash_utils::{HLL_RANDOM_STATE, create_hashes};
use datafusion::error::Result;

/// Bits of a hash that choose a register: 4,096 registers (4 KiB a column), a standard error of
/// about 1.6%.
const INDEX_BITS: u32 = 12;
const REGISTERS: usize = 1 << INDEX_BITS;

/// A HyperLogLog sketch of 64-bit hashes (Flajolet et al., with linear counting for small
/// counts).
struct Sketch {
    registers: Vec<u8>,
}

impl Sketch {
    fn new() -> Self {
        Self { registers: vec![0; REGISTERS] }
    }

    fn add(&mut self, hash: u64) {
        let index = (hash >> (64 - INDEX_BITS)) as usize;
        // The position of the first 1 in the other bits (a sentinel bit bounds it).
        let rank = ((hash << INDEX_BITS) | (1 << (INDEX_BITS - 1))).leading_zeros() + 1;
        self.registers[index] = self.registers[index].max(rank as u8);
    }

    fn count(&self) -> u64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self.registers.iter().map(|r| (-f64::from(*r)).exp2()).sum();
        let estimate = alpha * m * m / sum;
        let empty = self.registers.iter().filter(|r| **r == 0).count();
        let count = if estimate <= 2.5 * m && empty > 0 { m * (m / empty as f64).ln() } else { estimate };
        count.round() as u64
    }
}

/// The sketches of a file's columns.
pub(crate) struct DistinctValues {
    sketches: Vec<Sketch>,
    hashes: Vec<u64>,
}

impl DistinctValues {
    pub fn new(columns: usize) -> Self {
        Self { sketches: (0..columns).map(|_| Sketch::new()).collect(), hashes: Vec::new() }
    }

    /// Adds the values of a batch (its columns in the sketches' order); NULLs are not values.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        for (sketch, column) in self.sketches.iter_mut().zip(batch.columns()) {
            self.hashes.clear();
            self.hashes.resize(column.len(), 0);
            create_hashes([column], &HLL_RANDOM_STATE, &mut self.hashes)?;
            match column.logical_nulls() {
                Some(nulls) => nulls.valid_indices().for_each(|row| sketch.add(self.hashes[row])),
                None => self.hashes.iter().for_each(|hash| sketch.add(*hash)),
            }
        }
        Ok(())
    }

    /// The estimated count of each column.
    pub fn counts(&self) -> Vec<u64> {
        self.sketches.iter().map(Sketch::count).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn counts(values: impl Iterator<Item = i64> + Clone) -> Vec<u64> {
        let schema =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]));
        let numbers = Int64Array::from_iter(values.clone().map(|v| (v % 7 != 3).then_some(v)));
        let strings = StringArray::from_iter(values.map(|v| Some(format!("name {v}"))));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(numbers), Arc::new(strings)]).expect("a batch");
        let mut distinct = DistinctValues::new(2);
        distinct.add(&batch).expect("hashes");
        distinct.add(&batch).expect("hashes");
        distinct.counts()
    }

    #[test]
    fn few_values_are_counted_within_one_and_many_within_a_few_percent() {
        // NULLs (every value ≡ 3 mod 7) are not counted; two values may share a register.
        for (values, truth) in [(counts(0..5), [4, 5]), (counts((0..10_000).map(|v| v % 25)), [21, 25])] {
            assert!(values.iter().zip(truth).all(|(v, t)| v.abs_diff(t) <= 1), "{values:?} counted for {truth:?}");
        }
        for n in [3_000_i64, 30_000, 1_000_000] {
            let [numbers, strings] = counts(0..n)[..] else { panic!("two columns") };
            for (count, truth) in [(numbers, n - (n + 3) / 7), (strings, n)] {
                let error = (count as f64 - truth as f64).abs() / truth as f64;
                assert!(error < 0.05, "{count} counted for {truth} values");
            }
        }
    }
}
