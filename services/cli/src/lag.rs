//! `lantern lag`: how far the published tables are behind the topics.
//!
//! Lag is read the way restarts and take-overs read progress: from each shard's live manifest
//! (the offset its tables reflect), against the topic's end offsets on the broker. `--wait` returns once
//! every pipeline has caught up, which is how scripts know the tables include what they sent.

use std::time::{Duration, Instant};

use anyhow::Context;
use lantern_common::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};

#[derive(Debug, clap::Args)]
pub struct LagArgs {
    /// Wait until every pipeline has caught up (lag 0), for at most this many seconds.
    #[arg(long, value_name = "SECONDS")]
    wait: Option<u64>,
}

/// `(pipeline, events not yet in its tables)`.
fn lag(config: &Config, consumer: &BaseConsumer) -> anyhow::Result<Vec<(String, i64)>> {
    let manifests = lantern_tables::published_pipelines(&config.storage.data_dir)?;
    let mut out = Vec::new();
    for pipeline in &config.processor.pipelines {
        let topic = lantern_stream::pipelines::topic_of(pipeline, &config.topics)
            .expect("config validation admits only known pipelines");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .with_context(|| format!("reading the partitions of {topic}"))?;
        let shards = manifests
            .iter()
            .find(|p| &p.name == pipeline)
            .map(|p| p.shards.as_slice())
            .unwrap_or_default();
        let mut behind = 0;
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
                .with_context(|| format!("reading the end offset of {topic}/{}", partition.id()))?;
            let done = shards
                .iter()
                .find(|s| s.partition == partition.id())
                .and_then(|s| s.manifest.offsets.get(topic)?.get(&partition.id()).copied())
                .unwrap_or(low)
                .max(low);
            behind += (high - done).max(0);
        }
        out.push((pipeline.clone(), behind));
    }
    Ok(out)
}

pub async fn run(config: Config, args: LagArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = lantern_stream::kafka::client_config(&config.kafka)
            .create()
            .context("creating a Kafka client (kafka.*)")?;
        let started = Instant::now();
        loop {
            let lags = lag(&config, &consumer)?;
            let total: i64 = lags.iter().map(|(_, l)| l).sum();
            match args.wait {
                Some(limit) if total > 0 => {
                    if started.elapsed() > Duration::from_secs(limit) {
                        anyhow::bail!("still {total} events behind after {limit} s: {lags:?}");
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                _ => {
                    for (pipeline, behind) in &lags {
                        println!("{pipeline:<15} {behind:>9} events behind");
                    }
                    return Ok(());
                }
            }
        }
    })
    .await?
}
