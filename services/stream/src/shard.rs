//! A shard: one partition of a pipeline's topic — its tables, record index, processor and
//! dead-letter spill file — owned by one instance at a time.
//!
//! Partition-aligned state is what lets instances share a pipeline: a partition's records never
//! leave it (producers key them by record id, see [`crate::partitioner`]), so its shard holds
//! everything needed to process it, and its state, offsets and aggregate rows commit together in
//! the shard's manifest. Taking a partition over is opening its shard
//! ([`Shard::take_over`]): wait for the previous owner's lock, read the manifest, bring the index
//! up to it. Letting go is dropping the shard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_enrich::ReferenceData;
use lantern_tables::commit::collect_garbage;
use lantern_tables::delta::DeltaTables;
use lantern_tables::manifest::load_current;
use lantern_tables::remote::{Remote, RemoteShard};
use lantern_tables::shards::shard_dir;
use lantern_tables::{Manifest, ShardLock, try_lock_shard};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aggregate::Aggregates;
use crate::core::{Processed, Processor};
use crate::dlq::DeadLetters;
use crate::facts::MISSES;
use crate::pipelines::PipelineKind;
use crate::{StreamError, StreamMetrics, store};

/// Manifests kept for readers that opened an older snapshot.
const KEEP_MANIFESTS: usize = 5;
const GC_MIN_AGE: Duration = Duration::from_secs(60);
/// How often a shard collects old files in the object store (each time lists its directories).
const REMOTE_GC_EVERY: Duration = Duration::from_secs(15);
/// How often a new owner tries the lock while the previous owner finishes.
const LOCK_RETRY: Duration = Duration::from_millis(100);
const LOCK_WARN_EVERY: Duration = Duration::from_secs(10);

/// What every shard of a pipeline shares.
pub struct ShardEnv {
    pub pipeline_dir: PathBuf,
    pub topic: String,
    /// Partitions of the topic (a record's partition is its id's hash modulo this).
    pub partitions: i32,
    pub aggregates: Aggregates,
    pub reference: Arc<ReferenceData>,
    pub cache_bytes: usize,
    pub producer: FutureProducer,
    pub dead_letter_topic: String,
    pub metrics: StreamMetrics,
    /// The object store that is the tables' durable home, if `storage.url` is set.
    pub remote: Option<Remote>,
}

/// What one batch did to a shard.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub received: u64,
    pub dead_lettered: u64,
    /// The offset after the batch, if the batch moved it.
    pub next_offset: Option<i64>,
}

/// One owned partition.
pub struct Shard<P: PipelineKind> {
    pub partition: i32,
    dir: PathBuf,
    manifest: Manifest,
    processor: Processor<P>,
    dead_letters: DeadLetters,
    /// The Delta Lake logs of the pipeline's tables, brought in line after each commit.
    delta: DeltaTables,
    /// The shard in the object store, where each commit is published after the local one.
    remote: Option<RemoteShard>,
    /// When the object store's old files were last collected.
    remote_collected: Instant,
    /// Declared last: released only after the index and files above are closed.
    _lock: ShardLock,
}

