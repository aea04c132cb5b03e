//! Every table a SQL client may read is also a Delta Lake table, so DuckDB, Spark, Trino, Polars
//! or pandas read exactly what Lantern committed, with no Lantern code.
//!
//! A table's directory (`<pipeline>/tables/<table>/`, see [`crate::layout`]) holds every
//! shard's files and a `_delta_log/`. After a shard publishes a manifest, its owner brings each
//! table's Delta log in line with it in one Delta commit per table that changed: it adds the
//! files the manifest names that the Delta table lacks under the shard's prefix
//! (`shard=<partition>/`) and removes those it no longer names. The diff is against the Delta
//! table itself, so the step is idempotent: after a crash between the manifest and the Delta
//! commit, the next sync (at the latest when the shard is reopened) finds the same difference
//! and commits it once.
//!
//! **Why the manifest, not the Delta log, is the commit point.** Delta's own mechanism for
//! exactly-once streaming writes is a `txn` action (application id, version) in the same atomic
//! commit as the data. A shard's commit covers several tables at once (its facts, every
//! aggregate) and its record index, and Delta commits are per table: no Delta commit can make
//! all of them change together. So the manifest stays the one atomic step that carries the
//! consumer offsets, and each Delta commit carries a `txn` action with the application id
//! `lantern/shard=<partition>` and the manifest's sequence number as its version, plus the
//! offsets themselves in `commitInfo`. Delta readers see, per table, a state every shard really
//! committed, at most one shard commit behind Lantern's own readers. The `txn` action also makes
//! two writers of one shard lose cleanly: Delta refuses a commit whose application id a
//! concurrent commit already advanced (`ConcurrentTransaction`).
//!
//! **Retention.** Lantern's garbage collector is the table's vacuum: it deletes a file once no
//! manifest kept for the retention window (and no query server's lease) names it, and a file is
//! only removed from a Delta table when its shard's manifest stopped naming it, so a Delta reader
//! can read a snapshot for at least that window after it was replaced. The window is written to
//! the table as `delta.deletedFileRetentionDuration`. Do not run an external `VACUUM`: it may
//! delete files a shard has written but not yet added to the Delta log. Delta's checkpoints
//! (every 100 commits) and expired-log cleanup run after commits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{
    CommitBuilder, CommitConflictError, CommitProperties, TransactionError,
};
use deltalake_core::kernel::{Action, Add, Remove, StructType, Transaction};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore, TableProperty};
use tracing::warn;
use url::Url;

use crate::TableError;
use crate::layout::{shard_prefix, table_dir};
use crate::manifest::{Manifest, file_path};
use crate::parquet_io::read_schema;
use crate::remote::Remote;

/// How long Delta keeps log entries older than its newest checkpoint. Older versions' files are
/// gone after the garbage collector's window anyway, so a long log would only list files that
/// no longer exist.
const LOG_RETENTION: &str = "interval 1 hour";

/// Attempts per table and sync when other shards' commits keep winning the race.
const MAX_ATTEMPTS: usize = 20;

/// What one [`DeltaTables::sync`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeltaSync {
    /// Delta commits made (one per table that changed).
    pub commits: usize,
    pub files_added: usize,
    pub files_removed: usize,
}

/// One shard's view of its pipeline's Delta tables, kept open between commits.
pub struct DeltaTables {
    pipeline_dir: PathBuf,
    partition: i32,
    file_retention: Duration,
    /// Where the tables live when they are on object storage ([`crate::remote`]), with the
    /// pipeline's name; `None`: in the pipeline directory.
    remote: Option<(Remote, String)>,
    open: HashMap<String, DeltaTable>,
}

