//! `SHOW TABLES` and `DESCRIBE t`: the catalog as result sets, with SQL type names.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use starhouse_catalog::{TableDef, Version};

use crate::session::Output;

/// The SQL name of an Arrow type, as a user would write it in DDL (`INTEGER`, `DECIMAL(10,2)`).
pub fn sql_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Null => "NULL".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INTEGER UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float16 | DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "BYTEA".into()
        }
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(unit, tz) => {
            let precision = match unit {
                TimeUnit::Second => "(0)",
                TimeUnit::Millisecond => "(3)",
                TimeUnit::Microsecond => "",
                TimeUnit::Nanosecond => "(9)",
            };
            match tz {
                Some(_) => format!("TIMESTAMP{precision} WITH TIME ZONE"),
                None => format!("TIMESTAMP{precision}"),
            }
        }
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        DataType::Dictionary(_, value) => sql_type_name(value),
        DataType::RunEndEncoded(_, value) => sql_type_name(value.data_type()),
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _) => format!("{}[]", sql_type_name(field.data_type())),
        DataType::Struct(fields) => {
            let fields: Vec<String> =
                fields.iter().map(|f| format!("{} {}", f.name(), sql_type_name(f.data_type()))).collect();
            format!("STRUCT({})", fields.join(", "))
        }
        DataType::Map(_, _) => "MAP".into(),
        DataType::Union(_, _) => "UNION".into(),
    }
}

pub(crate) fn rows(columns: Vec<(&str, Vec<Option<String>>)>) -> Output {
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(name, _)| Field::new(*name, DataType::Utf8, true)).collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> =
        columns.into_iter().map(|(_, values)| Arc::new(StringArray::from(values)) as ArrayRef).collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).expect("columns of equal length and declared type");
    Output::Rows(Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter([Ok(batch)]))))
}

/// `SHOW TABLES`: every table with its role, location and comment.
pub(crate) fn show_tables(version: &Version) -> Output {
    let tables: Vec<_> = version.tables.values().collect();
    rows(vec![
        ("table_name", tables.iter().map(|t| Some(t.name.to_string())).collect()),
        ("role", tables.iter().map(|t| t.role.map(|r| r.to_string())).collect()),
        ("location", tables.iter().map(|t| Some(t.location.clone())).collect()),
        ("comment", tables.iter().map(|t| t.comment.clone()).collect()),
    ])
}

/// What the key column of `DESCRIBE` says about a column: `PRIMARY KEY`, `REFERENCES t(c)`.
pub(crate) fn column_keys(def: &TableDef, column: &str) -> Option<String> {
    let mut keys = Vec::new();
    if def.primary_key.as_ref().is_some_and(|pk| pk.columns.iter().any(|c| c == column)) {
        keys.push("PRIMARY KEY".to_string());
    }
    for fk in &def.foreign_keys {
        if let Some(i) = fk.columns.iter().position(|c| c == column) {
            keys.push(format!("REFERENCES {}({})", fk.references, fk.referenced_columns[i]));
        }
    }
    (!keys.is_empty()).then(|| keys.join(", "))
}

/// `DESCRIBE t`: one row per column with its type, nullability, keys and comment.
pub(crate) fn describe_table(def: &TableDef) -> Output {
    let columns = &def.columns;
    rows(vec![
        ("column_name", columns.iter().map(|c| Some(c.name.clone())).collect()),
        ("data_type", columns.iter().map(|c| Some(sql_type_name(&c.data_type))).collect()),
        ("is_nullable", columns.iter().map(|c| Some(if c.nullable { "YES" } else { "NO" }.to_string())).collect()),
        ("key", columns.iter().map(|c| column_keys(def, &c.name)).collect()),
        ("comment", columns.iter().map(|c| c.comment.clone()).collect()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_types_get_their_sql_names() {
        assert_eq!(sql_type_name(&DataType::Decimal128(10, 2)), "DECIMAL(10,2)");
        assert_eq!(sql_type_name(&DataType::Utf8View), "VARCHAR");
        assert_eq!(
            sql_type_name(&DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            "TIMESTAMP WITH TIME ZONE"
        );
        assert_eq!(
            sql_type_name(&DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))),
            "VARCHAR"
        );
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        assert_eq!(sql_type_name(&list), "INTEGER[]");
    }
}
