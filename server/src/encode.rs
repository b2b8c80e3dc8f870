//! Arrow to PostgreSQL: the type a column has on the wire, and its values in PostgreSQL's text
//! format (byte for byte what PostgreSQL would send for the same values, under the session's
//! `DateStyle = ISO`, `TimeZone` and `extra_float_digits`) or binary format.
//!
//! Start at [`pg_type`] (Arrow type to PostgreSQL type) and [`RowEncoder`] (record batches to
//! `DataRow`s). Dictionary and run-end encoded columns are decoded per batch first.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type, Decimal256Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType, Field, Float16Type,
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, IntervalDayTimeType, IntervalMonthDayNanoType,
    IntervalUnit, IntervalYearMonthType, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::results::FieldFormat;
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's).
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * MICROS_PER_DAY;
const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// The PostgreSQL type of an Arrow type, with its type modifier (`-1` for none).
pub(crate) fn pg_type(data_type: &DataType) -> (Type, i32) {
    let plain = |t: Type| (t, -1);
    match data_type {
        DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => plain(Type::TEXT),
        DataType::Boolean => plain(Type::BOOL),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => plain(Type::INT2),
        DataType::Int32 | DataType::UInt16 => plain(Type::INT4),
        DataType::Int64 | DataType::UInt32 => plain(Type::INT8),
        DataType::UInt64 => plain(Type::NUMERIC),
        DataType::Float16 | DataType::Float32 => plain(Type::FLOAT4),
        DataType::Float64 => plain(Type::FLOAT8),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => (Type::NUMERIC, numeric_typmod(*p, *s)),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => (Type::NUMERIC, numeric_typmod(*p, *s)),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            plain(Type::BYTEA)
        }
        DataType::Date32 | DataType::Date64 => plain(Type::DATE),
        DataType::Time32(_) | DataType::Time64(_) => plain(Type::TIME),
        DataType::Timestamp(_, None) => plain(Type::TIMESTAMP),
        DataType::Timestamp(_, Some(_)) => plain(Type::TIMESTAMPTZ),
        DataType::Interval(_) | DataType::Duration(_) => plain(Type::INTERVAL),
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _) => plain(array_type(&pg_type(field.data_type()).0)),
        DataType::Struct(_) => plain(Type::RECORD),
        DataType::Map(_, _) | DataType::Union(_, _) => plain(Type::TEXT),
        DataType::Dictionary(_, value) => pg_type(value),
        DataType::RunEndEncoded(_, value) => pg_type(value.data_type()),
    }
}

/// The SQL name of a PostgreSQL type, as `pg_typeof` and `information_schema.columns` show it.
pub(crate) fn sql_name(pg: &Type) -> &'static str {
    match *pg {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::TEXT => "text",
        Type::BYTEA => "bytea",
        Type::DATE => "date",
        Type::TIME => "time without time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::INTERVAL => "interval",
        Type::RECORD => "record",
        _ => "ARRAY",
    }
}

/// `numeric(p, s)` as PostgreSQL packs it into a type modifier.
fn numeric_typmod(precision: u8, scale: i8) -> i32 {
    ((i32::from(precision) << 16) | (i32::from(scale.max(0)) & 0xffff)) + 4
}

/// The array type whose elements are `element`.
fn array_type(element: &Type) -> Type {
    match *element {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::NUMERIC => Type::NUMERIC_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL => Type::INTERVAL_ARRAY,
        Type::RECORD => Type::RECORD_ARRAY,
        _ => Type::TEXT_ARRAY,
    }
}

/// `pg_type.typlen`: the fixed width of a type, or -1.
fn type_size(pg: &Type) -> i16 {
    match *pg {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL => 16,
        _ => -1,
    }
}

/// The session settings that change how values are written as text.
#[derive(Debug, Clone)]
pub(crate) struct TextOptions {
    /// `extra_float_digits`: above 0, floats are written with the shortest exact digits.
    pub extra_float_digits: i32,
    /// `TimeZone`, for `timestamp with time zone`.
    pub time_zone: Tz,
    pub time_zone_name: String,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            extra_float_digits: 1,
            time_zone: "+00:00".parse().expect("a fixed offset parses"),
            time_zone_name: "UTC".into(),
        }
    }
}

