use std::path::PathBuf;

/// Errors raised while loading the reference tables or parsing enum values.
///
/// Every variant that concerns a file names the file, and where it concerns a row, the
/// 1-based line number in that file (the header is line 1).
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] lantern_pipelines::PipelineFileError),
    /// The CSV reader failed (malformed quoting, invalid UTF-8, ...).
    #[error("{}:{line}: malformed CSV: {source}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        #[source]
        source: csv::Error,
    },
    /// A required column is absent from the header.
    #[error("{}:1: missing column {column:?} in header", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
    /// A row holds a value that cannot be used.
    #[error("{}:{line}: {message}", path.display())]
    InvalidRow {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// The configured force area code matches no LSOA in `places/lsoa.csv`.
    #[error("{}: force area code {code:?} matches no LSOA", path.display())]
    UnknownForceArea { path: PathBuf, code: String },
    /// A string is not one of the property type names.
    #[error(
        "unknown property type {0:?} (expected dwelling, business_premises, vehicle, personal_property, online, none or unknown)"
    )]
    UnknownPropertyType(String),
}
