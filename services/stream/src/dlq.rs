//! The dead-letter topic: every record that cannot be decoded or validated goes here with its
//! raw bytes, its original key, and headers that say where it came from and why it was refused.
//! The consumer never stops for a bad record.
//!
//! Deliveries are awaited before the batch's offsets are committed, so a dead letter is never
//! lost. A crash between the two re-sends it on replay: the DLQ is at-least-once, and the
//! `lantern.source.*` headers identify duplicates.
//!
//! When the dead-letter topic refuses a record for good (the topic is missing, the principal may
//! not write it, the record is too large even cut short, or delivery times out), the record is
//! *spilled* instead: appended, with its raw bytes and the reason, to a local NDJSON file that is
//! fsynced before the offsets move on. The pipeline keeps running — one unwritable topic must
//! not stop every pipeline — and `lantern_stream_dead_letters_spilled_total` and an error log
//! say that the file needs an operator.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::StreamError;
use tracing::error;

/// Header names on dead-lettered records.
pub mod headers {
    pub const SOURCE_TOPIC: &str = "lantern.source.topic";
    pub const SOURCE_PARTITION: &str = "lantern.source.partition";
    pub const SOURCE_OFFSET: &str = "lantern.source.offset";
    pub const PIPELINE: &str = "lantern.pipeline";
    pub const STAGE: &str = "lantern.stage";
    pub const REASON: &str = "lantern.reason";
    /// Present when the payload was cut short: the original size in bytes.
    pub const TRUNCATED: &str = "lantern.truncated";
}

/// Longest `lantern.reason` header; decoder messages can quote the offending value.
const MAX_REASON_BYTES: usize = 1024;
/// What is kept of a payload too large to dead-letter whole.
const TRUNCATED_PAYLOAD: usize = 64 * 1024;

fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// One dead letter, kept until its delivery is confirmed so that it can be spilled if refused.
#[derive(Debug, Clone, serde::Serialize)]
struct Letter {
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
    stage: String,
    reason: String,
    #[serde(serialize_with = "base64_opt")]
    key: Option<Vec<u8>>,
    #[serde(serialize_with = "base64_bytes")]
    payload: Vec<u8>,
}

fn base64_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn base64_opt<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => base64_bytes(b, s),
        None => s.serialize_none(),
    }
}

/// What a [`DeadLetters::flush`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Acknowledged by the dead-letter topic.
    pub delivered: usize,
    /// Refused by it and written to the local spill file instead.
    pub spilled: usize,
}

/// Sends dead letters and remembers their pending deliveries until [`DeadLetters::flush`].
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    pipeline: &'static str,
    pending: Vec<(DeliveryFuture, Letter)>,
    spill: Spill,
    spilled: usize,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .field("spill", &self.spill.path)
            .finish()
    }
}

impl DeadLetters {
    /// `spill_path` is the local file for dead letters the topic refuses.
    pub fn new(
        producer: FutureProducer,
        topic: String,
        pipeline: &'static str,
        spill_path: PathBuf,
    ) -> Self {
        DeadLetters {
            producer,
            topic,
            pipeline,
            pending: Vec::new(),
            spill: Spill::new(spill_path),
            spilled: 0,
        }
    }

