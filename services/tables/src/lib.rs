//! Lantern's table store: immutable Parquet files published by atomic manifests.
//!
//! Each pipeline (incidents, business crime, cybercrime) owns a directory under the data dir,
//! with one shard per partition of its topic ([`shards`]), each a table store of its own:
//!
//! ```text
//! <data_dir>/<pipeline>/shards/<partition>/
//!     CURRENT                 name of the live manifest (replaced atomically)
//!     manifests/<seq>.json    one per commit: files per table + Kafka offsets
//! <data_dir>/<pipeline>/tables/<table>/
//!     shard=<partition>/month=YYYY-MM/<seq>.parquet   immutable data files, never rewritten
//!     _delta_log/             the table as a Delta Lake table, for other tools ([`delta`])
//! ```
//!
//! A commit writes new files for the months it touched, fsyncs them, writes the next manifest,
//! then swaps `CURRENT` with a rename. Readers resolve `CURRENT` once and see exactly one
//! manifest's files, so a query never sees a half-written table. Because the manifest also
//! carries the consumer offsets, "what the tables say" and "how far the input was read" change
//! together in one atomic step: that is what makes the processor's restarts exact.
//!
//! - [`manifest`]: the manifest format and `CURRENT` pointer.
//! - [`layout`]: where a shard's files go: beside the other shards', one directory per table.
//! - [`delta`]: each table's Delta Lake log, so other tools read the committed snapshot.
//! - [`commit`]: building and publishing a commit; garbage collection of old files.
//! - [`parquet_io`]: reading and writing Parquet files.
//! - [`register`]: exposing the published tables, combined over shards, to DataFusion.
//! - [`shards`]: where a pipeline's shards are, and which have published.
//! - [`lock`]: one writer per shard directory.
//! - [`readers`]: leases by which query servers keep the manifests their queries read.
//! - [`remote`]: the tables on object storage (S3), for more than one host.
//! - [`outputs`]: where published partner tables and research extracts live.

pub mod commit;
pub mod delta;
mod error;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod outputs;
pub mod parquet_io;
pub mod readers;
pub mod register;
pub mod remote;
pub mod shards;

pub use commit::Commit;
pub use error::TableError;
pub use lock::{ShardLock, lock_shard, try_lock_shard};
pub use manifest::{Manifest, TableFiles};
pub use register::{PublishedPipeline, published_pipelines, register_all};
