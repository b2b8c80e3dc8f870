//! File statistics: read from the Parquet footers into the catalog when a table is created or
//! analyzed, and from the catalog into DataFusion's statistics cache when a process first uses the
//! table. A new process thus plans with row counts and prunes files by their min/max before it
//! makes a single request for them.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics, TableReference};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::SessionState;
use datafusion::execution::cache::SchemaFingerprint;
use datafusion::execution::cache::TableScopedPath;
use datafusion::execution::cache::cache_manager::{CachedFileMetadata, FileStatisticsCache};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use starhouse_catalog::{ColumnStats, DataFile};

use crate::error::EngineError;

/// How many footers are read at once.
const CONCURRENT_READS: usize = 16;

/// Reads the statistics of `files` (under `url`) from their footers, in path order.
pub(crate) async fn collect(
    state: &SessionState,
    store: &Arc<dyn ObjectStore>,
    url: &ListingTableUrl,
    file_schema: &SchemaRef,
    files: &[ObjectMeta],
) -> Result<Vec<DataFile>, EngineError> {
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let format = &format;
    futures::stream::iter(files.iter().cloned())
        .map(|meta: ObjectMeta| async move {
            let stats = format.infer_stats(state, store, Arc::clone(file_schema), &meta).await?;
            Ok::<_, EngineError>(data_file(url, &meta, file_schema, &stats))
        })
        .buffered(CONCURRENT_READS)
        .try_collect::<Vec<_>>()
        .await
        .map(|mut files| {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            files
        })
}

fn data_file(url: &ListingTableUrl, meta: &ObjectMeta, schema: &Schema, stats: &Statistics) -> DataFile {
    let path = meta.location.prefix_match(url.prefix()).map(|parts| parts.map(|p| p.as_ref().to_string()));
    let columns = schema
        .fields()
        .iter()
        .zip(&stats.column_statistics)
        .map(|(field, column)| {
            let exact = column.min_value.is_exact() == Some(true) && column.max_value.is_exact() == Some(true);
            let stats = ColumnStats {
                nulls: column.null_count.get_value().map(|n| *n as u64),
                min: literal(&column.min_value, field.data_type()),
                max: literal(&column.max_value, field.data_type()),
                exact,
                distinct: None,
            };
            (field.name().clone(), stats)
        })
        .collect();
    DataFile {
        path: path.map(|parts| parts.collect::<Vec<_>>().join("/")).unwrap_or_default(),
        size: meta.size,
        last_modified: meta.last_modified,
        rows: stats.num_rows.get_value().map_or(0, |n| *n as u64),
        bytes: stats.total_byte_size.get_value().map(|n| *n as u64),
        columns,
    }
}

/// Types whose values survive being written as text and read back with a cast.
fn round_trips(data_type: &DataType) -> bool {
    data_type.is_integer()
        || data_type.is_floating()
        || data_type.is_decimal()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Date32
                | DataType::Timestamp(_, _)
        )
}

/// A value as Arrow writes it (`2024-01-31T10:00:00Z`, `-12.34`), which a cast from text reads back.
fn literal(value: &Precision<ScalarValue>, data_type: &DataType) -> Option<String> {
    let value = value.get_value()?;
    if !round_trips(data_type) || value.is_null() {
        return None;
    }
    let array = value.to_array().ok()?;
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).ok()?;
    Some(formatter.value(0).to_string())
}

fn scalar(value: &Option<String>, data_type: &DataType, exact: bool) -> Precision<ScalarValue> {
    let Some(value) = value.as_ref().and_then(|v| ScalarValue::try_from_string(v.clone(), data_type).ok()) else {
        return Precision::Absent;
    };
    if exact { Precision::Exact(value) } else { Precision::Inexact(value) }
}

