//! The processing core without Kafka: revision rules, and incremental aggregates against a full
//! recomputation after a long random stream.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineFiles;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::core::{Processor, RawMessage, Stage};
use lantern_stream::facts::Fact;
use lantern_stream::index::RecordIndex;
use lantern_stream::partitioner::partition_for;
use lantern_stream::pipelines::Incidents;
use lantern_stream::store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const LSOAS: &[&str] = &["E01025232", "E01025263", "E01012576", "E01006305"];
const TYPES: &[&str] = &["Burglary", "Shoplifting", "Vehicle crime", "Robbery"];

fn reference() -> Arc<ReferenceData> {
    Arc::new(ReferenceData::load(&PipelineFiles::Embedded, "E23000003").unwrap())
}

/// A processor over the tables and index in `dir`, as `lantern process` opens them.
async fn open(
    dir: &Path,
    aggregates: &Aggregates,
) -> (lantern_tables::Manifest, Processor<Incidents>) {
    let (manifest, index) = store::open::<Incidents>(dir, aggregates, 1 << 20)
        .await
        .unwrap();
    let offsets = manifest.offsets.get("t").cloned().unwrap_or_default();
    (manifest, Processor::new(reference(), index, offsets, 1))
}

async fn aggregates() -> Aggregates {
    Aggregates::load::<Incidents>(&PipelineFiles::Embedded)
        .await
        .unwrap()
}

struct Event<'a> {
    id: &'a str,
    version: u64,
    event: &'a str,
    status: &'a str,
    occurred: String,
    crime_type: &'a str,
    lsoa: &'a str,
}

fn message(offset: i64, e: &Event) -> RawMessage {
    let value = json!({
        "event_id": e.event,
        "schema_version": 1,
        "source": "test",
        "occurred_at": e.occurred,
        "reported_at": e.occurred,
        "incident_id": e.id,
        "version": e.version,
        "status": e.status,
        "crime_type": e.crime_type,
        "location": {"lsoa_code": e.lsoa},
    });
    RawMessage {
        partition: 0,
        offset,
        key: Some(e.id.as_bytes().to_vec()),
        payload: Some(serde_json::to_vec(&value).unwrap()),
    }
}

fn simple(id: &str, version: u64, event: &str, status: &str) -> Event<'static> {
    Event {
        id: Box::leak(id.to_string().into_boxed_str()),
        version,
        event: Box::leak(event.to_string().into_boxed_str()),
        status: Box::leak(status.to_string().into_boxed_str()),
        occurred: "2024-03-01T10:00:00Z".into(),
        crime_type: "Burglary",
        lsoa: LSOAS[0],
    }
}

#[test]
fn the_core_resolves_revisions_and_refuses_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let index = RecordIndex::open(&dir.path().join("index.redb"), 1 << 20).unwrap();
    let mut p = Processor::<Incidents>::new(reference(), index, BTreeMap::new(), 1);
    let batch: Vec<RawMessage> = [
        simple("A", 1, "a1", "recorded"),
        simple("A", 1, "a1", "recorded"), // duplicate (same event)
        simple("A", 1, "a1-other", "recorded"), // conflict: same version, other event
        simple("A", 3, "a3", "cancelled"),
        simple("A", 2, "a2", "reclassified"),    // stale
        simple("A", 4, "a4", "outcome_updated"), // conflict: does not reinstate
        simple("A", 5, "a5", "recorded"),        // reinstated
    ]
    .iter()
    .enumerate()
    .map(|(i, e)| message(i as i64, e))
    .chain([RawMessage {
        partition: 0,
        offset: 9,
        key: None,
        payload: Some(b"{".to_vec()),
    }])
    .collect();
    let out = p.process(&batch).unwrap();
    assert_eq!(out.counts.received, 8);
    assert_eq!(out.counts.accepted, 7);
    assert_eq!((out.counts.new, out.counts.revised), (1, 2));
    assert_eq!((out.counts.duplicate, out.counts.stale), (1, 1));
    let stages: Vec<(usize, Stage)> = out
        .dead_letters
        .iter()
        .map(|d| (d.index, d.stage))
        .collect();
    assert_eq!(
        stages,
        vec![
            (2, Stage::Conflict),
            (5, Stage::Conflict),
            (7, Stage::Decode)
        ]
    );
    assert!(
        out.dead_letters[0].reason.contains("a1-other"),
        "{:?}",
        out.dead_letters[0]
    );
    assert!(
        out.dead_letters[1].reason.contains("reinstates"),
        "{:?}",
        out.dead_letters[1]
    );
    assert_eq!(out.next_offsets, BTreeMap::from([(0, 10)]));
    assert_eq!(out.gaps.len(), 1, "offset 7 -> 9 skips 8");
    let held = p.index().get("A").unwrap().unwrap();
    assert_eq!((held.version, held.tombstone), (5, false));
    // Three versions of one record in a batch are one change: from nothing to v5.
    assert_eq!(out.changes.len(), 1);
    assert!(out.changes[0].old.is_none());
    assert_eq!(out.changes[0].new.version(), 5);
}

