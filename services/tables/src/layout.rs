//! Where a shard's table files go.
//!
//! ```text
//! <data_dir>/<pipeline>/
//!     shards/<partition>/            CURRENT, manifests/, state/: one per Kafka partition
//!     tables/<table>/                one directory per table, shared by every shard:
//!         _delta_log/                the table's Delta Lake log (see [`crate::delta`])
//!         shard=<partition>/month=YYYY-MM/<seq>.parquet
//! ```
//!
//! A shard writes its files beside the other shards' under the table's directory, not inside its
//! own, so that directory holds every file of the table and can be the root of a Delta Lake
//! table that any Delta reader opens. The manifest names each file relative to the shard
//! directory (`../../tables/...`), so manifests, readers and the garbage collector are unchanged
//! by where the files are. A store that is not a shard of a pipeline (as in unit tests) keeps its
//! files inside itself, under `tables/<table>/`.

use std::path::{Path, PathBuf};

/// Where a store's table files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileLayout {
    /// `<pipeline>/tables/<table>/shard=<partition>/...`, for `<pipeline>/shards/<partition>`.
    Shared {
        pipeline_dir: PathBuf,
        partition: i32,
    },
    /// `<store>/tables/<table>/...`, for a store outside a pipeline's `shards/` directory.
    InStore,
}

impl FileLayout {
    /// The layout of the store at `store_dir`, from its place in the directory tree.
    pub fn of(store_dir: &Path) -> Self {
        let partition = store_dir.file_name().and_then(|n| n.to_str()?.parse().ok());
        let shards = store_dir.parent();
        match (partition, shards) {
            (Some(partition), Some(shards)) if shards.file_name() == Some("shards".as_ref()) => {
                FileLayout::Shared {
                    pipeline_dir: shards.parent().unwrap_or(Path::new("")).to_path_buf(),
                    partition,
                }
            }
            _ => FileLayout::InStore,
        }
    }

    /// A data file's path relative to the store directory, as the manifest records it. The name
    /// carries the commit's sequence number and a token drawn for the commit, so a name is never
    /// used twice: two writers racing for one shard's commit on an object store
    /// ([`crate::remote`]) cannot overwrite each other's files, and a file a crashed commit left
    /// behind is debris for the garbage collector rather than something a replay overwrites.
    pub fn file(&self, table: &str, month: &str, seq: u64, token: u32) -> String {
        let name = format!("month={month}/{seq:020}-{token:08x}.parquet");
        match self {
            FileLayout::Shared { partition, .. } => {
                format!("../../tables/{table}/{}/{name}", shard_prefix(*partition))
            }
            FileLayout::InStore => format!("tables/{table}/{name}"),
        }
    }

    /// The directory the store's files hang from: the pipeline directory, or the store itself.
    /// Directories created below it must be fsynced before a manifest names their files.
    pub fn base<'a>(&'a self, store_dir: &'a Path) -> &'a Path {
        match self {
            FileLayout::Shared { pipeline_dir, .. } => pipeline_dir,
            FileLayout::InStore => store_dir,
        }
    }

    /// The directories holding this store's files and nobody else's: what the garbage
    /// collector sweeps for debris.
    pub fn own_dirs(&self, store_dir: &Path) -> Vec<PathBuf> {
        match self {
            FileLayout::Shared {
                pipeline_dir,
                partition,
            } => {
                let mut dirs = table_dirs(pipeline_dir)
                    .into_iter()
                    .map(|table| table.join(shard_prefix(*partition)))
                    .collect::<Vec<_>>();
                // Files written before tables moved out of the shard directory.
                dirs.push(store_dir.join("tables"));
                dirs
            }
            FileLayout::InStore => vec![store_dir.join("tables")],
        }
    }
}

/// The directory of one table of a pipeline: every shard's files and the Delta log.
pub fn table_dir(pipeline_dir: &Path, table: &str) -> PathBuf {
    pipeline_dir.join("tables").join(table)
}

/// The directory, relative to a table's directory, that holds one shard's files.
pub fn shard_prefix(partition: i32) -> String {
    format!("shard={partition}")
}

/// Every table directory of a pipeline.
fn table_dirs(pipeline_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(pipeline_dir.join("tables"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::file_path;

    #[test]
    fn a_shard_writes_beside_the_other_shards_and_anything_else_inside_itself() {
        let shard = Path::new("/data/incidents/shards/7");
        let layout = FileLayout::of(shard);
        assert_eq!(
            layout,
            FileLayout::Shared {
                pipeline_dir: PathBuf::from("/data/incidents"),
                partition: 7
            }
        );
        let relative = layout.file("incidents_monthly", "2024-01", 3, 0xbeef);
        assert_eq!(
            file_path(shard, &relative),
            Path::new(
                "/data/incidents/tables/incidents_monthly/shard=7/month=2024-01/00000000000000000003-0000beef.parquet"
            )
        );
        let other = FileLayout::of(Path::new("/tmp/store"));
        assert_eq!(other, FileLayout::InStore);
        assert_eq!(
            other.file("t", "2024-01", 3, 1),
            "tables/t/month=2024-01/00000000000000000003-00000001.parquet"
        );
    }
}
