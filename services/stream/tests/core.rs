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
use lantern_stream::pipelines::{Incidents, PipelineKind};
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
    (manifest, Processor::new(reference(), index, offsets))
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
    let mut p = Processor::<Incidents>::new(reference(), index, BTreeMap::new());
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
fn a_version_on_another_partition_than_its_record_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let index = RecordIndex::open(&dir.path().join("index.redb"), 1 << 20).unwrap();
    let mut p = Processor::<Incidents>::new(reference(), index, BTreeMap::new());
    let first = message(0, &simple("P", 1, "p1", "recorded"));
    let mut moved = message(1, &simple("P", 2, "p2", "reclassified"));
    moved.partition = 2;
    let out = p.process(&[first, moved]).unwrap();
    assert_eq!(out.dead_letters.len(), 1, "{:?}", out.dead_letters);
    assert_eq!(out.dead_letters[0].stage, Stage::Conflict);
    assert!(
        out.dead_letters[0].reason.contains("key every version"),
        "{:?}",
        out.dead_letters
    );
    assert_eq!(p.index().get("P").unwrap().unwrap().version, 1);
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

/// Tables written before facts were bucketed (one facts file per month) are split into buckets
/// on open, the index is built from them, and processing carries on from there.
#[tokio::test(flavor = "multi_thread")]
async fn whole_month_facts_from_before_bucketing_are_split_on_open() {
    type F = <Incidents as PipelineKind>::Fact;
    let aggregates = aggregates().await;
    let scratch = tempfile::tempdir().unwrap();
    let index = RecordIndex::open(&scratch.path().join("index.redb"), 1 << 20).unwrap();
    let mut p = Processor::<Incidents>::new(reference(), index, BTreeMap::new());
    let batch: Vec<RawMessage> = (0..200)
        .map(|i| {
            let id = format!("M{i}");
            message(i, &simple(&id, 1, &format!("{id}:1"), "recorded"))
        })
        .collect();
    let facts: Vec<F> = p
        .process(&batch)
        .unwrap()
        .changes
        .into_iter()
        .map(|c| c.new)
        .collect();
    let facts = F::to_batch(&facts.iter().collect::<Vec<_>>()).unwrap();

    // The old layout: facts and aggregates keyed by month alone.
    let dir = tempfile::tempdir().unwrap();
    let mut commit = lantern_tables::Commit::begin(dir.path(), "incidents", None);
    commit
        .ensure_table(Incidents::SPEC.facts_table, true, F::schema())
        .unwrap();
    commit
        .put_partition(
            Incidents::SPEC.facts_table,
            "2024-03",
            F::schema(),
            std::slice::from_ref(&facts),
        )
        .unwrap();
    for output in aggregates.compute(vec![facts]).await.unwrap() {
        commit
            .ensure_table(&output.table, false, output.schema.clone())
            .unwrap();
        commit
            .put_partition(
                &output.table,
                "2024-03",
                output.schema,
                &output.by_month["2024-03"],
            )
            .unwrap();
    }
    commit.publish().unwrap();

    let (manifest, mut p) = open(dir.path(), &aggregates).await;
    let partitions: Vec<&String> = manifest.tables[Incidents::SPEC.facts_table]
        .partitions
        .keys()
        .filter(|k| k.as_str() != "_schema")
        .collect();
    assert!(partitions.len() > 1, "{partitions:?}");
    assert!(
        partitions.iter().all(|k| k.starts_with("2024-03/b")),
        "{partitions:?}"
    );
    assert_eq!(p.index().len().unwrap(), 200);

    // A revision of an old record is applied against the split files.
    let revision = message(200, &simple("M7", 2, "M7:2", "cancelled"));
    let out = p.process(std::slice::from_ref(&revision)).unwrap();
    assert_eq!(out.changes.len(), 1);
    store::publish::<Incidents>(
        dir.path(),
        &manifest,
        out.changes,
        &aggregates,
        "t",
        &out.next_offsets,
    )
    .await
    .unwrap();
    drop(p);
    for report in store::rebuild::<Incidents>(dir.path(), &aggregates, false)
        .await
        .unwrap()
    {
        assert!(report.differing.is_empty(), "{report:?}");
    }
}
