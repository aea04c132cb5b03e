//! The record index: for every record id, what the state rules need of its latest version —
//! version, event id, whether it is a tombstone, and the month (so the facts file holding it) —
//! in an embedded, crash-safe B-tree on disk ([redb]).
//!
//! This replaces holding every fact in memory: memory no longer grows with the number of
//! records (redb's page cache is bounded by `processor.state_cache_mb`), and start-up opens the
//! file instead of reloading the history. The full facts live only in the facts table's Parquet
//! files; a commit reads the files it rewrites.
//!
//! Why redb: pure Rust (RocksDB's C++ build takes longer than the rest of Lantern on 2 cores),
//! one file, ACID with crash-safe commits, and a B-tree suits the access pattern — one point
//! lookup per event, one write transaction per commit. An LSM such as fjall writes faster but
//! brings compaction to tune for a workload that is lookup-bound.
//!
//! **The manifest stays the one commit point.** The index is committed right *after* the
//! manifest, recording the manifest's sequence number. If the process dies between the two, the
//! index is one commit behind; on open, [`RecordIndex::catch_up`] re-reads the facts files that
//! commits after the index's sequence wrote (their names carry the sequence), which hold the full
//! latest version of every record they touched. If the index is ahead of the manifest, missing or
//! unreadable, it is rebuilt from all facts files. So the index is a cache of the facts table that
//! can always be derived from it — which is also how another instance will take a partition over.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, StringArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};

use crate::StreamError;
use crate::facts::Fact;

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The manifest sequence the index reflects.
const SEQ: &str = "seq";

/// What the state rules need of a record's latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub version: u64,
    pub event_id: String,
    pub tombstone: bool,
    pub month: Arc<str>,
}

/// Version of the entry encoding; an index in another format is rebuilt from the facts.
const FORMAT: u64 = 3;
const FORMAT_KEY: &str = "format";

impl Held {
    /// What the index keeps of `fact`.
    pub fn of<F: Fact>(fact: &F) -> Held {
        let meta = fact.meta();
        Held {
            version: meta.version,
            event_id: meta.event_id.clone(),
            tombstone: fact.is_tombstone(),
            month: Arc::clone(&meta.month),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.month.len() + self.event_id.len());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.push(u8::from(self.tombstone));
        out.push(self.month.len() as u8);
        out.extend_from_slice(self.month.as_bytes());
        out.extend_from_slice(self.event_id.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Held> {
        let version = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let tombstone = *bytes.get(8)? != 0;
        let month_len = *bytes.get(9)? as usize;
        let month = std::str::from_utf8(bytes.get(10..10 + month_len)?).ok()?;
        let event_id = std::str::from_utf8(bytes.get(10 + month_len..)?).ok()?;
        Some(Held {
            version,
            event_id: event_id.to_string(),
            tombstone,
            month: Arc::from(month),
        })
    }
}

/// The index of one shard (one partition of a pipeline's topic).
pub struct RecordIndex {
    /// A snapshot for lookups, refreshed after each commit. Declared before `db` so that it is
    /// dropped first: a read transaction still open when the database closes keeps redb from
    /// recording a clean shutdown, and the next open then scans the whole file.
    reader: ReadOnlyTable<&'static str, &'static [u8]>,
    db: Database,
    path: PathBuf,
    /// Changes of the batch being processed, not yet committed.
    pending: foldhash::HashMap<Arc<str>, Held>,
    seq: u64,
}

impl std::fmt::Debug for RecordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordIndex")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .field("pending", &self.pending.len())
            .finish()
    }
}

fn state_error(path: &Path) -> impl Fn(redb::Error) -> StreamError + '_ {
    move |source| StreamError::State {
        path: path.to_path_buf(),
        source: Box::new(source),
    }
}

