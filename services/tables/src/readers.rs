//! Reader leases: how query servers tell a pipeline's garbage collector which manifests their
//! running queries still read.
//!
//! The writer (the stream processor) and the readers (query servers) are separate processes that
//! share only the shard directory, so pins are files there:
//!
//! ```text
//! <data_dir>/<pipeline>/shards/<partition>/readers/<reader id>.json   {"pid": 4242, "pinned": [17, 18]}
//! ```
//!
//! A reader rewrites its lease whenever the set of manifests its queries hold changes, and at
//! least every [`LEASE_REFRESH`] as a heartbeat. [`pinned_by_readers`] (called by garbage
//! collection) honours every lease written in the last [`LEASE_TTL`] and deletes older ones: they
//! belong to readers that died without cleaning up.
//!
//! A reader resolves `CURRENT` and then pins what it read. The gap is covered by the garbage
//! collector's grace period: a manifest is only removed once it was superseded more than
//! `min_age` ago, and a reader pins within microseconds of seeing it current.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::TableError;

/// Directory under a shard directory that holds reader leases.
pub const READERS_DIR: &str = "readers";
/// A lease not rewritten for this long belongs to a reader that is gone.
pub const LEASE_TTL: Duration = Duration::from_secs(120);
/// How often a live reader must rewrite its leases (well inside [`LEASE_TTL`]).
pub const LEASE_REFRESH: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    pid: u32,
    pinned: Vec<u64>,
}

/// One reader's lease on one shard directory: the manifests (by sequence number) that its
/// queries hold, with a count per manifest. Dropping it removes the lease file.
#[derive(Debug)]
pub struct ReaderLease {
    file: PathBuf,
    pinned: Mutex<BTreeMap<u64, usize>>,
}

impl ReaderLease {
    /// A lease for `reader_id` (unique per reader process) on `store_dir`. Nothing is written
    /// until the first pin.
    pub fn new(store_dir: &Path, reader_id: &str) -> Arc<Self> {
        Arc::new(ReaderLease {
            file: store_dir
                .join(READERS_DIR)
                .join(format!("{reader_id}.json")),
            pinned: Mutex::new(BTreeMap::new()),
        })
    }

    /// Pins manifest `seq` until the returned [`Pin`] is dropped. The lease file is written
    /// before this returns, so the garbage collector sees the pin from now on.
    pub fn pin(self: &Arc<Self>, seq: u64) -> Result<Pin, TableError> {
        let mut pinned = self.pinned.lock().expect("lease lock poisoned");
        let count = pinned.entry(seq).or_default();
        *count += 1;
        if *count == 1
            && let Err(error) = self.write(&pinned)
        {
            // Leave the in-memory state as it was: the caller did not get a pin.
            pinned.remove(&seq);
            return Err(error);
        }
        Ok(Pin {
            lease: Arc::clone(self),
            seq,
        })
    }

    /// Rewrites the lease file (the heartbeat). A lease with no pins has no file.
    pub fn refresh(&self) -> Result<(), TableError> {
        let pinned = self.pinned.lock().expect("lease lock poisoned");
        self.write(&pinned)
    }

    /// The manifests pinned now, in order.
    pub fn pinned(&self) -> Vec<u64> {
        let pinned = self.pinned.lock().expect("lease lock poisoned");
        pinned.keys().copied().collect()
    }

    fn unpin(&self, seq: u64) {
        let mut pinned = self.pinned.lock().expect("lease lock poisoned");
        let Some(count) = pinned.get_mut(&seq) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            pinned.remove(&seq);
            if let Err(error) = self.write(&pinned) {
                // Harmless: the stale pin only delays garbage collection until the next write
                // or until the lease expires.
                tracing::warn!(%error, seq, "Could not release a reader pin.");
            }
        }
    }

    fn write(&self, pinned: &BTreeMap<u64, usize>) -> Result<(), TableError> {
        if pinned.is_empty() {
            return match fs::remove_file(&self.file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(TableError::io(&self.file)(e))
                }
                _ => Ok(()),
            };
        }
        let dir = self.file.parent().expect("lease file has a directory");
        fs::create_dir_all(dir).map_err(TableError::io(dir))?;
        let body = serde_json::to_vec(&LeaseFile {
            pid: std::process::id(),
            pinned: pinned.keys().copied().collect(),
        })
        .expect("a lease serialises");
        // No fsync: leases coordinate live processes; after a crash there are no readers left.
        let tmp = self.file.with_extension("json.tmp");
        fs::write(&tmp, body).map_err(TableError::io(&tmp))?;
        fs::rename(&tmp, &self.file).map_err(TableError::io(&self.file))
    }
}

impl Drop for ReaderLease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// A running query's hold on one manifest. Dropping it releases the hold.
#[derive(Debug)]
pub struct Pin {
    lease: Arc<ReaderLease>,
    seq: u64,
}

impl Pin {
    /// The pinned manifest's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.lease.unpin(self.seq);
    }
}

/// The manifests that live readers of `store_dir` hold. Leases older than `ttl` are deleted:
/// their readers are gone. Unreadable or half-written lease files are skipped, not fatal.
pub fn pinned_by_readers(store_dir: &Path, ttl: Duration) -> Result<BTreeSet<u64>, TableError> {
    let dir = store_dir.join(READERS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(TableError::io(&dir)(e)),
    };
    let now = SystemTime::now();
    let mut pinned = BTreeSet::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let age = fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default())
            .unwrap_or(Duration::MAX);
        if age >= ttl {
            let _ = fs::remove_file(&path);
            continue;
        }
        let lease = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<LeaseFile>(&bytes).ok());
        if let Some(lease) = lease {
            pinned.extend(lease.pinned);
        }
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_counted_and_visible_to_the_collector_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let lease = ReaderLease::new(dir.path(), "reader-a");
        assert!(pinned_by_readers(dir.path(), LEASE_TTL).unwrap().is_empty());

        let first = lease.pin(7).unwrap();
        let second = lease.pin(7).unwrap();
        let other = lease.pin(9).unwrap();
        assert_eq!(
            pinned_by_readers(dir.path(), LEASE_TTL).unwrap(),
            BTreeSet::from([7, 9])
        );
        drop(first);
        assert_eq!(
            pinned_by_readers(dir.path(), LEASE_TTL).unwrap(),
            BTreeSet::from([7, 9]),
            "one query still holds manifest 7"
        );
        drop(second);
        drop(other);
        assert!(pinned_by_readers(dir.path(), LEASE_TTL).unwrap().is_empty());
    }

    #[test]
    fn an_expired_lease_is_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lease = ReaderLease::new(dir.path(), "reader-b");
        let _pin = lease.pin(3).unwrap();
        assert!(
            pinned_by_readers(dir.path(), Duration::ZERO)
                .unwrap()
                .is_empty()
        );
        assert!(!dir.path().join(READERS_DIR).join("reader-b.json").exists());
        // The heartbeat brings it back.
        lease.refresh().unwrap();
        assert_eq!(
            pinned_by_readers(dir.path(), LEASE_TTL).unwrap(),
            BTreeSet::from([3])
        );
    }
}
