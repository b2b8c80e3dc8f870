//! TPC-H's data, from the `tpchgen` crates (a port of the specification's `dbgen` that gives the
//! same rows): the eight tables at any scale factor, in any number of parts.

use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow, SupplierArrow,
};

use crate::Batches;

/// The tables, those referenced first.
pub const TABLES: [&str; 8] = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"];

/// Generates part `part` (from 1) of `parts` of the table's rows. `nation` and `region` are
/// generated whole in part 1 and empty in the others.
pub fn generate(table: &str, scale: f64, part: usize, parts: usize) -> Batches {
    let (p, n) = (part as i32, parts as i32);
    match table {
        "region" if part == 1 => Box::new(RegionArrow::new(RegionGenerator::default())),
        "nation" if part == 1 => Box::new(NationArrow::new(NationGenerator::default())),
        "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(scale, p, n))),
        "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(scale, p, n))),
        "part" => Box::new(PartArrow::new(PartGenerator::new(scale, p, n))),
        "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(scale, p, n))),
        "orders" => Box::new(OrderArrow::new(OrderGenerator::new(scale, p, n))),
        "lineitem" => Box::new(LineItemArrow::new(LineItemGenerator::new(scale, p, n))),
        _ => Box::new(std::iter::empty()),
    }
}
