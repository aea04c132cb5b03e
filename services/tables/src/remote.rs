//! Object storage as the durable home of the tables, so that Lantern runs on more than one host.
//!
//! With `storage.url` set (`s3://bucket/prefix` for S3 or any S3-compatible store, `file:///path`
//! for a shared mount), the store holds what a data dir holds, under the same relative keys:
//!
//! ```text
//! <url>/<pipeline>/shards/<partition>/manifests/<seq>.json      one per commit
//! <url>/<pipeline>/tables/<table>/shard=<p>/month=<m>/<seq>-<token>.parquet
//! <url>/<pipeline>/tables/<table>/_delta_log/                   ([`crate::delta`])
//! ```
//!
//! The local data dir becomes a working copy. A shard still commits locally first (files,
//! manifest, record index), then [`RemoteShard::push`]es the commit: it uploads the files the
//! commit wrote, then creates the manifest object with a conditional put (`If-None-Match: *`).
//! **That create is the commit point.** Of two writers of one shard that both computed commit
//! N (a zombie after a rebalance, two clusters pointed at one bucket), exactly one creates
//! manifest N; the other gets [`TableError::LostShard`] and stops. Nothing it did is visible:
//! its files have names of their own ([`crate::layout::FileLayout::file`]) and are collected as
//! debris.
//!
//! There is no `CURRENT` object: S3 has no atomic rename, and the newest manifest is simply the
//! one with the highest sequence number, which the conditional create keeps unique.
//!
//! An instance taking a shard over compares its working copy with the newest manifest in the
//! store and, if they differ (a new host, a lost disk, a local commit whose push never
//! finished), [`RemoteShard::restore`]s it from the store. The record index is local state the
//! facts files determine, so the caller rebuilds it rather than the store keeping it.
//!
//! Query servers and the other commands that read tables keep a read replica of the store in
//! their own data dir ([`Remote::pull`]), so every reader of the local layout works unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use tracing::{debug, info};
use url::Url;

use crate::TableError;
use crate::commit::GcStats;
use crate::layout::shard_prefix;
use crate::lock::try_lock_shard;
use crate::manifest::{self, Manifest, current_name, file_path, manifest_file_name, seq_of};
use crate::shards::shard_dir;