impl std::fmt::Debug for DeltaTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaTables")
            .field("pipeline_dir", &self.pipeline_dir)
            .field("partition", &self.partition)
            .field("open", &self.open.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The `txn` application id of a shard's Delta commits.
pub fn app_id(partition: i32) -> String {
    format!("lantern/{}", shard_prefix(partition))
}

impl DeltaTables {
    /// `file_retention` is how long the garbage collector keeps a replaced file.
    pub fn new(pipeline_dir: &Path, partition: i32, file_retention: Duration) -> Self {
        DeltaTables {
            pipeline_dir: pipeline_dir.to_path_buf(),
            partition,
            file_retention,
            remote: None,
            open: HashMap::new(),
        }
    }

    /// Keeps the Delta logs in the object store, beside the files the shard pushes there. The
    /// local files still give each file's path in the table and its size: they are the same.
    pub fn on_remote(mut self, remote: Remote, pipeline: &str) -> Self {
        self.remote = Some((remote, pipeline.to_string()));
        self
    }

    /// Brings the Delta log of every table SQL clients may read in line with the shard's
    /// published `manifest`.
    pub async fn sync(
        &mut self,
        shard_dir: &Path,
        manifest: &Manifest,
    ) -> Result<DeltaSync, TableError> {
        let mut done = DeltaSync::default();
        let partition = self.partition;
        for (table, files) in manifest.tables.iter().filter(|(_, f)| !f.internal) {
            // Resolved as the manifest's files are, so that one is a prefix of the other.
            let root = file_path(&table_dir(&self.pipeline_dir, table), "");
            let wanted = self.files_under(&root, shard_dir, files.partitions.values(), table);
            let delta = self.table(table, &root, &wanted).await?;
            let mut attempt = 1;
            loop {
                match sync_table(delta, partition, manifest, &wanted).await {
                    Ok(step) => {
                        done.commits += step.commits;
                        done.files_added += step.files_added;
                        done.files_removed += step.files_removed;
                        break;
                    }
                    Err(error) if attempt < MAX_ATTEMPTS && another_shard_won(&error) => {
                        attempt += 1;
                        // Shards of one pipeline often commit at the same moment; spread them out.
                        let pause = 5 * attempt as u64 + u64::from(partition.unsigned_abs() % 7);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    Err(error) => {
                        return Err(TableError::Delta {
                            table: table.clone(),
                            source: Box::new(error),
                        });
                    }
                }
            }
        }
        Ok(done)
    }

    /// The manifest's files of one table, keyed by their path inside the table's directory.
    /// Files outside it (written before tables had a directory of their own) cannot be part of
    /// the Delta table; they disappear as their months are rewritten.
    fn files_under<'a>(
        &self,
        root: &Path,
        shard_dir: &Path,
        files: impl Iterator<Item = &'a String>,
        table: &str,
    ) -> BTreeMap<String, PathBuf> {
        let mut wanted = BTreeMap::new();
        for relative in files {
            let absolute = file_path(shard_dir, relative);
            match absolute.strip_prefix(root) {
                Ok(inside) => {
                    wanted.insert(inside.to_string_lossy().into_owned(), absolute.clone());
                }
                Err(_) => warn!(
                    table,
                    file = %absolute.display(),
                    "A file outside the table's directory is not part of its Delta table."
                ),
            }
        }
        wanted
    }

    /// The open Delta table, loaded or created (with the schema of one of `files`).
    async fn table(
        &mut self,
        table: &str,
        root: &Path,
        files: &BTreeMap<String, PathBuf>,
    ) -> Result<&mut DeltaTable, TableError> {
        if !self.open.contains_key(table) {
            let opened = self.open_or_create(table, root, files).await?;
            self.open.insert(table.to_string(), opened);
        }
        Ok(self.open.get_mut(table).expect("inserted above"))
    }

    async fn open_or_create(
        &self,
        table: &str,
        root: &Path,
        files: &BTreeMap<String, PathBuf>,
    ) -> Result<DeltaTable, TableError> {
        let delta_error = |source| TableError::Delta {
            table: table.to_string(),
            source: Box::new(source),
        };
        let (url, store) = match &self.remote {
            Some((remote, pipeline)) => (remote.table_url(pipeline, table), Some(remote.store())),
            None => {
                std::fs::create_dir_all(root).map_err(TableError::io(root))?;
                (directory_url(root)?, None)
            }
        };
        let existing = open_table(&url, store.clone()).await.map_err(delta_error)?;
        if existing.version().is_some() {
            return Ok(existing);
        }
        let Some(sample) = files.values().next() else {
            return Err(TableError::Manifest {
                path: root.to_path_buf(),
                reason: format!("table {table} has no file to take its schema from"),
            });
        };
        let schema = delta_schema(sample)?;
        let retention = format!("interval {} seconds", self.file_retention.as_secs());
        // Two shards may create the table at once: SaveMode::Ignore loads the winner's, and a
        // lost race on version 0 is retried by loading.
        let created = existing
            .create()
            .with_table_name(table)
            .with_columns(schema.fields().cloned())
            .with_save_mode(SaveMode::Ignore)
            .with_configuration_property(
                TableProperty::DeletedFileRetentionDuration,
                Some(retention),
            )
            .with_configuration_property(TableProperty::LogRetentionDuration, Some(LOG_RETENTION))
            .await;
        match created {
            Ok(table) => Ok(table),
            Err(create_error) => {
                // Another shard's create may have won; otherwise the create's error is the cause,
                // and a handle to no table must not be kept (the next sync tries again).
                let reopened = open_table(&url, store).await.map_err(delta_error)?;
                match reopened.version() {
                    Some(_) => Ok(reopened),
                    None => Err(delta_error(create_error)),
                }
            }
        }
    }
}

/// The Delta table at `url` (not yet a table is fine: it is about to be created), on `store`
/// (the root of an object store) if given, else on the store the URL's scheme names.
async fn open_table(
    url: &Url,
    store: Option<Arc<dyn ObjectStore>>,
) -> Result<DeltaTable, DeltaTableError> {
    let mut builder = DeltaTableBuilder::from_url(url.clone())?;
    if let Some(store) = store {
        builder = builder.with_storage_backend(store, url.clone());
    }
    let mut table = builder.build()?;
    match table.load().await {
        Ok(()) | Err(DeltaTableError::NotATable(_)) => Ok(table),
        Err(error) => Err(error),
    }
}

/// One attempt to bring one table in line with the manifest: diff against a fresh snapshot,
/// then at most one commit.
async fn sync_table(
    delta: &mut DeltaTable,
    partition: i32,
    manifest: &Manifest,
    wanted: &BTreeMap<String, PathBuf>,
) -> Result<DeltaSync, DeltaTableError> {
    delta.update_incremental(None).await?;
    let prefix = format!("{}/", shard_prefix(partition));
    let present: BTreeSet<String> = delta
        .snapshot()?
        .log_data()
        .iter()
        .map(|file| file.path().into_owned())
        .filter(|path| path.starts_with(&prefix))
        .collect();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut done = DeltaSync::default();
    let mut actions = Vec::new();
    for gone in present.iter().filter(|p| !wanted.contains_key(*p)) {
        actions.push(Action::Remove(remove(gone, now_ms)));
        done.files_removed += 1;
    }
    for (path, absolute) in wanted.iter().filter(|(p, _)| !present.contains(*p)) {
        actions.push(Action::Add(add(path, absolute)?));
        done.files_added += 1;
    }
    if actions.is_empty() {
        return Ok(done);
    }
    let properties = CommitProperties::default()
        .with_application_transaction(Transaction::new_with_last_update(
            app_id(partition),
            manifest.seq as i64,
            Some(now_ms),
        ))
        .with_metadata([(
            "lantern".to_string(),
            serde_json::json!({
                "pipeline": manifest.pipeline,
                "partition": partition,
                "manifest_seq": manifest.seq,
                "offsets": manifest.offsets,
            }),
        )]);
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(delta.snapshot()?), delta.log_store(), operation)
        .await?;
    // The handle is not refreshed here: the next sync starts by doing so.
    done.commits = 1;
    Ok(done)
}

