//! docs/metrics.md is the metrics spec, and these tests hold the code and the dashboards to it:
//! - what a running processor and query service export, scraped from their `/metrics`, is
//!   exactly what the spec lists (names, types, label names), in both directions;
//! - the spec's names and labels follow its own naming rules.
//!
//! The Grafana dashboards are held to the spec in `grafana.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::intake::{post, report};
use crate::query_service::serve;
use crate::support::*;

/// One metric of the spec, or of an exposition: its type and label names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetricShape {
    pub kind: String,
    pub labels: BTreeSet<String>,
}

/// The metrics docs/metrics.md specifies, by name: every table row whose first cell is a
/// `lantern_…` name, with its type and labels columns.
pub(crate) fn spec() -> BTreeMap<String, MetricShape> {
    let text = std::fs::read_to_string(repo_root().join("docs/metrics.md")).unwrap();
    let mut metrics = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `name` | type | labels | meaning |" splits into ["", name, type, labels, meaning, ""].
        let Some(name) = cells
            .get(1)
            .and_then(|c| c.strip_prefix("`lantern_"))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        let labels = cells[3]
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "—")
            .map(String::from)
            .collect();
        let shape = MetricShape {
            kind: cells[2].to_string(),
            labels,
        };
        let previous = metrics.insert(format!("lantern_{name}"), shape);
        assert!(previous.is_none(), "lantern_{name} is specified twice");
    }
    assert!(metrics.len() > 10, "docs/metrics.md lists too few metrics");
    metrics
}

/// The metric families of a Prometheus text exposition, by name. A histogram's `_bucket`,
/// `_sum` and `_count` samples belong to its family, and its `le` label is not a label of it.
fn exposition(text: &str) -> BTreeMap<String, MetricShape> {
    let mut families: BTreeMap<String, MetricShape> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.insert(
                name.to_string(),
                MetricShape {
                    kind: kind.to_string(),
                    labels: BTreeSet::new(),
                },
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let sample = line.split([' ', '{']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| sample.strip_suffix(suffix))
            .find(|base| families.get(*base).is_some_and(|f| f.kind == "histogram"))
            .unwrap_or(sample);
        let shape = families
            .get_mut(family)
            .unwrap_or_else(|| panic!("sample {sample} has no # TYPE line"));
        shape
            .labels
            .extend(label_names(line).into_iter().filter(|l| l != "le"));
    }
    families
}

/// Label pairs a sample must carry.
type Labels = &'static [(&'static str, &'static str)];

/// The sum of `name`'s samples whose labels include every pair of `labels`.
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| line.split([' ', '{']).next() == Some(name))
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The label names of one sample line: `name{a="x",b="y, z"} 1` gives a and b.
fn label_names(line: &str) -> Vec<String> {
    let Some(start) = line.find('{') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let (mut name, mut in_value, mut escaped) = (String::new(), false, false);
    for c in line[start + 1..].chars() {
        match (in_value, c) {
            (true, '\\') if !escaped => escaped = true,
            (true, '"') if !escaped => in_value = false,
            (true, _) => escaped = false,
            (false, '"') => in_value = true,
            (false, '=') => names.push(std::mem::take(&mut name)),
            (false, '}') => break,
            (false, ',') => {}
            (false, c) => name.push(c),
        }
    }
    names
}

#[test]
fn spec_names_and_labels_follow_the_naming_rules() {
    const COMPONENTS: [&str; 3] = ["stream", "query", "intake"];
    const UNITS: [&str; 6] = [
        "seconds", "bytes", "messages", "records", "offset", "shards",
    ];
    const LABELS: [&str; 10] = [
        "pipeline",
        "topic",
        "partition",
        "stage",
        "reason",
        "dimension",
        "protocol",
        "outcome",
        "code",
        "kind",
    ];
    for (name, shape) in spec() {
        let rest = name.strip_prefix("lantern_").unwrap();
        let component = rest.split('_').next().unwrap();
        assert!(COMPONENTS.contains(&component), "{name}: component");
        assert!(
            rest.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: snake case"
        );
        match shape.kind.as_str() {
            "counter" => assert!(name.ends_with("_total"), "{name}: counters end in _total"),
            "gauge" | "histogram" => assert!(
                UNITS.iter().any(|unit| name.ends_with(&format!("_{unit}"))),
                "{name}: ends in a unit"
            ),
            other => panic!("{name}: unknown type {other}"),
        }
        for label in &shape.labels {
            assert!(LABELS.contains(&label.as_str()), "{name}: label {label}");
        }
    }
}

