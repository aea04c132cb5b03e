//! Building and publishing a commit, and removing files no manifest needs any more.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::TableError;
use crate::layout::FileLayout;
use crate::manifest::{self, Manifest, SCHEMA_PARTITION, TableFiles};
use crate::parquet_io::write_parquet;
use crate::readers;

/// The next manifest of a pipeline, being assembled. Nothing is visible to readers until
/// [`Commit::publish`] swaps `CURRENT`.
#[derive(Debug)]
pub struct Commit {
    store_dir: PathBuf,
    layout: FileLayout,
    next: Manifest,
    /// Drawn per commit and put in its file names, so no two commits' files share a name.
    token: u32,
    /// Directories that gained entries; fsynced before the manifest that references them.
    dirty_dirs: BTreeSet<PathBuf>,
}

impl Commit {
    /// Starts the commit that follows `previous` (or the first commit of a new pipeline).
    pub fn begin(store_dir: &Path, pipeline: &str, previous: Option<&Manifest>) -> Self {
        let mut next = previous
            .cloned()
            .unwrap_or_else(|| Manifest::empty(pipeline));
        next.seq += 1;
        Commit {
            store_dir: store_dir.to_path_buf(),
            layout: FileLayout::of(store_dir),
            next,
            token: rand::random(),
            dirty_dirs: BTreeSet::new(),
        }
    }

    pub fn seq(&self) -> u64 {
        self.next.seq
    }

    /// Makes sure `table` exists, with a zero-row file that fixes its schema, so SQL can query a
    /// table before any data has reached it. `measures` are the columns summed across shards
    /// (see [`TableFiles::measures`]).
    pub fn ensure_table(
        &mut self,
        table: &str,
        internal: bool,
        measures: &[String],
        schema: SchemaRef,
    ) -> Result<(), TableError> {
        if self.next.tables.contains_key(table) {
            return Ok(());
        }
        self.next.tables.insert(
            table.to_string(),
            TableFiles {
                internal,
                measures: measures.to_vec(),
                ..TableFiles::default()
            },
        );
        self.put_partition(table, SCHEMA_PARTITION, schema, &[])
    }

    /// Replaces one partition of `table` with `batches`. A data partition that becomes empty
    /// (every record in the month cancelled) is dropped rather than kept as an empty file.
    pub fn put_partition(
        &mut self,
        table: &str,
        partition: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<(), TableError> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let files = self
            .next
            .tables
            .get_mut(table)
            .ok_or_else(|| TableError::Manifest {
                path: self.store_dir.clone(),
                reason: format!("table {table} written before ensure_table"),
            })?;
        if rows == 0 && partition != SCHEMA_PARTITION {
            files.partitions.remove(partition);
            return Ok(());
        }
        let relative = self
            .layout
            .file(table, partition, self.next.seq, self.token);
        let path = manifest::file_path(&self.store_dir, &relative);
        write_parquet(&path, schema, batches)?;
        files.partitions.insert(partition.to_string(), relative);
        // The new file's directory entry, and those of any directories created for it, are only
        // durable once their parents are fsynced: up to the directory the files hang from. For a
        // shard that is the pipeline directory, synced here too; for a store writing inside
        // itself it is the store, which publish syncs last.
        let base = self.layout.base(&self.store_dir).to_path_buf();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != base) {
            self.dirty_dirs.insert(d.to_path_buf());
            dir = d.parent();
        }
        if base != self.store_dir {
            self.dirty_dirs.insert(base);
        }
        Ok(())
    }

    /// The directories [`Commit::publish`] will fsync before writing the manifest.
    pub fn dirs_to_sync(&self) -> impl Iterator<Item = &Path> {
        self.dirty_dirs.iter().map(PathBuf::as_path)
    }

    /// Records that everything before `next_offset` of `topic`/`partition` is reflected.
    pub fn set_offset(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.next
            .offsets
            .entry(topic.to_string())
            .or_default()
            .insert(partition, next_offset);
    }

    /// Publishes the commit: manifest file, then the atomic `CURRENT` swap. Data files were
    /// fsynced as they were written and their directories are fsynced here, before the manifest
    /// that names them, so after this returns the commit survives a crash or power cut.
    pub fn publish(mut self) -> Result<Manifest, TableError> {
        // Deepest first, so each parent is synced after its new child directory entry exists.
        for dir in self.dirty_dirs.iter().rev() {
            manifest::sync_dir(dir)?;
        }
        self.next.committed_at = chrono::Utc::now().to_rfc3339();
        manifest::install(&self.store_dir, &self.next)?;
        Ok(self.next)
    }
}

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    pub manifests_removed: usize,
    pub files_removed: usize,
}

