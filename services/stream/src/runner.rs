//! Running the pipelines: restore, consume, apply, publish, commit — in that order.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_common::Config;
use lantern_common::http::Readiness;
use lantern_enrich::ReferenceData;
use lantern_schemas::Event;
use lantern_tables::commit::collect_garbage;
use lantern_tables::manifest::{load_current, pipeline_dir};
use lantern_tables::parquet_io::read_parquet;
use lantern_tables::{Commit, Manifest};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aggregate::Aggregates;
use crate::dlq::DeadLetters;
use crate::facts::Fact;
use crate::kafka::PipelineConsumer;
use crate::pipelines::{BusinessCrimes, Cybercrimes, Incidents, PipelineKind};
use crate::source::PartitionEnds;
use crate::state::{Applied, FactState};
use crate::time::MonthLabels;
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
/// Manifests kept for readers that opened an older snapshot.
const KEEP_MANIFESTS: usize = 5;
const GC_MIN_AGE: Duration = Duration::from_secs(60);

/// Everything a pipeline task needs, shared read-only.
struct Env {
    config: Config,
    reference: ReferenceData,
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
    let reference =
        ReferenceData::load(&config.pipelines.files(), &config.processor.force_area_code)?;
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
        match name.as_str() {
            "incidents" => tasks.spawn(run_pipeline::<Incidents>(env, stopped, ready)),
            "business_crime" => tasks.spawn(run_pipeline::<BusinessCrimes>(env, stopped, ready)),
            "cybercrime" => tasks.spawn(run_pipeline::<Cybercrimes>(env, stopped, ready)),
            other => unreachable!("config validation admits only known pipelines, got {other}"),
        };
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

/// One pipeline's life: restore state, assign partitions at the published offsets, then loop.
async fn run_pipeline<P: PipelineKind>(
    env: Arc<Env>,
    mut stopped: watch::Receiver<bool>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<PipelineSummary, StreamError> {
    let config = &env.config;
    let dir = pipeline_dir(&config.storage.data_dir, P::NAME);
    // Held until this function returns: a second process on the same data dir fails here.
    let _lock = lantern_tables::lock_pipeline(&dir)?;
    let aggregates = Aggregates::load(&config.pipelines.files(), P::FACTS_TABLE, P::AGGREGATES)?;
    let mut months = MonthLabels::default();
    let mut state = FactState::<P::Fact>::default();

    let mut manifest = match load_current(&dir)? {
        Some(manifest) => {
            restore::<P>(&dir, &manifest, &mut state, &mut months)?;
            info!(
                pipeline = P::NAME,
                seq = manifest.seq,
                records = state.len(),
                "Restored state from the published manifest."
            );
            manifest
        }
        None => create_tables::<P>(&dir, &aggregates).await?,
    };

    let topic = P::topic(&config.topics).to_string();
    let group = format!("{}-{}", config.processor.group_prefix, P::NAME);
    let consumer = Arc::new(kafka::consumer(&config.kafka, &group)?);
    let partitions = wait_for_partitions(&consumer, &topic, &mut stopped).await?;
    let Some(partitions) = partitions else {
        return Ok(summary::<P>(&state, 0, 0, 0));
    };
    assign(&consumer, &topic, &partitions, &manifest)?;
    let mut dead_letters = DeadLetters::new(
        kafka::producer(&config.kafka)?,
        config.topics.dead_letter.clone(),
        P::NAME,
        crate::dlq::spill_path(&dir),
    );
    let _ = ready.send(()).await;
    info!(
        pipeline = P::NAME,
        topic,
        group,
        partitions = partitions.len(),
        "Consuming."
    );

    let m = &env.metrics;
    let received = m.events_received.with_label_values(&[P::NAME, &topic]);
    let accepted = m.events_accepted.with_label_values(&[P::NAME]);
    let duplicates = m
        .events_discarded
        .with_label_values(&[P::NAME, "duplicate"]);
    let stale = m
        .events_discarded
        .with_label_values(&[P::NAME, "stale_version"]);
    let (mut total_received, mut total_dead, mut commits) = (0u64, 0u64, 0u64);
    let max_wait = Duration::from_millis(config.processor.max_batch_wait_ms);
    // Where each partition should continue, to notice records a broker fails to return.
    let mut expected_next: BTreeMap<i32, i64> =
        manifest.offsets.get(&topic).cloned().unwrap_or_default();
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
                    pipeline = P::NAME,
                    "Caught up with every partition; draining done."
                );
                break;
            }
            continue;
        }

        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        for message in &batch {
            received.inc();
            let (partition, offset) = (message.partition(), message.offset());
            if let Some(&expected) = expected_next.get(&partition)
                && offset > expected
            {
                // Lantern's topics are neither compacted nor transactional, so a jump means the
                // broker did not return records it acknowledged. Make it loud.
                warn!(
                    pipeline = P::NAME,
                    topic, partition, expected, offset, "The broker skipped offsets."
                );
                m.offsets_skipped
                    .with_label_values(&[P::NAME, &topic, &partition.to_string()])
                    .inc_by((offset - expected) as u64);
            }
            expected_next.insert(partition, offset + 1);
            offsets.insert(partition, offset + 1);
            match decode::<P>(message) {
                Ok(event) => {
                    accepted.inc();
                    match state.apply(P::enrich(event, &env.reference, &mut months)) {
                        Applied::Duplicate => duplicates.inc(),
                        Applied::Stale => stale.inc(),
                        Applied::New | Applied::Revised => {}
                    }
                }
                Err((stage, reason)) => {
                    m.events_dead_lettered
                        .with_label_values(&[P::NAME, stage])
                        .inc();
                    warn!(
                        pipeline = P::NAME,
                        partition = message.partition(),
                        offset = message.offset(),
                        stage,
                        reason,
                        "Dead-lettered a record."
                    );
                    dead_letters.send(message, stage, &reason).await?;
                }
            }
        }
        // Dead letters must be durable before the offsets that skip them are committed.
        let flushed = dead_letters.flush().await?;
        total_dead += (flushed.delivered + flushed.spilled) as u64;
        m.dead_letters_spilled
            .with_label_values(&[P::NAME])
            .inc_by(flushed.spilled as u64);
        total_received += batch.len() as u64;

        let timer = m.commit_timer(P::NAME).start_timer();
        manifest = publish::<P>(&dir, &manifest, &state, &aggregates, &topic, &offsets).await?;
        state.clear_touched();
        timer.observe_duration();
        commits += 1;
        m.table_commits.with_label_values(&[P::NAME]).inc();
        m.state_records
            .with_label_values(&[P::NAME])
            .set(state.len() as i64);

        // Kafka's committed offsets follow the manifest (which is what restarts use); committing
        // them lets operators see consumer lag with standard Kafka tools.
        commit_offsets(&consumer, &topic, &offsets, P::NAME, m);
        if let Err(error) = collect_garbage(&dir, KEEP_MANIFESTS, GC_MIN_AGE) {
            warn!(%error, pipeline = P::NAME, "Garbage collection of old table files failed; will retry.");
        }
    }
    Ok(summary::<P>(&state, total_received, total_dead, commits))
}

