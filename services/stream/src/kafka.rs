//! Kafka client set-up shared by the processor, the DLQ producer and the importers.

use std::time::Duration;

use lantern_common::config::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::FutureProducer;

use crate::StreamError;

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

/// A consumer for one pipeline. Offsets are never committed or stored automatically: the
/// processor commits them itself, after the output they produced is published.
pub fn consumer(kafka: &KafkaConfig, group_id: &str) -> Result<StreamConsumer, StreamError> {
    client_config(kafka)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // End-of-partition events tell drain mode it has caught up, at no extra request.
        .set("enable.partition.eof", "true")
        .create()
        .map_err(StreamError::kafka(format!(
            "creating consumer for group {group_id}"
        )))
}

/// An idempotent producer (no duplicates from internal retries), acknowledged by all replicas.
pub fn producer(kafka: &KafkaConfig) -> Result<FutureProducer, StreamError> {
    client_config(kafka)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .map_err(StreamError::kafka("creating producer"))
}

/// Creates any of `topics` that do not exist yet. Existing topics are left alone.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
) -> Result<(), StreamError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka)
        .create()
        .map_err(StreamError::kafka("creating admin client"))?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
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
pub fn partitions(consumer: &StreamConsumer, topic: &str) -> Result<Vec<i32>, StreamError> {
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