#[test]
fn a_version_off_its_records_partition_is_dead_lettered_and_published_offsets_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let index = RecordIndex::open(&dir.path().join("index.redb"), 1 << 20).unwrap();
    let home = partition_for(b"P", 4);
    let published = BTreeMap::from([(home, 5)]);
    let mut p = Processor::<Incidents>::new(reference(), index, published, 4);
    let on = |partition, offset, e: &Event| RawMessage {
        partition,
        ..message(offset, e)
    };
    let batch = [
        on(home, 4, &simple("P", 1, "p0", "recorded")), // already published: skipped
        on(home, 5, &simple("P", 1, "p1", "recorded")),
        on((home + 1) % 4, 0, &simple("P", 2, "p2", "reclassified")),
    ];
    let out = p.process(&batch).unwrap();
    assert_eq!((out.counts.replayed, out.counts.new), (1, 1));
    assert_eq!(out.dead_letters.len(), 1, "{:?}", out.dead_letters);
    assert_eq!(
        (out.dead_letters[0].index, out.dead_letters[0].stage),
        (2, Stage::Partition)
    );
    assert!(
        out.dead_letters[0].reason.contains("key every version"),
        "{:?}",
        out.dead_letters
    );
    let held = p.index().get("P").unwrap().unwrap();
    assert_eq!((held.version, held.event_id.as_str()), (1, "p1"));
}

fn version_of(m: &RawMessage) -> u64 {
    let value: serde_json::Value = serde_json::from_slice(m.payload.as_deref().unwrap()).unwrap();
    value["version"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_aggregates_equal_a_recomputation_after_a_long_random_stream() {
    let seed = 20261125;
    let mut rng = StdRng::seed_from_u64(seed);
    let aggregates = aggregates().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, mut p) = open(dir.path(), &aggregates).await;
    let ids: Vec<String> = (0..400).map(|i| format!("R{i}")).collect();
    // Per record: the message of the highest version sent.
    let mut sent: HashMap<usize, RawMessage> = HashMap::new();
    let mut offset = 0i64;
    let mut total_changes = 0;

    for round in 0..60 {
        let size = rng.random_range(1..200);
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            let r = rng.random_range(0..ids.len());
            let last = sent.get(&r).map_or(0, version_of);
            let roll = rng.random_range(0..100);
            if roll < 8 && last > 0 {
                // A replay or producer retry: the same bytes again.
                let mut again = sent[&r].clone();
                again.offset = offset;
                batch.push(again);
                offset += 1;
                continue;
            }
            let (version, status) = match roll {
                // An older version arriving late: stale.
                8..=12 if last > 1 => (rng.random_range(1..last), "reclassified"),
                // The same version from another event: a conflict.
                13..=15 if last > 0 => (last, "reclassified"),
                16..=27 => (last + 1, "cancelled"),
                // After a cancellation this must be refused; otherwise an ordinary update.
                28..=37 => (last + 1, "outcome_updated"),
                38..=45 => (last + 1, "recorded"),
                _ => (last + 1, "reclassified"),
            };
            // Later versions move between months (late corrections) and places.
            let month = rng.random_range(1..=6);
            let event_id = format!("{}:{version}:{}", ids[r], rng.random_range(0..1_000_000));
            let event = Event {
                id: &ids[r],
                version,
                event: &event_id,
                status,
                occurred: format!("2023-{month:02}-{:02}T12:00:00Z", rng.random_range(1..=28)),
                crime_type: TYPES[rng.random_range(0..TYPES.len())],
                lsoa: LSOAS[rng.random_range(0..LSOAS.len())],
            };
            let m = message(offset, &event);
            if version > last {
                sent.insert(r, m.clone());
            }
            batch.push(m);
            offset += 1;
        }
        let out = p.process(&batch).unwrap();
        total_changes += out.changes.len();
        manifest = store::publish::<Incidents>(
            dir.path(),
            &manifest,
            out.changes,
            &aggregates,
            "t",
            &out.next_offsets,
        )
        .await
        .unwrap();
        if round % 20 == 19 {
            // A crash between the manifest and the index commit: the reopened index is one
            // commit behind and must catch up from the facts files.
            drop(p);
            (manifest, p) = open(dir.path(), &aggregates).await;
        } else {
            p.index().commit(manifest.seq).unwrap();
        }
    }
    assert!(
        total_changes > 1000,
        "the stream changed too little: {total_changes}"
    );

    drop(p);
    let reports = store::rebuild::<Incidents>(dir.path(), &aggregates, false)
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    for report in reports {
        assert!(report.months >= 6, "{report:?}");
        assert!(
            report.differing.is_empty(),
            "{} (seed {seed}): incremental differs from recomputation in {:?}",
            report.table,
            report.differing
        );
    }
}

