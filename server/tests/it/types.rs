//! Arrow types on the wire: the PostgreSQL type each result column is described with, its text
//! (byte for byte what PostgreSQL sends for the same values) and its binary format.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

use crate::TestServer;

/// One row of literal values of most types, as DataFusion writes them.
const VALUES: &str = "SELECT true AS b, CAST(1 AS SMALLINT) AS i2, CAST(2 AS INT) AS i4, CAST(3 AS BIGINT) AS i8, \
    CAST(1.5 AS REAL) AS f4, CAST(0.1 AS DOUBLE) AS f8, CAST(1e20 AS DOUBLE) AS big, CAST(-12.5 AS DECIMAL(10,2)) AS num, \
    'héllo' AS t, DATE '2024-01-31' AS d, TIMESTAMP '2024-01-31 10:00:00.5' AS ts, \
    arrow_cast(TIMESTAMP '2024-01-31 10:00:00', 'Timestamp(Microsecond, Some(\"UTC\"))') AS tstz, \
    arrow_cast('12:34:56', 'Time64(Microsecond)') AS tm, INTERVAL '1 day 2 hours' AS iv, \
    arrow_cast('ab', 'Binary') AS by, make_array(1, 2, NULL) AS arr, CAST(NULL AS INT) AS nothing";

#[tokio::test]
async fn text_results_match_postgresql_byte_for_byte() {
    let server = TestServer::start();
    let client = server.connect().await;
    let messages = client.simple_query(VALUES).await.expect("runs");
    let SimpleQueryMessage::Row(row) = &messages[1] else { panic!("a row: {messages:?}") };
    let values: Vec<Option<&str>> = (0..row.len()).map(|i| row.get(i)).collect();
    assert_eq!(
        values,
        [
            Some("t"),
            Some("1"),
            Some("2"),
            Some("3"),
            Some("1.5"),
            Some("0.1"),
            Some("1e+20"),
            Some("-12.50"),
            Some("héllo"),
            Some("2024-01-31"),
            Some("2024-01-31 10:00:00.5"),
            Some("2024-01-31 10:00:00+00"),
            Some("12:34:56"),
            Some("1 day 02:00:00"),
            Some("\\x6162"),
            Some("{1,2,NULL}"),
            None,
        ]
    );
}

#[tokio::test]
async fn columns_are_described_with_postgresql_types() {
    let server = TestServer::start();
    let client = server.connect().await;
    let statement = client.prepare(VALUES).await.expect("prepares");
    let types: Vec<Type> = statement.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        [
            Type::BOOL,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::TEXT,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::TIME,
            Type::INTERVAL,
            Type::BYTEA,
            Type::INT8_ARRAY,
            Type::INT4,
        ]
    );
}

#[tokio::test]
async fn binary_results_decode_to_the_same_values() {
    let server = TestServer::start();
    let client = server.connect().await;
    // tokio-postgres asks for every result column in binary.
    let row = client.query_one(VALUES, &[]).await.expect("runs");
    assert!(row.get::<_, bool>("b"));
    assert_eq!(row.get::<_, i16>("i2"), 1);
    assert_eq!(row.get::<_, i32>("i4"), 2);
    assert_eq!(row.get::<_, i64>("i8"), 3);
    assert_eq!(row.get::<_, f32>("f4"), 1.5);
    assert_eq!(row.get::<_, f64>("f8"), 0.1);
    assert_eq!(row.get::<_, String>("t"), "héllo");
    assert_eq!(row.get::<_, NaiveDate>("d"), NaiveDate::from_ymd_opt(2024, 1, 31).expect("a date"));
    let at = NaiveDate::from_ymd_opt(2024, 1, 31).and_then(|d| d.and_hms_milli_opt(10, 0, 0, 500)).expect("a time");
    assert_eq!(row.get::<_, NaiveDateTime>("ts"), at);
    let zoned = Utc.with_ymd_and_hms(2024, 1, 31, 10, 0, 0).single().expect("a time");
    assert_eq!(row.get::<_, chrono::DateTime<Utc>>("tstz"), zoned);
    assert_eq!(row.get::<_, NaiveTime>("tm"), NaiveTime::from_hms_opt(12, 34, 56).expect("a time"));
    assert_eq!(row.get::<_, Vec<u8>>("by"), b"ab");
    assert_eq!(row.get::<_, Vec<Option<i64>>>("arr"), [Some(1), Some(2), None]);
    assert_eq!(row.get::<_, Option<i32>>("nothing"), None);
}

/// `numeric` in binary, decoded here independently of the server's encoder.
struct Numeric(String);

impl<'a> tokio_postgres::types::FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| i16::from_be_bytes([raw[2 * i], raw[2 * i + 1]]);
        let (count, weight, sign, scale) = (word(0) as usize, word(1) as i32, word(2) as u16, word(3) as usize);
        let mut digits = String::new();
        // Every base-10000 digit from 10^(4*weight) down to 10^(-4*scale groups), zero padded.
        let groups = (weight + 1).max(1) as usize + scale.div_ceil(4);
        for g in 0..groups {
            let position = weight.max(0) - g as i32;
            let index = (weight - position) as usize;
            let value = if index < count { word(4 + index) } else { 0 };
            digits.push_str(&format!("{value:04}"));
        }
        let integer_len = 4 * (weight.max(0) as usize + 1);
        let (integer, fraction) = digits.split_at(integer_len);
        let integer = integer.trim_start_matches('0');
        let integer = if integer.is_empty() { "0" } else { integer };
        let sign = if sign == 0x4000 { "-" } else { "" };
        Ok(Numeric(if scale > 0 {
            format!("{sign}{integer}.{}", &fraction[..scale])
        } else {
            format!("{sign}{integer}")
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[tokio::test]
async fn numeric_keeps_all_38_digits_in_binary() {
    let server = TestServer::start();
    let client = server.connect().await;
    let row = client
        .query_one(
            "SELECT CAST('-1234567890123456789012345678901234.5678' AS DECIMAL(38,4)) AS wide, \
             CAST(-12.5 AS DECIMAL(10,2)) AS small, sum(sale_amount) AS total FROM fact_sales",
            &[],
        )
        .await
        .expect("runs");
    assert_eq!(row.get::<_, Numeric>("wide").0, "-1234567890123456789012345678901234.5678");
    assert_eq!(row.get::<_, Numeric>("small").0, "-12.50");
    let text = client.simple_query("SELECT sum(sale_amount) FROM fact_sales").await.expect("runs");
    let SimpleQueryMessage::Row(total) = &text[1] else { panic!("a row") };
    assert_eq!(Some(row.get::<_, Numeric>("total").0.as_str()), total.get(0));
}
