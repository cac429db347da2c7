//! Staged change rows to Parquet data files of an Iceberg table: Arrow batches built against the
//! table's current schema (so each column carries its field id), split by the partition spec,
//! written through the crate's rolling data-file writers.
//!
//! Invariants: a batch's columns follow the table schema, not the source's column order; a field
//! the rows' source schema lacks (a dropped column) is all null; data file names start with a
//! fresh UUIDv7, so files of a commit that failed never collide with a later commit's (they are
//! unreferenced, invisible to readers, and removed by the table's orphan-file maintenance).

use std::sync::Arc;

use arrow_array::{new_null_array, RecordBatch};
use arrow_schema::SchemaRef;
use iceberg::arrow::{schema_to_arrow_schema, RecordBatchPartitionSplitter};
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_core::{TableSchema, Value};
use sluice_s3::rows::FileRow;

use crate::catalog::META_COLUMNS;
use crate::error::IcebergError;

/// Data files target this size (the rolling writer starts a new file past it).
const TARGET_FILE_BYTES: usize = 128 << 20;

/// Rows of one source schema version.
pub struct Slice<'a> {
    pub table: &'a TableSchema,
    pub rows: &'a [FileRow],
}

/// The Arrow batch of `slice` in the layout of `arrow` (the table's current schema).
pub fn batch(arrow: &SchemaRef, slice: &Slice<'_>) -> Result<RecordBatch, String> {
    let rows = slice.rows;
    let mut cols = sluice_s3::parquet::meta_arrays(arrow, rows)?;
    for f in arrow.fields().iter().skip(META_COLUMNS.len()) {
        let col = match slice.table.column_index(f.name()) {
            None => new_null_array(f.data_type(), rows.len()),
            Some(i) => {
                let vals: Vec<Option<&Value>> =
                    rows.iter().map(|r| r.image.get(i).filter(|v| !v.is_null())).collect();
                sluice_s3::parquet::array(f.data_type(), &vals)
                    .map_err(|e| format!("column {}: {e}", f.name()))?
            }
        };
        cols.push(col);
    }
    RecordBatch::try_new(arrow.clone(), cols).map_err(|e| e.to_string())
}

/// Write `slices` as data files of `table` (its current schema and default partition spec).
pub async fn data_files(
    table: &Table,
    slices: &[Slice<'_>],
    zstd_level: i32,
) -> Result<Vec<DataFile>, IcebergError> {
    let id = table.identifier();
    let fail = |what: &str, e: iceberg::Error| IcebergError::from_iceberg(&format!("{what} for {id}"), &e);
    let md = table.metadata();
    let schema = md.current_schema().clone();
    let arrow: SchemaRef =
        Arc::new(schema_to_arrow_schema(&schema).map_err(|e| fail("the Arrow schema", e))?);
    let level = ZstdLevel::try_new(zstd_level).map_err(|e| IcebergError::fatal(e.to_string()))?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(level)).build();
    let names =
        DefaultFileNameGenerator::new(uuid::Uuid::now_v7().to_string(), None, DataFileFormat::Parquet);
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, schema.clone()),
        TARGET_FILE_BYTES,
        table.file_io().clone(),
        DefaultLocationGenerator::new(md).map_err(|e| fail("data file locations", e))?,
        names,
    );
    let builder = DataFileWriterBuilder::new(rolling);
    let mut batches = Vec::with_capacity(slices.len());
    for s in slices {
        let b = batch(&arrow, s)
            .map_err(|e| IcebergError::fatal(format!("{} rows for {id}: {e}", s.table.id)))?;
        batches.push(b);
    }
    let spec = md.default_partition_spec();
    if spec.is_unpartitioned() {
        let mut w = builder.build(None).await.map_err(|e| fail("a data file writer", e))?;
        for b in batches {
            w.write(b).await.map_err(|e| fail("writing a data file", e))?;
        }
        return w.close().await.map_err(|e| fail("closing a data file", e));
    }
    let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(schema.clone(), spec.clone())
        .map_err(|e| fail("the partition splitter", e))?;
    let mut fanout = FanoutWriter::new(builder);
    for b in batches {
        for (key, part) in splitter.split(&b).map_err(|e| fail("partitioning rows", e))? {
            fanout.write(key, part).await.map_err(|e| fail("writing a data file", e))?;
        }
    }
    fanout.close().await.map_err(|e| fail("closing data files", e))
}
