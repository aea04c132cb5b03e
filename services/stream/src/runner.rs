//! Running the pipelines: join the group, take shards over, consume, apply, publish, commit.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_common::Config;
use lantern_common::http::Readiness;
use lantern_enrich::ReferenceData;
use lantern_tables::manifest::pipeline_dir;
use lantern_tables::remote::Remote;
use lantern_tables::shards::check_layout;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aggregate::Aggregates;
use crate::group::GroupContext;
use crate::kafka::PipelineConsumer;
use crate::pipelines::{PipelineKind, PipelineVisitor, with_pipeline};
use crate::shard::{Shard, ShardEnv, Shards};
use crate::{StreamError, StreamMetrics, kafka};

/// Options of one `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop once every partition has been consumed up to the end it had when last checked
    /// (used by the quick start and tests); otherwise run until shutdown.
    pub drain: bool,
}

/// What each pipeline did, returned when `run` ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineSummary {
    pub pipeline: String,
    pub received: u64,
    pub dead_lettered: u64,
    pub commits: u64,
    pub records: usize,
}

/// How often the processor looks at the partitions' ends while idle, in drain mode.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Everything a pipeline task needs, shared read-only.
struct Env {
    config: Config,
    /// The object store holding the tables, if `storage.url` is set.
    remote: Option<Remote>,
    reference: Arc<ReferenceData>,
    metrics: StreamMetrics,
    options: RunOptions,
}

