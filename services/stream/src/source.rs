//! Reading Kafka in batches.
//!
//! A batch closes at `max_events` or `max_wait` after its first message, whichever comes first.
//! Batching is what makes commits cheap per event: one manifest, one set of Parquet files and
//! one offset commit cover the whole batch.

use std::time::Duration;

use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{Message, OwnedMessage};
use tokio::sync::watch;
use tokio::time::Instant;

/// Collects the next batch. Returns an empty batch when `idle` passes with no message (so the
/// caller can check for drain / shutdown) or when shutdown is signalled.
pub async fn next_batch(
    consumer: &StreamConsumer,
    max_events: usize,
    max_wait: Duration,
    idle: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let first = tokio::select! {
        biased;
        _ = shutdown.changed() => return batch,
        received = tokio::time::timeout(idle, consumer.recv()) => received,
    };
    match first {
        Err(_) => return batch,
        Ok(Ok(message)) => batch.push(message.detach()),
        Ok(Err(error)) => {
            // Broker hiccups are reported here; librdkafka retries by itself, so keep going.
            tracing::warn!(%error, "Kafka consumer reported an error; retrying.");
            return batch;
        }
    }
    let deadline = Instant::now() + max_wait;
    while batch.len() < max_events {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => break,
            Ok(Ok(message)) => batch.push(message.detach()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "Kafka consumer reported an error; closing the batch early.");
                break;
            }
        }
    }
    batch.sort_by_key(|m| (m.partition(), m.offset()));
    batch
}
