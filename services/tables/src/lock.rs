//! One writer per shard directory: the fence between a partition's old and new owner.
//!
//! Instances in a consumer group hand partitions to each other on a rebalance. Kafka's
//! cooperative protocol revokes a partition from its owner before assigning it elsewhere, but an
//! owner may still be finishing the batch it had read — or be a zombie the group gave up on, alive
//! and about to publish. Two writers of one shard would publish the same commit sequence with the
//! same file names and truncate each other's files. So a writer holds an exclusive OS file lock on
//! `<shard_dir>/LOCK` for as long as it owns the shard, and a new owner waits for it: whatever
//! the old owner publishes before letting go, the new one starts from. The OS releases the lock
//! when a process dies, so a crash never leaves a stale lock.
//!
//! (An OS lock fences writers on one host or a shared file system that honours `flock`; object
//! storage will need a conditional write of the manifest instead.)

use std::fs::{self, File, TryLockError};
use std::path::Path;

use crate::TableError;

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct ShardLock {
    _file: File,
}

/// Takes the shard directory's writer lock, or `None` while another writer holds it.
pub fn try_lock_shard(shard_dir: &Path) -> Result<Option<ShardLock>, TableError> {
    fs::create_dir_all(shard_dir).map_err(TableError::io(shard_dir))?;
    let path = shard_dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(TableError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ShardLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(TableError::io(&path)(e)),
    }
}

/// Takes the shard directory's writer lock, or fails naming it (for tools that must not wait).
pub fn lock_shard(shard_dir: &Path) -> Result<ShardLock, TableError> {
    try_lock_shard(shard_dir)?.ok_or_else(|| TableError::Locked {
        path: shard_dir.join("LOCK"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_shard(dir.path()).unwrap();
        assert!(try_lock_shard(dir.path()).unwrap().is_none());
        let err = lock_shard(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another Lantern process"), "{err}");
        drop(first);
        lock_shard(dir.path()).unwrap();
    }
}
