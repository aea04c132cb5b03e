//! Kafka client set-up shared by the processor, the DLQ producer and the importers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lantern_common::config::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

use crate::StreamError;
use crate::group::GroupContext;
use crate::partitioner::PRODUCER_PARTITIONER;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Base client configuration: brokers plus every pass-through property (TLS, SASL, secrets).
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.bootstrap_servers);
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    config
}

/// Remembers the last client-wide error librdkafka reported (authentication, TLS, brokers down),
/// which otherwise only reaches a log line.
#[derive(Default)]
struct LastError(Mutex<Option<(KafkaError, String)>>);

impl ClientContext for LastError {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "Kafka client error.");
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((error, reason.to_string()));
    }
}

impl ConsumerContext for LastError {}

/// Errors that no amount of waiting fixes: the credentials or TLS settings are wrong.
fn is_security_error(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::UnsupportedSASLMechanism
                | RDKafkaErrorCode::IllegalSASLState
                | RDKafkaErrorCode::SSL
        )
    )
}

/// Checks that the cluster answers a metadata request with these settings, before a command
/// relies on it. Wrong credentials or TLS settings fail at once, with librdkafka's reason;
/// an unreachable cluster is waited for, with a warning every ten seconds, for `patience`
/// (`None`: for ever, as a long-running processor should). Blocks its thread.
pub fn check_connection(
    kafka: &KafkaConfig,
    patience: Option<Duration>,
) -> Result<(), StreamError> {
    let consumer: BaseConsumer<LastError> = client_config(kafka)
        .create_with_context(LastError::default())
        .map_err(StreamError::kafka(
            "creating a client to check the connection",
        ))?;
    let started = Instant::now();
    let mut warned_at = started;
    loop {
        let answer = consumer.fetch_metadata(None, Duration::from_secs(2));
        // Serves the client's error callbacks, which fill `LastError`.
        let _ = consumer.poll(Duration::ZERO);
        let Err(error) = answer else { return Ok(()) };
        let last = consumer
            .context()
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (error, reason) = last.unwrap_or_else(|| (error, String::new()));
        let failed = || StreamError::Connection {
            bootstrap: kafka.bootstrap_servers.clone(),
            reason: format!("{error} {reason}").trim().to_string(),
        };
        if is_security_error(&error) {
            return Err(failed());
        }
        if patience.is_some_and(|p| started.elapsed() >= p) {
            return Err(failed());
        }
        if warned_at.elapsed() >= Duration::from_secs(10) {
            tracing::warn!(%error, reason, bootstrap = kafka.bootstrap_servers, "Kafka is not answering yet; waiting.");
            warned_at = Instant::now();
        }
    }
}

/// How often librdkafka reports a consumer's statistics, from which the lag metric is read.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// The consumer type of a pipeline.
pub type PipelineConsumer = StreamConsumer<GroupContext>;

/// A consumer for one pipeline, a member of `group_id` sharing partitions cooperatively (see
/// [`crate::group`]). Offsets are never committed or stored automatically: the processor commits
/// them itself, after the output they produced is published.
pub fn consumer(
    kafka: &KafkaConfig,
    group_id: &str,
    instance_id: Option<&str>,
    context: GroupContext,
) -> Result<PipelineConsumer, StreamError> {
    let mut config = client_config(kafka);
    if let Some(id) = instance_id {
        config.set("group.instance.id", id);
    }
    config
        .set("group.id", group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // End-of-partition events tell drain mode it has caught up, at no extra request.
        .set("enable.partition.eof", "true")
        // High watermarks for the lag metric (see `GroupContext::high_watermark`).
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
        .create_with_context(context)
        .map_err(StreamError::kafka(format!(
            "creating consumer for group {group_id}"
        )))
}

/// An idempotent producer (no duplicates from internal retries), acknowledged by all replicas,
/// partitioning keys as Kafka's Java client does (see [`crate::partitioner`]).
pub fn producer(kafka: &KafkaConfig) -> Result<FutureProducer, StreamError> {
    producer_with(kafka, &[])
}

/// [`producer`] with extra librdkafka properties (e.g. `message.timeout.ms` for a caller that
/// must answer within a deadline).
pub fn producer_with(
    kafka: &KafkaConfig,
    extra: &[(&str, &str)],
) -> Result<FutureProducer, StreamError> {
    let mut config = client_config(kafka);
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
        .set("partitioner", PRODUCER_PARTITIONER)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .map_err(StreamError::kafka("creating producer"))
}

/// Creates any of `topics` that do not exist yet, with `partitions` partitions, `replication`
/// replicas (`None`: the cluster's `default.replication.factor`) and no time or size retention:
/// recovering a lost data volume replays the topics from their first offset, and backfills carry
/// event times years old that time retention would delete at once. Existing topics are left
/// alone.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
    replication: Option<i32>,
) -> Result<(), StreamError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka)
        .create()
        .map_err(StreamError::kafka("creating admin client"))?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|t| {
            // -1 asks the broker for its default (KIP-464).
            NewTopic::new(
                t,
                partitions,
                TopicReplication::Fixed(replication.unwrap_or(-1)),
            )
            .set("retention.ms", "-1")
            .set("retention.bytes", "-1")
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(StreamError::kafka("creating topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(StreamError::Kafka {
                    context: format!("creating topic {topic}"),
                    source: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}

/// The partitions of `topic`, or an empty list if the broker does not know it (yet).
pub fn partitions(consumer: &PipelineConsumer, topic: &str) -> Result<Vec<i32>, StreamError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(StreamError::kafka(format!("fetching metadata of {topic}")))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}
