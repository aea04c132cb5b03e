//! Aggregate cost of one late event into a month of N records (default 100,000), driven through
//! the Kafka-free core: the backbone's way (recompute the month from all its facts) against the
//! incremental merge (the SQL over one change, merged into the month's current rows).
//!
//! `cargo run -p lantern-stream --example commit_cost -- [N]` (the dev profile is optimised)
//!
//! Synthetic: N incidents in 2023-03 spread over 4 LSOAs and 4 crime types. It times the
//! aggregate step only; the facts file of the month is still rewritten whole by a commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineFiles;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::core::{Processor, RawMessage};
use lantern_stream::facts::Fact;
use lantern_stream::pipelines::{Incidents, PipelineKind};
use lantern_stream::state::FactState;
use lantern_stream::time::MonthLabels;

type F = <Incidents as PipelineKind>::Fact;

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
    let lsoas = ["E01025232", "E01025263", "E01012576", "E01006305"];
    let types = ["Burglary", "Shoplifting", "Vehicle crime", "Robbery"];
    let reference = ReferenceData::load(&PipelineFiles::Embedded, "E23000003").unwrap();
    let mut core = Processor::<Incidents>::new(
        Arc::new(reference),
        FactState::default(),
        MonthLabels::default(),
        BTreeMap::new(),
    );
    let aggregates = Aggregates::load(
        &PipelineFiles::Embedded,
        Incidents::SPEC.facts_table,
        F::schema(),
        Incidents::SPEC.aggregates,
    )
    .await
    .unwrap();
    let batch: Vec<RawMessage> = (0..n)
        .map(|i| incident(i as i64, i, 1, lsoas[i % 4], types[(i / 4) % 4]))
        .collect();
    core.process(&batch);
    core.state_mut().clear_touched();
    let month_facts = F::to_batch(&core.state().month_facts("2023-03")).unwrap();
    let current = aggregates.compute(vec![month_facts]).await.unwrap();

    // One late revision: record 0 reclassified and moved. Its change is what a commit merges.
    let late = incident(n as i64, 0, 2, lsoas[1], "Robbery");
    let change = core.process(std::slice::from_ref(&late)).changes.remove(0);
    let old = change.old.expect("a revision");
    let runs = 20;
    let mut full_ms = Vec::new();
    let mut incremental_ms = Vec::new();
    for _ in 0..runs {
        // Before: the whole month's facts to a batch, and every aggregate over them.
        let t = Instant::now();
        let facts = F::to_batch(&core.state().month_facts("2023-03")).unwrap();
        aggregates.compute(vec![facts]).await.unwrap();
        full_ms.push(t.elapsed().as_secs_f64() * 1e3);
        // After: the SQL over the change, merged into the month's current rows.
        let t = Instant::now();
        let plus = F::to_batch(&[&change.new]).unwrap();
        let minus = F::to_batch(&[&old]).unwrap();
        aggregates
            .apply(vec![plus], vec![minus], |def| {
                Ok(current
                    .iter()
                    .find(|o| o.table == def.table)
                    .and_then(|o| o.by_month.get("2023-03").cloned())
                    .unwrap_or_default())
            })
            .await
            .unwrap();
        incremental_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let groups: usize = current
        .iter()
        .map(|o| {
            o.by_month
                .values()
                .flatten()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum();
    println!(
        "SYNTHETIC: one late event into a month of {n} records ({groups} aggregate rows in the month)"
    );
    println!(
        "  recompute the month (backbone): median {:.1} ms over {runs} runs",
        median(&mut full_ms)
    );
    println!(
        "  incremental merge (now):        median {:.1} ms over {runs} runs",
        median(&mut incremental_ms)
    );
}
