//! The demo warehouse: a retail star schema, generated deterministically for a given scale.
//!
//! `fact_sales` (about a million rows per unit of scale, sorted by date) references `dim_date`
//! (2021 to 2024), `dim_product` (1,000 products with skewed popularity), `dim_store` (50 stores of
//! different sizes) and `dim_customer` (20,000 customers per unit of scale). Sales are seasonal
//! (a December peak, busier weekends, growth year on year), so that plans and timings over the
//! demo mean something. The data is written as Parquet under `<root>/data/<table>/` and declared
//! with the same SQL a user would type: keys, roles, sort order and comments.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::Engine;
use crate::error::EngineError;

/// The demo's tables, dimensions first.
pub const TABLES: [&str; 5] = ["dim_date", "dim_product", "dim_store", "dim_customer", "fact_sales"];

const FACT_ROWS_PER_SCALE: f64 = 1_000_000.0;
const CUSTOMERS_PER_SCALE: f64 = 20_000.0;
const PRODUCTS: usize = 1_000;
const FACT_ROWS_PER_FILE: usize = 250_000;
const ROW_GROUP_ROWS: usize = 128 * 1024;
const FIRST_YEAR: i32 = 2021;
const LAST_YEAR: i32 = 2024;

/// What creating the demo did.
#[derive(Debug)]
pub struct DemoSummary {
    /// Rows per table, in [`TABLES`] order.
    pub rows: Vec<(&'static str, usize)>,
    pub elapsed: Duration,
}

/// (Re)creates the demo star schema in the engine's warehouse at `scale`.
pub async fn create(engine: &Arc<Engine>, scale: f64) -> Result<DemoSummary, EngineError> {
    if !(scale.is_finite() && scale > 0.0 && scale <= 1000.0) {
        return Err(EngineError::InvalidScale { scale });
    }
    let started = Instant::now();
    let session = engine.session();
    session.sql(&format!("DROP TABLE IF EXISTS {}", TABLES.join(", "))).await?;

    let root = engine.warehouse().root().clone();
    let store = Arc::clone(root.store());
    for table in TABLES {
        let prefix = root.path(&format!("data/{table}"));
        let old: Vec<_> =
            store.list(Some(&prefix)).map_ok(|meta| meta.location).try_collect().await.map_err(to_engine)?;
        for path in old {
            store.delete(&path).await.map_err(to_engine)?;
        }
    }

    let files = tokio::task::spawn_blocking(move || generate(scale))
        .await
        .map_err(|e| EngineError::DataFusion(datafusion::error::DataFusionError::External(Box::new(e))))??;
    let mut rows = Vec::new();
    for (table, table_files, row_count) in files {
        for (i, bytes) in table_files.into_iter().enumerate() {
            let path = root.path(&format!("data/{table}/part-{i:05}.parquet"));
            store.put(&path, PutPayload::from(bytes)).await.map_err(to_engine)?;
        }
        rows.push((table, row_count));
    }

    let location = |table: &str| root.resolve(&format!("data/{table}/")).replace('\'', "''");
    session.sql(&declarations(location)).await?;
    Ok(DemoSummary { rows, elapsed: started.elapsed() })
}

fn to_engine(error: object_store::Error) -> EngineError {
    EngineError::DataFusion(error.into())
}

/// The SQL that declares the demo tables, given each table's location.
fn declarations(location: impl Fn(&str) -> String) -> String {
    format!(
        r#"
CREATE EXTERNAL TABLE dim_date (PRIMARY KEY (date_key))
  STORED AS PARQUET WITH ORDER (date_key) LOCATION '{dim_date}';
CREATE EXTERNAL TABLE dim_product (PRIMARY KEY (product_key))
  STORED AS PARQUET WITH ORDER (product_key) LOCATION '{dim_product}';
CREATE EXTERNAL TABLE dim_store (PRIMARY KEY (store_key))
  STORED AS PARQUET WITH ORDER (store_key) LOCATION '{dim_store}';
CREATE EXTERNAL TABLE dim_customer (PRIMARY KEY (customer_key))
  STORED AS PARQUET WITH ORDER (customer_key) LOCATION '{dim_customer}';
CREATE EXTERNAL TABLE fact_sales (
  PRIMARY KEY (sale_id),
  FOREIGN KEY (date_key) REFERENCES dim_date (date_key),
  FOREIGN KEY (product_key) REFERENCES dim_product (product_key),
  FOREIGN KEY (store_key) REFERENCES dim_store (store_key),
  FOREIGN KEY (customer_key) REFERENCES dim_customer (customer_key)
) STORED AS PARQUET WITH ORDER (date_key) LOCATION '{fact_sales}';
ALTER TABLE fact_sales SET ROLE FACT;
ALTER TABLE dim_date SET ROLE DIMENSION;
ALTER TABLE dim_product SET ROLE DIMENSION;
ALTER TABLE dim_store SET ROLE DIMENSION;
ALTER TABLE dim_customer SET ROLE DIMENSION;
COMMENT ON TABLE fact_sales IS 'One row per sale: what was sold, when, where and to whom';
COMMENT ON COLUMN fact_sales.sale_amount IS 'Amount paid, after discount';
COMMENT ON COLUMN fact_sales.sale_quantity IS 'Units sold';
COMMENT ON TABLE dim_date IS 'Calendar days from {FIRST_YEAR} to {LAST_YEAR}';
COMMENT ON COLUMN dim_date.date_key IS 'The day as a number, yyyymmdd';
COMMENT ON TABLE dim_product IS 'Products, with category, brand and list price';
COMMENT ON TABLE dim_store IS 'Stores, with their city, region and country';
COMMENT ON TABLE dim_customer IS 'Customers, with their home city and market segment';
"#,
        dim_date = location("dim_date"),
        dim_product = location("dim_product"),
        dim_store = location("dim_store"),
        dim_customer = location("dim_customer"),
        fact_sales = location("fact_sales"),
    )
}

/// SplitMix64: small, fast and deterministic, which is all the demo needs.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Draws indexes with probability proportional to their weights.
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Self(cumulative.into_iter().map(|c| c / total).collect())
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|c| *c <= u).min(self.0.len() - 1)
    }
}

