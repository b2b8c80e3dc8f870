//! The Star Schema Benchmark's data (O'Neil, O'Neil and Chen, *Star Schema Benchmark*, revision
//! 3): `lineorder` and its four dimensions `customer`, `supplier`, `part` and `dwdate`, derived
//! from TPC-H's generator as the specification derives them from `dbgen`. Deterministic for a
//! given scale factor, whatever the number of parts it is generated in.
//!
//! - `lineorder` is TPC-H's `lineitem` with its order's customer, date, priority and total; SF ×
//!   about 6,000,000 rows. Prices are in cents, discount and tax in percent, `lo_revenue` is the
//!   discounted price and `lo_supplycost` 60% of the part's unit price, as the specification says.
//! - `customer` (SF × 30,000), `supplier` (SF × 2,000) and `part` (200,000 × ⌊1 + log2 SF⌋) take
//!   the first rows of TPC-H's; keys of `lineorder` are folded into their ranges. Cities are the
//!   nation's first 9 letters and a digit; a part's category is `MFGR#mc` from TPC-H's brand and
//!   its brand one of 40 in the category (`MFGR#mcbb`).
//! - `dwdate` has one row per day of 1992 to 1998.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use datafusion::arrow::error::ArrowError;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, RegionGenerator,
    SupplierGenerator,
};

use crate::Batches;

/// Rows per generated batch.
const BATCH_ROWS: usize = 8192;

/// The tables, dimensions first.
pub const TABLES: [&str; 5] = ["dwdate", "customer", "supplier", "part", "lineorder"];

/// Customers at scale factor `scale`.
fn customers(scale: f64) -> usize {
    ((30_000.0 * scale) as usize).max(1)
}

/// Suppliers at scale factor `scale`.
fn suppliers(scale: f64) -> usize {
    ((2_000.0 * scale) as usize).max(1)
}

/// Parts at scale factor `scale`: 200,000 × ⌊1 + log2 SF⌋ (200,000 × SF below scale 1, which the
/// specification does not define).
fn part_count(scale: f64) -> usize {
    let parts = if scale < 1.0 { 200_000.0 * scale } else { 200_000.0 * (1.0 + scale.log2()).floor() };
    (parts as usize).max(1)
}

/// A value from 0 to `n - 1` that depends only on `key` and `salt` (splitmix64).
fn pick(key: i64, salt: u64, n: u64) -> u64 {
    let mut z = (key as u64).wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n
}

/// `key` (from 1) folded into `1..=n`.
fn fold(key: i64, n: usize) -> i32 {
    ((key - 1) % n as i64 + 1) as i32
}

/// TPC-H's nations: (name, region name), by nation key.
fn nations() -> Vec<(String, String)> {
    let regions: Vec<String> = RegionGenerator::default().iter().map(|r| r.r_name.to_string()).collect();
    NationGenerator::default()
        .iter()
        .map(|n| (n.n_name.to_string(), regions.get(n.n_regionkey as usize).cloned().unwrap_or_default()))
        .collect()
}

/// A city of the nation: its first 9 letters (padded) and a digit.
fn city(nation: &str, key: i64, salt: u64) -> String {
    format!("{:<9.9}{}", nation, pick(key, salt, 10))
}

/// Generates part `part` (from 1) of `parts` of the table's rows. The dimensions are generated
/// whole in part 1 and empty in the others.
pub fn generate(table: &str, scale: f64, part: usize, parts: usize) -> Batches {
    let whole = part == 1;
    match table {
        "lineorder" => Box::new(lineorder(scale, part, parts)),
        "dwdate" if whole => Box::new(std::iter::once(dwdate())),
        "customer" if whole => Box::new(customer(scale)),
        "supplier" if whole => Box::new(supplier(scale)),
        "part" if whole => Box::new(part_table(scale)),
        _ => Box::new(std::iter::empty()),
    }
}

/// A batch of named columns.
fn batch(columns: Vec<(impl AsRef<str>, ArrayRef)>) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(name, array)| (name, array, false)))
}

