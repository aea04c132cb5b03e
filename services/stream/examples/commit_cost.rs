//! Commit cost of one late event into a month of N records (default 100,000), through the core
//! and the real table store in a temporary directory: the record index looks the record up, the
//! commit rewrites only the facts bucket file holding it and merges the change into the month's
//! aggregate rows.
//!
//! `cargo run -p lantern-stream --example commit_cost -- [N]` (dev profile: opt-level 1; add `--release` for production speed)
//!
//! Synthetic: N incidents in 2023-03 spread over 4 LSOAs and 4 crime types.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineFiles;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::core::{Processor, RawMessage};
use lantern_stream::pipelines::Incidents;
use lantern_stream::store;

const LSOAS: [&str; 4] = ["E01025232", "E01025263", "E01012576", "E01006305"];
const TYPES: [&str; 4] = ["Burglary", "Shoplifting", "Vehicle crime", "Robbery"];

fn incident(offset: i64, id: usize, version: u64, lsoa: &str, crime_type: &str) -> RawMessage {
    let json = serde_json::json!({
        "event_id": format!("R{id}:{version}"), "schema_version": 1, "source": "synthetic",
        "occurred_at": format!("2023-03-{:02}T12:00:00Z", 1 + id % 28),
        "reported_at": "2023-04-01T00:00:00Z", "incident_id": format!("R{id}"),
        "version": version, "status": "recorded", "crime_type": crime_type,
        "location": {"lsoa_code": lsoa},
    });
    RawMessage {
        partition: 0,
        offset,
        key: None,
        payload: Some(serde_json::to_vec(&json).unwrap()),
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("N"));
    let dir = tempfile::tempdir().unwrap();
    let aggregates = Aggregates::load::<Incidents>(&PipelineFiles::Embedded)
        .await
        .unwrap();
    let (mut manifest, index) = store::open::<Incidents>(dir.path(), &aggregates, 64 << 20)
        .await
        .unwrap();
    let reference = Arc::new(ReferenceData::load(&PipelineFiles::Embedded, "E23000003").unwrap());
    let mut core = Processor::<Incidents>::new(reference, index, BTreeMap::new(), 1);

    let mut commit = async |core: &mut Processor<Incidents>, batch: &[RawMessage]| {
        let out = core.process(batch).unwrap();
        manifest = store::commit_batch(
            dir.path(),
            &manifest,
            core,
            out.changes,
            &aggregates,
            "synthetic",
            &out.next_offsets,
        )
        .await
        .unwrap();
    };

    let batch: Vec<RawMessage> = (0..n)
        .map(|i| incident(i as i64, i, 1, LSOAS[i % 4], TYPES[(i / 4) % 4]))
        .collect();
    let t = Instant::now();
    commit(&mut core, &batch).await;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;

    let runs = 30;
    let mut late_ms = Vec::with_capacity(runs);
    for run in 0..runs {
        // A late reclassification of one record of the month.
        let event = incident((n + run) as i64, run * 7, 2, LSOAS[1], "Robbery");
        let t = Instant::now();
        commit(&mut core, std::slice::from_ref(&event)).await;
        late_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    late_ms.sort_by(f64::total_cmp);
    println!("SYNTHETIC: a month of {n} records in one commit: {load_ms:.0} ms");
    println!(
        "  one late event into it, whole commit (lookup, bucket rewrite, aggregate merge, \
         manifest, index): p50 {:.1} ms, p95 {:.1} ms over {runs} commits",
        late_ms[runs / 2],
        late_ms[runs * 95 / 100]
    );
}