fn summary<P: PipelineKind>(
    state: &FactState<P::Fact>,
    received: u64,
    dead_lettered: u64,
    commits: u64,
) -> PipelineSummary {
    PipelineSummary {
        pipeline: P::NAME.to_string(),
        received,
        dead_lettered,
        commits,
        records: state.len(),
    }
}

/// Decodes and validates one message: the event, or the stage and reason it failed.
fn decode<P: PipelineKind>(message: &OwnedMessage) -> Result<P::Event, (&'static str, String)> {
    let Some(bytes) = message.payload() else {
        return Err(("decode", "message has no payload".to_string()));
    };
    P::Event::decode(bytes).map_err(|e| (e.stage.as_str(), e.to_string()))
}

/// Reloads the facts of the published manifest into `state`.
fn restore<P: PipelineKind>(
    dir: &std::path::Path,
    manifest: &Manifest,
    state: &mut FactState<P::Fact>,
    months: &mut MonthLabels,
) -> Result<(), StreamError> {
    for path in manifest.table_paths(dir, P::FACTS_TABLE) {
        let (_, batches) = read_parquet(&path)?;
        for batch in &batches {
            let facts =
                P::Fact::from_batch(batch, months).map_err(|reason| StreamError::Facts {
                    table: format!("{} ({})", P::FACTS_TABLE, path.display()),
                    reason,
                })?;
            facts.into_iter().for_each(|f| state.restore(f));
        }
    }
    Ok(())
}

/// First start of a pipeline: publish every table, empty, so SQL can query them at once.
async fn create_tables<P: PipelineKind>(
    dir: &std::path::Path,
    aggregates: &Aggregates,
) -> Result<Manifest, StreamError> {
    let mut commit = Commit::begin(dir, P::NAME, None);
    let schema = P::Fact::schema();
    commit.ensure_table(P::FACTS_TABLE, true, schema.clone())?;
    for output in aggregates.compute(schema, Vec::new()).await? {
        commit.ensure_table(&output.table, false, output.schema)?;
    }
    Ok(commit.publish()?)
}

/// Publishes the months `state` touched since the last commit, with `offsets`, atomically.
async fn publish<P: PipelineKind>(
    dir: &std::path::Path,
    previous: &Manifest,
    state: &FactState<P::Fact>,
    aggregates: &Aggregates,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<Manifest, StreamError> {
    let mut commit = Commit::begin(dir, P::NAME, Some(previous));
    let touched = state.touched();
    if !touched.is_empty() {
        let facts_error = |e: arrow::error::ArrowError| StreamError::Facts {
            table: P::FACTS_TABLE.into(),
            reason: e.to_string(),
        };
        let schema = P::Fact::schema();
        let mut month_batches = Vec::with_capacity(touched.len());
        for month in touched {
            let batch = P::Fact::to_batch(&state.month_facts(month)).map_err(facts_error)?;
            commit.put_partition(
                P::FACTS_TABLE,
                month,
                schema.clone(),
                std::slice::from_ref(&batch),
            )?;
            month_batches.push(batch);
        }
        for output in aggregates.compute(schema, month_batches).await? {
            for month in touched {
                let rows = output
                    .by_month
                    .get(month.as_ref())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                commit.put_partition(&output.table, month, output.schema.clone(), rows)?;
            }
        }
    }
    for (&partition, &next) in offsets {
        commit.set_offset(topic, partition, next);
    }
    Ok(commit.publish()?)
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