/// A customer or supplier as SSB keeps it: TPC-H's row, whose nation and region are named and
/// which gets a city.
struct Party {
    key: i64,
    name: String,
    address: String,
    nation_key: i64,
    phone: String,
    /// Customers' market segment.
    segment: Option<&'static str>,
}

/// Batches of customers (`c_`, with their market segment) or suppliers (`s_`); `salt` picks the
/// cities.
fn parties(
    prefix: &'static str,
    key_column: &'static str,
    salt: u64,
    rows: impl Iterator<Item = Party>,
) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> {
    let nations = nations();
    let mut rows = rows.peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        let mut keys = Int32Builder::new();
        let mut texts: [StringBuilder; 6] = std::array::from_fn(|_| StringBuilder::new());
        let mut segments: Option<StringBuilder> = None;
        for party in rows.by_ref().take(BATCH_ROWS) {
            let (nation, region) = &nations[party.nation_key as usize];
            keys.append_value(party.key as i32);
            let values =
                [party.name, party.address, city(nation, party.key, salt), nation.clone(), region.clone(), party.phone];
            for (builder, value) in texts.iter_mut().zip(values) {
                builder.append_value(value);
            }
            if let Some(segment) = party.segment {
                segments.get_or_insert_with(StringBuilder::new).append_value(segment);
            }
        }
        let mut columns: Vec<(String, ArrayRef)> = vec![(format!("{prefix}{key_column}"), Arc::new(keys.finish()))];
        let names = ["name", "address", "city", "nation", "region", "phone"];
        columns.extend(
            names.into_iter().zip(&mut texts).map(|(n, b)| (format!("{prefix}{n}"), Arc::new(b.finish()) as ArrayRef)),
        );
        if let Some(mut segments) = segments {
            columns.push((format!("{prefix}mktsegment"), Arc::new(segments.finish())));
        }
        Some(batch(columns))
    })
}

fn customer(scale: f64) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> {
    let rows = CustomerGenerator::new(scale, 1, 1).iter().take(customers(scale)).map(|c| Party {
        key: c.c_custkey,
        name: c.c_name.to_string(),
        address: c.c_address.to_string(),
        nation_key: c.c_nationkey,
        phone: c.c_phone.to_string(),
        segment: Some(c.c_mktsegment),
    });
    parties("c_", "custkey", 1, rows)
}

fn supplier(scale: f64) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> {
    let rows = SupplierGenerator::new(scale, 1, 1).iter().take(suppliers(scale)).map(|s| Party {
        key: s.s_suppkey,
        name: s.s_name.to_string(),
        address: s.s_address.to_string(),
        nation_key: s.s_nationkey,
        phone: s.s_phone.to_string(),
        segment: None,
    });
    parties("s_", "suppkey", 2, rows)
}

/// The digits at the end of a TPC-H name (`Manufacturer#3` → `3`, `Brand#34` → `34`).
fn digits(name: impl ToString) -> String {
    let name = name.to_string();
    name.rsplit('#').next().unwrap_or_default().to_string()
}

fn part_table(scale: f64) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> {
    let mut rows = PartGenerator::new(scale, 1, 1).iter().take(part_count(scale)).peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        let (mut key, mut name, mut mfgr, mut category, mut brand, mut color, mut kind, mut size, mut container) = (
            Int32Builder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            Int32Builder::new(),
            StringBuilder::new(),
        );
        for p in rows.by_ref().take(BATCH_ROWS) {
            let full_name = p.p_name.to_string();
            let words: Vec<&str> = full_name.split_whitespace().collect();
            // TPC-H's brand is the manufacturer's digit and one more: SSB's category.
            let category_digits = digits(p.p_brand);
            key.append_value(p.p_partkey as i32);
            name.append_value(words.iter().take(2).copied().collect::<Vec<_>>().join(" "));
            mfgr.append_value(format!("MFGR#{}", digits(p.p_mfgr)));
            category.append_value(format!("MFGR#{category_digits}"));
            brand.append_value(format!("MFGR#{category_digits}{:02}", pick(p.p_partkey, 3, 40) + 1));
            color.append_value(words.first().copied().unwrap_or_default());
            kind.append_value(p.p_type);
            size.append_value(p.p_size);
            container.append_value(p.p_container);
        }
        Some(batch(vec![
            ("p_partkey", Arc::new(key.finish())),
            ("p_name", Arc::new(name.finish())),
            ("p_mfgr", Arc::new(mfgr.finish())),
            ("p_category", Arc::new(category.finish())),
            ("p_brand1", Arc::new(brand.finish())),
            ("p_color", Arc::new(color.finish())),
            ("p_type", Arc::new(kind.finish())),
            ("p_size", Arc::new(size.finish())),
            ("p_container", Arc::new(container.finish())),
        ]))
    })
}

