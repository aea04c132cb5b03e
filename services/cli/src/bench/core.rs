//! The core path without Kafka: decode → validate → enrich → state → aggregate deltas, on one
//! thread, over the generator's events in memory.
//!
//! Each pipeline gets a real [`Processor`] over a real record index (redb, in a temporary
//! directory), as one shard. A batch is processed, its changes become facts rows, every
//! aggregate definition runs over them (the batch's deltas), and the index commits. What is
//! left out is storage: rewriting facts files and merging deltas into the published rows (and so
//! the retraction of a revised record's old version, whose row the store reads from those files);
//! the end-to-end phase measures that.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use lantern_enrich::ReferenceData;
use lantern_ingest::synthetic::StreamGenerator;
use lantern_ingest::synthetic::stream::{GeneratedEvent, Kind};
use lantern_pipelines::PipelineFiles;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::core::{Processor, RawMessage};
use lantern_stream::facts::Fact;
use lantern_stream::index::RecordIndex;
use lantern_stream::pipelines::{BusinessCrimes, Cybercrimes, Incidents, PipelineKind};
use serde::Serialize;

use super::measure::cpu_seconds;

/// Events generated (untimed) and then processed (timed) at a time: the processor's default
/// `max_batch_events`.
const BATCH: usize = 100_000;

/// The core path's figures for one pipeline.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PipelineFigures {
    pub events: u64,
    pub changes: u64,
    pub dead_letters: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
}

/// The core path's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoreFigures {
    pub events: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
    /// Events per CPU-second: the rate one core sustains.
    pub events_per_s_per_core: f64,
    pub events_per_s_wall: f64,
    pub pipelines: BTreeMap<&'static str, PipelineFigures>,
}

/// One pipeline's processor and aggregates, as one shard.
struct Shard<P: PipelineKind> {
    processor: Processor<P>,
    aggregates: Aggregates,
    next_offset: i64,
    seq: u64,
    figures: PipelineFigures,
}

impl<P: PipelineKind> Shard<P> {
    async fn open(dir: &Path, reference: &Arc<ReferenceData>) -> anyhow::Result<Self> {
        let aggregates = Aggregates::load::<P>(&PipelineFiles::Embedded).await?;
        let index = RecordIndex::open(&dir.join(format!("{}.redb", P::SPEC.name)), 64 << 20)?;
        Ok(Shard {
            processor: Processor::new(Arc::clone(reference), index, BTreeMap::new(), 1),
            aggregates,
            next_offset: 0,
            seq: 0,
            figures: PipelineFigures::default(),
        })
    }

    /// Processes one batch through the whole core path, timed.
    async fn process(&mut self, events: Vec<GeneratedEvent>) -> anyhow::Result<()> {
        let batch: Vec<RawMessage> = events
            .into_iter()
            .map(|event| {
                let offset = self.next_offset;
                self.next_offset += 1;
                RawMessage {
                    partition: 0,
                    offset,
                    key: Some(event.key.into_bytes()),
                    payload: Some(event.payload),
                }
            })
            .collect();
        let (wall, cpu) = (Instant::now(), cpu_seconds());

        let out = self.processor.process(&batch)?;
        let facts: Vec<&P::Fact> = out.changes.iter().map(|c| &c.new).collect();
        let rows = P::Fact::to_batch(&facts).context("building facts rows")?;
        let deltas = self.aggregates.deltas(vec![rows]).await?;
        self.seq += 1;
        self.processor.index().commit(self.seq)?;

        let f = &mut self.figures;
        f.cpu_s += cpu_seconds() - cpu;
        f.wall_s += wall.elapsed().as_secs_f64();
        f.events += batch.len() as u64;
        f.changes += out.changes.len() as u64;
        f.dead_letters += out.dead_letters.len() as u64;
        std::hint::black_box(deltas);
        Ok(())
    }
}

/// Runs the generator's whole stream through the three pipelines' core paths.
pub async fn run(
    generator: &mut StreamGenerator,
    reference: &Arc<ReferenceData>,
    work: &Path,
) -> anyhow::Result<CoreFigures> {
    // The run's work directory is removed at the end (unless --keep).
    let dir = work.join("core-state");
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the core path's state directory {}", dir.display()))?;
    let mut incidents = Shard::<Incidents>::open(&dir, reference).await?;
    let mut business = Shard::<BusinessCrimes>::open(&dir, reference).await?;
    let mut cyber = Shard::<Cybercrimes>::open(&dir, reference).await?;
    loop {
        let mut by_kind: [Vec<GeneratedEvent>; 3] = Default::default();
        for event in generator.by_ref().take(BATCH) {
            by_kind[event.kind as usize].push(event);
        }
        if by_kind.iter().all(Vec::is_empty) {
            break;
        }
        let [i, b, c] = by_kind;
        incidents.process(i).await?;
        business.process(b).await?;
        cyber.process(c).await?;
    }
    let pipelines: BTreeMap<&'static str, PipelineFigures> = [
        (Kind::Incidents.pipeline(), incidents.figures),
        (Kind::BusinessCrime.pipeline(), business.figures),
        (Kind::Cybercrime.pipeline(), cyber.figures),
    ]
    .into_iter()
    .collect();
    let sum = |f: fn(&PipelineFigures) -> f64| pipelines.values().map(f).sum::<f64>();
    let (wall_s, cpu_s) = (sum(|p| p.wall_s), sum(|p| p.cpu_s));
    let events = pipelines.values().map(|p| p.events).sum::<u64>();
    Ok(CoreFigures {
        events,
        wall_s,
        cpu_s,
        events_per_s_per_core: events as f64 / cpu_s.max(1e-9),
        events_per_s_wall: events as f64 / wall_s.max(1e-9),
        pipelines,
    })
}
