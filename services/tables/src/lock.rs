//! One writer per pipeline directory.
//!
//! The processor assigns itself partitions directly (no consumer-group fencing), so nothing in
//! Kafka stops two instances — say, during a rolling deploy — from consuming the same topic. Two
//! writers would publish the same commit sequence with the same file names and truncate each
//! other's files. An exclusive OS file lock on `<pipeline_dir>/LOCK`, held for the pipeline's
//! lifetime, makes the second instance fail at start instead. The OS releases it if the process
//! dies, so a crash never leaves a stale lock.

use std::fs::{self, File, TryLockError};
use std::path::Path;

use crate::TableError;

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct PipelineLock {
    _file: File,
}

/// Takes the pipeline directory's writer lock, or fails naming the directory.
pub fn lock_pipeline(pipeline_dir: &Path) -> Result<PipelineLock, TableError> {
    fs::create_dir_all(pipeline_dir).map_err(TableError::io(pipeline_dir))?;
    let path = pipeline_dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(TableError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(PipelineLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(TableError::Locked { path }),
        Err(TryLockError::Error(e)) => Err(TableError::io(&path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_pipeline(dir.path()).unwrap();
        let err = lock_pipeline(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another Lantern process"), "{err}");
        drop(first);
        lock_pipeline(dir.path()).unwrap();
    }
}
