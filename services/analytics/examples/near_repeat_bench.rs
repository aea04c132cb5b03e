//! Near-repeat benchmark: the Knox test (Ratcliffe's defaults: 100 m × 5, 7 days × 4, 999
//! permutations) on N SYNTHETIC residential burglaries (default 100,000) spread over
//! Lancashire's LSOAs with the synthetic generator's repeat and near-repeat structure.
//!
//! `cargo build --workspace --examples && $CARGO_TARGET_DIR/debug/examples/near_repeat_bench [N]`
//! (the workspace's dev profile is optimised). Prints the close-pair search time, the
//! permutation time, events/s and peak resident memory.

use std::time::Instant;

use lantern_analytics::geo::Projection;
use lantern_analytics::geography::Geography;
use lantern_analytics::knox::{Bands, KnoxParams, knox};
use lantern_pipelines::PipelineFiles;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("N"));
    let geo = Geography::load(&PipelineFiles::from_setting(None), "E23000003").expect("reference");
    let places: Vec<(String, f64, f64)> = geo
        .lsoas
        .iter()
        .map(|l| (l.code.to_string(), l.lat, l.lon))
        .collect();
    let months: Vec<(i32, u32)> = (1..=12).map(|m| (2024, m)).collect();
    // Each initial burglary brings about 0.3 follow-ups.
    let per_month = (n as f64 / 12.0 / 1.25).ceil() as usize;
    let started = Instant::now();
    let mut events = lantern_ingest::synthetic_burglaries(&places, &months, per_month, 2024);
    events.truncate(n);
    let (mut lat_lon, mut days) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for e in &events {
        let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
        lat_lon.push((
            v["location"]["lat"].as_f64().unwrap(),
            v["location"]["lon"].as_f64().unwrap(),
        ));
        let at = chrono::DateTime::parse_from_rfc3339(v["occurred_at"].as_str().unwrap()).unwrap();
        days.push(at.timestamp().div_euclid(86_400));
    }
    drop(events);
    println!(
        "generated {} synthetic burglaries in {:.1} s",
        lat_lon.len(),
        started.elapsed().as_secs_f64()
    );
    let projection = Projection::centred_on(lat_lon.iter().map(|p| p.0));
    let points: Vec<(f64, f64)> = lat_lon
        .iter()
        .map(|&(lat, lon)| projection.xy(lat, lon))
        .collect();
    let params = KnoxParams {
        distance: Bands {
            width: 100.0,
            count: 5,
        },
        time: Bands {
            width: 7.0,
            count: 4,
        },
        permutations: 999,
        seed: 2024,
    };
    let started = Instant::now();
    let result = knox(&points, &days, &params);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "Knox test: {} events, {} pairs within 500 m, {} permutations on {} threads: {:.2} s \
         ({:.0} events/s, {:.0} pair re-binnings/s); peak RSS {:.0} MiB",
        result.events,
        result.close_pairs,
        params.permutations,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        elapsed,
        result.events as f64 / elapsed,
        result.close_pairs as f64 * f64::from(params.permutations) / elapsed,
        peak_rss_mib()
    );
    let first = &result.cells[0];
    println!(
        "[0, 100) m × [0, 7) days: observed {}, expected {:.1}, Knox ratio {:.2}, p = {:.3}",
        first.observed,
        first.expected,
        first.ratio().unwrap_or(f64::NAN),
        first.p_value(params.permutations)
    );
}
