//! State at scale: peak memory and start-up time after N records (default 1,000,000), through
//! the core and the real table store in a directory (a temporary one unless given).
//!
//! `cargo run -p lantern-stream --example state_scale -- N [DIR]` — run once per N: peak RSS is
//! per process. Prints load events/s, peak RSS while loading, then the time to reopen the
//! pipeline (manifest + record index, what `lantern process` does before consuming) and a first
//! lookup, and the RSS after reopening.
//!
//! SYNTHETIC: N incidents over 120 months (ten years) in time order, as a force's feed arrives,
//! in batches of 100,000; 4 LSOAs x 4 crime types.

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
const BATCH: usize = 100_000;

fn incident(id: usize, n: usize) -> RawMessage {
    let month = id * 120 / n;
    let json = serde_json::json!({
        "event_id": format!("R{id}:1"), "schema_version": 1, "source": "synthetic",
        "occurred_at": format!("{}-{:02}-{:02}T12:00:00Z", 2015 + month / 12, 1 + month % 12, 1 + id % 28),
        "reported_at": "2025-01-01T00:00:00Z", "incident_id": format!("R{id}"),
        "version": 1, "status": "recorded", "crime_type": TYPES[(id / 4) % 4],
        "location": {"lsoa_code": LSOAS[id % 4]},
    });
    RawMessage {
        partition: 0,
        offset: id as i64,
        key: Some(format!("R{id}").into_bytes()),
        payload: Some(serde_json::to_vec(&json).unwrap()),
    }
}

/// Peak and current resident set size of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("N"));
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::args()
        .nth(2)
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let aggregates = Aggregates::load::<Incidents>(&PipelineFiles::Embedded)
        .await
        .unwrap();
    let reference = Arc::new(ReferenceData::load(&PipelineFiles::Embedded, "E23000003").unwrap());
    let cache = 64 << 20;
    let (mut manifest, index) = store::open::<Incidents>(&dir, &aggregates, cache)
        .await
        .unwrap();
    let mut core = Processor::<Incidents>::new(Arc::clone(&reference), index, BTreeMap::new(), 1);
    let (_, idle) = rss_mib();

    let started = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let batch: Vec<RawMessage> = (start..(start + BATCH).min(n))
            .map(|i| incident(i, n))
            .collect();
        let out = core.process(&batch).unwrap();
        manifest = store::commit_batch(
            &dir,
            &manifest,
            &mut core,
            out.changes,
            &aggregates,
            "synthetic",
            &out.next_offsets,
        )
        .await
        .unwrap();
    }
    let load_s = started.elapsed().as_secs_f64();
    let (peak, _) = rss_mib();
    let records = core.index().len().unwrap();
    drop(core);

    // Twice: the second start follows a clean close, the first a close right after a commit.
    let mut startup_ms = Vec::new();
    let mut found = false;
    for _ in 0..2 {
        let t = Instant::now();
        let (_, index) = store::open::<Incidents>(&dir, &aggregates, cache)
            .await
            .unwrap();
        found = index.get(&format!("R{}", n / 2)).unwrap().is_some();
        startup_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let t = Instant::now();
    let index = lantern_stream::index::RecordIndex::open(&store::index_path(&dir), cache).unwrap();
    let index_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(index);
    let t = Instant::now();
    let _ = lantern_tables::manifest::load_current(&dir).unwrap();
    let manifest_ms = t.elapsed().as_secs_f64() * 1e3;
    let (_, after) = rss_mib();
    println!("  of which: record index open {index_ms:.1} ms, manifest load {manifest_ms:.1} ms");
    println!("SYNTHETIC: {n} records ({records} in the index, lookup found: {found})");
    println!(
        "  load: {:.0} events/s ({load_s:.1} s, batches of {BATCH})",
        n as f64 / load_s
    );
    println!(
        "  RSS: idle {idle:.0} MiB, peak while loading {peak:.0} MiB, after reopening {after:.0} MiB"
    );
    println!(
        "  start-up (open manifest + record index, one lookup): {:.1} ms, then {:.1} ms",
        startup_ms[0], startup_ms[1]
    );
}
