//! A pipeline's shards: one table store per partition of its topic.
//!
//! ```text
//! <data_dir>/<pipeline>/shards/<partition>/   CURRENT, manifests/, tables/, state/, LOCK
//! ```
//!
//! Each shard holds the records of one Kafka partition — their facts, their part of every
//! aggregate, the record index and the partition's offset — and commits them together, so an
//! instance that takes a partition over needs only that shard. A table's contents are the union
//! of its shards' files; an aggregate's rows are summed over shards ([`crate::register`]).

use std::fs;
use std::path::{Path, PathBuf};

use crate::TableError;
use crate::manifest::{self, Manifest};

/// A shard's directory.
pub fn shard_dir(pipeline_dir: &Path, partition: i32) -> PathBuf {
    pipeline_dir.join("shards").join(partition.to_string())
}

/// One shard's live manifest.
#[derive(Debug, Clone)]
pub struct PublishedShard {
    pub partition: i32,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// A pipeline's shards that have published at least once, by partition. A pipeline directory
/// in the unsharded layout of earlier versions is refused with what to do about it.
pub fn published_shards(pipeline_dir: &Path) -> Result<Vec<PublishedShard>, TableError> {
    check_layout(pipeline_dir)?;
    let mut out = Vec::new();
    for (partition, dir) in shard_dirs(pipeline_dir)? {
        if let Some(manifest) = manifest::load_current(&dir)? {
            out.push(PublishedShard {
                partition,
                dir,
                manifest,
            });
        }
    }
    Ok(out)
}

/// The shard directories of a pipeline, by partition (published or not).
pub fn shard_dirs(pipeline_dir: &Path) -> Result<Vec<(i32, PathBuf)>, TableError> {
    let root = pipeline_dir.join("shards");
    let mut out: Vec<(i32, PathBuf)> = subdirs(&root)?
        .into_iter()
        .filter_map(|dir| {
            let partition = dir.file_name()?.to_str()?.parse().ok()?;
            Some((partition, dir))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The pipeline directories under `data_dir`, sorted.
pub fn pipeline_dirs(data_dir: &Path) -> Result<Vec<PathBuf>, TableError> {
    let mut dirs = subdirs(data_dir)?;
    dirs.sort();
    Ok(dirs)
}

/// Refuses a pipeline directory written before tables were sharded by partition: its one
/// manifest holds every partition's records, which cannot be split without knowing each
/// record's partition.
pub fn check_layout(pipeline_dir: &Path) -> Result<(), TableError> {
    if pipeline_dir.join("CURRENT").exists() {
        return Err(TableError::UnshardedLayout {
            path: pipeline_dir.to_path_buf(),
        });
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, TableError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(TableError::io(dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Commit;

    #[test]
    fn lists_published_shards_by_partition_and_refuses_the_old_layout() {
        let data = tempfile::tempdir().unwrap();
        let pipeline = data.path().join("incidents");
        for partition in [10, 2] {
            Commit::begin(&shard_dir(&pipeline, partition), "incidents", None)
                .publish()
                .unwrap();
        }
        fs::create_dir_all(shard_dir(&pipeline, 5)).unwrap(); // taken over, not yet published
        let shards = published_shards(&pipeline).unwrap();
        let partitions: Vec<i32> = shards.iter().map(|s| s.partition).collect();
        assert_eq!(partitions, [2, 10]);

        Commit::begin(&pipeline, "incidents", None)
            .publish()
            .unwrap();
        let err = published_shards(&pipeline).unwrap_err().to_string();
        assert!(err.contains("unsharded"), "{err}");
    }
}