/// Runs the configured pipelines until `shutdown` resolves (or, with `drain`, until caught up).
/// Each pipeline finishes its current batch — publish, then commit — before returning.
pub async fn run(
    config: Config,
    metrics: StreamMetrics,
    readiness: Readiness,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<Vec<PipelineSummary>, StreamError> {
    let started = Instant::now();
    let reference = Arc::new(ReferenceData::load(
        &config.pipelines.files(),
        &config.processor.force_area_code,
    )?);
    info!(
        lsoas = reference.places.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Loaded reference data."
    );
    // Wrong credentials fail here, with Kafka's reason, instead of leaving every pipeline
    // retrying in silence; an unreachable cluster is waited for (shutdown still works).
    tokio::pin!(shutdown);
    let kafka_config = config.kafka.clone();
    let check = tokio::task::spawn_blocking(move || kafka::check_connection(&kafka_config, None));
    tokio::select! {
        checked = check => checked.map_err(|join| StreamError::Task {
            pipeline: "(connection check)".into(),
            reason: join.to_string(),
        })??,
        _ = &mut shutdown => return Ok(Vec::new()),
    }
    let remote = config
        .storage
        .url
        .as_deref()
        .map(Remote::from_url)
        .transpose()?;
    let env = Arc::new(Env {
        remote,
        config,
        reference,
        metrics,
        options,
    });
    let (stop, stopped) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(8);

    let mut tasks = tokio::task::JoinSet::new();
    for name in &env.config.processor.pipelines {
        let (env, stopped, ready) = (Arc::clone(&env), stopped.clone(), ready_tx.clone());
        let spawn = Spawn {
            tasks: &mut tasks,
            env,
            stopped,
            ready,
        };
        with_pipeline(name, spawn)
            .unwrap_or_else(|| unreachable!("config validation admits only known pipelines"));
    }
    drop(ready_tx);
    let expected = env.config.processor.pipelines.len();
    tokio::spawn(async move {
        let mut ready = 0;
        while ready_rx.recv().await.is_some() {
            ready += 1;
            if ready == expected {
                readiness.set_ready(true);
            }
        }
    });

    let mut summaries = Vec::new();
    let mut first_error = None;
    let mut shutting_down = false;
    while !tasks.is_empty() {
        tokio::select! {
            _ = &mut shutdown, if !shutting_down => {
                info!("Shutdown requested: finishing the current batches.");
                shutting_down = true;
                let _ = stop.send(true);
            }
            Some(joined) = tasks.join_next() => {
                match joined {
                    Ok(Ok(summary)) => summaries.push(summary),
                    Ok(Err(error)) => {
                        warn!(%error, "A pipeline stopped with an error; stopping the others.");
                        let _ = stop.send(true);
                        first_error.get_or_insert(error);
                    }
                    Err(join) => {
                        let _ = stop.send(true);
                        first_error.get_or_insert(StreamError::Task { pipeline: "?".into(), reason: join.to_string() });
                    }
                }
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => {
            summaries.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
            Ok(summaries)
        }
    }
}

/// Starts the named pipeline's task.
struct Spawn<'a> {
    tasks: &'a mut tokio::task::JoinSet<Result<PipelineSummary, StreamError>>,
    env: Arc<Env>,
    stopped: watch::Receiver<bool>,
    ready: tokio::sync::mpsc::Sender<()>,
}

impl PipelineVisitor for Spawn<'_> {
    type Output = ();
    fn visit<P: PipelineKind>(self) {
        self.tasks
            .spawn(run_pipeline::<P>(self.env, self.stopped, self.ready));
    }
}

/// One pipeline's life: join the consumer group, then loop: batch → take over newly assigned
/// partitions' shards, let revoked ones go → each shard applies its messages and commits → Kafka
/// offsets.
async fn run_pipeline<P: PipelineKind>(
    env: Arc<Env>,
    mut stopped: watch::Receiver<bool>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<PipelineSummary, StreamError> {
    let config = &env.config;
    let name = P::SPEC.name;
    let dir = pipeline_dir(&config.storage.data_dir, name);
    check_layout(&dir)?;
    let aggregates = Aggregates::load::<P>(&config.pipelines.files()).await?;
    let topic = P::topic(&config.topics).to_string();
    let group = format!("{}-{}", config.processor.group_prefix, name);
    let context = match env.remote {
        Some(_) => GroupContext::new(name, dir.clone()).starting_from_committed_offsets(),
        None => GroupContext::new(name, dir.clone()),
    };
    let instance = config.processor.instance_id.as_deref();
    let consumer = Arc::new(kafka::consumer(&config.kafka, &group, instance, context)?);
    let Some(partitions) = wait_for_partitions(&consumer, &topic, &mut stopped).await? else {
        return Ok(summary(name, 0, 0, 0, 0));
    };
    consumer
        .subscribe(&[&topic])
        .map_err(StreamError::kafka(format!("subscribing to {topic}")))?;
    let shard_env = ShardEnv {
        pipeline_dir: dir,
        topic: topic.clone(),
        partitions: partitions.len() as i32,
        aggregates,
        reference: Arc::clone(&env.reference),
        cache_bytes: (config.processor.state_cache_mb as usize) << 20,
        producer: kafka::producer(&config.kafka)?,
        dead_letter_topic: config.topics.dead_letter.clone(),
        metrics: env.metrics.clone(),
        remote: env.remote.clone(),
    };
    let _ = ready.send(()).await;
    info!(
        pipeline = name,
        topic,
        group,
        partitions = partitions.len(),
        "Joined the consumer group; consuming."
    );

    let m = &env.metrics;
    m.init_pipeline(name, &topic);
    let (mut total_received, mut total_dead, mut commits) = (0u64, 0u64, 0u64);
    let max_wait = Duration::from_millis(config.processor.max_batch_wait_ms);
    let mut shards: Shards<P> = BTreeMap::new();

    loop {
        let mut batch = crate::source::next_batch(
            &consumer,
            config.processor.max_batch_events,
            max_wait,
            IDLE_POLL,
            &mut stopped,
        )
        .await;
        // The group's changes arrive inside the consumer's poll; follow them between batches.
        // Closing a revoked partition's shard releases its lock to the next owner.
        let group = consumer.context();
        for partition in group.take_revoked() {
            if shards.remove(&partition).is_some() {
                m.forget_partition(name, &topic, partition);
                info!(pipeline = name, partition, "Let the shard go.");
            }
        }
        for partition in group.owned() {
            if shards.contains_key(&partition) {
                continue;
            }
            match Shard::take_over(&shard_env, partition, &mut stopped).await? {
                Some(shard) => {
                    m.init_partition(name, &topic, partition);
                    shards.insert(partition, shard)
                }
                None => break, // shutdown while waiting for the previous owner
            };
        }
        m.owned_shards
            .with_label_values(&[name])
            .set(shards.len() as i64);
        record_lag(&consumer, &topic, &shards, name, m);
        // Messages of a partition given away since they were read are the new owner's to read.
        batch.retain(|message| shards.contains_key(&message.partition()));
        if batch.is_empty() {
            if *stopped.borrow() {
                break;
            }
            // Every batch before this empty one is published, so reaching every owned
            // partition's end means everything there was to read is in the tables.
            if env.options.drain && consumer.context().caught_up() {
                info!(
                    pipeline = name,
                    "Caught up with every partition; draining done."
                );
                break;
            }
            continue;
        }

        // Each shard's part of the batch is independent of the others': apply them together,
        // so one shard's Parquet writes and fsyncs overlap another's aggregate merge.
        let mut parts: BTreeMap<i32, &[OwnedMessage]> = batch
            .chunk_by(|a, b| a.partition() == b.partition())
            .map(|messages| (messages[0].partition(), messages))
            .collect();
        let applying = shards.iter_mut().filter_map(|(&partition, shard)| {
            let messages = parts.remove(&partition)?;
            let env = &shard_env;
            Some(async move { (partition, shard.apply(env, messages).await) })
        });
        for (partition, applied) in futures::future::join_all(applying).await {
            let applied = applied?;
            total_received += applied.received;
            total_dead += applied.dead_lettered;
            if let Some(next) = applied.next_offset {
                commits += 1;
                // Kafka's committed offsets follow the manifest (which is what take-overs and
                // restarts use); committing them lets operators see lag with Kafka's tools.
                commit_offset(&consumer, &topic, partition, next, name, m);
            }
        }
        m.state_records
            .with_label_values(&[name])
            .set(records(&mut shards)? as i64);
        m.state_bytes
            .with_label_values(&[name])
            .set(shards.values().map(Shard::state_bytes).sum::<u64>() as i64);
    }
    Ok(summary(
        name,
        records(&mut shards)?,
        total_received,
        total_dead,
        commits,
    ))
}

fn records<P: PipelineKind>(shards: &mut Shards<P>) -> Result<u64, StreamError> {
    let mut total = 0;
    for shard in shards.values_mut() {
        total += shard.records()?;
    }
    Ok(total)
}

fn summary(
    pipeline: &str,
    records: u64,
    received: u64,
    dead_lettered: u64,
    commits: u64,
) -> PipelineSummary {
    PipelineSummary {
        pipeline: pipeline.to_string(),
        received,
        dead_lettered,
        commits,
        records: records as usize,
    }
}

/// Sets each owned partition's lag: the broker's high watermark (from the consumer's periodic
/// statistics, so no request is made) minus the shard's published offset.
fn record_lag<P: PipelineKind>(
    consumer: &PipelineConsumer,
    topic: &str,
    shards: &Shards<P>,
    pipeline: &str,
    m: &StreamMetrics,
) {
    for (&partition, shard) in shards {
        let Some(high) = consumer.context().high_watermark(partition) else {
            continue; // no statistics for this partition yet
        };
        let next = shard.next_offset(topic).unwrap_or(0);
        m.consumer_lag
            .with_label_values(&[pipeline, topic, &partition.to_string()])
            .set((high - next).max(0));
    }
}

fn commit_offset(
    consumer: &PipelineConsumer,
    topic: &str,
    partition: i32,
    next: i64,
    pipeline: &str,
    m: &StreamMetrics,
) {
    let mut list = TopicPartitionList::new();
    if list
        .add_partition_offset(topic, partition, Offset::Offset(next))
        .is_err()
    {
        return;
    }
    m.committed_offset
        .with_label_values(&[pipeline, topic, &partition.to_string()])
        .set(next);
    if let Err(error) = consumer.commit(&list, CommitMode::Async) {
        warn!(%error, pipeline, partition, "Committing an offset to Kafka failed; the published manifest still holds it.");
    }
}

/// Waits until the broker knows `topic`; its partitions, or `None` if shutdown came first.
async fn wait_for_partitions(
    consumer: &Arc<PipelineConsumer>,
    topic: &str,
    stopped: &mut watch::Receiver<bool>,
) -> Result<Option<Vec<i32>>, StreamError> {
    let mut warned = false;
    loop {
        // A metadata request blocks its thread for up to its timeout: keep it off the async
        // workers, which also serve /healthz and the other pipelines.
        let (c, t) = (Arc::clone(consumer), topic.to_string());
        let partitions = tokio::task::spawn_blocking(move || kafka::partitions(&c, &t))
            .await
            .map_err(|join| StreamError::Task {
                pipeline: topic.to_string(),
                reason: join.to_string(),
            })?;
        match partitions {
            Ok(partitions) if !partitions.is_empty() => return Ok(Some(partitions)),
            Ok(_) if !warned => {
                warn!(topic, "Topic does not exist yet; waiting for it.");
                warned = true;
            }
            Ok(_) => {}
            Err(error) => warn!(%error, topic, "Cannot read topic metadata yet; retrying."),
        }
        tokio::select! {
            _ = stopped.changed() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
