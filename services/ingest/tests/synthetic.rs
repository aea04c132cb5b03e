//! Synthetic generators: determinism, labelling, shapes and revision order.

use std::collections::{HashMap, HashSet};

use lantern_ingest::{KeyedEvent, synthetic_business_crime, synthetic_cybercrime};
use serde_json::Value;

fn places() -> Vec<(String, f64, f64)> {
    (0..40)
        .map(|i| {
            (
                format!("E0102{:04}", 5300 + i),
                53.70 + f64::from(i) * 0.01,
                -2.70 + f64::from(i) * 0.005,
            )
        })
        .collect()
}

const MONTHS: [(i32, u32); 3] = [(2022, 9), (2022, 10), (2022, 12)];

fn parse(e: &KeyedEvent) -> Value {
    serde_json::from_slice(&e.payload).expect("payload is JSON")
}

fn check_common(events: &[KeyedEvent], extra_keys: &[&str]) -> HashMap<String, Vec<Value>> {
    let mut last_version: HashMap<String, u64> = HashMap::new();
    let mut by_report: HashMap<String, Vec<Value>> = HashMap::new();
    let mut event_ids = HashSet::new();
    for e in events {
        let v = parse(e);
        for k in [
            "event_id",
            "schema_version",
            "source",
            "occurred_at",
            "reported_at",
            "report_id",
            "version",
            "status",
        ]
        .iter()
        .chain(extra_keys)
        {
            assert!(v.get(*k).is_some(), "missing {k} in {v}");
        }
        assert_eq!(v["source"], "synthetic");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["report_id"], e.key.as_str());
        let version = v["version"].as_u64().unwrap();
        assert_eq!(v["event_id"], format!("{}:v{version}", e.key));
        assert!(event_ids.insert(v["event_id"].as_str().unwrap().to_owned()));
        let prev = last_version.insert(e.key.clone(), version).unwrap_or(0);
        assert_eq!(
            version,
            prev + 1,
            "versions increase by one per report: {}",
            e.key
        );
        let status = v["status"].as_str().unwrap();
        match version {
            1 => assert_eq!(status, "reported"),
            _ => assert!(status == "updated" || status == "withdrawn", "{status}"),
        }
        let occurred =
            chrono::DateTime::parse_from_rfc3339(v["occurred_at"].as_str().unwrap()).unwrap();
        let reported =
            chrono::DateTime::parse_from_rfc3339(v["reported_at"].as_str().unwrap()).unwrap();
        assert!(reported > occurred);
        assert!(!e.payload.windows(4).any(|w| w == b"null"), "no nulls");
        by_report.entry(e.key.clone()).or_default().push(v);
    }
    by_report
}

