//! The processing core: a batch of raw messages in, what they produced out. No Kafka.
//!
//! [`Processor::process`] decodes and validates each message, enriches it into a fact, and
//! judges it against the record's held version ([`crate::state`], looked up in the
//! [`crate::index`]); it returns the state changes (for each record that changed: what was held
//! before the batch, and its latest version now — several versions of one record in a batch
//! become one change), the dead letters (which message, which stage, why) and the next offset of
//! each partition. The Kafka driver ([`crate::runner`]) turns those into dead-letter records, table
//! commits and offset commits; unit tests and the benchmark call the core directly.

use std::collections::BTreeMap;
use std::sync::Arc;

use lantern_enrich::ReferenceData;
use lantern_schemas::Event;

use crate::StreamError;
use crate::facts::{Fact, MISSES};
use crate::index::{Held, RecordIndex};
use crate::partitioner::partition_for;
use crate::pipelines::PipelineKind;
use crate::state::{Verdict, judge};
use crate::time::MonthLabels;

/// What the core needs of a message. Implemented for Kafka's messages and for [`RawMessage`].
pub trait SourceMessage {
    fn partition(&self) -> i32;
    fn offset(&self) -> i64;
    fn key(&self) -> Option<&[u8]>;
    fn payload(&self) -> Option<&[u8]>;
}

/// A message held in memory: for tests, the benchmark and replays from files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

impl SourceMessage for RawMessage {
    fn partition(&self) -> i32 {
        self.partition
    }
    fn offset(&self) -> i64 {
        self.offset
    }
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
}

impl SourceMessage for rdkafka::message::OwnedMessage {
    fn partition(&self) -> i32 {
        rdkafka::Message::partition(self)
    }
    fn offset(&self) -> i64 {
        rdkafka::Message::offset(self)
    }
    fn key(&self) -> Option<&[u8]> {
        rdkafka::Message::key(self)
    }
    fn payload(&self) -> Option<&[u8]> {
        rdkafka::Message::payload(self)
    }
}

/// Why a message was dead-lettered: the stage that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Not JSON, or not the shape of the event kind.
    Decode,
    /// Decoded, but a rule of the contract is broken.
    Validate,
    /// Valid, but contradicts the record's stored history (see [`crate::state`]).
    Conflict,
    /// Valid, but on another partition than its record id belongs on (see
    /// [`crate::partitioner`]).
    Partition,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Decode,
        Stage::Validate,
        Stage::Conflict,
        Stage::Partition,
    ];

    /// The `lantern.stage` header value and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Validate => "validate",
            Stage::Conflict => "conflict",
            Stage::Partition => "partition",
        }
    }
}

/// A message the core refused: its position in the batch, the stage and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub index: usize,
    pub stage: Stage,
    pub reason: String,
}

/// One record whose latest version changed: what was held before the batch (if anything) and
/// its latest version now.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<F> {
    pub old: Option<Held>,
    pub new: F,
}

/// A jump in a partition's offsets: the broker did not return records it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetGap {
    pub partition: i32,
    pub expected: i64,
    pub got: i64,
}

/// Counts of what happened to a batch's messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    /// Decoded and validated.
    pub accepted: u64,
    pub new: u64,
    pub revised: u64,
    pub duplicate: u64,
    pub stale: u64,
    /// Below the published offset: already in the tables (read again after a take-over).
    pub replayed: u64,
    /// Accepted, with an event-time month before the processor's current month (Europe/London):
    /// they change a month partners may already have read as complete.
    pub late: u64,
    /// Accepted messages enrichment could not fully resolve, by [`crate::facts::MISSES`] index.
    pub misses: [u64; MISSES.len()],
}

/// Everything one batch produced.
#[derive(Debug)]
pub struct Processed<F> {
    pub changes: Vec<Change<F>>,
    pub dead_letters: Vec<DeadLetter>,
    /// Per partition, the offset after the last message of the batch.
    pub next_offsets: BTreeMap<i32, i64>,
    pub gaps: Vec<OffsetGap>,
    pub counts: Counts,
}

/// The state and logic of one pipeline, independent of where messages come from.
#[derive(Debug)]
pub struct Processor<P: PipelineKind> {
    reference: Arc<ReferenceData>,
    months: MonthLabels,
    index: RecordIndex,
    /// Where each partition should continue: earlier offsets are already published, later ones
    /// mean the broker failed to return records.
    expected_next: BTreeMap<i32, i64>,
    /// Partitions of the topic, to check each record arrives on its own.
    partitions: i32,
    _pipeline: std::marker::PhantomData<P>,
}

