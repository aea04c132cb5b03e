//! Reading Kafka in batches, and knowing when every partition has been read to its end.
//!
//! A batch closes at `max_events` or `max_wait` after its first message, whichever comes first.
//! Batching is what makes commits cheap per event: one manifest, one set of Parquet files and
//! one offset commit cover the whole batch.
//!
//! "Caught up" (drain mode) comes from librdkafka's partition-EOF events, which it raises when a
//! fetch response shows the consumer at the partition's high watermark. That costs no request of
//! its own. The backbone asked the broker for watermarks (ListOffsets, 10 s timeout) every idle
//! half second instead, on the consumer's own connection: a broker slow to answer fetches made
//! every such request time out and be sent again, so drain never finished and the queued
//! requests delayed the fetches further. Now a slow broker only makes Lantern slower.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use tokio::sync::watch;

use crate::kafka::PipelineConsumer;
use tokio::time::Instant;

/// Which assigned partitions the consumer has read to their end, in the order librdkafka
/// reported messages and end-of-partition events.
#[derive(Debug, Default)]
pub struct PartitionEnds {
    at_end: BTreeMap<i32, bool>,
}

impl PartitionEnds {
    /// Tracks `partitions`, none of them at its end yet.
    pub fn new(partitions: &[i32]) -> Self {
        Self {
            at_end: partitions.iter().map(|&p| (p, false)).collect(),
        }
    }

    /// Starts tracking a newly assigned partition, not at its end yet.
    pub fn track(&mut self, partition: i32) {
        self.at_end.insert(partition, false);
    }

    /// The partitions tracked (owned).
    pub fn partitions(&self) -> Vec<i32> {
        self.at_end.keys().copied().collect()
    }

    /// Stops tracking a partition given away.
    pub fn forget(&mut self, partition: i32) {
        self.at_end.remove(&partition);
    }

    /// Events of untracked partitions (given away since) are ignored.
    pub(crate) fn message(&mut self, partition: i32) {
        if let Some(at_end) = self.at_end.get_mut(&partition) {
            *at_end = false;
        }
    }

    pub(crate) fn end(&mut self, partition: i32) {
        if let Some(at_end) = self.at_end.get_mut(&partition) {
            *at_end = true;
        }
    }

    /// True when the last thing heard of every partition was that it is at its end.
    pub fn all_at_end(&self) -> bool {
        self.at_end.values().all(|&end| end)
    }
}

/// What one receive produced.
enum Received {
    Message(OwnedMessage),
    /// Nothing to add to the batch (an end-of-partition event, or an error librdkafka retries).
    Nothing,
}

fn receive(
    received: Result<rdkafka::message::BorrowedMessage<'_>, KafkaError>,
    consumer: &PipelineConsumer,
) -> Received {
    match received {
        Ok(message) => {
            consumer.context().ends().message(message.partition());
            Received::Message(message.detach())
        }
        Err(KafkaError::PartitionEOF(partition)) => {
            consumer.context().ends().end(partition);
            Received::Nothing
        }
        Err(error) => {
            // Broker hiccups are reported here; librdkafka retries by itself, so keep going.
            tracing::warn!(%error, "The Kafka consumer reported an error; it retries by itself.");
            Received::Nothing
        }
    }
}

/// Collects the next batch, noting messages and end-of-partition events in the consumer's
/// [`PartitionEnds`]. Returns an empty batch when `idle` passes with no message (so the caller
/// can check for drain / shutdown) or when shutdown is signalled.
pub async fn next_batch(
    consumer: &PipelineConsumer,
    max_events: usize,
    max_wait: Duration,
    idle: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let idle_deadline = Instant::now() + idle;
    while batch.is_empty() {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return batch,
            received = tokio::time::timeout_at(idle_deadline, consumer.recv()) => match received {
                Err(_) => return batch,
                Ok(received) => if let Received::Message(m) = receive(received, consumer) { batch.push(m) },
            },
        }
    }
    let deadline = Instant::now() + max_wait;
    while batch.len() < max_events {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => break,
            Ok(received) => {
                if let Received::Message(m) = receive(received, consumer) {
                    batch.push(m);
                }
            }
        }
    }
    batch.sort_by_key(|m| (m.partition(), m.offset()));
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_after_the_end_means_not_at_the_end() {
        let mut ends = PartitionEnds::new(&[0, 1]);
        assert!(!ends.all_at_end());
        ends.end(0);
        assert!(
            !ends.all_at_end(),
            "partition 1 has not been read to its end"
        );
        ends.end(1);
        assert!(ends.all_at_end());
        ends.message(1);
        assert!(
            !ends.all_at_end(),
            "a new message on 1 arrived after its end"
        );
    }

    #[test]
    fn no_partitions_is_at_the_end() {
        assert!(PartitionEnds::new(&[]).all_at_end());
    }

    #[test]
    fn only_tracked_partitions_count() {
        let mut ends = PartitionEnds::default();
        ends.track(2);
        ends.message(5); // a partition given away: its late message is not waited for
        ends.end(2);
        assert!(ends.all_at_end());
        ends.track(3);
        assert!(!ends.all_at_end());
        ends.forget(3);
        assert!(ends.all_at_end());
    }
}
