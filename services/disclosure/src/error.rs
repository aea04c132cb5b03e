use std::path::PathBuf;

/// Why a release, extract or verification could not be done.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    #[error("disclosure policy: {0}")]
    Policy(String),
    #[error("disclosure key: {0}")]
    Key(String),
    #[error("no source data: {0}")]
    NoSource(String),
    #[error("extract refused: {0}")]
    Refused(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error(transparent)]
    Query(#[from] lantern_query::QueryError),
    #[error(transparent)]
    Table(#[from] lantern_tables::TableError),
    #[error("reading the source: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("writing output: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl DisclosureError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| DisclosureError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
