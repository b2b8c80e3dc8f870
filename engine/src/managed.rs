//! Managed tables as DataFusion reads them: exactly the files a catalog version lists, never a
//! listing of the folder. A file a failed or unfinished load left in the folder is invisible, and
//! an old version reads the files it listed (time travel) even after newer ones were added.
//!
//! Each file is planned with the statistics the catalog recorded when it was written, so a scan
//! prunes files by min/max before reading any footer; partition values come from the file's
//! `key=value` folders.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Constraints, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::create_lex_ordering;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use object_store::path::Path;
use percent_encoding::percent_decode_str;
use starhouse_catalog::{DataFile, TableDef, WarehouseRoot};

use crate::parquet::WarehouseParquet;
use crate::{location, stats, tables, write};

/// A managed table at one catalog version.
#[derive(Debug)]
pub(crate) struct ManagedTable {
    def: Arc<TableDef>,
    schema: SchemaRef,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    store_url: ObjectStoreUrl,
    /// The table's folder in its store, which the catalog's file paths are relative to.
    folder: Path,
    format: Arc<WarehouseParquet>,
    constraints: Constraints,
}

impl ManagedTable {
    pub fn new(
        root: &WarehouseRoot,
        def: Arc<TableDef>,
        format: Arc<WarehouseParquet>,
        constraints: Constraints,
    ) -> Result<Self> {
        let url = location::to_listing_url(root, &def.location).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let file_schema = tables::file_schema(&def);
        let partition_fields: Vec<FieldRef> = def
            .partition_columns
            .iter()
            .filter_map(|name| def.columns.iter().find(|c| &c.name == name))
            .map(|c| Arc::new(Field::new(&c.name, c.data_type.clone(), c.nullable)))
            .collect();
        let fields: Vec<FieldRef> =
            file_schema.fields().iter().cloned().chain(partition_fields.iter().cloned()).collect();
        Ok(Self {
            schema: Arc::new(Schema::new(fields)),
            file_schema,
            partition_fields,
            store_url: url.object_store(),
            folder: url.prefix().clone(),
            def,
            format,
            constraints,
        })
    }

    /// The table's catalog definition, at the version this table was built from.
    pub fn def(&self) -> &Arc<TableDef> {
        &self.def
    }

    /// The file as DataFusion scans it: its place in the store, partition values and statistics.
    fn partitioned_file(&self, file: &DataFile) -> Result<PartitionedFile> {
        let relative = Path::parse(&file.path).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let location = Path::from_iter(self.folder.parts().chain(relative.parts()));
        let mut scanned = PartitionedFile::from(stats::object_meta_at(location, file));
        let values = partition_values(&file.path);
        scanned = scanned.with_partition_values(
            self.partition_fields
                .iter()
                .map(|field| {
                    let value = values.iter().find(|(k, _)| k == field.name()).map(|(_, v)| v.clone());
                    match value.filter(|v| v != write::HIVE_NULL) {
                        Some(value) => ScalarValue::try_from_string(value, field.data_type()),
                        None => ScalarValue::try_from(field.data_type()),
                    }
                })
                .collect::<Result<Vec<_>>>()?,
        );
        let scanned = scanned.with_statistics(Arc::new(stats::statistics(file, &self.file_schema)));
        Ok(with_null_partitions(scanned, file.rows))
    }
}

/// DataFusion counts no NULLs in a partition column; in a NULL partition every row is one. (Its
/// min and max stay a typed NULL, so that the files' statistics still form one array.)
fn with_null_partitions(mut file: PartitionedFile, rows: u64) -> PartitionedFile {
    let nulls: Vec<usize> =
        file.partition_values.iter().enumerate().filter(|(_, v)| v.is_null()).map(|(i, _)| i).collect();
    if let (false, Some(statistics)) = (nulls.is_empty(), &file.statistics) {
        let mut statistics = statistics.as_ref().clone();
        let first = statistics.column_statistics.len() - file.partition_values.len();
        for i in nulls {
            let column = &mut statistics.column_statistics[first + i];
            column.null_count = Precision::Exact(rows as usize);
        }
        file.statistics = Some(Arc::new(statistics));
    }
    file
}

impl ManagedTable {
    /// The files that may hold rows matching `filters`, by their partition values and the
    /// catalog's statistics: the rest are never opened, not even for their footers.
    fn prune(
        &self,
        state: &dyn Session,
        filters: &[Expr],
        files: Vec<PartitionedFile>,
    ) -> Result<Vec<PartitionedFile>> {
        let Some(filter) = conjunction(filters.iter().cloned()) else {
            return Ok(files);
        };
        let schema = DFSchema::try_from(Arc::clone(&self.schema))?;
        let predicate = state.create_physical_expr(filter, &schema)?;
        let Some(pruning) = PruningPredicateBuilder::new().with_file_schema(Arc::clone(&self.schema)).build(predicate)
        else {
            return Ok(files);
        };
        let statistics: Vec<Arc<Statistics>> = files
            .iter()
            .map(|f| f.statistics.clone().unwrap_or_else(|| Arc::new(Statistics::new_unknown(&self.schema))))
            .collect();
        let keep = pruning.prune(&PrunableStatistics::new(statistics, Arc::clone(&self.schema)))?;
        Ok(files.into_iter().zip(keep).filter_map(|(file, keep)| keep.then_some(file)).collect())
    }
}

/// The `key=value` folders of a path under a table (as the object store spells it), decoded: once
/// for the store's own encoding, once for Hive's escapes (see `write::escape`).
pub(crate) fn partition_values(path: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let once = percent_decode_str(text).decode_utf8_lossy();
        percent_decode_str(&once).decode_utf8_lossy().into_owned()
    };
    let folders = path.rsplit_once('/').map_or("", |(folders, _)| folders);
    folders.split('/').filter_map(|part| part.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

#[async_trait]
impl TableProvider for ManagedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn constraints(&self) -> Option<&Constraints> {
        Some(&self.constraints)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.def.files.iter().map(|f| self.partitioned_file(f)).collect::<Result<Vec<_>>>()?;
        let files = self.prune(state, filters, files)?;
        if files.is_empty() {
            let schema = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => self.schema(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let statistics =
            Statistics::try_merge_iter(files.iter().filter_map(|f| f.statistics.as_deref()), &self.schema)?;
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let sort_order = tables::sort_exprs(&self.def);
        let ordering = if sort_order.is_empty() {
            Vec::new()
        } else {
            create_lex_ordering(&self.schema, &[sort_order], state.execution_props())?
        };
        let source = self.format.file_source(
            TableSchema::builder(Arc::clone(&self.file_schema))
                .with_table_partition_cols(self.partition_fields.clone())
                .build(),
        );
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_constraints(self.constraints.clone())
            .with_statistics(statistics)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_output_ordering(ordering)
            .build();
        self.format.create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_come_from_the_folders() {
        assert_eq!(
            partition_values("year=2024/region=North%20East/part-0.parquet"),
            [("year".to_string(), "2024".to_string()), ("region".to_string(), "North East".to_string())]
        );
        // Hive's escape of `/`, with the store's encoding of its `%` over it.
        assert_eq!(partition_values("region=north%252Feast/part-0.parquet"), [("region".into(), "north/east".into())]);
        assert!(partition_values("part-0.parquet").is_empty());
    }
}
