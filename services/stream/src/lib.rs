//! Lantern's stream processors: Kafka in, validated and enriched facts, aggregate tables out.
//!
//! One pipeline per event kind (incidents, business crime, cybercrime). Each pipeline:
//!
//! 1. reads its topic in batches ([`source`]), decoding every message once with the typed
//!    schema decoder (`lantern-schemas`);
//! 2. sends what fails decoding or validation to the dead-letter topic ([`dlq`]);
//! 3. enriches the rest by place and property type into a *fact* — one row per record, the
//!    latest version ([`facts`]);
//! 4. judges each version against its record's held one ([`state`], looked up in the on-disk
//!    [`index`]): newer versions replace older ones, duplicates and stale versions change
//!    nothing, cancellations become tombstones, conflicts are dead-lettered;
//! 5. merges the batch's changes into the aggregates: the aggregate SQL in `pipelines/sql/` runs
//!    over the new versions and over the versions they replaced, and the signed difference is
//!    added to the touched months' rows ([`aggregate`]);
//! 6. publishes facts, aggregates and the consumer offsets in one atomic manifest
//!    (`lantern-tables`, via [`store`]), and only then commits the offsets to Kafka ([`runner`]).
//!
//! Steps 1–4 are the Kafka-free [`core`]: a batch of raw messages in; state changes, dead letters
//! and next offsets out. The runner is a thin driver around it.
//!
//! The manifest is the single source of truth on restart: offsets come from it, and the record
//! index catches up with the facts files it names, so a crash at any point loses nothing and
//! counts nothing twice.

pub mod aggregate;
pub mod core;
pub mod dlq;
mod error;
pub mod facts;
pub mod group;
pub mod index;
pub mod kafka;
pub mod metrics;
pub mod partitioner;
pub mod pipelines;
pub mod runner;
pub mod shard;
pub mod source;
pub mod state;
pub mod store;
pub mod time;

pub use error::StreamError;
pub use metrics::StreamMetrics;
pub use runner::{RunOptions, run};
