//! Random kills at scale: a stream with revisions, cancellations, reinstatements, duplicates and
//! stale versions across 3 partitions, the processor SIGKILLed at random moments many times and
//! the broker restarted once under it; afterwards every count equals an independent model of
//! the stream, and the incrementally maintained aggregates equal `lantern rebuild --check`.
//!
//! CI runs it at `E2E_KILL_EVENTS` = 30,000 events and `E2E_KILLS` = 20 kills. The full size:
//!
//! ```sh
//! E2E_KILL_EVENTS=300000 cargo nextest run -p lantern-cli -E 'test(kill_at_scale)'
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::*;

const LSOAS: &[&str] = &["E01025232", "E01025263", "E01012576", "E01025300"];
const TYPES: &[&str] = &[
    "Burglary",
    "Shoplifting",
    "Vehicle crime",
    "Robbery",
    "Criminal damage and arson",
    "Bicycle theft",
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Records as (key, bytes), in delivery order.
pub(crate) type Stream = Vec<(String, Vec<u8>)>;
/// Expected `incidents` per (month, crime type).
pub(crate) type Counts = BTreeMap<(String, String), i64>;

/// The stream, in delivery order, and the counts an independent model of it expects.
pub(crate) fn stream(events: usize, seed: u64) -> (Stream, Counts) {
    let mut rng = StdRng::seed_from_u64(seed);
    let records = events / 3;
    // Each record's versions in order (one key, so one partition keeps that order).
    let mut versions: Vec<Vec<(String, Vec<u8>)>> = Vec::with_capacity(records);
    let mut expected = BTreeMap::new();
    for r in 0..records {
        let id = format!("K{r}");
        let mut list = Vec::new();
        let mut status = "recorded";
        let (mut month, mut crime) = (rng.random_range(1..=12), TYPES[rng.random_range(0..6)]);
        let count = rng.random_range(1..=5);
        for version in 1..=count {
            if version > 1 {
                status = match (status, rng.random_range(0..100)) {
                    // After a cancellation only a re-recording may follow.
                    ("cancelled", _) => "recorded",
                    (_, 0..=19) => "cancelled",
                    (_, 20..=39) => "outcome_updated",
                    _ => "reclassified",
                };
                if status == "reclassified" {
                    // Corrections move records between months (late events) and types.
                    month = rng.random_range(1..=12);
                    crime = TYPES[rng.random_range(0..6)];
                }
            }
            let occurred = format!("2023-{month:02}-{:02}T12:00:00Z", 1 + r % 28);
            let lsoa = LSOAS[r % LSOAS.len()];
            list.push(incident(&id, version, status, &occurred, crime, Some(lsoa)));
        }
        if status != "cancelled" {
            *expected
                .entry((format!("2023-{month:02}"), crime.to_string()))
                .or_insert(0) += 1;
        }
        versions.push(list);
    }
    // Interleave records at random, keeping each record's order; add exact duplicates (a
    // producer retry) and stale versions (an old version re-sent after a newer one).
    let mut next = vec![0usize; records];
    let mut open: Vec<usize> = (0..records).collect();
    let mut out = Vec::with_capacity(events + events / 10);
    while !open.is_empty() {
        let pick = rng.random_range(0..open.len());
        let r = open[pick];
        let list = &versions[r];
        out.push(list[next[r]].clone());
        if rng.random_range(0..100) < 2 {
            out.push(list[next[r]].clone());
        }
        if next[r] > 0 && rng.random_range(0..100) < 5 {
            out.push(list[rng.random_range(0..next[r])].clone());
        }
        next[r] += 1;
        if next[r] == list.len() {
            open.swap_remove(pick);
        }
    }
    (out, expected)
}

pub(crate) async fn produce_fast(bootstrap: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("message.timeout.ms", "120000")
        .create()
        .unwrap();
    let mut pending = Vec::with_capacity(records.len());
    for (key, payload) in records {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => break pending.push(delivery),
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_at_scale_random_sigkills_and_a_broker_restart_give_exact_totals() {
    let events = env_or("E2E_KILL_EVENTS", 30_000);
    let kills = env_or("E2E_KILLS", 20).max(2);
    let seed = 7;
    let (stream, expected) = stream(events, seed);
    // Its own broker, to restart it; small batches, so kills land in and between commits.
    let l = Lantern::on_broker(
        Broker::own(),
        "max_batch_events = 2000\npipelines = [\"incidents\"]\ninstance_id = \"killed\"",
    );
    let bootstrap = l.broker.bootstrap();
    let mut rng = StdRng::seed_from_u64(seed + 1);
    let chunk = stream.len().div_ceil(kills);

    for (round, part) in stream.chunks(chunk).enumerate() {
        produce_fast(&bootstrap, &l.topics.incidents, part).await;
        let mut child = l.command(&["process"]).spawn().unwrap();
        if round == kills / 2 {
            // The broker goes away under a running processor and comes back.
            tokio::time::sleep(Duration::from_millis(rng.random_range(500..2000))).await;
            l.broker.stop();
            tokio::time::sleep(Duration::from_secs(2)).await;
            l.broker.start();
        }
        // Random, not fixed: some kills land during start-up, some mid-batch, some in a commit.
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..2500))).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    l.drain();

    let got = monthly_counts(&l);
    assert_eq!(
        got,
        expected,
        "{} events, {kills} kills: the tables differ from the model of the stream",
        stream.len()
    );
    let total: i64 = expected.values().sum();
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_daily"), total);
    let check = l.ok(&["rebuild", "--check"]);
    assert!(!check.contains("DIFFERS"), "{check}");
    // Kills that land between a shard's manifest and its Delta commits leave the Delta logs
    // behind; reopening the shard repairs them, so Delta readers end where SQL does.
    crate::delta::assert_readers_agree(&l, "incidents_monthly");
}

/// `incidents` per (month, crime type) in the published tables.
pub(crate) fn monthly_counts(l: &Lantern) -> Counts {
    let rows = l.sql(
        "SELECT month, crime_type, SUM(incidents) AS n FROM incidents_monthly \
         GROUP BY month, crime_type ORDER BY month, crime_type",
    );
    rows.iter()
        .map(|r| {
            let text = |c: &str| r[c].as_str().unwrap().to_string();
            (
                (text("month"), text("crime_type")),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect()
}