/// A result column as the wire describes it.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub pg_type: Type,
    pub typmod: i32,
    pub format: FieldFormat,
}

/// The columns of a result, each in the format the client asked for (`formats`: none for all
/// text, one for all columns, or one per column).
pub(crate) fn columns(fields: &[Arc<Field>], formats: &[i16]) -> Vec<Column> {
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let (pg_type, typmod) = pg_type(field.data_type());
            let code = match formats {
                [] => 0,
                [one] => *one,
                many => many.get(i).copied().unwrap_or(0),
            };
            Column { name: field.name().clone(), pg_type, typmod, format: FieldFormat::from(code) }
        })
        .collect()
}

pub(crate) fn row_description(columns: &[Column]) -> RowDescription {
    RowDescription::new(
        columns
            .iter()
            .map(|c| {
                FieldDescription::new(
                    c.name.clone(),
                    0,
                    0,
                    c.pg_type.oid(),
                    type_size(&c.pg_type),
                    c.typmod,
                    c.format.value(),
                )
            })
            .collect(),
    )
}

/// Writes record batches as `DataRow` messages.
#[derive(Debug, Clone)]
pub(crate) struct RowEncoder {
    binary: Vec<bool>,
    options: TextOptions,
}

impl RowEncoder {
    pub fn new(columns: &[Column], options: TextOptions) -> Self {
        Self { binary: columns.iter().map(|c| c.format == FieldFormat::Binary).collect(), options }
    }

    /// The batch's rows.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<DataRow>, ArrowError> {
        let columns = plain_columns(batch)?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut data = BytesMut::with_capacity(16 * columns.len());
            for (column, binary) in columns.iter().zip(&self.binary) {
                write_field(column.as_ref(), row, *binary, &self.options, &mut data)?;
            }
            rows.push(DataRow::new(data, columns.len() as i16));
        }
        Ok(rows)
    }
}

/// The batch's columns with dictionary and run-end encodings decoded (once per batch, rather
/// than per value).
pub(crate) fn plain_columns(batch: &RecordBatch) -> Result<Vec<ArrayRef>, ArrowError> {
    batch.columns().iter().map(|column| plain(column)).collect()
}

fn plain(column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match column.data_type() {
        DataType::Dictionary(_, value) => cast(column, value),
        DataType::RunEndEncoded(_, value) => cast(column, value.data_type()),
        _ => Ok(Arc::clone(column)),
    }
}

/// Whether a value is NULL (`Array::is_null` reads the validity buffer, which a `NullArray`
/// does not have).
pub(crate) fn is_null(array: &dyn Array, row: usize) -> bool {
    array.is_null(row) || array.data_type() == &DataType::Null
}

