use std::path::PathBuf;

/// Why an analytic could not be computed or written.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("analytics config: {0}")]
    Config(String),
    #[error("reference data {file}: {message}")]
    Reference { file: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] lantern_disclosure::DisclosureError),
    #[error(transparent)]
    Query(#[from] lantern_query::QueryError),
    #[error(transparent)]
    Table(#[from] lantern_tables::TableError),
    #[error(transparent)]
    Enrich(#[from] lantern_enrich::EnrichError),
    #[error("reading the tables: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("writing output: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("writing output: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl AnalyticsError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| AnalyticsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn reference(file: &str, message: impl std::fmt::Display) -> Self {
        AnalyticsError::Reference {
            file: file.to_string(),
            message: message.to_string(),
        }
    }
}
