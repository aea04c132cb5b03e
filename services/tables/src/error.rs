use std::path::PathBuf;

/// Errors from the table store. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Parquet error on {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("invalid manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path} is locked by another Lantern process writing the same shard")]
    Locked { path: PathBuf },
    #[error(
        "{path} holds tables in the unsharded layout Lantern used before tables were sharded by \
         partition: move the directory away and reprocess the topic from the beginning \
         (`lantern process`), or keep running the earlier version"
    )]
    UnshardedLayout { path: PathBuf },
    #[error("Delta Lake log of table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },
    #[error("object store {url}: {reason}")]
    Remote { url: String, reason: String },
    #[error(
        "another writer published commit {seq} of {pipeline} shard {partition} to the object \
         store first; this instance's commit is discarded and it stops writing the shard"
    )]
    LostShard {
        pipeline: String,
        partition: i32,
        seq: u64,
    },
    #[error("cannot register table {table}: {source}")]
    Register {
        table: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
}

impl TableError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| TableError::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Self {
        let path = path.into();
        move |source| TableError::Parquet { path, source }
    }
}