#[test]
fn business_crime_is_deterministic_and_well_formed() {
    let a = synthetic_business_crime(&places(), &MONTHS, 400, 42);
    let b = synthetic_business_crime(&places(), &MONTHS, 400, 42);
    assert_eq!(a, b);
    assert_ne!(a, synthetic_business_crime(&places(), &MONTHS, 400, 43));

    // Input order of places does not matter; months are generated independently.
    let mut reversed = places();
    reversed.reverse();
    assert_eq!(a, synthetic_business_crime(&reversed, &MONTHS, 400, 42));
    let sept_only = synthetic_business_crime(&places(), &[(2022, 9)], 400, 42);
    let sept_in_a: Vec<&KeyedEvent> = a.iter().filter(|e| e.key.contains("-202209-")).collect();
    assert_eq!(sept_only.iter().collect::<Vec<_>>(), sept_in_a);

    let reports = check_common(
        &a,
        &[
            "business_ref",
            "sector",
            "premises",
            "incident_type",
            "reported_to_police",
        ],
    );
    assert_eq!(reports.len(), 3 * 400);

    let mut per_business: HashMap<String, usize> = HashMap::new();
    let mut shoplifting = 0;
    let mut to_police = 0;
    let mut revised = 0;
    let mut withdrawn = 0;
    for versions in reports.values() {
        let v1 = &versions[0];
        *per_business
            .entry(v1["business_ref"].as_str().unwrap().to_owned())
            .or_default() += 1;
        let p = &v1["premises"];
        assert!(p["lat"].is_f64() && p["lon"].is_f64() && p["lsoa_code"].is_string());
        let kind = v1["incident_type"].as_str().unwrap();
        if kind == "shoplifting" {
            shoplifting += 1;
            let loss = v1["loss_value"].as_f64().unwrap();
            assert!((5.0..=500.0).contains(&loss), "{loss}");
        }
        if kind == "abuse_violence_staff" {
            assert!(v1.get("loss_value").is_none());
        }
        let reported = v1["reported_to_police"].as_bool().unwrap();
        to_police += usize::from(reported);
        assert_eq!(reported, v1.get("police_reference").is_some());
        if let Some(r) = v1.get("police_reference") {
            let r = r.as_str().unwrap();
            assert!(r.starts_with("LC-2022") && r.len() == 13, "{r}");
        }
        if versions.len() > 1 {
            match versions[1]["status"].as_str().unwrap() {
                "withdrawn" => withdrawn += 1,
                _ => revised += 1,
            }
        }
    }
    let n = reports.len() as f64;
    assert!(
        (0.5..0.7).contains(&(f64::from(shoplifting) / n)),
        "{shoplifting}"
    );
    assert!((0.3..0.5).contains(&(to_police as f64 / n)), "{to_police}");
    assert!(
        (0.02..0.09).contains(&(f64::from(revised) / n)),
        "{revised}"
    );
    assert!(
        withdrawn >= 1 && f64::from(withdrawn) / n < 0.03,
        "{withdrawn}"
    );
    // Heavy tail: the top 10% of businesses hold well over 10% of reports.
    let mut counts: Vec<usize> = per_business.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: usize = counts.iter().take(6).sum();
    assert!(top as f64 / n > 0.25, "top six businesses: {top} of {n}");
    assert!(
        (counts[0] as f64 / n) < 0.5,
        "no single business dominates: {counts:?}"
    );
    assert!(per_business.len() <= 60);
}

#[test]
fn cybercrime_is_deterministic_and_well_formed() {
    let a = synthetic_cybercrime(&places(), &MONTHS, 500, 7);
    assert_eq!(a, synthetic_cybercrime(&places(), &MONTHS, 500, 7));
    assert_ne!(a, synthetic_cybercrime(&places(), &MONTHS, 500, 8));

    let reports = check_common(
        &a,
        &[
            "fraud_code",
            "victim_kind",
            "victim_place",
            "contact_channel",
        ],
    );
    assert_eq!(reports.len(), 3 * 500);
    let mut lsoa = 0;
    let mut codes: HashMap<String, usize> = HashMap::new();
    for versions in reports.values() {
        let v1 = &versions[0];
        let place = v1["victim_place"].as_object().unwrap();
        assert_eq!(
            place.len(),
            1,
            "exactly one of lsoa_code / postcode_district"
        );
        if place.contains_key("lsoa_code") {
            lsoa += 1;
        } else {
            assert!(place["postcode_district"].is_string());
        }
        *codes
            .entry(v1["fraud_code"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let n = reports.len() as f64;
    assert!((0.63..0.77).contains(&(f64::from(lsoa) / n)), "{lsoa}");
    assert!(codes["NFIB3A"] > codes["NFIB5A"]);
    let unknown = codes.get("NFIB90Z").unwrap_or(&0) + codes.get("NFIB77Q").unwrap_or(&0);
    assert!(unknown > 0, "unknown-looking codes are generated");
}

#[test]
fn nothing_without_places_or_volume() {
    assert!(synthetic_business_crime(&[], &MONTHS, 10, 1).is_empty());
    assert!(synthetic_cybercrime(&places(), &MONTHS, 0, 1).is_empty());
    assert!(synthetic_cybercrime(&places(), &[(2022, 13)], 10, 1).is_empty());
}
