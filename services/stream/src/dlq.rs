//! The dead-letter topic: every record that cannot be decoded or validated goes here with its
//! raw bytes, its original key, and headers that say where it came from and why it was refused.
//! The consumer never stops for a bad record.
//!
//! Deliveries are awaited before the batch's offsets are committed, so a dead letter is never
//! lost. A crash between the two re-sends it on replay: the DLQ is at-least-once, and the
//! `lantern.source.*` headers identify duplicates.

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::StreamError;

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

/// Sends dead letters and remembers their pending deliveries until [`DeadLetters::flush`].
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    pipeline: &'static str,
    pending: Vec<DeliveryFuture>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .finish()
    }
}

impl DeadLetters {
    pub fn new(producer: FutureProducer, topic: String, pipeline: &'static str) -> Self {
        DeadLetters {
            producer,
            topic,
            pipeline,
            pending: Vec::new(),
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
            match send_record(&self.producer, &mut self.pending, record).await {
                Ok(()) => return Ok(()),
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge))
                    if keep > TRUNCATED_PAYLOAD =>
                {
                    keep = TRUNCATED_PAYLOAD;
                }
                Err(source) => {
                    return Err(StreamError::Kafka {
                        context: format!("sending to dead-letter topic {}", self.topic),
                        source,
                    });
                }
            }
        }
    }

    /// Waits until every queued dead letter is acknowledged by the broker.
    pub async fn flush(&mut self) -> Result<usize, StreamError> {
        let count = self.pending.len();
        for delivery in self.pending.drain(..) {
            let result = delivery.await.map_err(|_| StreamError::Kafka {
                context: format!("delivering to dead-letter topic {}", self.topic),
                source: rdkafka::error::KafkaError::Canceled,
            })?;
            result.map_err(|(source, _)| StreamError::Kafka {
                context: format!("delivering to dead-letter topic {}", self.topic),
                source,
            })?;
        }
        Ok(count)
    }
}

/// Queues one record, waiting for room when librdkafka's local queue is full.
async fn send_record(
    producer: &FutureProducer,
    pending: &mut Vec<DeliveryFuture>,
    mut record: FutureRecord<'_, [u8], [u8]>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send_result(record) {
            Ok(delivery) => {
                pending.push(delivery);
                return Ok(());
            }
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