/// Removes manifests that were superseded more than `min_age` ago, keeping at least the newest
/// `keep` and always the one `CURRENT` names, then the data files no remaining manifest
/// references. A manifest's age is taken from its *successor's* write time (the moment it
/// stopped being current): a reader that resolved it less than `min_age` ago can still finish.
/// Manifests that a live query server pins ([`crate::readers`]) are kept whatever their age, so
/// a query longer than `min_age` never loses its files.
/// Only the pipeline's single writer calls this, after publishing, so every file written so far
/// is referenced by a manifest or is debris of a crashed commit.
pub fn collect_garbage(
    store_dir: &Path,
    keep: usize,
    min_age: Duration,
) -> Result<GcStats, TableError> {
    let mut stats = GcStats::default();
    let manifests_dir = store_dir.join("manifests");
    let mut names: Vec<PathBuf> = match fs::read_dir(&manifests_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(stats),
        Err(e) => return Err(TableError::io(&manifests_dir)(e)),
    };
    names.sort();
    let current = fs::read_to_string(store_dir.join("CURRENT")).unwrap_or_default();
    let pinned = readers::pinned_by_readers(store_dir, readers::LEASE_TTL)?;
    let is_pinned = |path: &Path| {
        path.file_stem()
            .and_then(|stem| stem.to_str()?.parse::<u64>().ok())
            .is_some_and(|seq| pinned.contains(&seq))
    };
    let now = SystemTime::now();
    let superseded_long_ago = |successor: &Path| {
        fs::metadata(successor)
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() >= min_age)
            .unwrap_or(false)
    };

    let cut = names.len().saturating_sub(keep);
    let mut referenced = HashSet::new();
    for (i, path) in names.iter().enumerate() {
        let is_current = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == current.trim());
        if i < cut && !is_current && !is_pinned(path) && superseded_long_ago(&names[i + 1]) {
            fs::remove_file(path).map_err(TableError::io(path))?;
            stats.manifests_removed += 1;
            continue;
        }
        let text = fs::read_to_string(path).map_err(TableError::io(path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| TableError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        for files in manifest.tables.values() {
            referenced.extend(
                files
                    .partitions
                    .values()
                    .map(|f| manifest::file_path(store_dir, f)),
            );
        }
    }

    let mut stack = FileLayout::of(store_dir).own_dirs(store_dir);
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !referenced.contains(&path) {
                fs::remove_file(&path).map_err(TableError::io(&path))?;
                stats.files_removed += 1;
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::manifest::load_current;

    fn batch(values: &[i64]) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        (schema, batch)
    }

    #[test]
    fn every_directory_a_new_file_needed_is_synced_before_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, rows) = batch(&[1]);
        let mut c = Commit::begin(dir.path(), "p", None);
        c.ensure_table("t", false, &[], schema.clone()).unwrap();
        c.put_partition("t", "2024-01", schema, &[rows]).unwrap();
        let dirs: Vec<PathBuf> = c.dirs_to_sync().map(Path::to_path_buf).collect();
        let tables = dir.path().join("tables");
        for expected in [
            tables.clone(),
            tables.join("t"),
            tables.join("t/month=2024-01"),
            tables.join(format!("t/month={SCHEMA_PARTITION}")),
        ] {
            assert!(dirs.contains(&expected), "{expected:?} not in {dirs:?}");
        }
        assert!(
            !dirs.contains(&dir.path().to_path_buf()),
            "synced last, by publish"
        );
        c.publish().unwrap();
    }

    fn commit(
        dir: &Path,
        previous: Option<&Manifest>,
        month: &str,
        values: &[i64],
        offset: i64,
    ) -> Manifest {
        let (schema, rows) = batch(values);
        let mut c = Commit::begin(dir, "p", previous);
        c.ensure_table("t", false, &[], schema.clone()).unwrap();
        c.put_partition("t", month, schema, &[rows]).unwrap();
        c.set_offset("topic", 0, offset);
        c.publish().unwrap()
    }

    #[test]
    fn publish_is_what_readers_load_and_empty_months_disappear() {
        let dir = tempfile::tempdir().unwrap();
        let first = commit(dir.path(), None, "2022-05", &[1, 2], 10);
        assert_eq!(load_current(dir.path()).unwrap().as_ref(), Some(&first));
        assert_eq!(
            first.tables["t"].partitions.len(),
            2,
            "schema file + one month"
        );
        let second = commit(dir.path(), Some(&first), "2022-05", &[], 12);
        assert_eq!(second.seq, first.seq + 1);
        assert_eq!(second.offsets["topic"][&0], 12);
        assert_eq!(
            second.tables["t"].partitions.len(),
            1,
            "the emptied month is dropped"
        );
        assert_eq!(load_current(dir.path()).unwrap().as_ref(), Some(&second));
    }

    #[test]
    fn gc_keeps_the_current_manifest_and_what_it_references() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = commit(dir.path(), None, "2022-05", &[1], 1);
        for i in 0..4 {
            manifest = commit(dir.path(), Some(&manifest), "2022-05", &[i], i + 2);
        }
        // Nothing was superseded long enough ago: nothing goes.
        assert_eq!(
            collect_garbage(dir.path(), 1, Duration::from_secs(3600)).unwrap(),
            GcStats::default()
        );
        let stats = collect_garbage(dir.path(), 1, Duration::ZERO).unwrap();
        assert_eq!(stats.manifests_removed, 4);
        assert_eq!(stats.files_removed, 4, "the four superseded month files");
        let live = load_current(dir.path()).unwrap().unwrap();
        assert_eq!(live, manifest);
        for path in live.table_paths(dir.path(), "t") {
            assert!(path.exists(), "{} was collected", path.display());
        }
    }

    #[test]
    fn gc_keeps_a_manifest_a_reader_pins_and_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = commit(dir.path(), None, "2022-05", &[1], 1);
        let lease = readers::ReaderLease::new(dir.path(), "long-query");
        let pin = lease.pin(first.seq).unwrap();
        let mut manifest = first.clone();
        for i in 0..3 {
            manifest = commit(dir.path(), Some(&manifest), "2022-05", &[i], i + 2);
        }
        let stats = collect_garbage(dir.path(), 1, Duration::ZERO).unwrap();
        assert_eq!(
            stats.manifests_removed, 2,
            "only the unpinned superseded ones"
        );
        for path in first.table_paths(dir.path(), "t") {
            assert!(
                path.exists(),
                "{} was collected under a running query",
                path.display()
            );
        }
        drop(pin);
        let stats = collect_garbage(dir.path(), 1, Duration::ZERO).unwrap();
        assert_eq!(stats.manifests_removed, 1, "released, so it goes");
        for path in first.table_paths(dir.path(), "t") {
            if !manifest.table_paths(dir.path(), "t").contains(&path) {
                assert!(
                    !path.exists(),
                    "{} outlived its last reader",
                    path.display()
                );
            }
        }
    }
}