impl<P: PipelineKind> Shard<P> {
    /// Takes `partition`'s shard over: waits until its previous owner lets go of the lock (it
    /// may be publishing a last batch), then opens its tables and brings the record index up to
    /// them. `None` if shutdown came first.
    pub async fn take_over(
        env: &ShardEnv,
        partition: i32,
        stopped: &mut watch::Receiver<bool>,
    ) -> Result<Option<Self>, StreamError> {
        let dir = shard_dir(&env.pipeline_dir, partition);
        let Some(lock) = wait_for_lock(&dir, partition, stopped).await? else {
            return Ok(None);
        };
        let started = Instant::now();
        let remote = env
            .remote
            .as_ref()
            .map(|r| r.shard(&env.pipeline_dir, P::SPEC.name, partition));
        let in_store = match &remote {
            Some(remote) => {
                let reconciled = reconcile(remote, &dir).await?;
                if reconciled.restored {
                    env.metrics
                        .store_restores
                        .with_label_values(&[P::SPEC.name])
                        .inc();
                }
                reconciled.newest
            }
            None => None,
        };
        let (manifest, index) = store::open::<P>(&dir, &env.aggregates, env.cache_bytes).await?;
        if let Some(remote) = &remote
            && in_store.is_none()
        {
            // A new shard's first commit, or a data dir from before `storage.url` was set.
            push(remote, None, &manifest, &env.metrics, P::SPEC.name).await?;
        }
        let published = manifest
            .offsets
            .get(&env.topic)
            .cloned()
            .unwrap_or_default();
        let records = index.len()?;
        info!(
            pipeline = P::SPEC.name,
            partition,
            seq = manifest.seq,
            records,
            next_offset = published.get(&partition).copied(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Took the shard over."
        );
        let processor =
            Processor::new(Arc::clone(&env.reference), index, published, env.partitions);
        let dead_letters = DeadLetters::new(
            env.producer.clone(),
            env.dead_letter_topic.clone(),
            P::SPEC.name,
            crate::dlq::spill_path(&dir),
        );
        let mut shard = Shard {
            partition,
            dir,
            manifest,
            processor,
            dead_letters,
            delta: delta_tables::<P>(env, partition),
            remote,
            remote_collected: Instant::now(),
            _lock: lock,
        };
        // A crash between the last manifest and its Delta commits left the logs behind.
        shard.sync_delta(&env.metrics).await;
        Ok(Some(shard))
    }

    /// The next offset to read: everything before it is published in this shard.
    pub fn next_offset(&self, topic: &str) -> Option<i64> {
        self.manifest
            .offsets
            .get(topic)?
            .get(&self.partition)
            .copied()
    }

    /// Bytes of the shard's record index file.
    pub fn state_bytes(&self) -> u64 {
        std::fs::metadata(store::index_path(&self.dir)).map_or(0, |meta| meta.len())
    }

    /// Records held.
    pub fn records(&mut self) -> Result<u64, StreamError> {
        tokio::task::block_in_place(|| self.processor.index().len())
    }

    /// Processes this shard's messages of a batch and publishes the result: dead letters first
    /// (durable before the offsets that skip them), then one commit of facts, aggregates and the
    /// offset, then the index.
    pub async fn apply(
        &mut self,
        env: &ShardEnv,
        batch: &[OwnedMessage],
    ) -> Result<Applied, StreamError> {
        let name = P::SPEC.name;
        let m = &env.metrics;
        // CPU work and index lookups: tell tokio this worker is busy so others take its tasks.
        let processed = tokio::task::block_in_place(|| self.processor.process(batch))?;
        record_metrics(m, name, &env.topic, &processed);
        for letter in &processed.dead_letters {
            let message = &batch[letter.index];
            warn!(
                pipeline = name,
                partition = message.partition(),
                offset = message.offset(),
                stage = letter.stage.as_str(),
                reason = letter.reason,
                "Dead-lettered a record."
            );
            self.dead_letters
                .send(message, letter.stage.as_str(), &letter.reason)
                .await?;
        }
        let flushed = self.dead_letters.flush().await?;
        m.dead_letters_spilled
            .with_label_values(&[name])
            .inc_by(flushed.spilled as u64);

        let Processed {
            changes,
            next_offsets,
            ..
        } = processed;
        if !next_offsets.is_empty() {
            let oldest_ms = batch.iter().filter_map(|m| m.timestamp().to_millis()).min();
            let timer = m.commit_timer(name).start_timer();
            let previous = self.manifest.clone();
            self.manifest = store::commit_batch(
                &self.dir,
                &self.manifest,
                &mut self.processor,
                changes,
                &env.aggregates,
                &env.topic,
                &next_offsets,
            )
            .await?;
            if let Some(remote) = &self.remote {
                // The commit point: until the manifest is in the store, this commit can be lost.
                push(remote, Some(&previous), &self.manifest, m, name).await?;
            }
            timer.observe_duration();
            m.table_commits.with_label_values(&[name]).inc();
            m.table_written_bytes
                .with_label_values(&[name])
                .inc_by(self.manifest.bytes_added(&self.dir, &previous));
            if let Some(oldest_ms) = oldest_ms {
                let now_ms = chrono::Utc::now().timestamp_millis();
                m.freshness
                    .with_label_values(&[name])
                    .observe((now_ms - oldest_ms).max(0) as f64 / 1000.0);
            }
            // Files the Delta logs still name must outlive them: no collection until they agree.
            if self.sync_delta(m).await {
                self.collect_garbage().await;
            }
        }
        Ok(Applied {
            received: batch.len() as u64,
            dead_lettered: (flushed.delivered + flushed.spilled) as u64,
            next_offset: next_offsets.get(&self.partition).copied(),
        })
    }

    /// Brings the Delta Lake logs in line with the published manifest. A failure is logged and
    /// counted, not fatal: Lantern's own tables are committed, and the next commit retries.
    async fn sync_delta(&mut self, m: &StreamMetrics) -> bool {
        let name = P::SPEC.name;
        match self.delta.sync(&self.dir, &self.manifest).await {
            Ok(done) => {
                m.delta_commits
                    .with_label_values(&[name])
                    .inc_by(done.commits as u64);
                true
            }
            Err(error) => {
                m.delta_sync_failures.with_label_values(&[name]).inc();
                warn!(%error, pipeline = name, partition = self.partition, "The Delta Lake logs could not be brought in line with the shard's commit; will retry after the next one.");
                false
            }
        }
    }

    async fn collect_garbage(&mut self) {
        let dir = self.dir.clone();
        let gc = store::blocking(P::SPEC.name, move || {
            collect_garbage(&dir, KEEP_MANIFESTS, GC_MIN_AGE).map_err(StreamError::from)
        });
        if let Err(error) = gc.await {
            warn!(%error, pipeline = P::SPEC.name, partition = self.partition, "Garbage collection of old table files failed; will retry.");
        }
        // Listing an object store costs requests: collect there a few times per window only.
        if let Some(remote) = &self.remote
            && self.remote_collected.elapsed() >= REMOTE_GC_EVERY
        {
            self.remote_collected = Instant::now();
            if let Err(error) = remote.collect_garbage(KEEP_MANIFESTS, GC_MIN_AGE).await {
                warn!(%error, pipeline = P::SPEC.name, partition = self.partition, "Garbage collection in the object store failed; will retry.");
            }
        }
    }
}

/// The shard's view of its pipeline's Delta tables: beside the files, locally or in the store.
fn delta_tables<P: PipelineKind>(env: &ShardEnv, partition: i32) -> DeltaTables {
    let local = DeltaTables::new(&env.pipeline_dir, partition, GC_MIN_AGE);
    match &env.remote {
        Some(remote) => local.on_remote(remote.clone(), P::SPEC.name),
        None => local,
    }
}

/// Makes the working copy agree with the store before the shard opens: if the store's newest
/// commit is not the local one (a new host, a lost disk, a local commit whose push never
/// finished), the working copy is restored from the store and the record index, which may hold
/// records of a commit the store never got, is dropped to be rebuilt from the facts. Returns
/// the store's newest manifest.
async fn reconcile(remote: &RemoteShard, dir: &Path) -> Result<Reconciled, StreamError> {
    let newest = remote.newest().await?;
    let owned = dir.to_path_buf();
    let local = store::blocking("(take-over)", move || Ok(load_current(&owned)?)).await?;
    let restored = match &newest {
        Some(newest) if local.as_ref() != Some(newest) => {
            remote.restore(newest).await?;
            store::discard_index(dir)?;
            true
        }
        _ => false,
    };
    Ok(Reconciled { newest, restored })
}

/// What [`reconcile`] found and did.
struct Reconciled {
    /// The store's newest manifest, `None` if the shard never committed there.
    newest: Option<Manifest>,
    /// Whether the working copy was restored from the store.
    restored: bool,
}

/// Pushes a shard commit to the object store, timed.
async fn push(
    remote: &RemoteShard,
    previous: Option<&Manifest>,
    manifest: &Manifest,
    metrics: &StreamMetrics,
    pipeline: &str,
) -> Result<(), StreamError> {
    let _timer = metrics
        .store_push_duration
        .with_label_values(&[pipeline])
        .start_timer();
    Ok(remote.push(previous, manifest).await?)
}

/// Waits for the shard's writer lock. `None` if shutdown came first.
async fn wait_for_lock(
    dir: &Path,
    partition: i32,
    stopped: &mut watch::Receiver<bool>,
) -> Result<Option<ShardLock>, StreamError> {
    let started = Instant::now();
    let mut warned_at = started;
    loop {
        if let Some(lock) = try_lock_shard(dir)? {
            return Ok(Some(lock));
        }
        if warned_at.elapsed() >= LOCK_WARN_EVERY {
            warn!(
                shard = %dir.display(),
                partition,
                waited_s = started.elapsed().as_secs(),
                "The partition's previous owner still holds its shard; waiting for it to let go."
            );
            warned_at = Instant::now();
        }
        tokio::select! {
            _ = stopped.changed() => return Ok(None),
            _ = tokio::time::sleep(LOCK_RETRY) => {}
        }
    }
}

/// Counts what the core did with a batch, and makes skipped offsets loud.
fn record_metrics<F>(m: &StreamMetrics, pipeline: &str, topic: &str, processed: &Processed<F>) {
    let counts = &processed.counts;
    m.events_received
        .with_label_values(&[pipeline, topic])
        .inc_by(counts.received);
    m.events_accepted
        .with_label_values(&[pipeline])
        .inc_by(counts.accepted);
    for (reason, n) in [
        ("duplicate", counts.duplicate),
        ("stale_version", counts.stale),
        ("already_published", counts.replayed),
    ] {
        m.events_discarded
            .with_label_values(&[pipeline, reason])
            .inc_by(n);
    }
    m.events_late
        .with_label_values(&[pipeline])
        .inc_by(counts.late);
    for (&(dimension, reason), &n) in MISSES.iter().zip(&counts.misses) {
        m.enrichment_misses
            .with_label_values(&[pipeline, dimension, reason])
            .inc_by(n);
    }
    for letter in &processed.dead_letters {
        m.events_dead_lettered
            .with_label_values(&[pipeline, letter.stage.as_str()])
            .inc();
    }
    for gap in &processed.gaps {
        // Lantern's topics are neither compacted nor transactional, so a jump means the broker
        // did not return records it acknowledged.
        warn!(
            pipeline,
            topic,
            partition = gap.partition,
            expected = gap.expected,
            offset = gap.got,
            "The broker skipped offsets."
        );
        m.offsets_skipped
            .with_label_values(&[pipeline, topic, &gap.partition.to_string()])
            .inc_by((gap.got - gap.expected) as u64);
    }
}

/// The shards this instance owns, by partition.
pub type Shards<P> = BTreeMap<i32, Shard<P>>;
