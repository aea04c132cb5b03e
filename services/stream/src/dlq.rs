//! The dead-letter topic: every record that cannot be decoded or validated goes here with its
//! raw bytes, its original key, and headers that say where it came from and why it was refused.
//! The consumer never stops for a bad record.
//!
//! Deliveries are awaited before the batch's offsets are committed, so a dead letter is never
//! lost. A crash between the two re-sends it on replay: the DLQ is at-least-once, and the
//! `lantern.source.*` headers identify duplicates.

use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
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
    pub async fn send(
        &mut self,
        message: &OwnedMessage,
        stage: &str,
        reason: &str,
    ) -> Result<(), StreamError> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(header(headers::SOURCE_TOPIC, message.topic()))
            .insert(header(headers::SOURCE_PARTITION, &partition))
            .insert(header(headers::SOURCE_OFFSET, &offset))
            .insert(header(headers::PIPELINE, self.pipeline))
            .insert(header(headers::STAGE, stage))
            .insert(header(headers::REASON, reason));
        let payload = message.payload().unwrap_or_default();
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.push(delivery);
                    return Ok(());
                }
                // The local queue is full: let librdkafka drain it, then retry the same record.
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    self.producer
                        .poll(Timeout::After(std::time::Duration::from_millis(50)));
                    tokio::task::yield_now().await;
                }
                Err((source, _)) => {
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

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
