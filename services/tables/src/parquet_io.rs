//! Parquet reading and writing for the table store.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::TableError;

/// Writes `batches` (all with `schema`) to a new Parquet file and fsyncs it.
pub fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), TableError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(TableError::io(parent))?;
    }
    let file = fs::File::create(path).map_err(TableError::io(path))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema, Some(props)).map_err(TableError::parquet(path))?;
    for batch in batches {
        writer.write(batch).map_err(TableError::parquet(path))?;
    }
    let file = writer.into_inner().map_err(TableError::parquet(path))?;
    file.sync_all().map_err(TableError::io(path))
}

/// The Arrow schema of a Parquet file, from its footer alone.
pub fn read_schema(path: &Path) -> Result<SchemaRef, TableError> {
    let file = fs::File::open(path).map_err(TableError::io(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(TableError::parquet(path))?;
    Ok(Arc::clone(builder.schema()))
}

/// Reads a whole Parquet file.
pub fn read_parquet(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), TableError> {
    let file = fs::File::open(path).map_err(TableError::io(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(TableError::parquet(path))?;
    let schema = Arc::clone(builder.schema());
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(TableError::parquet(path))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TableError::parquet(path)(e.into()))?;
    Ok((schema, batches))
}