/// An object store holding Lantern's tables, from `storage.url`.
#[derive(Clone)]
pub struct Remote {
    /// The store at the root of the bucket (or file system): Delta's log store wants that.
    store: Arc<dyn ObjectStore>,
    /// `storage.url` with a trailing slash: `s3://bucket/prefix/`.
    url: Url,
    /// The prefix inside the store under which Lantern's keys go (may be empty).
    prefix: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl Remote {
    /// The store `url` names. `s3://` takes credentials, region and endpoint from the standard
    /// `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, or a web identity token file);
    /// nothing secret is ever in the config.
    pub fn from_url(url: &str) -> Result<Remote, TableError> {
        let invalid = |reason: String| TableError::Remote {
            url: url.to_string(),
            reason,
        };
        let mut parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !parsed.path().ends_with('/') {
            parsed.set_path(&format!("{}/", parsed.path()));
        }
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match parsed.scheme() {
            "s3" => {
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(invalid(
                        "an s3:// URL names a bucket: s3://bucket/prefix".into(),
                    ));
                }
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?;
                register_s3_log_store();
                (Arc::new(s3), parsed.path().trim_matches('/').to_string())
            }
            "file" => (
                Arc::new(LocalFileSystem::new()),
                parsed.path().trim_matches('/').to_string(),
            ),
            other => {
                return Err(invalid(format!(
                    "unsupported scheme {other}: use s3://bucket/prefix or file:///path"
                )));
            }
        };
        Ok(Remote {
            store,
            url: parsed,
            prefix,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The store at the root of the bucket; keys are [`Remote::key`]s.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The URL of a table's directory: its Delta Lake table.
    pub fn table_url(&self, pipeline: &str, table: &str) -> Url {
        self.url
            .join(&format!("{pipeline}/tables/{table}/"))
            .expect("a relative path joins onto a directory URL")
    }

    /// The key of `relative` (a path below the data dir).
    fn key(&self, relative: &str) -> ObjectPath {
        match self.prefix.is_empty() {
            true => ObjectPath::from(relative),
            false => ObjectPath::from(format!("{}/{relative}", self.prefix)),
        }
    }

    /// One shard of `pipeline` in the store, with its working copy in `pipeline_dir`.
    pub fn shard(&self, pipeline_dir: &Path, pipeline: &str, partition: i32) -> RemoteShard {
        RemoteShard {
            remote: self.clone(),
            pipeline: pipeline.to_string(),
            partition,
            local: shard_dir(pipeline_dir, partition),
        }
    }

    /// Brings the read replica in `data_dir` up to the store: every shard whose newest manifest
    /// differs from the replica's is restored, then old files of the replica are collected.
    /// A shard whose lock a writer on this host holds is skipped: its working copy is the
    /// writer's, at least as new as the store.
    pub async fn pull(&self, data_dir: &Path, gc_min_age: Duration) -> Result<Pulled, TableError> {
        let mut pulled = Pulled::default();
        for pipeline in self.children("").await? {
            for partition in self.children(&format!("{pipeline}/shards")).await? {
                let Ok(partition) = partition.parse::<i32>() else {
                    continue;
                };
                let shard = self.shard(
                    &manifest::pipeline_dir(data_dir, &pipeline),
                    &pipeline,
                    partition,
                );
                if shard.pull(gc_min_age).await? {
                    pulled.shards += 1;
                }
            }
        }
        Ok(pulled)
    }

    /// The names of the "directories" directly below `relative`.
    async fn children(&self, relative: &str) -> Result<Vec<String>, TableError> {
        let prefix = match relative.is_empty() {
            true => (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str())),
            false => Some(self.key(relative)),
        };
        let listed = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(self.error(relative))?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    fn error(&self, what: &str) -> impl FnOnce(object_store::Error) -> TableError + use<> {
        let url = format!("{}{what}", self.url);
        move |e| TableError::Remote {
            url,
            reason: e.to_string(),
        }
    }
}

/// Files uploaded or downloaded at once: a commit writes one file per table and month it
/// touched, and one request at a time would make a push as slow as the sum of their latencies.
const CONCURRENT_TRANSFERS: usize = 16;

/// Manifests a replica keeps for queries that resolved an older one (as a writer does).
const KEEP_MANIFESTS: usize = 5;

/// What one [`Remote::pull`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pulled {
    /// Shards brought up to a newer manifest.
    pub shards: usize,
}

/// One shard in the store and its local working copy.
#[derive(Debug, Clone)]
pub struct RemoteShard {
    remote: Remote,
    pipeline: String,
    partition: i32,
    local: PathBuf,
}

impl RemoteShard {
    /// The key of a path relative to the shard directory (as manifests name files).
    fn key(&self, relative: &str) -> ObjectPath {
        let shard = format!("{}/shards/{}", self.pipeline, self.partition);
        let resolved = file_path(Path::new(&shard), relative);
        self.remote.key(&resolved.to_string_lossy())
    }

    fn manifests(&self) -> ObjectPath {
        self.key("manifests")
    }

    fn error(&self, what: &str) -> impl FnOnce(object_store::Error) -> TableError + use<> {
        let what = format!("{}/shards/{}/{what}", self.pipeline, self.partition);
        self.remote.error(&what)
    }

    /// The newest manifest in the store, or `None` if the shard never committed there.
    pub async fn newest(&self) -> Result<Option<Manifest>, TableError> {
        let Some(seq) = self.manifest_seqs().await?.into_iter().max() else {
            return Ok(None);
        };
        self.manifest(seq).await.map(Some)
    }

    /// Brings a read replica of this shard up to the store, unless a writer on this host holds
    /// the shard. Lists the manifests only, and downloads the newest only when the replica is
    /// behind, so a replica that is current costs one LIST. True if the replica moved.
    async fn pull(&self, gc_min_age: Duration) -> Result<bool, TableError> {
        let Some(newest_seq) = self.manifest_seqs().await?.into_iter().max() else {
            return Ok(false);
        };
        let local = self.local.clone();
        let held = tokio::task::spawn_blocking(move || {
            let current = current_name(&local)?.as_deref().and_then(seq_of);
            if current == Some(newest_seq) {
                return Ok(None);
            }
            try_lock_shard(&local)
        })
        .await
        .map_err(join_error)??;
        let Some(_lock) = held else {
            return Ok(false);
        };
        let newest = self.manifest(newest_seq).await?;
        self.restore(&newest).await?;
        let local = self.local.clone();
        tokio::task::spawn_blocking(move || {
            crate::commit::collect_garbage(&local, KEEP_MANIFESTS, gc_min_age)
        })
        .await
        .map_err(join_error)??;
        Ok(true)
    }

    async fn manifest_seqs(&self) -> Result<Vec<u64>, TableError> {
        let listed = self
            .remote
            .store
            .list_with_delimiter(Some(&self.manifests()))
            .await
            .map_err(self.error("manifests"))?;
        Ok(listed
            .objects
            .iter()
            .filter_map(|o| seq_of(o.location.filename()?))
            .collect())
    }

    async fn manifest(&self, seq: u64) -> Result<Manifest, TableError> {
        let name = format!("manifests/{}", manifest_file_name(seq));
        let bytes = self
            .remote
            .store
            .get(&self.key(&name))
            .await
            .map_err(self.error(&name))?
            .bytes()
            .await
            .map_err(self.error(&name))?;
        manifest::parse(&bytes, &self.local.join(&name))
    }

    /// Publishes `manifest`, which follows `previous` (what the store held), to the store:
    /// uploads the files `previous` did not name, then creates the manifest object unless it
    /// exists. [`TableError::LostShard`] if another writer created it first.
    pub async fn push(
        &self,
        previous: Option<&Manifest>,
        manifest: &Manifest,
    ) -> Result<(), TableError> {
        let before: BTreeSet<&String> = previous.map(manifest_files).unwrap_or_default();
        let added: Vec<&String> = manifest_files(manifest)
            .difference(&before)
            .copied()
            .collect();
        // Owned names: a future borrowing the iterator's items is not `Send` enough for a spawned
        // pipeline task (rustc cannot prove the higher-ranked lifetime).
        stream::iter(added.into_iter().cloned())
            .map(|relative| self.upload(relative))
            .buffer_unordered(CONCURRENT_TRANSFERS)
            .try_collect::<()>()
            .await?;
        let name = format!("manifests/{}", manifest_file_name(manifest.seq));
        let body = serde_json::to_vec_pretty(manifest).map_err(|e| TableError::Manifest {
            path: self.local.join(&name),
            reason: e.to_string(),
        })?;
        let created = self
            .remote
            .store
            .put_opts(
                &self.key(&name),
                PutPayload::from(body),
                PutMode::Create.into(),
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(TableError::LostShard {
                pipeline: self.pipeline.clone(),
                partition: self.partition,
                seq: manifest.seq,
            }),
            Err(e) => Err(self.error(&name)(e)),
        }
    }

    /// Makes the working copy hold exactly `manifest` from the store: downloads the files it
    /// lacks, drops manifests the store does not have, and installs `manifest` as `CURRENT`.
    /// The caller holds the shard's lock.
    pub async fn restore(&self, manifest: &Manifest) -> Result<(), TableError> {
        let started = std::time::Instant::now();
        let downloaded: usize = stream::iter(manifest_files(manifest).into_iter().cloned())
            .map(|relative| self.download_if_missing(relative))
            .buffer_unordered(CONCURRENT_TRANSFERS)
            .try_fold(0, |n, fetched| async move { Ok(n + usize::from(fetched)) })
            .await?;
        let (local, manifest) = (self.local.clone(), manifest.clone());
        let seq = manifest.seq;
        tokio::task::spawn_blocking(move || {
            drop_manifests_after(&local, manifest.seq)?;
            manifest::install(&local, &manifest)
        })
        .await
        .map_err(join_error)??;
        info!(
            pipeline = self.pipeline,
            partition = self.partition,
            seq,
            downloaded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Restored the shard's working copy from the object store."
        );
        Ok(())
    }

    /// Uploads one file of the working copy under its own key.
    async fn upload(&self, relative: String) -> Result<(), TableError> {
        let relative = relative.as_str();
        let path = file_path(&self.local, relative);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(TableError::io(&path))?;
        self.remote
            .store
            .put(&self.key(relative), PutPayload::from(bytes))
            .await
            .map_err(self.error(relative))?;
        Ok(())
    }

    /// Downloads one file into the working copy unless it is there. True if it was fetched.
    async fn download_if_missing(&self, relative: String) -> Result<bool, TableError> {
        let relative = relative.as_str();
        let path = file_path(&self.local, relative);
        // Names are never reused, and a download lands under its name only when complete.
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(false);
        }
        let bytes = self
            .remote
            .store
            .get(&self.key(relative))
            .await
            .map_err(self.error(relative))?
            .bytes()
            .await
            .map_err(self.error(relative))?;
        write_new(&path, &bytes).await?;
        Ok(true)
    }

    /// Removes from the store manifests superseded more than `min_age` ago beyond the newest
    /// `keep`, then the shard's data files that no remaining manifest names and that are older
    /// than `min_age` (a racing writer's files, a crashed push's). Only the shard's owner calls
    /// this, after its Delta logs agree with its newest manifest.
    pub async fn collect_garbage(
        &self,
        keep: usize,
        min_age: Duration,
    ) -> Result<GcStats, TableError> {
        let mut stats = GcStats::default();
        let now = chrono::Utc::now();
        let old = |modified: chrono::DateTime<chrono::Utc>| {
            (now - modified).to_std().unwrap_or_default() >= min_age
        };
        let listed = self
            .remote
            .store
            .list_with_delimiter(Some(&self.manifests()))
            .await
            .map_err(self.error("manifests"))?;
        let mut manifests: Vec<(u64, &object_store::ObjectMeta)> = listed
            .objects
            .iter()
            .filter_map(|o| Some((seq_of(o.location.filename()?)?, o)))
            .collect();
        manifests.sort_by_key(|(seq, _)| *seq);
        let cut = manifests.len().saturating_sub(keep);
        let mut referenced = BTreeSet::new();
        let mut tables = BTreeSet::new();
        for (i, (seq, meta)) in manifests.iter().enumerate() {
            // A manifest's age is its successor's: when it stopped being the newest.
            if i < cut && old(manifests[i + 1].1.last_modified) {
                self.remote
                    .store
                    .delete(&meta.location)
                    .await
                    .map_err(self.error("manifests"))?;
                stats.manifests_removed += 1;
                continue;
            }
            let kept = self.manifest(*seq).await?;
            referenced.extend(manifest_files(&kept).into_iter().map(|f| self.key(f)));
            tables.extend(kept.tables.into_keys());
        }
        for table in &tables {
            let dir = self.key(&format!(
                "../../tables/{table}/{}",
                shard_prefix(self.partition)
            ));
            let files: Vec<object_store::ObjectMeta> = self
                .remote
                .store
                .list(Some(&dir))
                .try_collect()
                .await
                .map_err(self.error(table))?;
            for file in files {
                if !referenced.contains(&file.location) && old(file.last_modified) {
                    debug!(key = %file.location, "Removing an unreferenced file from the object store.");
                    self.remote
                        .store
                        .delete(&file.location)
                        .await
                        .map_err(self.error(table))?;
                    stats.files_removed += 1;
                }
            }
        }
        Ok(stats)
    }
}

/// Every file a manifest names, as it names them.
fn manifest_files(manifest: &Manifest) -> BTreeSet<&String> {
    manifest
        .tables
        .values()
        .flat_map(|t| t.partitions.values())
        .collect()
}

/// Writes a downloaded file under a temporary name, fsyncs it and renames it into place.
async fn write_new(path: &Path, bytes: &[u8]) -> Result<(), TableError> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(TableError::io(dir))?;
    }
    let tmp = path.with_extension("download");
    let (tmp_owned, bytes) = (tmp.clone(), bytes.to_vec());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp_owned).map_err(TableError::io(&tmp_owned))?;
        file.write_all(&bytes).map_err(TableError::io(&tmp_owned))?;
        file.sync_all().map_err(TableError::io(&tmp_owned))
    })
    .await
    .map_err(join_error)??;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(TableError::io(path))
}