/// A date as `yyyymmdd`, the date dimension's key.
fn date_key(date: NaiveDate) -> i32 {
    date.year() * 10_000 + date.month() as i32 * 100 + date.day() as i32
}

/// A TPC-H date (days since 1970-01-01) as the date dimension's key.
fn tpch_date_key(days_since_epoch: i32) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    date_key(epoch + chrono::Duration::days(i64::from(days_since_epoch)))
}

/// The selling season of a day of the year (month, day).
fn season(month: u32, day: u32) -> &'static str {
    match (month, day) {
        (12, _) | (11, 24..) => "Christmas",
        (6..=8, _) => "Summer",
        (1 | 2, _) => "Winter",
        (3..=5, _) => "Spring",
        _ => "Fall",
    }
}

fn dwdate() -> Result<RecordBatch, ArrowError> {
    let first = NaiveDate::from_ymd_opt(1992, 1, 1).unwrap_or_default();
    let last = NaiveDate::from_ymd_opt(1998, 12, 31).unwrap_or_default();
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let ints = |f: &dyn Fn(&NaiveDate) -> i32| -> ArrayRef {
        let mut b = Int32Builder::new();
        days.iter().for_each(|d| b.append_value(f(d)));
        Arc::new(b.finish())
    };
    let texts = |f: &dyn Fn(&NaiveDate) -> String| -> ArrayRef {
        let mut b = StringBuilder::new();
        days.iter().for_each(|d| b.append_value(f(d)));
        Arc::new(b.finish())
    };
    let last_of_month = |d: &NaiveDate| d.succ_opt().is_none_or(|next| next.month() != d.month());
    let holiday = |d: &NaiveDate| matches!((d.month(), d.day()), (1, 1) | (7, 4) | (12, 24..=25) | (12, 31));
    batch(vec![
        ("d_datekey", ints(&|d| date_key(*d))),
        ("d_date", texts(&|d| d.format("%B %-d, %Y").to_string())),
        ("d_dayofweek", texts(&|d| d.format("%A").to_string())),
        ("d_month", texts(&|d| d.format("%B").to_string())),
        ("d_year", ints(&|d| d.year())),
        ("d_yearmonthnum", ints(&|d| d.year() * 100 + d.month() as i32)),
        ("d_yearmonth", texts(&|d| d.format("%b%Y").to_string())),
        ("d_daynuminweek", ints(&|d| d.weekday().number_from_sunday() as i32)),
        ("d_daynuminmonth", ints(&|d| d.day() as i32)),
        ("d_daynuminyear", ints(&|d| d.ordinal() as i32)),
        ("d_monthnuminyear", ints(&|d| d.month() as i32)),
        ("d_weeknuminyear", ints(&|d| d.ordinal0() as i32 / 7 + 1)),
        ("d_sellingseason", texts(&|d| season(d.month(), d.day()).to_string())),
        ("d_lastdayinweekfl", ints(&|d| i32::from(d.weekday() == chrono::Weekday::Sat))),
        ("d_lastdayinmonthfl", ints(&|d| i32::from(last_of_month(d)))),
        ("d_holidayfl", ints(&|d| i32::from(holiday(d)))),
        ("d_weekdayfl", ints(&|d| i32::from(d.weekday().number_from_monday() <= 5))),
    ])
}

