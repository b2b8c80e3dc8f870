//! PostgreSQL to Arrow: the parameters of a `Bind`, in text or binary format, as the values a
//! plan's placeholders (`$1`, `$2`) take.
//!
//! A parameter's type is the one the client declared at `Parse`, or else the one the plan
//! expects; its value is decoded by that type and cast to what the plan expects.

use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use pgwire::api::Type;
use starhouse_engine::sql::Statement;

use crate::encode;
use crate::sqlstate::{self, Failure, error};

const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `statement` with each parameter whose type the client declared at `Parse` cast to that type
/// (`$1` becomes `CAST($1 AS bytea)`), so that the plan types it as PostgreSQL would: `SELECT $1`
/// of a declared `bytea` answers a `bytea`. Parameters left to the server stay as they are.
pub(crate) fn declare(statement: Statement, types: &[Option<Type>]) -> Statement {
    if types.iter().all(|t| t.as_ref().and_then(sql_type).is_none()) {
        return statement;
    }
    statement.map_sql(|mut sql| {
        let _ = ast::visit_expressions_mut(&mut sql, |expr| {
            if let ast::Expr::Value(ast::ValueWithSpan { value: ast::Value::Placeholder(id), .. }) = expr
                && let Some(index) = id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                && let Some(data_type) = index.checked_sub(1).and_then(|i| types.get(i)?.as_ref()).and_then(sql_type)
            {
                *expr = ast::Expr::Cast {
                    kind: ast::CastKind::Cast,
                    expr: Box::new(expr.clone()),
                    data_type,
                    array: false,
                    format: None,
                };
            }
            ControlFlow::<()>::Continue(())
        });
        sql
    })
}

/// The SQL type of a parameter a client declared as `pg`, if it is one we read: the SQL name of
/// the type its value is read as (`varchar`, `uuid` and `json` are read as `text`).
fn sql_type(pg: &Type) -> Option<ast::DataType> {
    let name = encode::sql_name(&encode::pg_type(&arrow_type(pg)?).0);
    Parser::new(&PostgreSqlDialect {}).try_with_sql(name).ok()?.parse_data_type().ok()
}

/// The Arrow type a parameter of a PostgreSQL type is read as, when the plan does not say.
pub(crate) fn arrow_type(pg: &Type) -> Option<DataType> {
    Some(match *pg {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 | Type::OID => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::JSONB | Type::UUID => {
            DataType::Utf8
        }
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => return None,
    })
}

fn invalid(pg: &Type, detail: impl std::fmt::Display) -> Failure {
    error(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid binary value for a parameter of type {}: {detail}", pg.name()),
    )
}

fn fixed<const N: usize>(bytes: &[u8], pg: &Type) -> Result<[u8; N], Failure> {
    bytes.try_into().map_err(|_| invalid(pg, format!("expected {N} bytes, got {}", bytes.len())))
}

/// A parameter in binary format, by its declared type.
fn binary_value(bytes: &[u8], pg: &Type) -> Result<ScalarValue, Failure> {
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(fixed::<1>(bytes, pg)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(fixed(bytes, pg)?))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(fixed(bytes, pg)?))),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(fixed(bytes, pg)?))),
        Type::OID => ScalarValue::Int64(Some(i64::from(u32::from_be_bytes(fixed(bytes, pg)?)))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(bytes, pg)?))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(bytes, pg)?))),
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::DATE => ScalarValue::Date32(Some(i32::from_be_bytes(fixed(bytes, pg)?).saturating_add(PG_EPOCH_DAYS))),
        Type::TIME => ScalarValue::Time64Microsecond(Some(i64::from_be_bytes(fixed(bytes, pg)?))),
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            Some(i64::from_be_bytes(fixed(bytes, pg)?).saturating_add(PG_EPOCH_MICROS)),
            None,
        ),
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            Some(i64::from_be_bytes(fixed(bytes, pg)?).saturating_add(PG_EPOCH_MICROS)),
            Some("UTC".into()),
        ),
        Type::NUMERIC => ScalarValue::Utf8(Some(numeric_text(bytes).ok_or_else(|| invalid(pg, "malformed numeric"))?)),
        Type::UUID => {
            let b: [u8; 16] = fixed(bytes, pg)?;
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            ScalarValue::Utf8(Some(format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )))
        }
        Type::JSONB => {
            ScalarValue::Utf8(Some(String::from_utf8_lossy(bytes.get(1..).unwrap_or_default()).into_owned()))
        }
        _ => ScalarValue::Utf8(Some(std::str::from_utf8(bytes).map_err(|e| invalid(pg, e))?.to_string())),
    })
}

