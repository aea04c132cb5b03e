//! `lantern gen`: a seeded SYNTHETIC stream of all three event kinds, to Kafka or NDJSON files,
//! shaped by real police.uk rows (see `lantern_ingest::synthetic::stream`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use lantern_common::Config;
use lantern_ingest::synthetic::StreamGenerator;
use lantern_ingest::synthetic::stream::{GeneratedEvent, Kind, Mix, Profile, Tally};
use lantern_stream::kafka;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

/// Where the profile comes from when `--profile` is not given: the sample in the repository.
pub const DEFAULT_PROFILE_DIR: &str = "data/sample/policeuk";

#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// How many events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Random seed: the same seed (and profile) gives the same stream, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First month of event time (YYYY-MM).
    #[arg(long, default_value = "2023-01")]
    pub start: String,
    /// Months of event time the stream spans.
    #[arg(long, default_value_t = 24)]
    pub months: u32,
    /// police.uk street-level CSVs whose crime-type mix and places the stream copies
    /// (default: every CSV in data/sample/policeuk).
    #[arg(long)]
    pub profile: Vec<PathBuf>,
    /// Write `<pipeline>.ndjson` files into this directory instead of producing to Kafka.
    #[arg(long)]
    pub ndjson: Option<PathBuf>,
    /// Offered load in events per second when producing (default: as fast as the broker takes
    /// them).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Also write what was generated (per kind: records, revisions, duplicates, late, invalid)
    /// as JSON to this file.
    #[arg(long)]
    pub tally: Option<PathBuf>,
}

impl GenArgs {
    /// The generator these arguments describe.
    pub fn generator(&self) -> anyhow::Result<StreamGenerator> {
        let start = NaiveDate::parse_from_str(&format!("{}-01", self.start), "%Y-%m-%d")
            .with_context(|| format!("--start: {:?} is not a month like 2023-01", self.start))?;
        let profile = load_profile(&self.profile)?;
        Ok(StreamGenerator::new(
            profile,
            Mix::default(),
            self.seed,
            start,
            self.months,
            self.events,
        ))
    }
}

/// The profile of `files`, or of the sample CSVs when none are given.
pub fn load_profile(files: &[PathBuf]) -> anyhow::Result<Profile> {
    let files = if files.is_empty() {
        let dir = Path::new(DEFAULT_PROFILE_DIR);
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| {
                format!(
                    "reading {} (run from the repository root, or give --profile CSV…)",
                    dir.display()
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        found.sort();
        found
    } else {
        files.to_vec()
    };
    let profile = Profile::from_police_uk(&files).context("reading the --profile CSVs")?;
    if profile.is_empty() {
        bail!("--profile: no importable police.uk rows in {files:?}");
    }
    Ok(profile)
}

pub async fn run(config: Config, args: GenArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut generator = args.generator()?;
    let tally = match &args.ndjson {
        Some(dir) => write_ndjson(dir, &mut generator)?,
        None => {
            crate::import::create_topics(&config, 3, None).await?;
            let producer = kafka::producer(&config.kafka)?;
            let topics = Topics::of(&config);
            produce(&producer, &topics, &mut generator, args.rate).await?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "SYNTHETIC: {} events ({:.0} events/s) — incidents {}, business crime {}, cybercrime {}",
        tally.events(),
        tally.events() as f64 / seconds.max(1e-9),
        tally.incidents.events,
        tally.business_crime.events,
        tally.cybercrime.events
    );
    if let Some(path) = &args.tally {
        std::fs::write(path, serde_json::to_vec_pretty(&tally)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes every event to `<dir>/<pipeline>.ndjson`, one payload per line (invalid ones too).
pub fn write_ndjson(dir: &Path, generator: &mut StreamGenerator) -> anyhow::Result<Tally> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for kind in Kind::ALL {
        let path = dir.join(format!("{}.ndjson", kind.pipeline()));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        files.push((path, BufWriter::with_capacity(1 << 20, file)));
    }
    for event in generator.by_ref() {
        let (path, out) = &mut files[event.kind as usize];
        out.write_all(&event.payload)
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for (path, mut out) in files {
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(*generator.tally())
}

/// The topic of each kind.
#[derive(Debug, Clone)]
pub struct Topics([String; 3]);

impl Topics {
    pub fn of(config: &Config) -> Self {
        let t = &config.topics;
        Topics([
            t.incidents.clone(),
            t.business_crime.clone(),
            t.cybercrime.clone(),
        ])
    }

    pub fn new(topics: [String; 3]) -> Self {
        Topics(topics)
    }

    pub fn all(&self) -> &[String; 3] {
        &self.0
    }

    pub fn get(&self, kind: Kind) -> &str {
        &self.0[kind as usize]
    }
}

/// A sent event: its kind and when it was handed to the producer.
pub type Sent = (Kind, Instant);

/// Produces the generator's events (at `rate` per second if given) and waits for every
/// acknowledgement; calls `delivered` with each event's kind, send time, partition and offset.
pub async fn produce_with(
    producer: &FutureProducer,
    topics: &Topics,
    events: impl Iterator<Item = GeneratedEvent>,
    rate: Option<u64>,
    mut delivered: impl FnMut(Sent, i32, i64),
) -> anyhow::Result<()> {
    const IN_FLIGHT: usize = 50_000;
    let started = Instant::now();
    let mut pending: Vec<(Sent, DeliveryFuture)> = Vec::with_capacity(IN_FLIGHT);
    for (n, event) in events.enumerate() {
        if let Some(rate) = rate {
            // Pace in steps of 1 ms: the n-th event is due at n / rate seconds.
            let due = Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed())
                && wait > Duration::from_millis(1)
            {
                tokio::time::sleep(wait).await;
            }
        }
        let topic = topics.get(event.kind);
        let mut record = FutureRecord::to(topic)
            .key(event.key.as_bytes())
            .payload(&event.payload);
        loop {
            let sent = (event.kind, Instant::now());
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push((sent, delivery));
                    break;
                }
                // librdkafka's local queue is full: wait for what is in flight, then retry.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    settle(&mut pending, &mut delivered).await?;
                    producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => {
                    return Err(error).with_context(|| format!("producing to {topic}"));
                }
            }
        }
        // At a paced rate settle often, so the delivery times stay close to the acks.
        if pending.len() >= IN_FLIGHT || (rate.is_some() && pending.len() >= 1_000) {
            settle(&mut pending, &mut delivered).await?;
        }
    }
    settle(&mut pending, &mut delivered).await
}

async fn settle(
    pending: &mut Vec<(Sent, DeliveryFuture)>,
    delivered: &mut impl FnMut(Sent, i32, i64),
) -> anyhow::Result<()> {
    for (sent, delivery) in pending.drain(..) {
        let delivery = delivery
            .await
            .map_err(|_| anyhow::anyhow!("a delivery was cancelled"))?
            .map_err(|(error, _)| error)
            .context("producing synthetic events")?;
        delivered(sent, delivery.partition, delivery.offset);
    }
    Ok(())
}

/// Produces the whole stream and returns what was generated.
pub async fn produce(
    producer: &FutureProducer,
    topics: &Topics,
    generator: &mut StreamGenerator,
    rate: Option<u64>,
) -> anyhow::Result<Tally> {
    produce_with(producer, topics, generator.by_ref(), rate, |_, _, _| {}).await?;
    Ok(*generator.tally())
}