const CITIES: [(&str, &str, &str); 16] = [
    ("Seattle", "West", "United States"),
    ("Portland", "West", "United States"),
    ("San Francisco", "West", "United States"),
    ("Los Angeles", "West", "United States"),
    ("Denver", "Mountain", "United States"),
    ("Chicago", "Midwest", "United States"),
    ("Minneapolis", "Midwest", "United States"),
    ("New York", "Northeast", "United States"),
    ("Boston", "Northeast", "United States"),
    ("Atlanta", "South", "United States"),
    ("Miami", "South", "United States"),
    ("Dallas", "South", "United States"),
    ("Toronto", "Ontario", "Canada"),
    ("Montreal", "Quebec", "Canada"),
    ("Vancouver", "British Columbia", "Canada"),
    ("Mexico City", "Centro", "Mexico"),
];

const CATEGORIES: [(&str, f64, f64); 8] = [
    // (category, lowest price, highest price)
    ("Electronics", 19.99, 999.99),
    ("Home", 4.99, 299.99),
    ("Garden", 2.99, 199.99),
    ("Toys", 3.99, 99.99),
    ("Sports", 9.99, 399.99),
    ("Books", 4.99, 49.99),
    ("Clothing", 7.99, 149.99),
    ("Grocery", 0.99, 24.99),
];

fn schema(fields: Vec<(&str, DataType)>) -> SchemaRef {
    Arc::new(Schema::new(
        fields.into_iter().map(|(name, data_type)| Field::new(name, data_type, false)).collect::<Vec<_>>(),
    ))
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn ints(values: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(values))
}

fn money(cents: Vec<i128>) -> Result<ArrayRef, EngineError> {
    Ok(Arc::new(Decimal128Array::from(cents).with_precision_and_scale(10, 2)?))
}

fn parquet_file(batch: &RecordBatch) -> Result<Vec<u8>, EngineError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(bytes)
}