/// One field of a row: its length, then its bytes (or -1 for NULL).
pub(crate) fn write_field(
    array: &dyn Array,
    row: usize,
    binary: bool,
    options: &TextOptions,
    out: &mut BytesMut,
) -> Result<(), ArrowError> {
    if is_null(array, row) {
        out.put_i32(-1);
        return Ok(());
    }
    let at = out.len();
    out.put_i32(0);
    if binary {
        write_binary(array, row, out)?;
    } else {
        write_text(array, row, options, out)?;
    }
    let length = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

fn fmt_error(_: std::fmt::Error) -> ArrowError {
    ArrowError::ComputeError("could not format a value".into())
}

/// A non-null value in PostgreSQL's text format.
pub(crate) fn write_text(
    array: &dyn Array,
    row: usize,
    options: &TextOptions,
    out: &mut BytesMut,
) -> Result<(), ArrowError> {
    macro_rules! number {
        ($t:ty) => {
            write!(out, "{}", array.as_primitive::<$t>().value(row)).map_err(fmt_error)?
        };
    }
    macro_rules! decimal {
        ($t:ty) => {
            out.put_slice(array.as_primitive::<$t>().value_as_string(row).as_bytes())
        };
    }
    match array.data_type() {
        DataType::Boolean => out.put_u8(if array.as_boolean().value(row) { b't' } else { b'f' }),
        DataType::Int8 => number!(Int8Type),
        DataType::Int16 => number!(Int16Type),
        DataType::Int32 => number!(Int32Type),
        DataType::Int64 => number!(Int64Type),
        DataType::UInt8 => number!(UInt8Type),
        DataType::UInt16 => number!(UInt16Type),
        DataType::UInt32 => number!(UInt32Type),
        DataType::UInt64 => number!(UInt64Type),
        DataType::Float16 => {
            write_float(f64::from(array.as_primitive::<Float16Type>().value(row)), true, options, out)?
        }
        DataType::Float32 => {
            write_float(f64::from(array.as_primitive::<Float32Type>().value(row)), true, options, out)?
        }
        DataType::Float64 => write_float(array.as_primitive::<Float64Type>().value(row), false, options, out)?,
        DataType::Decimal32(_, _) => decimal!(Decimal32Type),
        DataType::Decimal64(_, _) => decimal!(Decimal64Type),
        DataType::Decimal128(_, _) => decimal!(Decimal128Type),
        DataType::Decimal256(_, _) => decimal!(Decimal256Type),
        DataType::Utf8 => out.put_slice(array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => out.put_slice(array.as_string::<i64>().value(row).as_bytes()),
        DataType::Utf8View => out.put_slice(array.as_string_view().value(row).as_bytes()),
        DataType::Binary => write_bytea(array.as_binary::<i32>().value(row), out),
        DataType::LargeBinary => write_bytea(array.as_binary::<i64>().value(row), out),
        DataType::BinaryView => write_bytea(array.as_binary_view().value(row), out),
        DataType::FixedSizeBinary(_) => write_bytea(array.as_fixed_size_binary().value(row), out),
        DataType::Date32 | DataType::Date64 => write_date(date_days(array, row), out)?,
        DataType::Time32(_) | DataType::Time64(_) => write_time(time_micros(array, row), out)?,
        DataType::Timestamp(_, None) => write_timestamp(timestamp_micros(array, row), out)?,
        DataType::Timestamp(_, Some(_)) => write_timestamptz(timestamp_micros(array, row), &options.time_zone, out)?,
        DataType::Interval(_) | DataType::Duration(_) => {
            let (months, days, micros) = interval(array, row);
            write_interval(months, days, micros, out)?
        }
        DataType::List(_) => write_text_array(&array.as_list::<i32>().value(row), options, out)?,
        DataType::LargeList(_) => write_text_array(&array.as_list::<i64>().value(row), options, out)?,
        DataType::FixedSizeList(_, _) => write_text_array(&array.as_fixed_size_list().value(row), options, out)?,
        DataType::Struct(_) => write_text_record(array.as_struct(), row, options, out)?,
        _ => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
            write!(out, "{}", formatter.value(row)).map_err(fmt_error)?
        }
    }
    Ok(())
}

fn write_bytea(bytes: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + bytes.len() * 2);
    out.put_slice(b"\\x");
    for byte in bytes {
        out.put_u8(HEX[usize::from(byte >> 4)]);
        out.put_u8(HEX[usize::from(byte & 0xf)]);
    }
}

