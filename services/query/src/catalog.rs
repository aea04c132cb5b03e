//! Snapshots: what one query reads.
//!
//! Each pipeline's tables change only by a commit (a new manifest named by `CURRENT`). A
//! [`Snapshot`] holds, for every pipeline, the tables of the one manifest that was current when
//! the query started, plus the reference tables. The processor may commit while the query runs;
//! the query keeps reading its manifest's files, because the snapshot pins that manifest with a
//! reader lease ([`lantern_tables::readers`]) until the last query holding it finishes.
//!
//! [`Catalog::snapshot`] reads each `CURRENT` (a few bytes) per query, so a commit is visible to
//! the next query without restarting anything. Table providers (schemas read from Parquet
//! footers) are built once per manifest and shared by all queries on it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::catalog::TableProvider;
use lantern_tables::manifest;
use lantern_tables::readers::{Pin, ReaderLease};

use crate::QueryError;
use crate::access::TableKind;

/// One pipeline's tables as of one manifest, pinned while anyone holds it.
#[derive(Debug)]
pub struct PipelineSnapshot {
    pub pipeline: String,
    pub seq: u64,
    /// When the manifest was committed (RFC 3339).
    pub committed_at: String,
    tables: BTreeMap<String, (TableKind, Arc<dyn TableProvider>)>,
    _pin: Pin,
}

/// Every table a query may see, each at one committed state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pipelines: Vec<Arc<PipelineSnapshot>>,
    reference: Arc<BTreeMap<String, Arc<dyn TableProvider>>>,
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
            .collect();
        out.sort();
        out
    }

    /// `(pipeline, manifest seq)` of each pipeline in this snapshot, for the audit log.
    pub fn versions(&self) -> Vec<(String, u64)> {
        self.pipelines
            .iter()
            .map(|p| (p.pipeline.clone(), p.seq))
            .collect()
    }

    /// The latest commit time among the pipelines (RFC 3339), if any has committed.
    pub fn committed_at(&self) -> Option<&str> {
        self.pipelines.iter().map(|p| p.committed_at.as_str()).max()
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
        }
    }

    /// The current snapshot: each pipeline at the manifest `CURRENT` names now. Pipelines that
    /// have not committed yet are absent.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, QueryError> {
        let mut current = self.current.lock().await;
        for dir in pipeline_dirs(&self.data_dir)? {
            let Some(name) = manifest::current_name(&dir)? else {
                continue;
            };
            let seq = manifest::seq_of(&name);
            if current.get(&dir).map(|p| Some(p.seq)) == Some(seq) {
                continue;
            }
            let loaded = self.load(&dir, &name).await?;
            current.insert(dir, Arc::new(loaded));
        }
        Ok(Arc::new(Snapshot {
            pipelines: current.values().cloned().collect(),
            reference: Arc::clone(&self.reference),
        }))
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

    async fn load(&self, dir: &Path, name: &str) -> Result<PipelineSnapshot, QueryError> {
        // Pin first, then read: the garbage collector's grace period covers the moment between
        // reading CURRENT and this pin; from here on the lease keeps the files.
        let seq = manifest::seq_of(name).ok_or_else(|| lantern_tables::TableError::Manifest {
            path: dir.join("CURRENT"),
            reason: format!("{name:?} is not a manifest file name"),
        })?;
        let pin = self.lease(dir).pin(seq)?;
        let manifest = manifest::load(dir, name)?;
        let state = self.loader.state();
        let mut tables = BTreeMap::new();
        for (table, files) in &manifest.tables {
            let provider = lantern_tables::register::listing_table(
                &state,
                table,
                &manifest.table_paths(dir, table),
            )
            .await?;
            let kind = if files.internal {
                TableKind::Internal
            } else {
                TableKind::Aggregate
            };
            tables.insert(table.clone(), (kind, provider as Arc<dyn TableProvider>));
        }
        Ok(PipelineSnapshot {
            pipeline: manifest.pipeline,
            seq,
            committed_at: manifest.committed_at,
            tables,
            _pin: pin,
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

fn pipeline_dirs(data_dir: &Path) -> Result<Vec<PathBuf>, QueryError> {
    let entries = match fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(lantern_tables::TableError::Io {
                path: data_dir.to_path_buf(),
                source,
            }
            .into());
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}