/// Rows of every aggregate table under `data_dir`, as sorted text lines, through the same
/// registration `lantern sql` uses (shards summed by key).
async fn aggregate_rows(data_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let ctx = datafusion::prelude::SessionContext::new();
    let mut out = BTreeMap::new();
    for table in lantern_tables::register_all(&ctx, data_dir, false)
        .await
        .unwrap()
    {
        let batches = ctx
            .sql(&format!("SELECT * FROM {table}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let mut rows: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("| "))
            .map(String::from)
            .collect();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// A pipeline split over three shards (each record on the partition its id hashes to) shows the
/// same aggregates as one shard holding everything: SQL sums each group over the shards.
#[tokio::test(flavor = "multi_thread")]
async fn three_shards_sum_to_what_one_store_holds() {
    const PARTITIONS: i32 = 3;
    let aggregates = aggregates().await;
    let mut rng = StdRng::seed_from_u64(7);
    let events: Vec<Event> = (0..600)
        .map(|i| {
            let id = format!("S{}", i % 250);
            let version = (i / 250 + 1) as u64;
            Event {
                id: Box::leak(id.clone().into_boxed_str()),
                version,
                event: Box::leak(format!("{id}:{version}").into_boxed_str()),
                status: ["recorded", "reclassified", "cancelled"][rng.random_range(0..3)],
                occurred: format!("2024-{:02}-10T12:00:00Z", rng.random_range(1..=4)),
                crime_type: TYPES[rng.random_range(0..TYPES.len())],
                lsoa: LSOAS[rng.random_range(0..LSOAS.len())],
            }
        })
        .collect();

    let one = tempfile::tempdir().unwrap();
    let sharded = tempfile::tempdir().unwrap();
    let store_of = |data: &Path, partition| {
        lantern_tables::shards::shard_dir(&data.join("incidents"), partition)
    };
    let all: Vec<RawMessage> = events
        .iter()
        .enumerate()
        .map(|(i, e)| message(i as i64, e))
        .collect();
    publish_all(&store_of(one.path(), 0), &aggregates, &all, 1).await;
    for partition in 0..PARTITIONS {
        let mine: Vec<RawMessage> = events
            .iter()
            .filter(|e| partition_for(e.id.as_bytes(), PARTITIONS) == partition)
            .enumerate()
            .map(|(i, e)| RawMessage {
                partition,
                ..message(i as i64, e)
            })
            .collect();
        assert!(!mine.is_empty());
        publish_all(
            &store_of(sharded.path(), partition),
            &aggregates,
            &mine,
            PARTITIONS,
        )
        .await;
    }

    let (expected, got) = (
        aggregate_rows(one.path()).await,
        aggregate_rows(sharded.path()).await,
    );
    assert_eq!(expected.len(), 2, "{expected:?}");
    assert!(
        expected.values().all(|rows| rows.len() > 10),
        "{expected:?}"
    );
    assert_eq!(got, expected);
}

/// Processes `batch` into the store in `dir` in one commit.
async fn publish_all(dir: &Path, aggregates: &Aggregates, batch: &[RawMessage], partitions: i32) {
    let (manifest, index) = store::open::<Incidents>(dir, aggregates, 1 << 20)
        .await
        .unwrap();
    let mut p = Processor::<Incidents>::new(reference(), index, BTreeMap::new(), partitions);
    let out = p.process(batch).unwrap();
    assert!(
        out.dead_letters.iter().all(|d| d.stage == Stage::Conflict),
        "{:?}",
        out.dead_letters
    );
    store::commit_batch(
        dir,
        &manifest,
        &mut p,
        out.changes,
        aggregates,
        "t",
        &out.next_offsets,
    )
    .await
    .unwrap();
}
