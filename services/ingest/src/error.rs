//! Errors for the ingest crate.
//!
//! Only whole-input problems are errors (the file cannot be read, or its header is not a
//! police.uk street-level header). A bad *row* is not an error: it is returned as a
//! [`crate::RejectedRow`] so the rest of the file still imports.

use std::path::PathBuf;

/// A failure that stops an import as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input could not be opened or read.
    #[error("{path}: cannot read input: {source}")]
    Io {
        /// The file (or label) being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV reader failed in a way that leaves no record to reject (e.g. an I/O error
    /// mid-file).
    #[error("{path}:{line}: CSV read error: {source}")]
    Csv {
        /// The file (or label) being read.
        path: PathBuf,
        /// 1-based line where the reader stopped (0 when unknown).
        line: u64,
        /// The underlying CSV error.
        #[source]
        source: csv::Error,
    },
    /// The first line is not the police.uk street-level header.
    #[error("{path}:1: not a police.uk street-level CSV header: {detail}")]
    BadHeader {
        /// The file (or label) being read.
        path: PathBuf,
        /// Which column differs, or that the file is empty.
        detail: String,
    },
}
