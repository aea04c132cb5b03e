//! Every event this crate produces validates against the project's JSON Schemas.
//!
//! The schemas are read as files (this crate does not depend on `lantern-schemas`), with
//! date-time format assertion on, as the contract requires.

use std::path::Path;

use lantern_ingest::{KeyedEvent, read_police_uk, synthetic_business_crime, synthetic_cybercrime};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn validator(kind: &str) -> jsonschema::Validator {
    let path = root().join(format!("schemas/{kind}/v1.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

fn assert_valid(kind: &str, events: &[KeyedEvent]) {
    assert!(!events.is_empty());
    let v = validator(kind);
    for e in events {
        let instance: Value = serde_json::from_slice(&e.payload).expect("payload is JSON");
        let errors: Vec<String> = v
            .iter_errors(&instance)
            .map(|err| err.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{kind} {}: {errors:?}\n{instance}",
            e.key
        );
    }
}

fn places() -> Vec<(String, f64, f64)> {
    (0..30)
        .map(|i| (format!("E0102{:04}", 5300 + i), 53.75, -2.70))
        .collect()
}

#[test]
fn police_uk_sample_events_match_the_incident_schema() {
    for month in ["2022-09", "2022-10"] {
        let path = root().join(format!(
            "data/sample/policeuk/{month}-lancashire-street.csv"
        ));
        let import = read_police_uk(&path).unwrap();
        assert_valid("incident", &import.events);
    }
}

#[test]
fn synthetic_events_match_their_schemas() {
    let months = [(2022, 3), (2022, 10), (2022, 12)];
    assert_valid(
        "business-crime",
        &synthetic_business_crime(&places(), &months, 300, 5),
    );
    assert_valid(
        "cybercrime-report",
        &synthetic_cybercrime(&places(), &months, 300, 5),
    );
}

#[test]
fn the_check_can_fail() {
    // Guard against a validator that accepts everything (e.g. a schema path typo).
    let v = validator("cybercrime-report");
    let e = &synthetic_cybercrime(&places(), &[(2022, 9)], 1, 1)[0];
    let mut instance: Value = serde_json::from_slice(&e.payload).unwrap();
    assert!(v.is_valid(&instance));
    instance["contact_channel"] = Value::from("phone_call");
    assert!(!v.is_valid(&instance));
}