/// Whether a failed commit lost to another shard's commit, so that diffing again against the
/// newer snapshot and retrying is right. delta-rs's conflict checker treats a commit with
/// removes as having read the whole table, so any concurrent remove conflicts, though shards
/// never touch each other's files. A concurrent commit under the same `txn` id is another
/// writer of this very shard: that is not retried.
fn another_shard_won(error: &DeltaTableError) -> bool {
    match error {
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(conflict),
        } => !matches!(conflict, CommitConflictError::ConcurrentTransaction),
        DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(_),
        } => true,
        DeltaTableError::VersionAlreadyExists(_) => true,
        _ => false,
    }
}

/// The Delta schema of a Parquet file's Arrow schema.
fn delta_schema(file: &Path) -> Result<StructType, TableError> {
    read_schema(file)?
        .as_ref()
        .try_into_kernel()
        .map_err(|e| TableError::Manifest {
            path: file.to_path_buf(),
            reason: format!("no Delta type for its schema: {e}"),
        })
}

fn directory_url(dir: &Path) -> Result<Url, TableError> {
    let absolute = std::path::absolute(dir).map_err(TableError::io(dir))?;
    Url::from_directory_path(&absolute).map_err(|()| TableError::Manifest {
        path: absolute.clone(),
        reason: "not a path a URL can name".to_string(),
    })
}