/// A float as PostgreSQL writes it: the shortest digits that read back exactly when
/// `extra_float_digits` is above 0 (the default), otherwise `%g` with 15 (or 6) plus
/// `extra_float_digits` significant digits; exponents from 1e15 (1e6 for `real`) and below 1e-4.
pub(crate) fn write_float(
    value: f64,
    single: bool,
    options: &TextOptions,
    out: &mut BytesMut,
) -> Result<(), ArrowError> {
    if value.is_nan() {
        out.put_slice(b"NaN");
        return Ok(());
    }
    if value.is_infinite() {
        out.put_slice(if value > 0.0 { b"Infinity" } else { b"-Infinity" });
        return Ok(());
    }
    let (threshold, scientific) = if options.extra_float_digits > 0 {
        // Rust's `{:e}` is the shortest representation that reads back exactly.
        let text = if single { format!("{:e}", value as f32) } else { format!("{value:e}") };
        (if single { 6 } else { 15 }, text)
    } else {
        let digits = ((if single { 6 } else { 15 }) + options.extra_float_digits).max(1) as usize;
        let text = format!("{:.*e}", digits - 1, value);
        (digits as i32, trim_mantissa(&text))
    };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().map_err(|_| ArrowError::ComputeError(format!("bad float {scientific}")))?;
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = if digits.trim_start_matches('0').is_empty() { "0".to_string() } else { digits };
    if negative {
        out.put_u8(b'-');
    }
    if digits == "0" {
        out.put_u8(b'0');
        return Ok(());
    }
    if exponent < -4 || exponent >= threshold {
        out.put_slice(&digits.as_bytes()[..1]);
        if digits.len() > 1 {
            out.put_u8(b'.');
            out.put_slice(&digits.as_bytes()[1..]);
        }
        write!(out, "e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs()).map_err(fmt_error)
    } else if exponent >= 0 {
        let integer_digits = exponent as usize + 1;
        if digits.len() <= integer_digits {
            out.put_slice(digits.as_bytes());
            out.put_slice("0".repeat(integer_digits - digits.len()).as_bytes());
        } else {
            out.put_slice(&digits.as_bytes()[..integer_digits]);
            out.put_u8(b'.');
            out.put_slice(&digits.as_bytes()[integer_digits..]);
        }
        Ok(())
    } else {
        out.put_slice(b"0.");
        out.put_slice("0".repeat((-exponent - 1) as usize).as_bytes());
        out.put_slice(digits.as_bytes());
        Ok(())
    }
}

/// `1.2300e5` → `1.23e5`, as `%g` drops trailing zeros.
fn trim_mantissa(scientific: &str) -> String {
    match scientific.split_once('e') {
        Some((mantissa, exponent)) if mantissa.contains('.') => {
            format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => scientific.to_string(),
    }
}

fn date_days(array: &dyn Array, row: usize) -> i64 {
    match array.data_type() {
        DataType::Date64 => array.as_primitive::<Date64Type>().value(row).div_euclid(86_400_000),
        _ => i64::from(array.as_primitive::<Date32Type>().value(row)),
    }
}

fn time_micros(array: &dyn Array, row: usize) -> i64 {
    match array.data_type() {
        DataType::Time32(TimeUnit::Second) => {
            i64::from(array.as_primitive::<Time32SecondType>().value(row)) * 1_000_000
        }
        DataType::Time32(_) => i64::from(array.as_primitive::<Time32MillisecondType>().value(row)) * 1_000,
        DataType::Time64(TimeUnit::Nanosecond) => array.as_primitive::<Time64NanosecondType>().value(row) / 1_000,
        _ => array.as_primitive::<Time64MicrosecondType>().value(row),
    }
}

/// Microseconds since 1970 (UTC for zoned timestamps). Nanoseconds are rounded down, as
/// PostgreSQL keeps microseconds.
fn timestamp_micros(array: &dyn Array, row: usize) -> i64 {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().value(row).saturating_mul(MICROS_PER_SECOND)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().value(row).saturating_mul(1_000)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1_000)
        }
        _ => array.as_primitive::<TimestampMicrosecondType>().value(row),
    }
}

/// An interval as PostgreSQL holds it: months, days and microseconds.
fn interval(array: &dyn Array, row: usize) -> (i32, i32, i64) {
    match array.data_type() {
        DataType::Interval(IntervalUnit::YearMonth) => (array.as_primitive::<IntervalYearMonthType>().value(row), 0, 0),
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = array.as_primitive::<IntervalDayTimeType>().value(row);
            (0, v.days, i64::from(v.milliseconds) * 1_000)
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            (v.months, v.days, v.nanoseconds / 1_000)
        }
        DataType::Duration(TimeUnit::Second) => {
            (0, 0, array.as_primitive::<DurationSecondType>().value(row).saturating_mul(MICROS_PER_SECOND))
        }
        DataType::Duration(TimeUnit::Millisecond) => {
            (0, 0, array.as_primitive::<DurationMillisecondType>().value(row).saturating_mul(1_000))
        }
        DataType::Duration(TimeUnit::Nanosecond) => {
            (0, 0, array.as_primitive::<DurationNanosecondType>().value(row) / 1_000)
        }
        _ => (0, 0, array.as_primitive::<DurationMicrosecondType>().value(row)),
    }
}

