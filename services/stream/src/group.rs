//! Consumer-group membership: which partitions this instance owns, and where each starts.
//!
//! Instances of a pipeline join one consumer group (`<group_prefix>-<pipeline>`) and Kafka's
//! cooperative-sticky assignor shares the topic's partitions among them: on a join or a leave
//! only the partitions that move are revoked and assigned, the others keep flowing.
//!
//! librdkafka runs the rebalance callback inside the consumer's poll, on the pipeline's own task.
//! The callback does two cheap things and leaves the rest to the runner:
//! - on an **assignment**, it starts each partition at the offset its shard's live manifest
//!   holds (the manifest, not Kafka's committed offset, says what the tables reflect), or at the
//!   beginning for a shard never published. The previous owner may still publish a last batch
//!   after this read; the new owner waits for the shard's lock before taking it over, and the
//!   core then skips what that batch already published;
//! - it updates which partitions this instance owns and notes the revoked ones; between batches
//!   the runner closes the shards of revoked partitions ([`GroupContext::take_revoked`]) and opens
//!   those of owned ones it has not opened ([`GroupContext::owned`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use lantern_tables::manifest::load_current;
use lantern_tables::shards::shard_dir;
use rdkafka::{Offset, Statistics};

use crate::source::PartitionEnds;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;

/// A change of this instance's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Membership {
    Assigned(Vec<i32>),
    /// Revoked, or lost (the group gave up on this instance): either way no longer ours.
    Revoked(Vec<i32>),
}

/// Where an assigned partition's reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartFrom {
    /// The offset in the shard's local manifest: the tables' own record of what is published.
    LocalManifest,
    /// The group's committed offset (the earliest offset if none).
    CommittedOffset,
}

/// The context of a pipeline's consumer.
pub struct GroupContext {
    pipeline: String,
    pipeline_dir: PathBuf,
    /// Where an assigned partition's reading starts.
    starts: StartFrom,
    /// Partitions revoked since the runner last asked.
    revoked: Mutex<BTreeSet<i32>>,
    /// Which owned partitions have been read to their end. Kept here, not by the runner, so that
    /// an assignment and the end-of-partition event right after it (both inside one poll) are
    /// seen in the order they happened.
    ends: Mutex<PartitionEnds>,
    /// Whether the group has assigned this instance anything yet (drain mode waits for it).
    joined: AtomicBool,
    /// Each partition's high watermark, from librdkafka's periodic statistics (see
    /// [`crate::kafka::STATISTICS_INTERVAL_MS`]): lag without a request of our own.
    high_watermarks: Mutex<BTreeMap<i32, i64>>,
}