type TableFiles = (&'static str, Vec<Vec<u8>>, usize);

/// Generates every table as Parquet file contents. CPU-bound: run it off the async threads.
fn generate(scale: f64) -> Result<Vec<TableFiles>, EngineError> {
    let mut rng = Rng(0x5EED_0F57_A200_0000);
    let dates = date_dimension()?;
    let (products, prices) = product_dimension(&mut rng)?;
    let stores = store_dimension(&mut rng)?;
    let customer_count = ((CUSTOMERS_PER_SCALE * scale).round() as usize).max(100);
    let customers = customer_dimension(&mut rng, customer_count)?;
    let fact_rows = ((FACT_ROWS_PER_SCALE * scale).round() as usize).max(1);
    let facts = fact_sales(&mut rng, fact_rows, &dates, &prices, stores.num_rows(), customer_count)?;

    let one_file = |name: &'static str, batch: &RecordBatch| -> Result<TableFiles, EngineError> {
        Ok((name, vec![parquet_file(batch)?], batch.num_rows()))
    };
    let mut fact_files = Vec::new();
    let mut offset = 0;
    while offset < facts.num_rows() {
        let length = FACT_ROWS_PER_FILE.min(facts.num_rows() - offset);
        fact_files.push(parquet_file(&facts.slice(offset, length))?);
        offset += length;
    }
    Ok(vec![
        one_file("dim_date", &dates)?,
        one_file("dim_product", &products)?,
        one_file("dim_store", &stores)?,
        one_file("dim_customer", &customers)?,
        ("fact_sales", fact_files, facts.num_rows()),
    ])
}

