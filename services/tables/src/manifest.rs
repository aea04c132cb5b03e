//! The manifest: which files make up each table, and how far each input partition was read.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TableError;

/// Bumped if the manifest layout ever changes incompatibly.
pub const MANIFEST_FORMAT: u32 = 1;

/// One published state of a pipeline's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version of this file.
    pub format: u32,
    /// The pipeline that owns these tables.
    pub pipeline: String,
    /// Commit sequence number; increases by one per commit.
    pub seq: u64,
    /// When the commit was published (RFC 3339, processing time: for operators only).
    pub committed_at: String,
    /// Next offset to consume per topic and partition: everything before it is reflected here.
    pub offsets: BTreeMap<String, BTreeMap<i32, i64>>,
    /// Table name -> its files.
    pub tables: BTreeMap<String, TableFiles>,
}

/// The files of one table in one manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableFiles {
    /// Internal tables (per-record state) are never exposed to SQL clients.
    pub internal: bool,
    /// The columns summed when shards are combined (an aggregate's `COUNT`s and `SUM`s, grouped
    /// by every other column); none for a table whose shards are simply concatenated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<String>,
    /// Partition (a month 'YYYY-MM', or `_schema` for the empty file that fixes the schema of a
    /// table with no data yet) -> file path relative to the shard directory (it may lead out of
    /// it: see [`crate::layout`]; resolve it with [`file_path`]).
    pub partitions: BTreeMap<String, String>,
}

/// The partition key of the zero-row file that every table starts with.
pub const SCHEMA_PARTITION: &str = "_schema";

impl Manifest {
    pub fn empty(pipeline: &str) -> Self {
        Manifest {
            format: MANIFEST_FORMAT,
            pipeline: pipeline.to_string(),
            seq: 0,
            committed_at: String::new(),
            offsets: BTreeMap::new(),
            tables: BTreeMap::new(),
        }
    }

    /// Absolute paths of a table's files.
    pub fn table_paths(&self, store_dir: &Path, table: &str) -> Vec<PathBuf> {
        self.tables
            .get(table)
            .map(|t| {
                t.partitions
                    .values()
                    .map(|f| file_path(store_dir, f))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Bytes of the files this manifest names that `previous` did not: what its commit wrote.
    /// A file that cannot be read counts 0 (only metrics use this).
    pub fn bytes_added(&self, store_dir: &Path, previous: &Manifest) -> u64 {
        let before: std::collections::BTreeSet<&String> = previous
            .tables
            .values()
            .flat_map(|t| t.partitions.values())
            .collect();
        self.tables
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|file| !before.contains(file))
            .filter_map(|file| fs::metadata(file_path(store_dir, file)).ok())
            .map(|meta| meta.len())
            .sum()
    }
}

/// The absolute path of a file a manifest names, `..` resolved, so that the same file always has
/// the same path (readers and the garbage collector compare paths).
pub fn file_path(store_dir: &Path, relative: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for part in store_dir.join(relative).components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where a pipeline's files live.
pub fn pipeline_dir(data_dir: &Path, pipeline: &str) -> PathBuf {
    data_dir.join(pipeline)
}

pub(crate) fn manifest_file_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

/// Loads the live manifest of a pipeline, or `None` if it has never committed.
pub fn load_current(store_dir: &Path) -> Result<Option<Manifest>, TableError> {
    match current_name(store_dir)? {
        Some(name) => load(store_dir, &name).map(Some),
        None => Ok(None),
    }
}

/// The file name of the live manifest (what `CURRENT` says), or `None` before the first commit.
/// Readers that must not see two commits resolve this once and then [`load`] that name.
pub fn current_name(store_dir: &Path) -> Result<Option<String>, TableError> {
    let current = store_dir.join("CURRENT");
    match fs::read_to_string(&current) {
        Ok(name) => Ok(Some(name.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TableError::io(&current)(e)),
    }
}

/// The commit sequence number a manifest file name carries (`00000000000000000017.json`).
pub fn seq_of(name: &str) -> Option<u64> {
    name.strip_suffix(".json")?.parse().ok()
}

/// Loads the manifest file `name` of a pipeline and checks its format.
pub fn load(store_dir: &Path, name: &str) -> Result<Manifest, TableError> {
    let path = store_dir.join("manifests").join(name);
    let text = fs::read(&path).map_err(TableError::io(&path))?;
    parse(&text, &path)
}

/// A manifest from its bytes (`path` is where they came from, for errors), its format checked.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, TableError> {
    let path = path.to_path_buf();
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| TableError::Manifest {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(TableError::Manifest {
            path,
            reason: format!(
                "format {} is not supported (expected {MANIFEST_FORMAT})",
                manifest.format
            ),
        });
    }
    Ok(manifest)
}

/// Makes `manifest` the live manifest of the store at `store_dir`: writes its file, then swaps
/// `CURRENT` to it with a rename, fsyncing both. The files it names must already be durable.
pub fn install(store_dir: &Path, manifest: &Manifest) -> Result<(), TableError> {
    let manifests = store_dir.join("manifests");
    fs::create_dir_all(&manifests).map_err(TableError::io(&manifests))?;
    let name = manifest_file_name(manifest.seq);
    let body = serde_json::to_vec_pretty(manifest).map_err(|e| TableError::Manifest {
        path: manifests.join(&name),
        reason: e.to_string(),
    })?;
    write_durably(&manifests.join(&name), &body)?;
    sync_dir(&manifests)?;

    let tmp = store_dir.join("CURRENT.tmp");
    let current = store_dir.join("CURRENT");
    write_durably(&tmp, name.as_bytes())?;
    fs::rename(&tmp, &current).map_err(TableError::io(&current))?;
    sync_dir(store_dir)
}

/// Writes `bytes` to `path` and fsyncs it, so a later rename cannot expose an empty file.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), TableError> {
    let mut file = fs::File::create(path).map_err(TableError::io(path))?;
    file.write_all(bytes).map_err(TableError::io(path))?;
    file.sync_all().map_err(TableError::io(path))
}

/// Fsyncs a directory so renames and new entries in it survive a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), TableError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(TableError::io(dir))
}