impl GroupContext {
    pub fn new(pipeline: &str, pipeline_dir: PathBuf) -> Self {
        GroupContext {
            pipeline: pipeline.to_string(),
            pipeline_dir,
            starts: StartFrom::LocalManifest,
            revoked: Mutex::new(BTreeSet::new()),
            ends: Mutex::new(PartitionEnds::default()),
            joined: AtomicBool::new(false),
            high_watermarks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Starts assigned partitions at the group's committed offsets instead of the local
    /// manifests': with tables on an object store, the local working copy may hold a commit the
    /// store never got ([`crate::shard`] restores it from the store only at take-over), and
    /// starting after it would skip its input. The group commits an offset only after the store
    /// has the manifest, so the committed offset is never past it; starting before it is safe,
    /// since the core skips what is published.
    pub fn starting_from_committed_offsets(mut self) -> Self {
        self.starts = StartFrom::CommittedOffset;
        self
    }

    /// The partition-end bookkeeping, updated by the poll that delivers messages and events.
    pub fn ends(&self) -> std::sync::MutexGuard<'_, PartitionEnds> {
        self.ends.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once the group has assigned partitions and every one owned now is read to its end.
    pub fn caught_up(&self) -> bool {
        self.joined.load(Ordering::Acquire) && self.ends().all_at_end()
    }

    /// The partition's high watermark as of the last statistics, if known.
    pub fn high_watermark(&self, partition: i32) -> Option<i64> {
        let marks = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        marks.get(&partition).copied()
    }

    /// The partitions this instance owns now.
    pub fn owned(&self) -> Vec<i32> {
        self.ends().partitions()
    }

    /// The partitions revoked since the last call. Their shards must be closed even if the group
    /// has assigned them back since: in between, another instance may be waiting for the lock.
    pub fn take_revoked(&self) -> BTreeSet<i32> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Sets each assigned partition's start to its shard's published offset.
    fn set_starts(&self, assignment: &mut TopicPartitionList) {
        let elements: Vec<(String, i32)> = assignment
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        for (topic, partition) in elements {
            if self.starts == StartFrom::CommittedOffset {
                if let Err(error) =
                    assignment.set_partition_offset(&topic, partition, Offset::Stored)
                {
                    tracing::warn!(%error, partition, "Cannot set the start of an assigned partition.");
                }
                continue;
            }
            let start = match load_current(&shard_dir(&self.pipeline_dir, partition)) {
                Ok(Some(manifest)) => manifest
                    .offsets
                    .get(&topic)
                    .and_then(|o| o.get(&partition))
                    .map_or(Offset::Beginning, |&next| Offset::Offset(next)),
                Ok(None) => Offset::Beginning,
                Err(error) => {
                    // Starting early is safe (the core skips what is published); the take-over
                    // reads the manifest again and reports the error properly.
                    tracing::warn!(%error, pipeline = self.pipeline, partition, "Cannot read the shard's manifest; starting at the beginning.");
                    Offset::Beginning
                }
            };
            if let Err(error) = assignment.set_partition_offset(&topic, partition, start) {
                tracing::warn!(%error, partition, "Cannot set the start of an assigned partition.");
            }
        }
    }
}

fn partitions_of(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        let mut marks = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // One topic per consumer; partition -1 is librdkafka's internal "unassigned" entry, and
        // a negative offset means not known yet.
        for topic in statistics.topics.values() {
            for (&partition, stats) in &topic.partitions {
                if partition >= 0 && stats.hi_offset >= 0 {
                    marks.insert(partition, stats.hi_offset);
                }
            }
        }
    }

    /// librdkafka's client-wide errors as log lines, except end-of-partition, which rust-rdkafka
    /// also passes here (as a "global error") although it is the normal event drain mode waits
    /// for: logging it at ERROR would cry wolf on every catch-up.
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::trace!(reason, "Reached the end of a partition.");
        } else {
            tracing::error!(%error, reason, "Kafka client error.");
        }
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let partitions = partitions_of(tpl);
        let (applied, change) = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.set_starts(tpl);
                let applied = match cooperative {
                    true => consumer.incremental_assign(tpl),
                    false => consumer.assign(tpl),
                };
                (applied, Membership::Assigned(partitions))
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let applied = match cooperative {
                    true => consumer.incremental_unassign(tpl),
                    false => consumer.unassign(),
                };
                // Even if unassigning failed, the group has given these partitions away.
                (applied, Membership::Revoked(partitions))
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                tracing::error!(pipeline = self.pipeline, %code, "Rebalance failed.");
                return;
            }
        };
        if let Err(error) = &applied {
            tracing::error!(%error, pipeline = self.pipeline, ?change, "Applying a rebalance failed.");
        }
        if applied.is_ok() || matches!(change, Membership::Revoked(_)) {
            tracing::info!(
                pipeline = self.pipeline,
                ?change,
                lost = consumer.assignment_lost(),
                "Rebalanced."
            );
            let mut ends = self.ends();
            match change {
                Membership::Assigned(partitions) => {
                    self.joined.store(true, Ordering::Release);
                    partitions.into_iter().for_each(|p| ends.track(p));
                }
                Membership::Revoked(partitions) => {
                    let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
                    for p in partitions {
                        ends.forget(p);
                        revoked.insert(p);
                    }
                }
            }
        }
    }
}