fn date_dimension() -> Result<RecordBatch, EngineError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("a valid date");
    let last = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).expect("a valid date");
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let schema = schema(vec![
        ("date_key", DataType::Int32),
        ("date_value", DataType::Date32),
        ("day_of_week", DataType::Utf8),
        ("month_name", DataType::Utf8),
        ("month_of_year", DataType::Int32),
        ("quarter_of_year", DataType::Int32),
        ("year", DataType::Int32),
        ("is_weekend", DataType::Boolean),
    ]);
    let columns: Vec<ArrayRef> = vec![
        ints(days.iter().map(date_key).collect()),
        Arc::new(Date32Array::from(days.iter().map(|d| (*d - epoch).num_days() as i32).collect::<Vec<_>>())),
        strings(days.iter().map(|d| d.format("%A").to_string()).collect()),
        strings(days.iter().map(|d| d.format("%B").to_string()).collect()),
        ints(days.iter().map(|d| d.month() as i32).collect()),
        ints(days.iter().map(|d| d.month0() as i32 / 3 + 1).collect()),
        ints(days.iter().map(|d| d.year()).collect()),
        Arc::new(BooleanArray::from(days.iter().map(|d| d.weekday().number_from_monday() >= 6).collect::<Vec<_>>())),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn date_key(day: &NaiveDate) -> i32 {
    day.year() * 10_000 + day.month() as i32 * 100 + day.day() as i32
}

/// The product dimension, and each product's price in cents.
fn product_dimension(rng: &mut Rng) -> Result<(RecordBatch, Vec<i128>), EngineError> {
    const ADJECTIVES: [&str; 12] = [
        "Classic",
        "Deluxe",
        "Compact",
        "Premium",
        "Eco",
        "Smart",
        "Rugged",
        "Essential",
        "Ultra",
        "Vintage",
        "Pro",
        "Mini",
    ];
    const NOUNS: [&str; 12] = [
        "Lamp", "Kettle", "Backpack", "Speaker", "Chair", "Blender", "Jacket", "Racket", "Puzzle", "Novel", "Planter",
        "Coffee",
    ];
    let mut names = Vec::with_capacity(PRODUCTS);
    let mut categories = Vec::with_capacity(PRODUCTS);
    let mut brands = Vec::with_capacity(PRODUCTS);
    let mut prices = Vec::with_capacity(PRODUCTS);
    for key in 1..=PRODUCTS {
        let (category, low, high) = CATEGORIES[rng.below(CATEGORIES.len())];
        // Prices spread evenly on a log scale between the category's bounds.
        let price = low * (high / low).powf(rng.unit());
        names.push(format!("{} {} {key}", rng.pick(&ADJECTIVES), rng.pick(&NOUNS)));
        categories.push(category.to_string());
        brands.push(format!("Brand#{:02}", 1 + rng.below(40)));
        prices.push((price * 100.0).round() as i128);
    }
    let schema = schema(vec![
        ("product_key", DataType::Int32),
        ("product_name", DataType::Utf8),
        ("category", DataType::Utf8),
        ("brand", DataType::Utf8),
        ("unit_price", DataType::Decimal128(10, 2)),
    ]);
    let columns = vec![
        ints((1..=PRODUCTS as i32).collect()),
        strings(names),
        strings(categories),
        strings(brands),
        money(prices.clone())?,
    ];
    Ok((RecordBatch::try_new(schema, columns)?, prices))
}

fn store_dimension(rng: &mut Rng) -> Result<RecordBatch, EngineError> {
    const STORES: usize = 50;
    const TYPES: [&str; 4] = ["Flagship", "Mall", "Outlet", "Neighborhood"];
    let mut names = Vec::new();
    let mut cities = Vec::new();
    let mut regions = Vec::new();
    let mut countries = Vec::new();
    let mut types = Vec::new();
    for key in 1..=STORES {
        let (city, region, country) = CITIES[(key - 1) % CITIES.len()];
        names.push(format!("{city} #{}", (key - 1) / CITIES.len() + 1));
        cities.push(city.to_string());
        regions.push(region.to_string());
        countries.push(country.to_string());
        types.push(rng.pick(&TYPES).to_string());
    }
    let schema = schema(vec![
        ("store_key", DataType::Int32),
        ("store_name", DataType::Utf8),
        ("store_type", DataType::Utf8),
        ("city", DataType::Utf8),
        ("region", DataType::Utf8),
        ("country", DataType::Utf8),
    ]);
    let columns = vec![
        ints((1..=STORES as i32).collect()),
        strings(names),
        strings(types),
        strings(cities),
        strings(regions),
        strings(countries),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn customer_dimension(rng: &mut Rng, count: usize) -> Result<RecordBatch, EngineError> {
    const FIRST: [&str; 16] = [
        "Ada", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Kira", "Liam", "Maya",
        "Noah", "Olga", "Priya",
    ];
    const LAST: [&str; 16] = [
        "Smith", "Garcia", "Chen", "Müller", "Okafor", "Rossi", "Tanaka", "Novak", "Silva", "Kowalski", "Dubois",
        "Haddad", "Larsen", "Nguyen", "Patel", "Brown",
    ];
    const SEGMENTS: [&str; 4] = ["Consumer", "Corporate", "Home Office", "Small Business"];
    let mut names = Vec::with_capacity(count);
    let mut cities = Vec::with_capacity(count);
    let mut countries = Vec::with_capacity(count);
    let mut segments = Vec::with_capacity(count);
    let mut birth_years = Vec::with_capacity(count);
    for _ in 0..count {
        let (city, _, country) = CITIES[rng.below(CITIES.len())];
        names.push(format!("{} {}", rng.pick(&FIRST), rng.pick(&LAST)));
        cities.push(city.to_string());
        countries.push(country.to_string());
        segments.push(rng.pick(&SEGMENTS).to_string());
        birth_years.push(1940 + rng.below(66) as i32);
    }
    let schema = schema(vec![
        ("customer_key", DataType::Int32),
        ("customer_name", DataType::Utf8),
        ("city", DataType::Utf8),
        ("country", DataType::Utf8),
        ("segment", DataType::Utf8),
        ("birth_year", DataType::Int32),
    ]);
    let columns = vec![
        ints((1..=count as i32).collect()),
        strings(names),
        strings(cities),
        strings(countries),
        strings(segments),
        ints(birth_years),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn fact_sales(
    rng: &mut Rng,
    rows: usize,
    dates: &RecordBatch,
    prices: &[i128],
    stores: usize,
    customers: usize,
) -> Result<RecordBatch, EngineError> {
    const MONTH_WEIGHT: [f64; 12] = [0.8, 0.75, 0.9, 0.95, 1.0, 1.0, 1.05, 1.05, 0.95, 1.0, 1.3, 1.8];
    let keys = dates.column(0).as_any().downcast_ref::<Int32Array>().expect("date_key is the first column, Int32");
    let day_weights: Vec<f64> = keys
        .values()
        .iter()
        .map(|key| {
            let (year, month, day) = (key / 10_000, (key / 100) % 100, key % 100);
            let date = NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("date keys are valid dates");
            let weekend = if date.weekday().number_from_monday() >= 6 { 1.3 } else { 1.0 };
            let growth = 1.0 + 0.12 * f64::from(year - FIRST_YEAR);
            MONTH_WEIGHT[month as usize - 1] * weekend * growth
        })
        .collect();
    let total: f64 = day_weights.iter().sum();
    // Popularity follows a Zipf law: a few best sellers, a long tail.
    let products = Weighted::new((1..=prices.len()).map(|rank| 1.0 / (rank as f64).powf(1.1)));
    let stores = Weighted::new((0..stores).map(|i| 0.5 + ((i * 7919) % 13) as f64 / 4.0));

    let mut sale_ids = Vec::with_capacity(rows);
    let mut date_keys = Vec::with_capacity(rows);
    let mut product_keys = Vec::with_capacity(rows);
    let mut store_keys = Vec::with_capacity(rows);
    let mut customer_keys = Vec::with_capacity(rows);
    let mut amounts = Vec::with_capacity(rows);
    let mut quantities = Vec::with_capacity(rows);
    let mut cumulative = 0.0;
    let mut emitted = 0usize;
    for (key, weight) in keys.values().iter().zip(&day_weights) {
        cumulative += weight;
        let until = ((cumulative / total) * rows as f64).round() as usize;
        while emitted < until.min(rows) {
            emitted += 1;
            let product = products.draw(rng);
            let mut quantity = 1;
            while quantity < 10 && rng.unit() < 0.45 {
                quantity += 1;
            }
            let discount_percent = match rng.unit() {
                u if u < 0.7 => 0,
                u if u < 0.9 => 10,
                _ => 25,
            };
            let cents = prices[product] * i128::from(quantity) * (100 - discount_percent) / 100;
            sale_ids.push(emitted as i64);
            date_keys.push(*key);
            product_keys.push(product as i32 + 1);
            store_keys.push(stores.draw(rng) as i32 + 1);
            customer_keys.push((rng.unit().powf(1.5) * customers as f64) as i32 + 1);
            amounts.push(cents);
            quantities.push(quantity);
        }
    }
    let schema = schema(vec![
        ("sale_id", DataType::Int64),
        ("date_key", DataType::Int32),
        ("product_key", DataType::Int32),
        ("store_key", DataType::Int32),
        ("customer_key", DataType::Int32),
        ("sale_amount", DataType::Decimal128(10, 2)),
        ("sale_quantity", DataType::Int32),
    ]);
    let columns = vec![
        Arc::new(Int64Array::from(sale_ids)) as ArrayRef,
        ints(date_keys),
        ints(product_keys),
        ints(store_keys),
        ints(customer_keys),
        money(amounts)?,
        ints(quantities),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_deterministic_and_has_the_rows_asked_for() {
        let first = generate(0.01).expect("generates");
        let second = generate(0.01).expect("generates again");
        let rows: Vec<_> = first.iter().map(|(name, _, rows)| (*name, *rows)).collect();
        assert_eq!(
            rows,
            [
                ("dim_date", 1461),
                ("dim_product", 1000),
                ("dim_store", 50),
                ("dim_customer", 200),
                ("fact_sales", 10_000)
            ]
        );
        assert_eq!(first, second, "the same scale gives the same bytes");
    }

    #[test]
    fn weighted_draws_follow_their_weights() {
        let weighted = Weighted::new([1.0, 3.0]);
        let mut rng = Rng(7);
        let ones = (0..10_000).filter(|_| weighted.draw(&mut rng) == 1).count();
        assert!((7_000..8_000).contains(&ones), "about three quarters: {ones}");
    }
}