impl RecordIndex {
    /// Opens (or creates) the index at `path` with a page cache of `cache_bytes`. An
    /// unreadable file is removed and recreated empty (sequence 0): the caller rebuilds it.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<RecordIndex, StreamError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StreamError::State {
                path: parent.to_path_buf(),
                source: Box::new(e.into()),
            })?;
        }
        let open = || {
            Database::builder()
                .set_cache_size(cache_bytes)
                .create(path)
                .map_err(redb::Error::from)
        };
        let db = match open() {
            Ok(db) => db,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "The record index is unreadable; rebuilding it from the facts.");
                let _ = std::fs::remove_file(path);
                open().map_err(state_error(path))?
            }
        };
        let failed = state_error(path);
        // An index in the current format needs no write to open: a write transaction's commit
        // costs time in proportion to the file (redb records its allocator state).
        if let Ok(Some(seq)) = current_seq(&db) {
            let reader = snapshot(&db).map_err(&failed)?;
            return Ok(RecordIndex {
                reader,
                db,
                path: path.to_path_buf(),
                pending: Default::default(),
                seq,
            });
        }
        // New, or another format: create both tables so readers can open them.
        let txn = db.begin_write().map_err(|e| failed(e.into()))?;
        let seq = {
            txn.open_table(RECORDS).map_err(|e| failed(e.into()))?;
            let mut meta = txn.open_table(META).map_err(|e| failed(e.into()))?;
            let read = |key| -> Result<Option<u64>, StreamError> {
                Ok(meta
                    .get(key)
                    .map_err(|e| failed(e.into()))?
                    .map(|v| v.value()))
            };
            let (format, seq) = (read(FORMAT_KEY)?, read(SEQ)?);
            // Another entry format (or a new file): sequence 0, so the caller rebuilds it.
            if format != Some(FORMAT) {
                meta.insert(FORMAT_KEY, FORMAT)
                    .map_err(|e| failed(e.into()))?;
                meta.insert(SEQ, 0).map_err(|e| failed(e.into()))?;
                0
            } else {
                seq.unwrap_or(0)
            }
        };
        txn.commit().map_err(|e| failed(e.into()))?;
        let reader = snapshot(&db).map_err(&failed)?;
        Ok(RecordIndex {
            reader,
            db,
            path: path.to_path_buf(),
            pending: Default::default(),
            seq,
        })
    }

    /// The manifest sequence the committed index reflects.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Records in the committed index.
    pub fn len(&self) -> Result<u64, StreamError> {
        self.reader
            .len()
            .map_err(|e| state_error(&self.path)(e.into()))
    }

    pub fn is_empty(&self) -> Result<bool, StreamError> {
        Ok(self.len()? == 0)
    }

    /// The latest version held for `record_id`, including this batch's pending changes.
    pub fn get(&self, record_id: &str) -> Result<Option<Held>, StreamError> {
        if let Some(held) = self.pending.get(record_id) {
            return Ok(Some(held.clone()));
        }
        let stored = self
            .reader
            .get(record_id)
            .map_err(|e| state_error(&self.path)(e.into()))?;
        match stored {
            None => Ok(None),
            Some(bytes) => {
                Held::decode(bytes.value())
                    .map(Some)
                    .ok_or_else(|| StreamError::State {
                        path: self.path.clone(),
                        source: Box::new(redb::Error::Corrupted(format!(
                            "record {record_id}: undecodable entry"
                        ))),
                    })
            }
        }
    }

    /// Remembers a change of this batch; written by [`RecordIndex::commit`].
    pub fn stage(&mut self, record_id: Arc<str>, held: Held) {
        self.pending.insert(record_id, held);
    }

    /// Forgets this batch's changes (the commit failed, or is being replayed).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
    }

    /// Writes the pending changes durably as reflecting manifest `seq`.
    ///
    /// In key order: each insert then walks the B-tree next to the one before it, through pages
    /// already in the CPU's cache, instead of from a random leaf.
    pub fn commit(&mut self, seq: u64) -> Result<(), StreamError> {
        let mut pending: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        pending.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        self.write(pending.iter().map(|(id, held)| (&**id, held)), seq, false)
    }

    /// Upserts `records` as reflecting manifest `seq`; with `clear`, drops everything first.
    fn write<'a>(
        &mut self,
        records: impl Iterator<Item = (&'a str, &'a Held)>,
        seq: u64,
        clear: bool,
    ) -> Result<(), StreamError> {
        let failed = state_error(&self.path);
        let txn = self.db.begin_write().map_err(|e| failed(e.into()))?;
        {
            if clear {
                txn.delete_table(RECORDS).map_err(|e| failed(e.into()))?;
            }
            let mut table = txn.open_table(RECORDS).map_err(|e| failed(e.into()))?;
            for (id, held) in records {
                table
                    .insert(id, held.encode().as_slice())
                    .map_err(|e| failed(e.into()))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| failed(e.into()))?;
            meta.insert(SEQ, seq).map_err(|e| failed(e.into()))?;
        }
        txn.commit().map_err(|e| failed(e.into()))?;
        self.seq = seq;
        self.reader = snapshot(&self.db).map_err(&failed)?;
        Ok(())
    }

    /// Upserts the records of a facts file (re-indexing after a crash, or from scratch). Does
    /// not move the sequence: call [`RecordIndex::set_seq`] once every file is in.
    pub fn upsert_facts(
        &mut self,
        batches: &[RecordBatch],
        tombstone: &str,
    ) -> Result<u64, StreamError> {
        let mut records = Vec::new();
        for batch in batches {
            records.extend(
                held_rows(batch, tombstone).map_err(|reason| StreamError::Facts {
                    table: "facts (re-indexing)".into(),
                    reason,
                })?,
            );
        }
        let seq = self.seq;
        self.write(
            records.iter().map(|(id, held)| (id.as_str(), held)),
            seq,
            false,
        )?;
        Ok(records.len() as u64)
    }

    /// Empties the index (sequence 0), before re-indexing every facts file.
    pub fn clear(&mut self) -> Result<(), StreamError> {
        self.pending.clear();
        self.write(std::iter::empty(), 0, true)
    }

    /// Marks the index as reflecting manifest `seq`.
    pub fn set_seq(&mut self, seq: u64) -> Result<(), StreamError> {
        self.write(std::iter::empty(), seq, false)
    }
}