/// `lineorder`: TPC-H's line items, each with its order's columns.
fn lineorder(scale: f64, part: usize, parts: usize) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> {
    let (customers, suppliers, part_count) = (customers(scale), suppliers(scale), part_count(scale));
    let (part, parts) = (part as i32, parts as i32);
    let mut orders = OrderGenerator::new(scale, part, parts).iter();
    let mut items = LineItemGenerator::new(scale, part, parts).iter().peekable();
    let mut order = orders.next();
    std::iter::from_fn(move || {
        items.peek()?;
        let mut columns: [Int32Builder; 14] = std::array::from_fn(|_| Int32Builder::with_capacity(BATCH_ROWS));
        let mut order_key = Int64Builder::with_capacity(BATCH_ROWS);
        let (mut priority, mut ship_mode) = (StringBuilder::new(), StringBuilder::new());
        for item in items.by_ref().take(BATCH_ROWS) {
            while order.as_ref().is_some_and(|o| o.o_orderkey < item.l_orderkey) {
                order = orders.next();
            }
            let Some(o) = order.as_ref().filter(|o| o.o_orderkey == item.l_orderkey) else {
                return Some(Err(ArrowError::InvalidArgumentError(format!(
                    "line item of order {} has no order",
                    item.l_orderkey
                ))));
            };
            let price = item.l_extendedprice.0;
            let discount = item.l_discount.0;
            let unit_price = price / item.l_quantity.max(1);
            let values = [
                item.l_linenumber,
                fold(o.o_custkey, customers),
                fold(item.l_partkey, part_count),
                fold(item.l_suppkey, suppliers),
                tpch_date_key(o.o_orderdate.to_unix_epoch()),
                o.o_shippriority,
                item.l_quantity as i32,
                price as i32,
                o.o_totalprice.0 as i32,
                discount as i32,
                (price * (100 - discount) / 100) as i32,
                (unit_price * 6 / 10) as i32,
                item.l_tax.0 as i32,
                tpch_date_key(item.l_commitdate.to_unix_epoch()),
            ];
            for (builder, value) in columns.iter_mut().zip(values) {
                builder.append_value(value);
            }
            order_key.append_value(item.l_orderkey);
            priority.append_value(o.o_orderpriority);
            ship_mode.append_value(item.l_shipmode);
        }
        let names = [
            "lo_linenumber",
            "lo_custkey",
            "lo_partkey",
            "lo_suppkey",
            "lo_orderdate",
            "lo_shippriority",
            "lo_quantity",
            "lo_extendedprice",
            "lo_ordtotalprice",
            "lo_discount",
            "lo_revenue",
            "lo_supplycost",
            "lo_tax",
            "lo_commitdate",
        ];
        let mut ints = names.into_iter().zip(columns.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        // The specification's column order: the key, five integers, the priority, the other
        // integers, the ship mode.
        let mut all: Vec<(&str, ArrayRef)> = vec![("lo_orderkey", Arc::new(order_key.finish()))];
        all.extend(ints.by_ref().take(5));
        all.push(("lo_orderpriority", Arc::new(priority.finish())));
        all.extend(ints);
        all.push(("lo_shipmode", Arc::new(ship_mode.finish())));
        Some(batch(all))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_sizes_follow_the_specification() {
        assert_eq!((customers(10.0), suppliers(10.0), part_count(10.0)), (300_000, 20_000, 800_000));
        assert_eq!(part_count(1.0), 200_000);
        assert_eq!(part_count(0.01), 2_000);
    }

    #[test]
    fn cities_are_nine_letters_and_a_digit() {
        let city = city("UNITED KINGDOM", 7, 1);
        assert_eq!(&city[..9], "UNITED KI");
        assert!(city[9..].parse::<u8>().is_ok_and(|d| d < 10), "{city}");
        assert_eq!(super::city("PERU", 7, 1).len(), 10);
    }

    #[test]
    fn date_keys_and_seasons() {
        assert_eq!(tpch_date_key(8035), 19920101);
        assert_eq!(season(11, 24), "Christmas");
        assert_eq!(season(11, 23), "Fall");
    }
}