/// Removes the working copy's manifests after `seq`: commits that never reached the store.
fn drop_manifests_after(store_dir: &Path, seq: u64) -> Result<(), TableError> {
    let dir = store_dir.join("manifests");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let stale: BTreeMap<u64, PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((seq_of(e.file_name().to_str()?)?, e.path())))
        .filter(|(s, _)| *s > seq)
        .collect();
    for path in stale.values() {
        std::fs::remove_file(path).map_err(TableError::io(path))?;
    }
    Ok(())
}

fn join_error(e: tokio::task::JoinError) -> TableError {
    TableError::Io {
        path: PathBuf::from("<blocking task>"),
        source: std::io::Error::other(e),
    }
}

/// delta-rs ships log stores for `file://` and `memory://` only. Its default log store commits
/// a version with a create-if-absent put, which S3 (and every S3-compatible store with
/// `If-None-Match`) does atomically, so the same log store serves `s3://` with no lock table.
fn register_s3_log_store() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let scheme = Url::parse("s3://").expect("a valid URL");
        deltalake_core::logstore::logstore_factories()
            .insert(scheme, Arc::new(ConditionalPutLogStores));
    });
}

struct ConditionalPutLogStores;

impl deltalake_core::logstore::LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed_store: deltalake_core::logstore::ObjectStoreRef,
        root_store: deltalake_core::logstore::ObjectStoreRef,
        location: &Url,
        options: &deltalake_core::logstore::StorageConfig,
    ) -> deltalake_core::DeltaResult<Arc<dyn deltalake_core::logstore::LogStore>> {
        Ok(deltalake_core::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}
