//! Snapshots: what one query reads.
//!
//! Each pipeline's tables live in shards, one per partition of its topic, and a shard changes
//! only by a commit (a new manifest named by its `CURRENT`). A [`Snapshot`] holds, for every
//! pipeline, its tables over the manifest of each shard that was current when the query started,
//! plus the reference tables. The processors may commit while the query runs; the query keeps
//! reading its manifests' files, because the snapshot pins each with a reader lease
//! ([`lantern_tables::readers`]) until the last query holding it finishes.
//!
//! [`Catalog::snapshot`] reads each shard's `CURRENT` (a few bytes) per query, so a commit is
//! visible to the next query without restarting anything. Table providers (schemas read from
//! Parquet footers, aggregates summed over shards) are built once per set of manifests and shared
//! by all queries on it. With a table cache ([`Catalog::with_table_cache`]), so are the
//! aggregate tables' rows, computed on the first query that reads them ([`crate::materialized`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::catalog::TableProvider;
use lantern_tables::readers::{Pin, ReaderLease};
use lantern_tables::shards::{self, PublishedShard};
use lantern_tables::{manifest, outputs, register};

use crate::QueryError;
use crate::access::TableKind;
use crate::materialized::Materialized;

/// One shard as of one manifest, pinned while anyone holds it.
#[derive(Debug)]
struct ShardSnapshot {
    shard: PublishedShard,
    seq: u64,
    _pin: Pin,
}

/// One pipeline's tables over its shards, each at one manifest.
#[derive(Debug)]
pub struct PipelineSnapshot {
    pub pipeline: String,
    shards: Vec<Arc<ShardSnapshot>>,
    tables: BTreeMap<String, (TableKind, Arc<dyn TableProvider>)>,
}

impl PipelineSnapshot {
    /// `(partition, manifest seq)` of each shard.
    fn versions(&self) -> Vec<(i32, u64)> {
        self.shards
            .iter()
            .map(|s| (s.shard.partition, s.seq))
            .collect()
    }
}

/// A published partner table (its latest vintage) or a research extract.
type Outputs = BTreeMap<String, (TableKind, Arc<dyn TableProvider>)>;

/// Every table a query may see, each at one committed state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pipelines: Vec<Arc<PipelineSnapshot>>,
    reference: Arc<BTreeMap<String, Arc<dyn TableProvider>>>,
    outputs: Arc<Outputs>,
}

impl Snapshot {
    /// Looks a table up by name.
    pub fn table(&self, name: &str) -> Option<(TableKind, Arc<dyn TableProvider>)> {
        if let Some(table) = self.reference.get(name) {
            return Some((TableKind::Reference, Arc::clone(table)));
        }
        self.pipelines
            .iter()
            .find_map(|p| p.tables.get(name))
            .or_else(|| self.outputs.get(name))
            .map(|(kind, table)| (*kind, Arc::clone(table)))
    }

    /// Every table with its kind, sorted by name.
    pub fn tables(&self) -> Vec<(String, TableKind)> {
        let mut out: Vec<(String, TableKind)> = self
            .reference
            .keys()
            .map(|name| (name.clone(), TableKind::Reference))
            .chain(self.pipelines.iter().flat_map(|p| {
                p.tables
                    .iter()
                    .map(|(name, (kind, _))| (name.clone(), *kind))
            }))
            .chain(
                self.outputs
                    .iter()
                    .map(|(name, (kind, _))| (name.clone(), *kind)),
            )
            .collect();
        out.sort();
        out
    }

    /// `("pipeline/partition", manifest seq)` of each shard in this snapshot, for the audit log.
    pub fn versions(&self) -> Vec<(String, u64)> {
        self.pipelines
            .iter()
            .flat_map(|p| {
                p.versions()
                    .into_iter()
                    .map(|(partition, seq)| (format!("{}/{partition}", p.pipeline), seq))
            })
            .collect()
    }

    /// Each pipeline's per-record tables (never served to clients): `(pipeline, table, provider)`.
    /// Server-side summaries that reveal no record, such as which sources fed a pipeline, read
    /// them.
    pub fn internal_tables(&self) -> Vec<(&str, &str, Arc<dyn TableProvider>)> {
        self.pipelines
            .iter()
            .flat_map(|p| {
                p.tables
                    .iter()
                    .filter(|(_, (kind, _))| *kind == TableKind::Internal)
                    .map(|(name, (_, table))| {
                        (p.pipeline.as_str(), name.as_str(), Arc::clone(table))
                    })
            })
            .collect()
    }

