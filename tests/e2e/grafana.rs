//! The Grafana dashboards shipped with the chart (helm/lantern/dashboards): the operators' one
//! queries only metrics docs/metrics.md specifies; every query of the analysts' one runs on
//! Lantern's query service, as an analyst, and those over recorded crime return rows.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::metrics_spec::spec;
use crate::query_service::serve;
use crate::support::*;

fn dashboard(name: &str) -> Value {
    let path = repo_root().join("helm/lantern/dashboards").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every string under `key` anywhere in `value`, with its panel's title.
fn queries(value: &Value, key: &str, title: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            let title = map.get("title").and_then(Value::as_str).unwrap_or(title);
            for (k, v) in map {
                match (k == key, v) {
                    (true, Value::String(q)) => out.push((title.to_string(), q.clone())),
                    _ => queries(v, key, title, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, key, title, out)),
        _ => {}
    }
}

/// Metric names in a PromQL expression: every `lantern_…` identifier.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("lantern_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn the_operators_dashboard_queries_only_specified_metrics() {
    let spec = spec();
    let mut exprs = Vec::new();
    queries(&dashboard("operators.json"), "expr", "", &mut exprs);
    assert!(exprs.len() >= 15, "{} queries", exprs.len());
    let mut used = BTreeSet::new();
    for (panel, expr) in &exprs {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "panel {panel:?} queries no Lantern metric: {expr}"
        );
        for name in names {
            // A histogram is queried through its _bucket, _sum or _count series.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|base| spec.get(*base).is_some_and(|m| m.kind == "histogram"))
                .unwrap_or(&name)
                .to_string();
            assert!(
                spec.contains_key(&family),
                "panel {panel:?} queries {name}, which docs/metrics.md does not specify"
            );
            used.insert(family);
        }
    }
    // What the issue asks operators to see: lag, throughput, DLQ, freshness, commit time.
    for needed in [
        "lantern_stream_consumer_lag_messages",
        "lantern_stream_events_received_total",
        "lantern_stream_events_dead_lettered_total",
        "lantern_stream_freshness_seconds",
        "lantern_stream_commit_duration_seconds",
    ] {
        assert!(used.contains(needed), "no panel shows {needed}");
    }
}

#[test]
fn the_metric_name_scan_finds_histogram_series() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(lantern_stream_freshness_seconds_bucket[5m])))",
    );
    assert_eq!(
        names,
        BTreeSet::from(["lantern_stream_freshness_seconds_bucket".to_string()])
    );
    assert!(metric_names("up").is_empty());
}

#[test]
fn every_analysts_dashboard_query_runs_on_lantern() {
    let mut sqls = Vec::new();
    queries(&dashboard("analysts.json"), "rawSql", "", &mut sqls);
    assert!(sqls.len() >= 5, "{} queries", sqls.len());

    let l = Lantern::start();
    let file = repo_root().join("data/sample/policeuk/2022-10-lancashire-street.csv");
    l.ok(&["import", "police-uk", file.to_str().unwrap()]);
    l.drain();
    let s = serve(&l);
    for (panel, sql) in &sqls {
        assert!(
            !sql.contains('$'),
            "panel {panel:?} uses a Grafana macro or variable this test cannot expand"
        );
        let rows = s.rows("ana", sql);
        if sql.contains("incidents_monthly") {
            assert!(!rows.is_empty(), "panel {panel:?} shows nothing: {sql}");
        }
    }
}
