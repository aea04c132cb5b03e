//! End to end: the generator's stream produced into the real broker, read once by a bare
//! librdkafka consumer (the ceiling for any consumer on this machine) and then drained by
//! `lantern process --drain` into durable tables, from empty state.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use lantern_common::Config;
use lantern_ingest::synthetic::StreamGenerator;
use lantern_stream::kafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::processor::{ChildProcessor, Setup};
use crate::generate::{Topics, produce};

/// Partitions of each benchmark topic (the `lantern topics` default).
pub const PARTITIONS: i32 = 3;

#[derive(Debug, Clone, Default, Serialize)]
pub struct EndToEndFigures {
    pub events: u64,
    /// Producing the stream (idempotent producer, acks=all), for reference.
    pub produce_events_per_s: f64,
    pub bare_consumer_s: f64,
    pub bare_consumer_events_per_s: f64,
    /// From starting `lantern process --drain` (start-up included) until the tables reflect
    /// every event.
    pub lantern_s: f64,
    pub lantern_events_per_s: f64,
    /// `lantern_events_per_s / bare_consumer_events_per_s`.
    pub ratio_to_bare_consumer: f64,
    pub peak_rss_mib: f64,
    /// Peak resident memory when the tables reflected half the events.
    pub peak_rss_at_half_mib: f64,
    /// Growth of the peak from half the stream to all of it.
    pub peak_rss_growth_mib: f64,
}

/// Creates `setup`'s topics (and dead-letter topic) on the configured cluster.
pub async fn create_topics(config: &Config, setup: &Setup) -> anyhow::Result<()> {
    let mut topics: Vec<&str> = setup.topics.all().iter().map(String::as_str).collect();
    topics.push(&setup.dead_letter);
    kafka::ensure_topics(&config.kafka, &topics, PARTITIONS, None)
        .await
        .with_context(|| format!("creating the benchmark topics {topics:?}"))
}

pub async fn run(
    config: &Config,
    config_path: Option<&Path>,
    setup: &Setup,
    generator: &mut StreamGenerator,
) -> anyhow::Result<EndToEndFigures> {
    create_topics(config, setup).await?;
    let producer = kafka::producer(&config.kafka)?;
    let started = Instant::now();
    let tally = produce(&producer, &setup.topics, generator, None).await?;
    let events = tally.events();
    let produce_s = started.elapsed().as_secs_f64();
    println!("  produced {events} events in {produce_s:.1} s");

    let kafka_config = config.kafka.clone();
    let topics = setup.topics.clone();
    let bare_s =
        tokio::task::spawn_blocking(move || bare_consume(&kafka_config, &topics, events)).await??;
    println!("  bare consumer read them in {bare_s:.2} s");

    let mut processor = ChildProcessor::start(config_path, setup, true)?;
    let half = (events / 2) as i64;
    let (mut at_half, mut done_at, mut peak) = (None, None, 0.0f64);
    loop {
        if let Some(rss) = processor.rss() {
            peak = peak.max(rss.peak_mib);
        }
        let progress = setup.progress();
        if at_half.is_none() && progress >= half {
            at_half = Some(peak);
        }
        if done_at.is_none() && progress >= events as i64 {
            done_at = Some(processor.elapsed());
        }
        if processor.exited()? {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lantern_s = done_at
        .context("lantern process --drain exited before its tables reflected every event")?
        .as_secs_f64();
    let at_half = at_half.unwrap_or(peak);
    let bare_rate = events as f64 / bare_s.max(1e-9);
    let lantern_rate = events as f64 / lantern_s.max(1e-9);
    Ok(EndToEndFigures {
        events,
        produce_events_per_s: events as f64 / produce_s.max(1e-9),
        bare_consumer_s: bare_s,
        bare_consumer_events_per_s: bare_rate,
        lantern_s,
        lantern_events_per_s: lantern_rate,
        ratio_to_bare_consumer: lantern_rate / bare_rate.max(1e-9),
        peak_rss_mib: peak,
        peak_rss_at_half_mib: at_half,
        peak_rss_growth_mib: peak - at_half,
    })
}

/// Reads every partition of `topics` from the beginning with a bare librdkafka consumer
/// configured as Lantern's are, until it has `expected` messages; returns the seconds from the
/// first message to the last.
pub fn bare_consume(
    kafka_config: &lantern_common::config::KafkaConfig,
    topics: &Topics,
    expected: u64,
) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = kafka::client_config(kafka_config)
        .set("group.id", "lantern-bench-bare-consumer")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the bare consumer")?;
    let mut list = TopicPartitionList::new();
    for topic in topics.all() {
        for partition in 0..PARTITIONS {
            list.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
    }
    consumer.assign(&list)?;
    let (mut messages, mut first) = (0u64, None);
    let deadline = Instant::now() + Duration::from_secs(600);
    while messages < expected {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bare consumer read {messages} of {expected} messages in 10 minutes"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(_)) => {
                first.get_or_insert_with(Instant::now);
                messages += 1;
            }
            Some(Err(e)) => anyhow::bail!("bare consumer: {e}"),
            None => {}
        }
    }
    Ok(first.map_or(0.0, |t| t.elapsed().as_secs_f64()))
}