    /// Queues `message` for the dead-letter topic. `stage` is "decode" or "validate".
    ///
    /// The record keeps its key and its own headers; Lantern's `lantern.*` headers are added.
    /// A record too large to send with those headers is sent with its payload cut short and
    /// `lantern.truncated` giving the original size, rather than stopping the pipeline on it.
    pub async fn send(
        &mut self,
        message: &OwnedMessage,
        stage: &str,
        reason: &str,
    ) -> Result<(), StreamError> {
        let payload = message.payload().unwrap_or_default();
        let letter = Letter {
            source_topic: message.topic().to_string(),
            source_partition: message.partition(),
            source_offset: message.offset(),
            stage: stage.to_string(),
            reason: reason.to_string(),
            key: message.key().map(<[u8]>::to_vec),
            payload: payload.to_vec(),
        };
        let mut keep = payload.len();
        loop {
            let mut headers = OwnedHeaders::new();
            if let Some(original) = message.headers() {
                for h in original.iter() {
                    headers = headers.insert(Header {
                        key: h.key,
                        value: h.value,
                    });
                }
            }
            let partition = message.partition().to_string();
            let offset = message.offset().to_string();
            let size = payload.len().to_string();
            headers = headers
                .insert(header(headers::SOURCE_TOPIC, message.topic()))
                .insert(header(headers::SOURCE_PARTITION, &partition))
                .insert(header(headers::SOURCE_OFFSET, &offset))
                .insert(header(headers::PIPELINE, self.pipeline))
                .insert(header(headers::STAGE, stage))
                .insert(header(headers::REASON, truncate_reason(reason)));
            if keep < payload.len() {
                headers = headers.insert(header(headers::TRUNCATED, &size));
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .payload(&payload[..keep])
                .headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            match send_record(&self.producer, record).await {
                Ok(delivery) => {
                    self.pending.push((delivery, letter));
                    return Ok(());
                }
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge))
                    if keep > TRUNCATED_PAYLOAD =>
                {
                    keep = TRUNCATED_PAYLOAD;
                }
                Err(refused) => return self.spill_letter(&letter, &refused.to_string()),
            }
        }
    }

    /// Waits until every queued dead letter is acknowledged by the broker or, if the broker
    /// refused it, durably spilled. Only then may the offsets that skip them be committed.
    pub async fn flush(&mut self) -> Result<Flushed, StreamError> {
        let mut delivered = 0;
        for (delivery, letter) in std::mem::take(&mut self.pending) {
            let refused = match delivery.await {
                Ok(Ok(_)) => None,
                Ok(Err((error, _))) => Some(error.to_string()),
                Err(_) => Some("delivery cancelled (producer closed)".to_string()),
            };
            match refused {
                None => delivered += 1,
                Some(reason) => self.spill_letter(&letter, &reason)?,
            }
        }
        self.spill.sync()?;
        Ok(Flushed {
            delivered,
            spilled: std::mem::take(&mut self.spilled),
        })
    }

    fn spill_letter(&mut self, letter: &Letter, refused: &str) -> Result<(), StreamError> {
        error!(
            pipeline = self.pipeline,
            topic = self.topic,
            refused,
            spill = %self.spill.path.display(),
            source_partition = letter.source_partition,
            source_offset = letter.source_offset,
            "The dead-letter topic refused a record; spilled it to the local file instead."
        );
        self.spill.append(letter, &self.topic, refused)?;
        self.spilled += 1;
        Ok(())
    }
}

/// The local file dead letters go to when the topic refuses them: one JSON object per line with
/// the source position, stage, reason, why the topic refused it, and key and payload in base64.
#[derive(Debug)]
struct Spill {
    path: PathBuf,
    file: Option<File>,
    unsynced: bool,
}

impl Spill {
    fn new(path: PathBuf) -> Self {
        Spill {
            path,
            file: None,
            unsynced: false,
        }
    }

    fn append(&mut self, letter: &Letter, topic: &str, refused: &str) -> Result<(), StreamError> {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            dead_letter_topic: &'a str,
            refused: &'a str,
            #[serde(flatten)]
            letter: &'a Letter,
        }
        let mut line = serde_json::to_vec(&Line {
            dead_letter_topic: topic,
            refused,
            letter,
        })
        .expect("a dead letter always serialises");
        line.push(b'\n');
        let path = self.path.clone();
        let io = |e| StreamError::Spill {
            path: path.clone(),
            source: e,
        };
        if self.file.is_none() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            self.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io)?,
            );
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&line).map_err(io)?;
        self.unsynced = true;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StreamError> {
        if let (true, Some(file)) = (self.unsynced, &self.file) {
            file.sync_data().map_err(|e| StreamError::Spill {
                path: self.path.clone(),
                source: e,
            })?;
            self.unsynced = false;
        }
        Ok(())
    }
}

/// Where a pipeline's refused dead letters are spilled.
pub fn spill_path(pipeline_dir: &Path) -> PathBuf {
    pipeline_dir.join("dead-letters.ndjson")
}

/// Queues one record, waiting for room when librdkafka's local queue is full.
async fn send_record(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, [u8], [u8]>,
) -> Result<DeliveryFuture, KafkaError> {
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            // The local queue is full: let librdkafka drain it, then retry the same record.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Timeout::After(std::time::Duration::from_millis(50)));
                tokio::task::yield_now().await;
            }
            Err((error, _)) => return Err(error),
        }
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_capped_on_a_character_boundary() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(MAX_REASON_BYTES);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES && cut.len() > MAX_REASON_BYTES - 2);
    }
}