fn write_fraction(micros: i64, out: &mut BytesMut) -> Result<(), ArrowError> {
    if micros != 0 {
        let text = format!("{micros:06}");
        out.put_u8(b'.');
        out.put_slice(text.trim_end_matches('0').as_bytes());
    }
    Ok(())
}

fn out_of_range(what: &str) -> ArrowError {
    ArrowError::ComputeError(format!("{what} out of range"))
}

/// `2024-01-31`, or `0044-03-15 BC` before year 1.
fn write_date(days: i64, out: &mut BytesMut) -> Result<(), ArrowError> {
    let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).map_err(|_| out_of_range("date"))?)
        .ok_or_else(|| out_of_range("date"))?;
    write_ymd(&date, out)?;
    if date.year() <= 0 {
        out.put_slice(b" BC");
    }
    Ok(())
}

fn write_ymd(date: &NaiveDate, out: &mut BytesMut) -> Result<(), ArrowError> {
    let year = if date.year() <= 0 { 1 - date.year() } else { date.year() };
    write!(out, "{year:04}-{:02}-{:02}", date.month(), date.day()).map_err(fmt_error)
}

/// `12:34:56.789`.
fn write_time(micros: i64, out: &mut BytesMut) -> Result<(), ArrowError> {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    write!(out, "{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60).map_err(fmt_error)?;
    write_fraction(micros.rem_euclid(MICROS_PER_SECOND), out)
}

fn naive(micros: i64) -> Result<NaiveDateTime, ArrowError> {
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()).ok_or_else(|| out_of_range("timestamp"))
}

fn write_naive(time: &NaiveDateTime, out: &mut BytesMut) -> Result<(), ArrowError> {
    write_ymd(&time.date(), out)?;
    write!(out, " {:02}:{:02}:{:02}", time.hour(), time.minute(), time.second()).map_err(fmt_error)?;
    write_fraction(i64::from(time.nanosecond() / 1_000), out)
}

/// `2024-01-31 10:00:00.5`.
fn write_timestamp(micros: i64, out: &mut BytesMut) -> Result<(), ArrowError> {
    let time = naive(micros)?;
    write_naive(&time, out)?;
    if time.year() <= 0 {
        out.put_slice(b" BC");
    }
    Ok(())
}

/// `2024-01-31 11:00:00+01` in the session's time zone (`+05:30` when the offset has minutes).
fn write_timestamptz(micros: i64, zone: &Tz, out: &mut BytesMut) -> Result<(), ArrowError> {
    let utc = naive(micros)?;
    let local = zone.from_utc_datetime(&utc);
    let time = local.naive_local();
    write_naive(&time, out)?;
    let offset = local.offset().fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    write!(out, "{sign}{:02}", offset / 3600).map_err(fmt_error)?;
    if offset % 3600 != 0 {
        write!(out, ":{:02}", offset / 60 % 60).map_err(fmt_error)?;
        if offset % 60 != 0 {
            write!(out, ":{:02}", offset % 60).map_err(fmt_error)?;
        }
    }
    if time.year() <= 0 {
        out.put_slice(b" BC");
    }
    Ok(())
}

