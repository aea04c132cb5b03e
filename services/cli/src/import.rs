//! `lantern import` and `lantern topics`: getting events into Kafka.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lantern_common::Config;
use lantern_ingest::KeyedEvent;
use lantern_stream::kafka;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Publish police.uk street-level crime CSVs as incident events (one event per row).
    PoliceUk {
        /// CSV files as downloaded from data.police.uk (`YYYY-MM-<force>-street.csv`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Publish a SYNTHETIC stream of business-crime and cybercrime reports, and optionally
    /// burglaries (source = "synthetic"; no real ones are public), placed in the configured
    /// force's LSOAs.
    Synthetic {
        /// Months to generate, e.g. 2022-09,2022-10.
        #[arg(long, value_delimiter = ',', default_value = "2022-09,2022-10")]
        months: Vec<String>,
        /// Business-crime reports per month.
        #[arg(long, default_value_t = 400)]
        business_per_month: usize,
        /// Cybercrime reports per month.
        #[arg(long, default_value_t = 250)]
        cyber_per_month: usize,
        /// Synthetic residential burglaries per month (incidents with address and victim
        /// references and a repeat and near-repeat structure, for the repeat-victimisation and
        /// near-repeat analytics). Default 0: synthetic incidents would be counted with a
        /// force's real ones in every incident table, so they are only made when asked for.
        #[arg(long, default_value_t = 0)]
        burglaries_per_month: usize,
        /// Random seed: the same seed produces the same events, so re-running changes no count.
        #[arg(long, default_value_t = 2022)]
        seed: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    /// Partitions for topics that do not exist yet.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Replicas of each new topic (default: the cluster's default.replication.factor).
    #[arg(long)]
    pub replication_factor: Option<i32>,
}

pub async fn run(config: Config, command: ImportCommand) -> anyhow::Result<()> {
    create_topics(&config, 3, None).await?;
    match command {
        ImportCommand::PoliceUk { files } => {
            for file in files {
                let started = Instant::now();
                let import = lantern_ingest::read_police_uk(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                for rejected in &import.rejected {
                    eprintln!(
                        "{}: line {}: {}",
                        file.display(),
                        rejected.line,
                        rejected.reason
                    );
                }
                let sent = publish(&config, &config.topics.incidents, &import.events).await?;
                println!(
                    "{}: {} rows, {} events published, {} rows rejected ({:.0} events/s)",
                    file.display(),
                    import.rows,
                    sent,
                    import.rejected.len(),
                    sent as f64 / started.elapsed().as_secs_f64().max(1e-9)
                );
            }
        }
        ImportCommand::Synthetic {
            months,
            business_per_month,
            cyber_per_month,
            burglaries_per_month,
            seed,
        } => {
            let months = months
                .iter()
                .map(|m| parse_month(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let reference = lantern_enrich::ReferenceData::load(
                &config.pipelines.files(),
                &config.processor.force_area_code,
            )
            .context("loading reference data")?;
            let places: Vec<(String, f64, f64)> = reference
                .places
                .lsoas_in_force()
                .into_iter()
                .map(|(code, lat, lon)| (code.to_string(), lat, lon))
                .collect();
            if places.is_empty() {
                bail!(
                    "no LSOAs in force area {} (processor.force_area_code)",
                    config.processor.force_area_code
                );
            }
            let business = lantern_ingest::synthetic_business_crime(
                &places,
                &months,
                business_per_month,
                seed,
            );
            let cyber =
                lantern_ingest::synthetic_cybercrime(&places, &months, cyber_per_month, seed);
            let burglaries =
                lantern_ingest::synthetic_burglaries(&places, &months, burglaries_per_month, seed);
            let b = publish(&config, &config.topics.business_crime, &business).await?;
            let c = publish(&config, &config.topics.cybercrime, &cyber).await?;
            let i = publish(&config, &config.topics.incidents, &burglaries).await?;
            println!(
                "synthetic: {b} business-crime, {c} cybercrime and {i} burglary events published \
                 (source = \"synthetic\")"
            );
        }
    }
    Ok(())
}

fn parse_month(text: &str) -> anyhow::Result<(i32, u32)> {
    let bad = || anyhow::anyhow!("--months: {text:?} is not a month like 2022-09");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok((y, m))
}

/// Creates Lantern's topics that do not exist yet (see [`kafka::ensure_topics`]).
pub async fn create_topics(
    config: &Config,
    partitions: i32,
    replication: Option<i32>,
) -> anyhow::Result<()> {
    let t = &config.topics;
    let topics = [
        t.incidents.as_str(),
        t.business_crime.as_str(),
        t.cybercrime.as_str(),
        t.dead_letter.as_str(),
    ];
    // One-shot commands give up on an unreachable cluster after this long, with the reason.
    const PATIENCE: Duration = Duration::from_secs(30);
    let kafka_config = config.kafka.clone();
    tokio::task::spawn_blocking(move || kafka::check_connection(&kafka_config, Some(PATIENCE)))
        .await??;
    kafka::ensure_topics(&config.kafka, &topics, partitions, replication)
        .await
        .with_context(|| {
            format!(
                "creating topics on {} (kafka.bootstrap_servers)",
                config.kafka.bootstrap_servers
            )
        })
}

/// Sends `events`, keeping a bounded number in flight, and waits for every acknowledgement.
async fn publish(config: &Config, topic: &str, events: &[KeyedEvent]) -> anyhow::Result<usize> {
    const IN_FLIGHT: usize = 50_000;
    let producer: FutureProducer = kafka::producer(&config.kafka)?;
    let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(IN_FLIGHT);
    for event in events {
        let mut record = FutureRecord::to(topic)
            .key(event.key.as_bytes())
            .payload(&event.payload);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                // librdkafka's local queue is full: wait for what is in flight, then retry.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    await_all(&mut pending, topic).await?;
                    producer.poll(std::time::Duration::from_millis(10));
                }
                Err((error, _)) => {
                    return Err(error).with_context(|| format!("publishing to {topic}"));
                }
            }
        }
        if pending.len() >= IN_FLIGHT {
            await_all(&mut pending, topic).await?;
        }
    }
    await_all(&mut pending, topic).await?;
    Ok(events.len())
}

async fn await_all(pending: &mut Vec<DeliveryFuture>, topic: &str) -> anyhow::Result<()> {
    for delivery in futures::future::join_all(pending.drain(..)).await {
        delivery
            .map_err(|_| anyhow::anyhow!("delivery to {topic} was cancelled"))?
            .map_err(|(error, _)| error)
            .with_context(|| format!("publishing to {topic}"))?;
    }
    Ok(())
}
