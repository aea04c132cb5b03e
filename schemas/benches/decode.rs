//! Decode throughput on one core: `cargo bench -p lantern-schemas`.
//!
//! A plain loop rather than a bench framework, to keep dependencies nil.
//! It decodes the valid example files round-robin and prints events/s per
//! kind; the stream processor budgets about 1M events/s/core end to end.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use lantern_schemas::{BusinessCrime, CybercrimeReport, Event, Incident};

fn messages(kind: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join("examples/valid");
    let mut out: Vec<Vec<u8>> = fs::read_dir(&dir)
        .expect("examples dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            // Compact, as producers send it.
            let v: serde_json::Value =
                serde_json::from_slice(&fs::read(p).expect("read")).expect("json");
            serde_json::to_vec(&v).expect("ser")
        })
        .collect();
    out.sort();
    out
}

fn run<E: Event>(rounds: usize) {
    let msgs = messages(E::KIND);
    let bytes: usize = msgs.iter().map(Vec::len).sum::<usize>() / msgs.len();
    let n = rounds * msgs.len();
    let start = Instant::now();
    for _ in 0..rounds {
        for m in &msgs {
            black_box(E::decode(black_box(m)).expect("valid example"));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<18} {:>9.0} events/s  ({n} decodes, ~{bytes} bytes each)",
        E::KIND,
        n as f64 / secs
    );
}

/// Baseline: the cost of merely parsing the same bytes, to read the numbers
/// above against (the machine may be shared).
fn baseline(rounds: usize) {
    let msgs = messages(Incident::KIND);
    let n = rounds * msgs.len();
    let start = Instant::now();
    for _ in 0..rounds {
        for m in &msgs {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(m)).expect("json"));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<18} {:>9.0} events/s  (parse only, incident examples)",
        "baseline",
        n as f64 / secs
    );
}

fn main() {
    let rounds = 200_000;
    baseline(rounds);
    run::<Incident>(rounds);
    run::<BusinessCrime>(rounds);
    run::<CybercrimeReport>(rounds);
}