/// An interval in PostgreSQL's `postgres` style: `1 year 2 mons 3 days 04:05:06.5`.
fn write_interval(months: i32, days: i32, micros: i64, out: &mut BytesMut) -> Result<(), ArrowError> {
    let mut before_negative = false;
    let mut first = true;
    let mut part = |value: i64, unit: &str, out: &mut BytesMut| -> Result<(), ArrowError> {
        if value == 0 {
            return Ok(());
        }
        if !first {
            out.put_u8(b' ');
        }
        let sign = if before_negative && value > 0 { "+" } else { "" };
        let plural = if value == 1 { "" } else { "s" };
        write!(out, "{sign}{value} {unit}{plural}").map_err(fmt_error)?;
        before_negative |= value < 0;
        first = false;
        Ok(())
    };
    part(i64::from(months / 12), "year", out)?;
    part(i64::from(months % 12), "mon", out)?;
    part(i64::from(days), "day", out)?;
    if micros != 0 || (months == 0 && days == 0) {
        if !first {
            out.put_u8(b' ');
        }
        if micros < 0 {
            out.put_u8(b'-');
        } else if before_negative {
            out.put_u8(b'+');
        }
        let micros = micros.unsigned_abs();
        let seconds = micros / 1_000_000;
        write!(out, "{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60).map_err(fmt_error)?;
        write_fraction((micros % 1_000_000) as i64, out)?;
    }
    Ok(())
}

/// Whether an element of an array (or a field of a record) must be quoted: empty, or with
/// characters that separate or quote, or the word NULL.
fn needs_quotes(text: &[u8], record: bool) -> bool {
    text.is_empty()
        || (!record && text.eq_ignore_ascii_case(b"null"))
        || text.iter().any(|c| {
            matches!(c, b'"' | b'\\' | b',' | b' ' | b'\t' | b'\n' | b'\r')
                || (!record && matches!(c, b'{' | b'}'))
                || (record && matches!(c, b'(' | b')'))
        })
}

fn write_quoted(text: &[u8], record: bool, out: &mut BytesMut) {
    if !needs_quotes(text, record) {
        out.put_slice(text);
        return;
    }
    out.put_u8(b'"');
    for &c in text {
        if c == b'"' || c == b'\\' {
            out.put_u8(b'\\');
        }
        out.put_u8(c);
    }
    out.put_u8(b'"');
}

/// `{1,2,NULL}`, `{"a b",c}`.
fn write_text_array(elements: &ArrayRef, options: &TextOptions, out: &mut BytesMut) -> Result<(), ArrowError> {
    let elements = plain(elements)?;
    out.put_u8(b'{');
    let mut element = BytesMut::new();
    for i in 0..elements.len() {
        if i > 0 {
            out.put_u8(b',');
        }
        if elements.is_null(i) {
            out.put_slice(b"NULL");
            continue;
        }
        element.clear();
        write_text(elements.as_ref(), i, options, &mut element)?;
        if matches!(elements.data_type(), DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)) {
            out.put_slice(&element);
        } else {
            write_quoted(&element, false, out);
        }
    }
    out.put_u8(b'}');
    Ok(())
}

/// `(1,abc,)`: a record, with nothing between commas for NULL.
fn write_text_record(
    record: &StructArray,
    row: usize,
    options: &TextOptions,
    out: &mut BytesMut,
) -> Result<(), ArrowError> {
    out.put_u8(b'(');
    let mut field = BytesMut::new();
    for (i, column) in record.columns().iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        let column = plain(column)?;
        if is_null(column.as_ref(), row) {
            continue;
        }
        field.clear();
        write_text(column.as_ref(), row, options, &mut field)?;
        write_quoted(&field, true, out);
    }
    out.put_u8(b')');
    Ok(())
}