    /// The shards of `pipeline` in this snapshot, each with the manifest it is pinned at.
    pub fn shards_of(&self, pipeline: &str) -> Vec<&PublishedShard> {
        self.pipelines
            .iter()
            .filter(|p| p.pipeline == pipeline)
            .flat_map(|p| p.shards.iter().map(|s| &s.shard))
            .collect()
    }

    /// The latest commit time among the shards (RFC 3339), if any has committed.
    pub fn committed_at(&self) -> Option<&str> {
        self.pipelines
            .iter()
            .flat_map(|p| p.shards.iter())
            .map(|s| s.shard.manifest.committed_at.as_str())
            .max()
    }
}

/// The published tables under a data directory, as seen by one query server.
pub struct Catalog {
    data_dir: PathBuf,
    reader_id: String,
    reference: Arc<BTreeMap<String, Arc<dyn TableProvider>>>,
    /// Schema inference for new manifests only; never runs client SQL.
    loader: datafusion::prelude::SessionContext,
    current: tokio::sync::Mutex<BTreeMap<PathBuf, Arc<PipelineSnapshot>>>,
    leases: Mutex<BTreeMap<PathBuf, Arc<ReaderLease>>>,
    /// Providers of published vintages and extracts, by data file (each is immutable).
    outputs: tokio::sync::Mutex<BTreeMap<PathBuf, Arc<dyn TableProvider>>>,
    /// Largest aggregate table held in memory per snapshot, in bytes; 0 holds none.
    table_cache_bytes: usize,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("data_dir", &self.data_dir)
            .field("reader_id", &self.reader_id)
            .finish()
    }
}

impl Catalog {
    /// A catalog of the pipelines under `data_dir` plus fixed `reference` tables.
    pub fn new(data_dir: &Path, reference: BTreeMap<String, Arc<dyn TableProvider>>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        Catalog {
            data_dir: data_dir.to_path_buf(),
            reader_id: format!("query-{}-{nanos:08x}", std::process::id()),
            reference: Arc::new(reference),
            loader: crate::session_context(),
            current: tokio::sync::Mutex::new(BTreeMap::new()),
            leases: Mutex::new(BTreeMap::new()),
            outputs: tokio::sync::Mutex::new(BTreeMap::new()),
            table_cache_bytes: 0,
        }
    }

    /// Holds each aggregate table of the current snapshot in memory once a query has read it,
    /// if it takes at most `bytes` (the query server's `query.table_cache_mb`). One-shot readers
    /// (`lantern sql`, publish, analyse) read each table once and need no cache.
    pub fn with_table_cache(mut self, bytes: usize) -> Self {
        self.table_cache_bytes = bytes;
        self
    }