/// The sequence of an index in the current format; `None` if it is new or in another format.
fn current_seq(db: &Database) -> Result<Option<u64>, redb::Error> {
    let txn = db.begin_read()?;
    let (meta, _) = (txn.open_table(META)?, txn.open_table(RECORDS)?);
    if meta.get(FORMAT_KEY)?.map(|v| v.value()) != Some(FORMAT) {
        return Ok(None);
    }
    Ok(Some(meta.get(SEQ)?.map_or(0, |v| v.value())))
}

fn snapshot(db: &Database) -> Result<ReadOnlyTable<&'static str, &'static [u8]>, redb::Error> {
    Ok(db.begin_read()?.open_table(RECORDS)?)
}

/// `(record_id, Held)` of every row of a facts batch.
pub fn held_rows(batch: &RecordBatch, tombstone: &str) -> Result<Vec<(String, Held)>, String> {
    let strings = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| format!("facts have no string column {name}"))
    };
    let (ids, events, statuses, months) = (
        strings("record_id")?,
        strings("event_id")?,
        strings("status")?,
        strings("month")?,
    );
    let versions = batch
        .column_by_name("version")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .ok_or("facts have no u64 column version")?;
    let mut month_labels: HashMap<&str, Arc<str>> = HashMap::new();
    Ok((0..batch.num_rows())
        .map(|row| {
            let month = months.value(row);
            let month = month_labels
                .entry(month)
                .or_insert_with(|| Arc::from(month))
                .clone();
            (
                ids.value(row).to_string(),
                Held {
                    version: versions.value(row),
                    event_id: events.value(row).to_string(),
                    tombstone: statuses.value(row) == tombstone,
                    month,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(version: u64, month: &str) -> Held {
        Held {
            version,
            event_id: format!("e{version}"),
            tombstone: version == 3,
            month: Arc::from(month),
        }
    }

    #[test]
    fn entries_round_trip_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let mut index = RecordIndex::open(&path, 1 << 20).unwrap();
        assert_eq!((index.seq(), index.len().unwrap()), (0, 0));
        index.stage(Arc::from("A"), held(1, "2024-01"));
        assert_eq!(
            index.get("A").unwrap(),
            Some(held(1, "2024-01")),
            "pending is visible"
        );
        index.commit(7).unwrap();
        index.stage(Arc::from("A"), held(3, "2024-02"));
        index.discard_pending();
        drop(index);
        let index = RecordIndex::open(&path, 1 << 20).unwrap();
        assert_eq!(index.seq(), 7);
        assert_eq!(index.get("A").unwrap(), Some(held(1, "2024-01")));
        assert_eq!(index.get("B").unwrap(), None);
    }

    #[test]
    fn an_unreadable_file_is_replaced_by_an_empty_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        std::fs::write(&path, b"not a database at all").unwrap();
        let index = RecordIndex::open(&path, 1 << 20).unwrap();
        assert_eq!((index.seq(), index.len().unwrap()), (0, 0));
    }
}