/// A non-null value in PostgreSQL's binary format.
pub(crate) fn write_binary(array: &dyn Array, row: usize, out: &mut BytesMut) -> Result<(), ArrowError> {
    match array.data_type() {
        DataType::Boolean => out.put_u8(u8::from(array.as_boolean().value(row))),
        DataType::Int8 => out.put_i16(i16::from(array.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => out.put_i16(array.as_primitive::<Int16Type>().value(row)),
        DataType::UInt8 => out.put_i16(i16::from(array.as_primitive::<UInt8Type>().value(row))),
        DataType::Int32 => out.put_i32(array.as_primitive::<Int32Type>().value(row)),
        DataType::UInt16 => out.put_i32(i32::from(array.as_primitive::<UInt16Type>().value(row))),
        DataType::Int64 => out.put_i64(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt32 => out.put_i64(i64::from(array.as_primitive::<UInt32Type>().value(row))),
        DataType::UInt64 => write_numeric(&array.as_primitive::<UInt64Type>().value(row).to_string(), out),
        DataType::Float16 => out.put_f32(f32::from(array.as_primitive::<Float16Type>().value(row))),
        DataType::Float32 => out.put_f32(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => out.put_f64(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal32(_, _) => write_numeric(&array.as_primitive::<Decimal32Type>().value_as_string(row), out),
        DataType::Decimal64(_, _) => write_numeric(&array.as_primitive::<Decimal64Type>().value_as_string(row), out),
        DataType::Decimal128(_, _) => write_numeric(&array.as_primitive::<Decimal128Type>().value_as_string(row), out),
        DataType::Decimal256(_, _) => write_numeric(&array.as_primitive::<Decimal256Type>().value_as_string(row), out),
        DataType::Utf8 => out.put_slice(array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => out.put_slice(array.as_string::<i64>().value(row).as_bytes()),
        DataType::Utf8View => out.put_slice(array.as_string_view().value(row).as_bytes()),
        DataType::Binary => out.put_slice(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => out.put_slice(array.as_binary::<i64>().value(row)),
        DataType::BinaryView => out.put_slice(array.as_binary_view().value(row)),
        DataType::FixedSizeBinary(_) => out.put_slice(array.as_fixed_size_binary().value(row)),
        DataType::Date32 | DataType::Date64 => {
            out.put_i32(i32::try_from(date_days(array, row) - PG_EPOCH_DAYS).map_err(|_| out_of_range("date"))?)
        }
        DataType::Time32(_) | DataType::Time64(_) => out.put_i64(time_micros(array, row)),
        DataType::Timestamp(_, _) => out.put_i64(timestamp_micros(array, row) - PG_EPOCH_MICROS),
        DataType::Interval(_) | DataType::Duration(_) => {
            let (months, days, micros) = interval(array, row);
            out.put_i64(micros);
            out.put_i32(days);
            out.put_i32(months);
        }
        DataType::List(field) => write_binary_array(&array.as_list::<i32>().value(row), field, out)?,
        DataType::LargeList(field) => write_binary_array(&array.as_list::<i64>().value(row), field, out)?,
        DataType::FixedSizeList(field, _) => write_binary_array(&array.as_fixed_size_list().value(row), field, out)?,
        DataType::Struct(_) => write_binary_record(array.as_struct(), row, out)?,
        _ => write_text(array, row, &TextOptions::default(), out)?,
    }
    Ok(())
}

/// `numeric` in binary: base-10000 digits with a weight, sign and display scale, from a decimal
/// literal (`-12.50`), so every one of 38 (or 76) digits is kept.
pub(crate) fn write_numeric(text: &str, out: &mut BytesMut) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
    let integer = integer.trim_start_matches('0');
    let scale = fraction.len();
    // Align on the decimal point in groups of four digits.
    let integer_pad = (4 - integer.len() % 4) % 4;
    let fraction_pad = (4 - fraction.len() % 4) % 4;
    let digits: Vec<u8> = std::iter::repeat_n(b'0', integer_pad)
        .chain(integer.bytes())
        .chain(fraction.bytes())
        .chain(std::iter::repeat_n(b'0', fraction_pad))
        .collect();
    let mut groups: Vec<i16> =
        digits.chunks(4).map(|chunk| chunk.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0'))).collect();
    let mut weight = ((integer_pad + integer.len()) / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_i16(scale as i16);
    for group in groups {
        out.put_i16(group);
    }
}

/// A one-dimensional array in binary: dimensions, a null flag, the element type, the length and
/// lower bound, then each element.
fn write_binary_array(elements: &ArrayRef, field: &Field, out: &mut BytesMut) -> Result<(), ArrowError> {
    let elements = plain(elements)?;
    out.put_i32(1);
    out.put_i32(i32::from(elements.null_count() > 0));
    out.put_u32(pg_type(field.data_type()).0.oid());
    out.put_i32(elements.len() as i32);
    out.put_i32(1);
    for i in 0..elements.len() {
        write_field(elements.as_ref(), i, true, &TextOptions::default(), out)?;
    }
    Ok(())
}

/// A record in binary: the number of fields, then each field's type and value.
fn write_binary_record(record: &StructArray, row: usize, out: &mut BytesMut) -> Result<(), ArrowError> {
    out.put_i32(record.num_columns() as i32);
    for column in record.columns() {
        let column = plain(column)?;
        out.put_u32(pg_type(column.data_type()).0.oid());
        write_field(column.as_ref(), row, true, &TextOptions::default(), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, IntervalMonthDayNanoArray,
        ListArray, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::IntervalMonthDayNano;

    use super::*;

    fn text(array: &dyn Array, options: &TextOptions) -> String {
        let mut out = BytesMut::new();
        write_text(array, 0, options, &mut out).expect("writes");
        String::from_utf8(out.to_vec()).expect("utf-8")
    }

    fn f64_text(value: f64) -> String {
        text(&Float64Array::from(vec![value]), &TextOptions::default())
    }

    #[test]
    fn floats_are_written_as_postgresql_writes_them() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e100, "1e+100"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (value, expected) in cases {
            assert_eq!(f64_text(value), expected, "{value}");
        }
        let single = Float32Array::from(vec![1234567.0f32]);
        assert_eq!(text(&single, &TextOptions::default()), "1.234567e+06");
        let legacy = TextOptions { extra_float_digits: 0, ..TextOptions::default() };
        assert_eq!(text(&Float64Array::from(vec![1.0 / 3.0]), &legacy), "0.333333333333333");
    }

    #[test]
    fn dates_times_and_intervals_follow_iso_datestyle() {
        let options = TextOptions::default();
        assert_eq!(text(&Date32Array::from(vec![19_753]), &options), "2024-01-31");
        assert_eq!(text(&Date32Array::from(vec![-719_162 - 366]), &options), "0001-01-01 BC");
        assert_eq!(text(&Time64MicrosecondArray::from(vec![45_296_500_000]), &options), "12:34:56.5");
        let at = TimestampMicrosecondArray::from(vec![1_706_695_200_000_000]);
        assert_eq!(text(&at, &options), "2024-01-31 10:00:00");
        let zoned = at.clone().with_timezone("UTC");
        assert_eq!(text(&zoned, &options), "2024-01-31 10:00:00+00");
        let kolkata = TextOptions { time_zone: "Asia/Kolkata".parse().expect("a zone"), ..TextOptions::default() };
        assert_eq!(text(&zoned, &kolkata), "2024-01-31 15:30:00+05:30");
        let interval = IntervalMonthDayNanoArray::from(vec![IntervalMonthDayNano::new(14, 3, 14_706_500_000_000)]);
        assert_eq!(text(&interval, &options), "1 year 2 mons 3 days 04:05:06.5");
        let negative = IntervalMonthDayNanoArray::from(vec![IntervalMonthDayNano::new(0, -1, 3_600_000_000_000)]);
        assert_eq!(text(&negative, &options), "-1 days +01:00:00");
        let zero = IntervalMonthDayNanoArray::from(vec![IntervalMonthDayNano::new(0, 0, 0)]);
        assert_eq!(text(&zero, &options), "00:00:00");
    }

    #[test]
    fn other_types_match_postgresql_text() {
        let options = TextOptions::default();
        assert_eq!(text(&BooleanArray::from(vec![true]), &options), "t");
        assert_eq!(text(&BinaryArray::from(vec![&b"\x01\xab"[..]]), &options), "\\x01ab");
        let decimal = Decimal128Array::from(vec![-1250]).with_precision_and_scale(10, 2).expect("valid");
        assert_eq!(text(&decimal, &options), "-12.50");
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None, Some(3)])]);
        assert_eq!(text(&list, &options), "{1,NULL,3}");
        let strings = StringArray::from(vec![Some("a b"), Some(""), Some("null"), Some("x\"y")]);
        let offsets = datafusion::arrow::buffer::OffsetBuffer::from_lengths([4]);
        let field = Arc::new(Field::new("item", DataType::Utf8, true));
        let list = ListArray::new(field, offsets, Arc::new(strings), None);
        assert_eq!(text(&list, &options), r#"{"a b","","null","x\"y"}"#);
    }

    #[test]
    fn numeric_binary_keeps_every_digit() {
        let mut out = BytesMut::new();
        write_numeric("-12345678901234567890123456789012345.678", &mut out);
        let words: Vec<i16> = out.chunks(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect();
        // 10 digit groups, weight 8 (the first group is 10^32's), negative, scale 3.
        assert_eq!(&words[..4], &[10, 8, 0x4000, 3]);
        assert_eq!(&words[4..], &[123, 4567, 8901, 2345, 6789, 123, 4567, 8901, 2345, 6780]);
        let mut zero = BytesMut::new();
        write_numeric("0.00", &mut zero);
        assert_eq!(zero.to_vec(), vec![0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
