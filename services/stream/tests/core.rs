//! The processing core without Kafka: revision rules, and incremental aggregates against a full
//! recomputation after a long random stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineFiles;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::core::{Processor, RawMessage, Stage};
use lantern_stream::facts::Fact;
use lantern_stream::pipelines::{Incidents, PipelineKind};
use lantern_stream::state::FactState;
use lantern_stream::time::MonthLabels;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const LSOAS: &[&str] = &["E01025232", "E01025263", "E01012576", "E01006305"];
const TYPES: &[&str] = &["Burglary", "Shoplifting", "Vehicle crime", "Robbery"];

fn processor() -> Processor<Incidents> {
    let reference = ReferenceData::load(&PipelineFiles::Embedded, "E23000003").unwrap();
    Processor::new(
        Arc::new(reference),
        FactState::default(),
        MonthLabels::default(),
        BTreeMap::new(),
    )
}

async fn aggregates() -> Aggregates {
    Aggregates::load(
        &PipelineFiles::Embedded,
        Incidents::SPEC.facts_table,
        <Incidents as PipelineKind>::Fact::schema(),
        Incidents::SPEC.aggregates,
    )
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
    let mut p = processor();
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
    let out = p.process(&batch);
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
    let held = p.state().get("A").unwrap();
    assert_eq!((held.version(), held.meta().status), (5, "recorded"));
    // Every change says what it replaced: the cancellation replaced v1, the reinstatement v3.
    let replaced: Vec<Option<u64>> = out
        .changes
        .iter()
        .map(|c| c.old.as_ref().map(|f| f.version()))
        .collect();
    assert_eq!(replaced, vec![None, Some(1), Some(3)]);
}

fn version_of(m: &RawMessage) -> u64 {
    let value: serde_json::Value = serde_json::from_slice(m.payload.as_deref().unwrap()).unwrap();
    value["version"].as_u64().unwrap()
}

/// One table's rows per month, as the store would hold them between commits.
type Published = HashMap<String, HashMap<String, Vec<RecordBatch>>>;

#[tokio::test(flavor = "multi_thread")]
async fn incremental_aggregates_equal_a_recomputation_after_a_long_random_stream() {
    let seed = 20261125;
    let mut rng = StdRng::seed_from_u64(seed);
    let aggregates = aggregates().await;
    let mut p = processor();
    let mut published: Published = HashMap::new();
    let ids: Vec<String> = (0..400).map(|i| format!("R{i}")).collect();
    // Per record: the message of the highest version sent.
    let mut sent: HashMap<usize, RawMessage> = HashMap::new();
    let mut offset = 0i64;
    let mut total_changes = 0;

    for _ in 0..60 {
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
        let out = p.process(&batch);
        total_changes += out.changes.len();
        let touched: Vec<String> = p.state().touched().iter().map(|m| m.to_string()).collect();
        let new: Vec<_> = out.changes.iter().map(|c| &c.new).collect();
        let old: Vec<_> = out.changes.iter().filter_map(|c| c.old.as_ref()).collect();
        type F = <Incidents as PipelineKind>::Fact;
        let outputs = aggregates
            .apply(
                vec![F::to_batch(&new).unwrap()],
                vec![F::to_batch(&old).unwrap()],
                |def| {
                    let table = published.get(&def.table);
                    Ok(touched
                        .iter()
                        .flat_map(|m| table.and_then(|t| t.get(m)).cloned().unwrap_or_default())
                        .collect())
                },
            )
            .await
            .unwrap();
        for output in outputs {
            let table = published.entry(output.table.clone()).or_default();
            for month in &touched {
                match output.by_month.get(month) {
                    Some(rows) => table.insert(month.clone(), rows.clone()),
                    None => table.remove(month),
                };
            }
        }
        p.state_mut().clear_touched();
    }
    assert!(
        total_changes > 1000,
        "the stream changed too little: {total_changes}"
    );

    type F = <Incidents as PipelineKind>::Fact;
    let facts: Vec<RecordBatch> = p
        .state()
        .months()
        .iter()
        .map(|m| F::to_batch(&p.state().month_facts(m)).unwrap())
        .collect();
    let full = aggregates.compute(facts).await.unwrap();
    for output in full {
        let incremental = &published[&output.table];
        let mut months: Vec<&String> = output.by_month.keys().chain(incremental.keys()).collect();
        months.sort();
        months.dedup();
        for month in months {
            let want = output.by_month.get(month).cloned().unwrap_or_default();
            let have = incremental.get(month).cloned().unwrap_or_default();
            let want = concat_batches(&output.schema, &want).unwrap();
            let have = concat_batches(&output.schema, &have).unwrap();
            assert_eq!(
                want.columns(),
                have.columns(),
                "{} {month} (seed {seed}): incremental differs from recomputation",
                output.table
            );
        }
    }
}