impl<P: PipelineKind> Processor<P> {
    /// A processor over `index` (caught up with the published manifest), expecting each
    /// partition to continue at `expected_next` (the published offsets), for a topic of
    /// `partitions` partitions.
    pub fn new(
        reference: Arc<ReferenceData>,
        index: RecordIndex,
        expected_next: BTreeMap<i32, i64>,
        partitions: i32,
    ) -> Self {
        Processor {
            reference,
            months: MonthLabels::default(),
            index,
            expected_next,
            partitions,
            _pipeline: std::marker::PhantomData,
        }
    }

    /// The record index: committed by the driver after each published commit.
    pub fn index(&mut self) -> &mut RecordIndex {
        &mut self.index
    }

    /// Processes one batch, in order. Fails only if the index cannot be read.
    pub fn process<M: SourceMessage>(
        &mut self,
        batch: &[M],
    ) -> Result<Processed<P::Fact>, StreamError> {
        // Changes of this batch by record id, so a record revised twice is one change.
        let mut changed: foldhash::HashMap<Arc<str>, usize> = Default::default();
        let mut out = Processed {
            // At most one change per message; a fact is hundreds of bytes, so growing the
            // vector by doubling would copy them several times over.
            changes: Vec::with_capacity(batch.len()),
            dead_letters: Vec::new(),
            next_offsets: BTreeMap::new(),
            gaps: Vec::new(),
            counts: Counts::default(),
        };
        let this_month = self.months.month_of(chrono::Utc::now());
        for (index, message) in batch.iter().enumerate() {
            out.counts.received += 1;
            let (partition, offset) = (message.partition(), message.offset());
            match self.expected_next.get(&partition) {
                Some(&expected) if offset < expected => {
                    out.counts.replayed += 1;
                    continue;
                }
                Some(&expected) if offset > expected => out.gaps.push(OffsetGap {
                    partition,
                    expected,
                    got: offset,
                }),
                _ => {}
            }
            self.expected_next.insert(partition, offset + 1);
            out.next_offsets.insert(partition, offset + 1);

            let event = match decode::<P>(message) {
                Ok(event) => event,
                Err((stage, reason)) => {
                    out.dead_letters.push(DeadLetter {
                        index,
                        stage,
                        reason,
                    });
                    continue;
                }
            };
            out.counts.accepted += 1;
            let fact = P::enrich(event, &self.reference, &mut self.months);
            if **fact.month() < *this_month {
                out.counts.late += 1;
            }
            for miss in fact.misses() {
                out.counts.misses[miss] += 1;
            }
            let id = Arc::clone(fact.record_id());
            let home = partition_for(id.as_bytes(), self.partitions);
            if home != partition {
                out.dead_letters.push(DeadLetter {
                    index,
                    stage: Stage::Partition,
                    reason: format!(
                        "record {id} belongs on partition {home} of {} (Kafka's default \
                         partitioner on the record id) but arrived on partition {partition}: \
                         producers must key every version by the record id",
                        self.partitions
                    ),
                });
                continue;
            }
            let held = self.index.get(&id)?;
            match judge(held.as_ref(), &fact) {
                Verdict::New => out.counts.new += 1,
                Verdict::Revises => out.counts.revised += 1,
                Verdict::Duplicate => {
                    out.counts.duplicate += 1;
                    continue;
                }
                Verdict::Stale => {
                    out.counts.stale += 1;
                    continue;
                }
                Verdict::Conflict(conflict) => {
                    out.dead_letters.push(DeadLetter {
                        index,
                        stage: Stage::Conflict,
                        reason: conflict.to_string(),
                    });
                    continue;
                }
            }
            self.index.stage(Arc::clone(&id), Held::of(&fact));
            match changed.get(&id) {
                // Revised again within the batch: the change keeps what was held before it.
                Some(&at) => out.changes[at].new = fact,
                None => {
                    changed.insert(id, out.changes.len());
                    out.changes.push(Change {
                        old: held,
                        new: fact,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Decodes and validates one message: the event, or the stage and reason it failed.
fn decode<P: PipelineKind>(message: &impl SourceMessage) -> Result<P::Event, (Stage, String)> {
    let Some(bytes) = message.payload() else {
        return Err((Stage::Decode, "message has no payload".to_string()));
    };
    P::Event::decode(bytes).map_err(|e| {
        let stage = match e.stage {
            lantern_schemas::Stage::Decode => Stage::Decode,
            lantern_schemas::Stage::Validate => Stage::Validate,
        };
        (stage, e.to_string())
    })
}