fn add(path: &str, absolute: &Path) -> Result<Add, DeltaTableError> {
    let meta = std::fs::metadata(absolute).map_err(|e| {
        DeltaTableError::Generic(format!("cannot read {}: {e}", absolute.display()))
    })?;
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    Ok(Add {
        path: path.to_string(),
        partition_values: HashMap::new(),
        size: meta.len() as i64,
        modification_time: modified_ms,
        data_change: true,
        stats: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })
}

fn remove(path: &str, now_ms: i64) -> Remove {
    Remove {
        path: path.to_string(),
        data_change: true,
        deletion_timestamp: Some(now_ms),
        extended_file_metadata: None,
        partition_values: None,
        size: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    use super::*;
    use crate::Commit;
    use crate::shards::shard_dir;

    /// Publishes a commit of table `t` in `partition`'s shard with `months` -> values.
    fn commit(
        pipeline: &Path,
        partition: i32,
        previous: Option<&Manifest>,
        months: &[(&str, &[i64])],
    ) -> Manifest {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let mut c = Commit::begin(&shard_dir(pipeline, partition), "p", previous);
        c.ensure_table("t", false, &["n".to_string()], schema.clone())
            .unwrap();
        c.ensure_table("internal", true, &[], schema.clone())
            .unwrap();
        for (month, values) in months {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(values.to_vec()))],
            )
            .unwrap();
            c.put_partition("t", month, schema.clone(), &[batch])
                .unwrap();
        }
        c.set_offset("topic", partition, 10);
        c.publish().unwrap()
    }

    /// The files of table `t`'s Delta snapshot, as a fresh reader sees them.
    async fn delta_files(pipeline: &Path) -> BTreeSet<String> {
        let table = deltalake_core::open_table(directory_url(&table_dir(pipeline, "t")).unwrap())
            .await
            .unwrap();
        table
            .snapshot()
            .unwrap()
            .log_data()
            .iter()
            .map(|f| f.path().into_owned())
            .collect()
    }

    fn shard_files(manifest: &Manifest, partition: i32) -> BTreeSet<String> {
        manifest.tables["t"]
            .partitions
            .values()
            .map(|f| {
                f.strip_prefix("../../tables/t/")
                    .unwrap_or_else(|| panic!("{f} is not in the table's directory"))
                    .to_string()
            })
            .inspect(|f| assert!(f.starts_with(&format!("shard={partition}/"))))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_delta_table_holds_every_shards_committed_files_once() {
        let data = tempfile::tempdir().unwrap();
        let pipeline = data.path().join("p");
        let retention = Duration::from_secs(60);
        let first0 = commit(&pipeline, 0, None, &[("2024-01", &[1, 2])]);
        let first1 = commit(&pipeline, 1, None, &[("2024-01", &[3])]);
        let mut shard0 = DeltaTables::new(&pipeline, 0, retention);
        let mut shard1 = DeltaTables::new(&pipeline, 1, retention);
        let done = shard0
            .sync(&shard_dir(&pipeline, 0), &first0)
            .await
            .unwrap();
        assert_eq!((done.commits, done.files_added), (1, 2), "{done:?}");
        shard1
            .sync(&shard_dir(&pipeline, 1), &first1)
            .await
            .unwrap();
        let both: BTreeSet<String> = shard_files(&first0, 0)
            .union(&shard_files(&first1, 1))
            .cloned()
            .collect();
        assert_eq!(delta_files(&pipeline).await, both);
        assert!(
            !table_dir(&pipeline, "internal").join("_delta_log").exists(),
            "internal tables are not published"
        );

        // Syncing again (as after a restart) commits nothing.
        let again = DeltaTables::new(&pipeline, 0, retention)
            .sync(&shard_dir(&pipeline, 0), &first0)
            .await
            .unwrap();
        assert_eq!(again, DeltaSync::default());

        // A commit that rewrites a month replaces its file; the other shard's are untouched.
        let second0 = commit(&pipeline, 0, Some(&first0), &[("2024-01", &[1, 2, 4])]);
        let done = shard0
            .sync(&shard_dir(&pipeline, 0), &second0)
            .await
            .unwrap();
        assert_eq!((done.files_added, done.files_removed), (1, 1), "{done:?}");
        let both: BTreeSet<String> = shard_files(&second0, 0)
            .union(&shard_files(&first1, 1))
            .cloned()
            .collect();
        assert_eq!(delta_files(&pipeline).await, both);

        // The commit names the shard and the manifest it reflects.
        let table = deltalake_core::open_table(directory_url(&table_dir(&pipeline, "t")).unwrap())
            .await
            .unwrap();
        let version = table
            .snapshot()
            .unwrap()
            .transaction_version(table.log_store().as_ref(), app_id(0))
            .await
            .unwrap();
        assert_eq!(version, Some(second0.seq as i64));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_writers_of_one_shard_never_mix_their_files() {
        // The shard lock keeps a second owner out; should two ever race on the Delta log, each
        // commit is all or nothing and a loser fails with a conflict instead of adding files.
        for round in 0..5 {
            let data = tempfile::tempdir().unwrap();
            let pipeline = data.path().join("p");
            let base = commit(&pipeline, 0, None, &[("2024-01", &[1])]);
            let retention = Duration::from_secs(60);
            let dir = shard_dir(&pipeline, 0);
            DeltaTables::new(&pipeline, 0, retention)
                .sync(&dir, &base)
                .await
                .unwrap();
            let a = commit(&pipeline, 0, Some(&base), &[("2024-02", &[2])]);
            let b = commit(
                &pipeline,
                0,
                Some(&a),
                &[("2024-01", &[]), ("2024-03", &[3])],
            );
            let mut writer_a = DeltaTables::new(&pipeline, 0, retention);
            let mut writer_b = DeltaTables::new(&pipeline, 0, retention);
            let (ra, rb) = tokio::join!(writer_a.sync(&dir, &a), writer_b.sync(&dir, &b));
            for result in [&ra, &rb] {
                if let Err(error) = result {
                    let message = format!("{error}: {:?}", std::error::Error::source(error));
                    assert!(
                        message.to_lowercase().contains("transaction")
                            || message.to_lowercase().contains("conflict"),
                        "round {round}: {message}"
                    );
                }
            }
            assert!(ra.is_ok() || rb.is_ok(), "round {round}: both lost");
            let files = delta_files(&pipeline).await;
            assert!(
                files == shard_files(&a, 0) || files == shard_files(&b, 0),
                "round {round}: {files:?} is neither writer's"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpointed_log_reads_as_the_last_commit() {
        let data = tempfile::tempdir().unwrap();
        let pipeline = data.path().join("p");
        let dir = shard_dir(&pipeline, 0);
        let mut delta = DeltaTables::new(&pipeline, 0, Duration::from_secs(60));
        let mut manifest = commit(&pipeline, 0, None, &[("2024-01", &[0])]);
        delta.sync(&dir, &manifest).await.unwrap();
        // Delta checkpoints every 100 commits by default.
        for n in 1..=100 {
            manifest = commit(&pipeline, 0, Some(&manifest), &[("2024-01", &[n])]);
            delta.sync(&dir, &manifest).await.unwrap();
        }
        let log = table_dir(&pipeline, "t").join("_delta_log");
        let checkpoints = std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".checkpoint.parquet")
            })
            .count();
        assert_eq!(checkpoints, 1, "one checkpoint in {log:?}");
        assert_eq!(delta_files(&pipeline).await, shard_files(&manifest, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shards_committing_at_once_both_land() {
        let data = tempfile::tempdir().unwrap();
        let pipeline = data.path().join("p");
        let retention = Duration::from_secs(60);
        let mut m0 = commit(&pipeline, 0, None, &[("2024-01", &[1])]);
        let mut m1 = commit(&pipeline, 1, None, &[("2024-01", &[2])]);
        let mut shard0 = DeltaTables::new(&pipeline, 0, retention);
        let mut shard1 = DeltaTables::new(&pipeline, 1, retention);
        let (dir0, dir1) = (shard_dir(&pipeline, 0), shard_dir(&pipeline, 1));
        for n in 0..10 {
            let (r0, r1) = tokio::join!(shard0.sync(&dir0, &m0), shard1.sync(&dir1, &m1));
            r0.unwrap_or_else(|e| {
                panic!(
                    "round {n}, shard 0: {e}: {:?}",
                    std::error::Error::source(&e)
                )
            });
            r1.unwrap_or_else(|e| {
                panic!(
                    "round {n}, shard 1: {e}: {:?}",
                    std::error::Error::source(&e)
                )
            });
            let both: BTreeSet<String> = shard_files(&m0, 0)
                .union(&shard_files(&m1, 1))
                .cloned()
                .collect();
            assert_eq!(delta_files(&pipeline).await, both, "round {n}");
            m0 = commit(&pipeline, 0, Some(&m0), &[("2024-01", &[n])]);
            m1 = commit(&pipeline, 1, Some(&m1), &[("2024-01", &[n + 1])]);
        }
    }
}
