//! `lantern bench` at a small N, as a smoke test: every phase runs against the real broker and
//! DuckDB, and every figure is written. No timing is asserted (the CI machine is shared and the
//! build is not a release build); counts are, since a benchmark of a pipeline that lost events
//! would measure nothing.

use serde_json::Value;

use crate::support::*;

#[test]
fn bench_measures_every_figure_over_an_exact_pipeline() {
    let l = Lantern::start();
    let work = tempfile::tempdir().unwrap();
    let json = work.path().join("figures.json");
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let samples = repo_root().join("data/sample/policeuk");
    let mut args: Vec<String> = [
        "bench",
        "--events",
        "30000",
        "--fresh-rate",
        "2000",
        "--fresh-seconds",
        "6",
        "--query-runs",
        "3",
        "--python",
        &python,
    ]
    .map(String::from)
    .to_vec();
    for csv in [
        "2022-09-lancashire-street.csv",
        "2022-10-lancashire-street.csv",
    ] {
        args.extend(["--profile".into(), samples.join(csv).display().to_string()]);
    }
    let run_dir = work.path().join("runs");
    args.extend(["--work-dir".into(), run_dir.display().to_string()]);
    args.extend(["--json".into(), json.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = l.ok(&args);
    assert!(
        stdout.contains("check: the tables and DuckDB count exactly"),
        "{stdout}"
    );
    for figure in [
        "core path",
        "end to end",
        "freshness",
        "queries",
        "memory",
        "vs DuckDB",
    ] {
        assert!(stdout.contains(figure), "{figure} missing from:\n{stdout}");
    }

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let num = |pointer: &str| {
        report
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{pointer} missing in {report:#}"))
    };
    assert_eq!(num("/events"), 30000.0);
    assert_eq!(num("/core/events"), 30000.0);
    assert_eq!(num("/end_to_end/events"), 30000.0);
    for pointer in [
        "/core/events_per_s_per_core",
        "/end_to_end/bare_consumer_events_per_s",
        "/end_to_end/lantern_events_per_s",
        "/end_to_end/peak_rss_mib",
        "/end_to_end/peak_rss_at_half_mib",
        "/duckdb/seconds",
        "/queries/all/p95_ms",
        "/freshness/latency/p99_ms",
    ] {
        assert!(num(pointer) > 0.0, "{pointer} = 0 in {report:#}");
    }
    // Every event after the 3 s warm-up has a freshness sample.
    assert!(
        num("/freshness/latency/samples") >= 2000.0 * 2.5,
        "{report:#}"
    );
    assert_eq!(report["queries"]["by_query"].as_object().unwrap().len(), 8);

    // The stream's shape, and the exact agreement the bench checks before it reports.
    let generated = &report["generated"]["incidents"];
    let live =
        generated["new_records"].as_i64().unwrap() - generated["cancelled"].as_i64().unwrap();
    assert!(
        generated["revisions"].as_i64().unwrap() > 1000,
        "{generated}"
    );
    assert!(
        generated["duplicates"].as_i64().unwrap() > 100,
        "{generated}"
    );
    assert!(generated["invalid"].as_i64().unwrap() > 50, "{generated}");
    assert_eq!(
        report["queries"]["totals"]["incidents"].as_i64().unwrap(),
        live
    );
    assert_eq!(report["duckdb"]["total"].as_i64().unwrap(), live);

    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 6);
    assert!(targets.iter().all(|t| t["met"].is_boolean()));
    // The run's NDJSON, tables and state are removed; the figures stay.
    assert_eq!(std::fs::read_dir(&run_dir).unwrap().count(), 0);
}

#[test]
fn gen_streams_to_kafka_and_ndjson_and_the_tables_count_it_exactly() {
    let l = Lantern::start();
    let dir = tempfile::tempdir().unwrap();
    let tally_path = dir.path().join("tally.json");
    let profile = repo_root().join("data/sample/policeuk/2022-09-lancashire-street.csv");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["gen", "--events", "5000", "--seed", "42", "--profile"]
            .map(String::from)
            .to_vec();
        args.push(profile.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let args = common(&["--tally", tally_path.to_str().unwrap()]);
    let out = l.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.contains("SYNTHETIC: 5000 events"), "{out}");
    l.drain();
    let tally: Value = serde_json::from_slice(&std::fs::read(&tally_path).unwrap()).unwrap();
    let live = |kind: &str| {
        tally[kind]["new_records"].as_i64().unwrap() - tally[kind]["cancelled"].as_i64().unwrap()
    };
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly"),
        live("incidents")
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM business_crime_monthly"),
        live("business_crime")
    );
    assert_eq!(
        l.count("SELECT SUM(reports) FROM cybercrime_monthly"),
        live("cybercrime")
    );
    // Every invalid event is dead-lettered, with its raw bytes, and nothing else is.
    let invalid: usize = ["incidents", "business_crime", "cybercrime"]
        .iter()
        .map(|k| tally[k]["invalid"].as_u64().unwrap() as usize)
        .sum();
    assert!(invalid > 0);
    assert_eq!(l.consume_all(&l.topics.dlq).len(), invalid);

    // The same seed to NDJSON: the same events, one payload per line, all synthetic.
    let ndjson = dir.path().join("ndjson");
    let args = common(&["--ndjson", ndjson.to_str().unwrap()]);
    l.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut lines = 0;
    for kind in ["incidents", "business_crime", "cybercrime"] {
        let text = std::fs::read_to_string(ndjson.join(format!("{kind}.ndjson"))).unwrap();
        assert_eq!(
            text.lines().count() as u64,
            tally[kind]["events"].as_u64().unwrap(),
            "{kind}"
        );
        lines += text.lines().count();
        for event in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            assert_eq!(event["source"], "synthetic");
        }
    }
    assert_eq!(lines, 5000);
}