#[test]
fn exposition_parser_reads_families_labels_and_histograms() {
    let text = "# HELP a_total x\n# TYPE a_total counter\na_total{p=\"x,\\\"y\",q=\"z\"} 1\n\
                # TYPE h_seconds histogram\nh_seconds_bucket{p=\"x\",le=\"0.1\"} 0\n\
                h_seconds_sum{p=\"x\"} 0\nh_seconds_count{p=\"x\"} 0\n# TYPE g gauge\ng 3\n";
    let families = exposition(text);
    assert_eq!(families.len(), 3);
    assert_eq!(
        families["a_total"].labels,
        BTreeSet::from(["p".to_string(), "q".to_string()])
    );
    assert_eq!(families["h_seconds"].kind, "histogram");
    assert_eq!(
        families["h_seconds"].labels,
        BTreeSet::from(["p".to_string()])
    );
    assert!(families["g"].labels.is_empty());
}

/// Kills a spawned process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scrape(port: u16) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exported_metric_is_specified_and_every_specified_one_is_exported() {
    let l = Lantern::start();
    // The query service's /metrics (http.listen) on a known port; intake turned on.
    let serve_port = free_port();
    let config = std::fs::read_to_string(&l.config).unwrap().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{serve_port}\""),
    );
    std::fs::write(
        &l.config,
        format!("{config}\n[intake]\nidempotency_file = \"intake-keys.jsonl\"\n"),
    )
    .unwrap();
    let s = serve(&l);
    let process_port = free_port();
    let _process = Killed(
        l.command(&["process"])
            .env("LANTERN_HTTP__LISTEN", format!("127.0.0.1:{process_port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Traffic for every component: events (one of them malformed), queries (one refused) and
    // a report over HTTP.
    let mut events = vec![
        incident(
            "M-1",
            1,
            "recorded",
            "2022-10-01T10:00:00Z",
            "Burglary",
            Some("E01025437"),
        ),
        incident(
            "M-2",
            1,
            "recorded",
            "2022-10-02T10:00:00Z",
            "Burglary",
            None,
        ),
    ];
    events.push(("M-3".to_string(), b"not json".to_vec()));
    l.produce(&l.topics.incidents, &events).await;
    assert!(!s.rows("ana", "SELECT 1 AS one").is_empty());
    let (status, code, _) = s.refused(Some("ana"), "DROP TABLE incidents_monthly");
    assert!(status >= 400 && !code.is_empty(), "{status} {code}");
    let dir = s.credentials_dir().to_str().unwrap().to_string();
    l.ok(&[
        "users",
        "add",
        "shop",
        "--role",
        "reporter",
        "--credentials-dir",
        &dir,
        "--business",
        "BIZ-1",
    ]);
    let answer = post(
        s.dashboard_url(),
        Some(&s.token("shop")),
        "business-crime",
        &serde_json::to_vec(&report("m-1", "BIZ-1")).unwrap(),
        None,
    );
    assert_eq!(answer.status, 202);

    // Scrape until the events are committed and the metrics say so, or a deadline.
    let incidents: Labels = &[("pipeline", "incidents")];
    let expected: [(&str, Labels, f64); 6] = [
        ("lantern_stream_events_received_total", incidents, 3.0),
        (
            "lantern_stream_events_dead_lettered_total",
            &[("stage", "decode")],
            1.0,
        ),
        // 2022 is before the current month: both incidents amend a past month.
        ("lantern_stream_events_late_total", incidents, 2.0),
        (
            "lantern_stream_enrichment_misses_total",
            &[("dimension", "place"), ("reason", "no_location")],
            1.0,
        ),
        ("lantern_stream_freshness_seconds_count", incidents, 1.0),
        (
            "lantern_intake_reports_total",
            &[("outcome", "accepted")],
            1.0,
        ),
    ];
    let spec = spec();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (exported, text) = loop {
        let (processor, server) = (scrape(process_port), scrape(serve_port));
        let text = format!("{processor}{server}");
        let mut exported = exposition(&processor);
        for (name, shape) in exposition(&server) {
            let previous = exported.insert(name.clone(), shape);
            assert!(previous.is_none(), "{name} is exported by both processes");
        }
        let counted = expected
            .iter()
            .all(|(name, labels, at_least)| sum(&text, name, labels) >= *at_least);
        if counted || Instant::now() > deadline {
            break (exported, text);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    for (name, labels, at_least) in expected {
        let value = sum(&text, name, labels);
        assert!(
            value >= at_least,
            "{name}{labels:?} is {value}, expected {at_least}: {text}"
        );
    }
    // Each owned partition has its lag series from when its shard was taken over.
    assert!(
        text.contains("lantern_stream_consumer_lag_messages{"),
        "{text}"
    );
    let missing: Vec<&String> = spec.keys().filter(|n| !exported.contains_key(*n)).collect();
    let unspecified: Vec<&String> = exported.keys().filter(|n| !spec.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "specified in docs/metrics.md but not exported: {missing:?}"
    );
    assert!(
        unspecified.is_empty(),
        "exported but not in docs/metrics.md: {unspecified:?}"
    );
    for (name, shape) in &spec {
        assert_eq!(&exported[name], shape, "{name}: exported vs specified");
    }
}
