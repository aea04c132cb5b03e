//! Running the pipelines: restore, consume, apply, publish, commit — in that order.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_common::Config;
use lantern_common::http::Readiness;
use lantern_enrich::ReferenceData;
use lantern_tables::Manifest;
use lantern_tables::commit::collect_garbage;
use lantern_tables::manifest::pipeline_dir;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aggregate::Aggregates;
use crate::core::{Processed, Processor};
use crate::dlq::DeadLetters;
use crate::kafka::PipelineConsumer;
use crate::pipelines::{PipelineKind, PipelineVisitor, with_pipeline};
use crate::source::PartitionEnds;
use crate::{StreamError, StreamMetrics, kafka, store};

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
/// Manifests kept for readers that opened an older snapshot.
const KEEP_MANIFESTS: usize = 5;
const GC_MIN_AGE: Duration = Duration::from_secs(60);

/// Everything a pipeline task needs, shared read-only.
struct Env {
    config: Config,
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
    let env = Arc::new(Env {
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

/// One pipeline's life: restore state, assign partitions at the published offsets, then loop:
/// batch → core → dead letters → publish → commit offsets.
async fn run_pipeline<P: PipelineKind>(
    env: Arc<Env>,
    mut stopped: watch::Receiver<bool>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<PipelineSummary, StreamError> {
    let config = &env.config;
    let name = P::SPEC.name;
    let dir = pipeline_dir(&config.storage.data_dir, name);
    // Held until this function returns: a second process on the same data dir fails here.
    let _lock = lantern_tables::lock_pipeline(&dir)?;
    let aggregates = Aggregates::load::<P>(&config.pipelines.files()).await?;
    let cache_bytes = (config.processor.state_cache_mb as usize) << 20;
    let (mut manifest, index) = store::open::<P>(&dir, &aggregates, cache_bytes).await?;
    info!(
        pipeline = name,
        seq = manifest.seq,
        records = index.len()?,
        "Opened the published tables and the record index."
    );

    let topic = P::topic(&config.topics).to_string();
    let group = format!("{}-{}", config.processor.group_prefix, name);
    let consumer = Arc::new(kafka::consumer(&config.kafka, &group)?);
    let partitions = wait_for_partitions(&consumer, &topic, &mut stopped).await?;
    let Some(partitions) = partitions else {
        return Ok(summary(name, index.len()?, 0, 0, 0));
    };
    assign(&consumer, &topic, &partitions, &manifest)?;
    let published = manifest.offsets.get(&topic).cloned().unwrap_or_default();
    let mut processor = Processor::<P>::new(Arc::clone(&env.reference), index, published);
    let mut dead_letters = DeadLetters::new(
        kafka::producer(&config.kafka)?,
        config.topics.dead_letter.clone(),
        name,
        crate::dlq::spill_path(&dir),
    );
    let _ = ready.send(()).await;
    info!(
        pipeline = name,
        topic,
        group,
        partitions = partitions.len(),
        "Consuming."
    );

    let m = &env.metrics;
    let (mut total_received, mut total_dead, mut commits) = (0u64, 0u64, 0u64);
    let max_wait = Duration::from_millis(config.processor.max_batch_wait_ms);
    let mut ends = PartitionEnds::new(&partitions);

    loop {
        let batch = crate::source::next_batch(
            &consumer,
            config.processor.max_batch_events,
            max_wait,
            IDLE_POLL,
            &mut ends,
            &mut stopped,
        )
        .await;
        if batch.is_empty() {
            if *stopped.borrow() {
                break;
            }
            // Every batch before this empty one is published, so reaching every partition's
            // end means everything there was to read is in the tables.
            if env.options.drain && ends.all_at_end() {
                info!(
                    pipeline = name,
                    "Caught up with every partition; draining done."
                );
                break;
            }
            continue;
        }

        // CPU work and index lookups: tell tokio this worker is busy so others take its tasks.
        let processed = tokio::task::block_in_place(|| processor.process(&batch))?;
        record_metrics(m, name, &topic, &processed);
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
            dead_letters
                .send(message, letter.stage.as_str(), &letter.reason)
                .await?;
        }
        // Dead letters must be durable before the offsets that skip them are committed.
        let flushed = dead_letters.flush().await?;
        total_dead += (flushed.delivered + flushed.spilled) as u64;
        m.dead_letters_spilled
            .with_label_values(&[name])
            .inc_by(flushed.spilled as u64);
        total_received += batch.len() as u64;

        let timer = m.commit_timer(name).start_timer();
        let Processed {
            changes,
            next_offsets,
            ..
        } = processed;
        manifest = store::commit_batch(
            &dir,
            &manifest,
            &mut processor,
            changes,
            &aggregates,
            &topic,
            &next_offsets,
        )
        .await?;
        let records = tokio::task::block_in_place(|| processor.index().len())?;
        timer.observe_duration();
        commits += 1;
        m.table_commits.with_label_values(&[name]).inc();
        m.state_records
            .with_label_values(&[name])
            .set(records as i64);

        // Kafka's committed offsets follow the manifest (which is what restarts use); committing
        // them lets operators see consumer lag with standard Kafka tools.
        commit_offsets(&consumer, &topic, &next_offsets, name, m);
        let gc_dir = dir.clone();
        let gc = store::blocking(name, move || {
            collect_garbage(&gc_dir, KEEP_MANIFESTS, GC_MIN_AGE).map_err(StreamError::from)
        });
        if let Err(error) = gc.await {
            warn!(%error, pipeline = name, "Garbage collection of old table files failed; will retry.");
        }
    }
    Ok(summary(
        name,
        processor.index().len()?,
        total_received,
        total_dead,
        commits,
    ))
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
    ] {
        m.events_discarded
            .with_label_values(&[pipeline, reason])
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

fn commit_offsets(
    consumer: &PipelineConsumer,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
    pipeline: &str,
    m: &StreamMetrics,
) {
    let mut list = TopicPartitionList::new();
    for (&partition, &next) in offsets {
        if list
            .add_partition_offset(topic, partition, Offset::Offset(next))
            .is_ok()
        {
            m.committed_offset
                .with_label_values(&[pipeline, topic, &partition.to_string()])
                .set(next);
        }
    }
    if let Err(error) = consumer.commit(&list, CommitMode::Async) {
        warn!(%error, pipeline, "Committing offsets to Kafka failed; the published manifest still holds them.");
    }
}

/// Waits until the broker knows `topic`. `None` if shutdown came first.
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

/// Assigns every partition, starting where the published manifest says (or at the beginning).
fn assign(
    consumer: &PipelineConsumer,
    topic: &str,
    partitions: &[i32],
    manifest: &Manifest,
) -> Result<(), StreamError> {
    let published = manifest.offsets.get(topic);
    let mut list = TopicPartitionList::new();
    for &partition in partitions {
        let offset = published
            .and_then(|p| p.get(&partition))
            .map_or(Offset::Beginning, |&next| Offset::Offset(next));
        list.add_partition_offset(topic, partition, offset)
            .map_err(StreamError::kafka(format!("assigning {topic}/{partition}")))?;
    }
    consumer.assign(&list).map_err(StreamError::kafka(format!(
        "assigning partitions of {topic}"
    )))
}
