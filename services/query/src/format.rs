//! Rendering results for `lantern sql`: an aligned table, CSV or JSON.

use std::fmt;
use std::str::FromStr;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::QueryError;

/// How [`format_batches`] renders a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table (Arrow's pretty printer).
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects, one per row; NULLs are written as `null`.
    Json,
}

impl FromStr for OutputFormat {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            other => Err(QueryError::UnknownFormat(other.to_string())),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
        })
    }
}

/// Renders query results: an aligned table, CSV with a header, or a JSON array of objects.
///
/// With no batches at all (DataFusion may return none for an empty result) `table` prints an
/// empty frame, `csv` an empty string and `json` `[]`.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, QueryError> {
    match format {
        OutputFormat::Table => arrow::util::pretty::pretty_format_batches(batches)
            .map(|table| table.to_string())
            .map_err(QueryError::Format),
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(QueryError::Format)?;
            }
            utf8(writer.into_inner())
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(QueryError::Format)?;
            }
            writer.finish().map_err(QueryError::Format)?;
            utf8(writer.into_inner())
        }
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, QueryError> {
    String::from_utf8(bytes).map_err(|e| QueryError::Format(ArrowError::ExternalError(Box::new(e))))
}