/// The statistics of a file as DataFusion plans with them, in `schema`'s column order.
pub(crate) fn statistics(file: &DataFile, schema: &Schema) -> Statistics {
    let column_statistics = schema
        .fields()
        .iter()
        .map(|field| match file.columns.get(field.name()) {
            Some(stats) => ColumnStatistics {
                null_count: stats.nulls.map_or(Precision::Absent, |n| Precision::Exact(n as usize)),
                min_value: scalar(&stats.min, field.data_type(), stats.exact),
                max_value: scalar(&stats.max, field.data_type(), stats.exact),
                ..ColumnStatistics::new_unknown()
            },
            None => ColumnStatistics::new_unknown(),
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(file.rows as usize),
        total_byte_size: file.bytes.map_or(Precision::Absent, |n| Precision::Inexact(n as usize)),
        column_statistics,
    }
}

/// Where a file of the table at `url` is in its store.
pub(crate) fn location(url: &ListingTableUrl, file: &DataFile) -> Path {
    let relative = Path::parse(&file.path).unwrap_or_else(|_| Path::from(file.path.as_str()));
    Path::from_iter(url.prefix().parts().chain(relative.parts()))
}

/// A file of the table at `url` as its store lists it (as the catalog last saw it).
pub(crate) fn object_meta(url: &ListingTableUrl, file: &DataFile) -> ObjectMeta {
    object_meta_at(location(url, file), file)
}

/// A file as its store lists it at `location` (as the catalog last saw it).
pub(crate) fn object_meta_at(location: Path, file: &DataFile) -> ObjectMeta {
    ObjectMeta { location, last_modified: file.last_modified, size: file.size, e_tag: None, version: None }
}

/// Gives the files that are the same as before (path, size and modification time) the distinct
/// counts they had, which footers do not hold.
pub(crate) fn keep_distinct_counts(files: &mut [DataFile], before: &[DataFile]) {
    for file in files {
        let same =
            |old: &&DataFile| old.path == file.path && old.size == file.size && old.last_modified == file.last_modified;
        let Some(old) = before.iter().find(same) else { continue };
        for (name, stats) in &mut file.columns {
            stats.distinct = old.columns.get(name).and_then(|old| old.distinct);
        }
    }
}

/// Puts the catalog's statistics of a table's files into DataFusion's cache, where a listing
/// table looks before it reads a footer. An entry is used only for a file whose size and
/// modification time still match.
pub(crate) fn seed(
    cache: &Arc<FileStatisticsCache>,
    table: &TableReference,
    url: &ListingTableUrl,
    file_schema: &SchemaRef,
    files: &[DataFile],
) {
    let fingerprint = Arc::new(SchemaFingerprint::from_schema(file_schema));
    for file in files {
        let meta = object_meta(url, file);
        let location = meta.location.clone();
        let entry =
            CachedFileMetadata::new(meta, Arc::clone(&fingerprint), Arc::new(statistics(file, file_schema)), None);
        cache.put(&TableScopedPath { table: Some(table.clone()), path: location }, entry);
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{Field, TimeUnit};

    use super::*;

    #[test]
    fn statistics_survive_the_catalog() {
        let values = [
            (DataType::Int32, ScalarValue::Int32(Some(-42))),
            (DataType::UInt64, ScalarValue::UInt64(Some(u64::MAX))),
            (DataType::Float64, ScalarValue::Float64(Some(0.1))),
            (DataType::Decimal128(10, 2), ScalarValue::Decimal128(Some(-1234), 10, 2)),
            (DataType::Utf8View, ScalarValue::Utf8View(Some("Books, \"new\"".into()))),
            (DataType::Date32, ScalarValue::Date32(Some(19_723))),
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                ScalarValue::TimestampMicrosecond(Some(1_700_000_000_123_456), Some("UTC".into())),
            ),
            (DataType::Boolean, ScalarValue::Boolean(Some(true))),
        ];
        for (data_type, value) in values {
            let text = literal(&Precision::Exact(value.clone()), &data_type).expect("a literal");
            assert_eq!(
                scalar(&Some(text.clone()), &data_type, true),
                Precision::Exact(value),
                "{data_type} via {text}"
            );
        }
        let binary = literal(&Precision::Exact(ScalarValue::Binary(Some(vec![1]))), &DataType::Binary);
        assert_eq!(binary, None, "types that do not survive text are not recorded");
    }

    #[test]
    fn a_file_is_known_by_its_path_under_the_table() {
        let url = ListingTableUrl::parse("/warehouse/data/sales/").expect("a URL");
        let schema = Schema::new(vec![Field::new("amount", DataType::Int64, true)]);
        let meta = ObjectMeta {
            location: Path::parse("warehouse/data/sales/year=2024/part-0.parquet").expect("a path"),
            last_modified: chrono::Utc::now(),
            size: 1234,
            e_tag: None,
            version: None,
        };
        let stats = Statistics {
            num_rows: Precision::Exact(3),
            total_byte_size: Precision::Absent,
            column_statistics: vec![ColumnStatistics {
                null_count: Precision::Exact(1),
                min_value: Precision::Exact(ScalarValue::Int64(Some(5))),
                max_value: Precision::Exact(ScalarValue::Int64(Some(9))),
                ..ColumnStatistics::new_unknown()
            }],
        };
        let file = data_file(&url, &meta, &schema, &stats);
        assert_eq!(file.path, "year=2024/part-0.parquet");
        assert_eq!(file.rows, 3);
        let amount = &file.columns["amount"];
        assert_eq!(
            (amount.min.as_deref(), amount.max.as_deref(), amount.nulls, amount.exact),
            (Some("5"), Some("9"), Some(1), true)
        );
        let back = statistics(&file, &schema);
        assert_eq!(back.num_rows, Precision::Exact(3));
        assert_eq!(back.column_statistics[0].max_value, Precision::Exact(ScalarValue::Int64(Some(9))));
    }
}
