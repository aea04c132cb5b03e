//! Freshness: how long after an event is produced the tables reflect it (the next query sees
//! it), at a steady offered load, with `lantern process` running as it would in production.
//!
//! The producer paces events at the offered rate and notes when each was sent and where it
//! landed (topic, partition, offset). A watcher reads the shards' manifests every
//! [`POLL`]: an event is queryable from the first poll whose committed offset for its partition
//! is past it. The first [`WARM_UP`] of the load is not counted (the processor joins its
//! consumer groups and takes its partitions then).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lantern_common::Config;
use lantern_ingest::synthetic::StreamGenerator;
use lantern_ingest::synthetic::stream::Kind;
use lantern_stream::kafka;
use serde::Serialize;

use super::e2e::create_topics;
use super::measure::Percentiles;
use super::processor::{ChildProcessor, Setup};
use crate::generate::produce_with;

const POLL: Duration = Duration::from_millis(5);
const WARM_UP: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Default, Serialize)]
pub struct FreshnessFigures {
    pub offered_events_per_s: u64,
    pub seconds: u64,
    /// The rate the producer achieved.
    pub produced_events_per_s: f64,
    pub latency: Percentiles,
}

/// When each (kind, partition)'s committed offset first reached a value.
type Commits = BTreeMap<(Kind, i32), Vec<(i64, Instant)>>;

pub async fn run(
    config: &Config,
    config_path: Option<&std::path::Path>,
    setup: &Setup,
    generator: StreamGenerator,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<FreshnessFigures> {
    create_topics(config, setup).await?;
    let processor = ChildProcessor::start(config_path, setup, false)?;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (setup, stop) = (setup.clone(), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || watch(&setup, &stop))
    };

    let producer = kafka::producer(&config.kafka)?;
    let mut sent: Vec<(Kind, i32, i64, Instant)> = Vec::new();
    let started = Instant::now();
    produce_with(
        &producer,
        &setup.topics,
        generator,
        Some(rate),
        |(kind, at), partition, offset| sent.push((kind, partition, offset, at)),
    )
    .await?;
    let produced_s = started.elapsed().as_secs_f64();

    // Wait until the tables reflect every event sent, then stop watching.
    let mut last: BTreeMap<(Kind, i32), i64> = BTreeMap::new();
    for &(kind, partition, offset, _) in &sent {
        let next = last.entry((kind, partition)).or_insert(0);
        *next = (*next).max(offset + 1);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !last
        .iter()
        .all(|(k, next)| setup.committed().get(k) >= Some(next))
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the tables did not reflect the freshness load within 2 minutes"
        );
        tokio::time::sleep(POLL).await;
    }
    stop.store(true, Ordering::Relaxed);
    let commits = watcher.await.context("the manifest watcher")?;
    processor.stop()?;

    let counted_from = started + WARM_UP;
    let latencies: Vec<f64> = sent
        .iter()
        .filter(|(.., at)| *at >= counted_from)
        .filter_map(|&(kind, partition, offset, at)| {
            let seen = commits.get(&(kind, partition))?;
            let first = seen.partition_point(|(next, _)| *next <= offset);
            let (_, when) = seen.get(first)?;
            Some(when.saturating_duration_since(at).as_secs_f64() * 1e3)
        })
        .collect();
    Ok(FreshnessFigures {
        offered_events_per_s: rate,
        seconds,
        produced_events_per_s: sent.len() as f64 / produced_s.max(1e-9),
        latency: Percentiles::of(latencies),
    })
}

/// Polls the manifests until `stop`, noting when each committed offset was first seen.
fn watch(setup: &Setup, stop: &AtomicBool) -> Commits {
    let mut commits: Commits = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for (key, next) in setup.committed() {
            let seen = commits.entry(key).or_default();
            if seen.last().is_none_or(|(last, _)| *last < next) {
                seen.push((next, now));
            }
        }
        std::thread::sleep(POLL);
    }
    commits
}