/// A `numeric` in binary (base-10000 digits with weight, sign and scale) as a decimal literal.
pub(crate) fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<i16> { Some(i16::from_be_bytes([*bytes.get(2 * i)?, *bytes.get(2 * i + 1)?])) };
    let (count, weight, sign, scale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Some("NaN".into());
    }
    let digits: Vec<i16> = (0..usize::try_from(count).ok()?).map(|i| word(4 + i)).collect::<Option<_>>()?;
    let mut integer = String::new();
    let mut fraction = String::new();
    for (i, digit) in digits.iter().enumerate() {
        let exponent = i64::from(weight) - i as i64;
        if exponent >= 0 {
            if integer.is_empty() {
                integer.push_str(&digit.to_string());
            } else {
                integer.push_str(&format!("{digit:04}"));
            }
        } else {
            if fraction.is_empty() {
                fraction.push_str(&"0000".repeat((-exponent - 1) as usize));
            }
            fraction.push_str(&format!("{digit:04}"));
        }
    }
    // Zero groups between the last digit and the decimal point.
    let last_exponent = i64::from(weight) - digits.len() as i64 + 1;
    if !integer.is_empty() && last_exponent > 0 {
        integer.push_str(&"0000".repeat(last_exponent as usize));
    }
    if integer.is_empty() {
        integer.push('0');
    }
    let scale = usize::try_from(scale).unwrap_or(0);
    fraction.truncate(scale);
    while fraction.len() < scale {
        fraction.push('0');
    }
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if scale > 0 { format!("{sign}{integer}.{fraction}") } else { format!("{sign}{integer}") })
}

/// One parameter: `bytes` (`None` for NULL) in `binary` or text format, of the declared type (or
/// unknown), cast to `expected` when the plan knows what it expects.
pub(crate) fn value(
    bytes: Option<&[u8]>,
    binary: bool,
    declared: Option<&Type>,
    expected: Option<&DataType>,
) -> Result<ScalarValue, Failure> {
    let declared = declared.filter(|t| **t != Type::UNKNOWN);
    let target = expected.cloned().or_else(|| declared.and_then(arrow_type));
    let Some(bytes) = bytes else {
        return Ok(match &target {
            Some(data_type) => ScalarValue::try_from(data_type).unwrap_or(ScalarValue::Null),
            None => ScalarValue::Null,
        });
    };
    let value = if binary {
        let pg = declared.cloned().or_else(|| expected.map(|t| crate::encode::pg_type(t).0)).unwrap_or(Type::TEXT);
        binary_value(bytes, &pg)?
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            error(sqlstate::INVALID_TEXT_REPRESENTATION, format!("a parameter is not valid UTF-8: {e}"))
        })?;
        ScalarValue::Utf8(Some(text.to_string()))
    };
    match target {
        Some(target) if value.data_type() != target => cast(value, &target),
        _ => Ok(value),
    }
}

fn cast(value: ScalarValue, target: &DataType) -> Result<ScalarValue, Failure> {
    // Booleans in text are `t`/`f` (as PostgreSQL writes them) as often as `true`/`false`.
    if let (ScalarValue::Utf8(Some(text)), DataType::Boolean) = (&value, target) {
        return match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "y" | "on" | "1" => Ok(ScalarValue::Boolean(Some(true))),
            "f" | "false" | "no" | "n" | "off" | "0" => Ok(ScalarValue::Boolean(Some(false))),
            _ => Err(error(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                format!("invalid input syntax for type boolean: \"{text}\""),
            )),
        };
    }
    value.cast_to(target).map_err(|e| {
        error(sqlstate::INVALID_TEXT_REPRESENTATION, format!("invalid input for a parameter of type {target}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    #[test]
    fn numeric_round_trips_through_binary() {
        for literal in ["-12345678901234567890123456789012345.678", "0.001", "10000", "12.50", "0"] {
            let mut out = BytesMut::new();
            crate::encode::write_numeric(literal, &mut out);
            assert_eq!(numeric_text(&out).as_deref(), Some(literal), "{literal}");
        }
    }

    #[test]
    fn parameters_are_decoded_by_type_and_cast_to_what_the_plan_expects() {
        let text =
            |s: &str, expected: Option<&DataType>| value(Some(s.as_bytes()), false, None, expected).expect("valid");
        assert_eq!(text("42", Some(&DataType::Int64)), ScalarValue::Int64(Some(42)));
        assert_eq!(text("t", Some(&DataType::Boolean)), ScalarValue::Boolean(Some(true)));
        assert_eq!(text("abc", None), ScalarValue::Utf8(Some("abc".into())));
        let binary = value(Some(&7i32.to_be_bytes()), true, Some(&Type::INT4), Some(&DataType::Int64)).expect("valid");
        assert_eq!(binary, ScalarValue::Int64(Some(7)));
        let date = value(Some(&0i32.to_be_bytes()), true, Some(&Type::DATE), None).expect("valid");
        assert_eq!(date, ScalarValue::Date32(Some(10_957)));
        assert_eq!(value(None, false, Some(&Type::INT4), None).expect("valid"), ScalarValue::Int32(None));
        let error = value(Some(b"abc"), false, None, Some(&DataType::Int32)).expect_err("not a number");
        assert_eq!(error.code, sqlstate::INVALID_TEXT_REPRESENTATION);
    }
}