    /// The current snapshot: each shard of each pipeline at the manifest its `CURRENT` names
    /// now. Pipelines that have not committed yet are absent.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, QueryError> {
        let mut current = self.current.lock().await;
        for dir in shards::pipeline_dirs(&self.data_dir)? {
            shards::check_layout(&dir)?;
            let mut live = Vec::new();
            for (partition, shard_dir) in shards::shard_dirs(&dir)? {
                if let Some(name) = manifest::current_name(&shard_dir)? {
                    live.push((partition, shard_dir, name));
                }
            }
            if live.is_empty() {
                continue;
            }
            let cached = current.get(&dir);
            let unchanged = cached.is_some_and(|p| {
                p.versions()
                    .into_iter()
                    .eq(live.iter().map(|(partition, _, name)| {
                        (*partition, manifest::seq_of(name).unwrap_or(u64::MAX))
                    }))
            });
            if unchanged {
                continue;
            }
            let mut loaded = Vec::with_capacity(live.len());
            for (partition, shard_dir, name) in &live {
                let reused = cached.and_then(|p| {
                    p.shards.iter().find(|s| {
                        s.shard.partition == *partition && Some(s.seq) == manifest::seq_of(name)
                    })
                });
                loaded.push(match reused {
                    Some(shard) => Arc::clone(shard),
                    None => Arc::new(self.load_shard(*partition, shard_dir, name)?),
                });
            }
            let pipeline = self.combine(loaded).await?;
            current.insert(dir, Arc::new(pipeline));
        }
        Ok(Arc::new(Snapshot {
            pipelines: current.values().cloned().collect(),
            reference: Arc::clone(&self.reference),
            outputs: Arc::new(self.outputs().await?),
        }))
    }

    /// The latest vintage of every published table, research extract and analytics table. A
    /// published vintage's files never change or go away, so they need no pin; an analytics
    /// vintage is deleted only long after a newer one replaced it (`lantern analyse`).
    async fn outputs(&self) -> Result<Outputs, QueryError> {
        let published = outputs::published_tables(&self.data_dir)?
            .into_iter()
            .map(|t| (t, TableKind::Published));
        let extracts = outputs::extract_tables(&self.data_dir)?
            .into_iter()
            .map(|t| (t, TableKind::Extract));
        let analytics = outputs::analytics_tables(&self.data_dir)?
            .into_iter()
            .map(|t| (t, TableKind::Analytics));
        let mut cache = self.outputs.lock().await;
        let mut out = Outputs::new();
        for (table, kind) in published.chain(extracts).chain(analytics) {
            let provider = match cache.get(&table.file) {
                Some(provider) => Arc::clone(provider),
                None => {
                    let state = self.loader.state();
                    let provider: Arc<dyn TableProvider> = register::listing_table(
                        &state,
                        &table.name,
                        std::slice::from_ref(&table.file),
                    )
                    .await?;
                    cache.insert(table.file.clone(), Arc::clone(&provider));
                    provider
                }
            };
            out.insert(table.name, (kind, provider));
        }
        Ok(out)
    }

    /// Rewrites this server's reader leases (the heartbeat; see `LEASE_REFRESH`).
    pub fn refresh_leases(&self) {
        let leases = self.leases.lock().expect("lease map lock poisoned");
        for lease in leases.values() {
            if let Err(error) = lease.refresh() {
                tracing::warn!(%error, "Could not refresh a reader lease.");
            }
        }
    }

    fn load_shard(
        &self,
        partition: i32,
        dir: &Path,
        name: &str,
    ) -> Result<ShardSnapshot, QueryError> {
        // Pin first, then read: the garbage collector's grace period covers the moment between
        // reading CURRENT and this pin; from here on the lease keeps the files.
        let seq = manifest::seq_of(name).ok_or_else(|| lantern_tables::TableError::Manifest {
            path: dir.join("CURRENT"),
            reason: format!("{name:?} is not a manifest file name"),
        })?;
        let pin = self.lease(dir).pin(seq)?;
        let manifest = manifest::load(dir, name)?;
        Ok(ShardSnapshot {
            shard: PublishedShard {
                partition,
                dir: dir.to_path_buf(),
                manifest,
            },
            seq,
            _pin: pin,
        })
    }

    /// A pipeline's tables over `shards`.
    async fn combine(
        &self,
        shards: Vec<Arc<ShardSnapshot>>,
    ) -> Result<PipelineSnapshot, QueryError> {
        let published: Vec<PublishedShard> = shards.iter().map(|s| s.shard.clone()).collect();
        let state = self.loader.state();
        let mut tables = BTreeMap::new();
        for (table, internal) in register::tables_of(&published) {
            let mut provider = register::combined_table(&state, table, &published).await?;
            let kind = match internal {
                true => TableKind::Internal,
                false => TableKind::Aggregate,
            };
            if kind == TableKind::Aggregate && self.table_cache_bytes > 0 {
                provider = Arc::new(Materialized::new(table, provider, self.table_cache_bytes));
            }
            tables.insert(table.to_string(), (kind, provider));
        }
        Ok(PipelineSnapshot {
            pipeline: published[0].manifest.pipeline.clone(),
            shards,
            tables,
        })
    }

    fn lease(&self, dir: &Path) -> Arc<ReaderLease> {
        let mut leases = self.leases.lock().expect("lease map lock poisoned");
        Arc::clone(
            leases
                .entry(dir.to_path_buf())
                .or_insert_with(|| ReaderLease::new(dir, &self.reader_id)),
        )
    }
}
