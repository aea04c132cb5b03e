//! Revisions, duplicates, out-of-order and late events, places, and the dead-letter topic.

use serde_json::json;

use crate::support::*;

const PRESTON_A: &str = "E01025232"; // Preston 013B
const PRESTON_B: &str = "E01025263"; // Preston 005C
const BLACKBURN: &str = "E01012576"; // Blackburn with Darwen 008A
const WIGAN: &str = "E01006305"; // Greater Manchester: outside Lancashire

fn crime_count(l: &Lantern, month: &str, crime_type: &str) -> i64 {
    l.count(&format!(
        "SELECT SUM(incidents) FROM incidents_monthly WHERE month = '{month}' AND crime_type = '{crime_type}'"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregates_follow_the_latest_version_of_each_record() {
    let l = Lantern::start();
    let may = "2022-05-10T12:00:00+01:00";
    let mut records = vec![
        // A: reclassified -> its count moves.
        incident("A", 1, "recorded", may, "Burglary", Some(PRESTON_A)),
        incident(
            "A",
            2,
            "reclassified",
            may,
            "Criminal damage and arson",
            Some(PRESTON_A),
        ),
        // B: cancelled -> its count disappears.
        incident("B", 1, "recorded", may, "Shoplifting", Some(PRESTON_B)),
        incident("B", 2, "cancelled", may, "Shoplifting", Some(PRESTON_B)),
        // C: versions out of order -> v2 wins, v1 changes nothing.
        incident("C", 2, "reclassified", may, "Robbery", Some(PRESTON_B)),
        incident(
            "C",
            1,
            "recorded",
            may,
            "Theft from the person",
            Some(PRESTON_B),
        ),
        // D: exact duplicate -> counted once.
        incident("D", 1, "recorded", may, "Drugs", Some(PRESTON_A)),
        incident("D", 1, "recorded", may, "Drugs", Some(PRESTON_A)),
        // F: no location -> kept, marked.
        incident("F", 1, "recorded", may, "Vehicle crime", None),
        // G: outside the force area -> kept, marked.
        incident("G", 1, "recorded", may, "Burglary", Some(WIGAN)),
        // J: 23:30 UTC on 31 May is 00:30 on 1 June in London: a June crime.
        incident(
            "J",
            1,
            "recorded",
            "2022-05-31T23:30:00Z",
            "Public order",
            Some(PRESTON_A),
        ),
    ];
    // H: a point only -> placed at the nearest LSOA centroid (this is Preston 004D's centroid).
    records.push(event(
        "H",
        json!({"event_id": "H:v1", "schema_version": 1, "source": "e2e", "occurred_at": may, "reported_at": may,
               "incident_id": "H", "version": 1, "status": "recorded", "crime_type": "Bicycle theft",
               "location": {"lat": 53.790040, "lon": -2.699028}}),
    ));
    // I: an offence code only -> crime type and property type from the Home Office table.
    records.push(event(
        "I",
        json!({"event_id": "I:v1", "schema_version": 1, "source": "e2e", "occurred_at": may, "reported_at": may,
               "incident_id": "I", "version": 1, "status": "recorded", "offence_code": "28E",
               "location": {"lsoa_code": PRESTON_A}}),
    ));
    // Bad records: not JSON, a schema violation, an unknown crime type.
    let not_json = (String::from("bad-1"), b"{not json".to_vec());
    let version_zero = incident("K", 0, "recorded", may, "Drugs", Some(PRESTON_A));
    let bad_type = incident("L", 1, "recorded", may, "Jaywalking", Some(PRESTON_A));
    records.extend([not_json.clone(), version_zero.clone(), bad_type.clone()]);
    l.produce(&l.topics.incidents, &records).await;
    // E: a late event, for December 2021, after everything else.
    l.produce(
        &l.topics.incidents,
        &[incident(
            "E",
            1,
            "recorded",
            "2021-12-15T09:00:00Z",
            "Public order",
            Some(BLACKBURN),
        )],
    )
    .await;
    l.drain();

    assert_eq!(
        crime_count(&l, "2022-05", "Burglary"),
        2,
        "G (outside force) and I (offence 28E); A moved away"
    );
    assert_eq!(crime_count(&l, "2022-05", "Criminal damage and arson"), 1);
    assert_eq!(
        crime_count(&l, "2022-05", "Shoplifting"),
        0,
        "B was cancelled"
    );
    assert_eq!(crime_count(&l, "2022-05", "Robbery"), 1);
    assert_eq!(
        crime_count(&l, "2022-05", "Theft from the person"),
        0,
        "stale v1 of C"
    );
    assert_eq!(crime_count(&l, "2022-05", "Drugs"), 1, "duplicate of D");
    assert_eq!(
        crime_count(&l, "2022-06", "Public order"),
        1,
        "J belongs to June in London time"
    );
    assert_eq!(
        crime_count(&l, "2021-12", "Public order"),
        1,
        "late event E"
    );
    // A, C, D, E, F, G, H, I, J: B is cancelled.
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_monthly"), 9);
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_daily"), 9);
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_daily WHERE day = DATE '2021-12-15'"),
        1
    );

    let placed = l.sql(
        "SELECT crime_type, lsoa_code, lad_code, csp_code, force_area_code, in_force_area, place_status, property_type
         FROM incidents_monthly WHERE month = '2022-05' ORDER BY crime_type, place_status",
    );
    let row = |crime_type: &str, status: &str| {
        placed
            .iter()
            .find(|r| r["crime_type"] == crime_type && r["place_status"] == status)
            .unwrap_or_else(|| panic!("no {crime_type}/{status} row in {placed:#?}"))
            .clone()
    };
    let f = row("Vehicle crime", "no_location");
    assert!(f.get("lsoa_code").is_none_or(|v| v.is_null()), "{f}");
    assert_eq!(f["property_type"], "vehicle");
    let g = row("Burglary", "outside_force");
    assert_eq!(g["in_force_area"], false);
    assert_eq!(g["lad_code"], "E08000010");
    let h = row("Bicycle theft", "in_force");
    assert_eq!(h["lsoa_code"], "E01025300");
    assert_eq!(h["lad_code"], "E07000123");
    assert_eq!(h["force_area_code"], "E23000003");
    assert_eq!(h["property_type"], "personal_property");
    let a = row("Criminal damage and arson", "in_force");
    assert_eq!(a["csp_code"], "E22000158", "Preston CSP");
    let i = l.sql(
        "SELECT crime_type, property_type FROM incidents_monthly WHERE month = '2022-05' AND property_type = 'dwelling'",
    );
    assert_eq!(i.len(), 1, "{i:?}");
    assert_eq!(i[0]["crime_type"], "Burglary");

    // The dead-letter topic has the three bad records, raw, with where they came from and why.
    let dead = l.consume_all(&l.topics.dlq);
    assert_eq!(dead.len(), 3, "{dead:#?}");
    for (record, expected_stage) in [
        (&not_json, "decode"),
        (&version_zero, "validate"),
        (&bad_type, ""),
    ] {
        let d = dead
            .iter()
            .find(|d| d.payload == record.1)
            .unwrap_or_else(|| panic!("{} not dead-lettered", String::from_utf8_lossy(&record.1)));
        assert_eq!(
            d.header("lantern.source.topic"),
            Some(l.topics.incidents.as_str())
        );
        assert!(
            d.header("lantern.source.partition")
                .unwrap()
                .parse::<i32>()
                .is_ok()
        );
        assert!(
            d.header("lantern.source.offset")
                .unwrap()
                .parse::<i64>()
                .is_ok()
        );
        assert!(!d.header("lantern.reason").unwrap().is_empty());
        let stage = d.header("lantern.stage").unwrap();
        assert!(stage == "decode" || stage == "validate");
        if !expected_stage.is_empty() {
            assert_eq!(stage, expected_stage, "{d:?}");
        }
    }

    // A revision arriving after its record was published moves the published count.
    l.produce(
        &l.topics.incidents,
        &[incident(
            "A",
            3,
            "cancelled",
            may,
            "Criminal damage and arson",
            Some(PRESTON_A),
        )],
    )
    .await;
    l.drain();
    assert_eq!(crime_count(&l, "2022-05", "Criminal damage and arson"), 0);
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_monthly"), 8);

    // After a cancellation only an explicit re-recording brings the record back: an
    // outcome update is a conflict and goes to the dead-letter topic.
    let stale_workflow = incident(
        "A",
        4,
        "outcome_updated",
        may,
        "Criminal damage and arson",
        Some(PRESTON_A),
    );
    l.produce(&l.topics.incidents, std::slice::from_ref(&stale_workflow))
        .await;
    l.drain();
    assert_eq!(crime_count(&l, "2022-05", "Criminal damage and arson"), 0);
    let dead = l.consume_all(&l.topics.dlq);
    let conflict = dead
        .iter()
        .find(|d| d.payload == stale_workflow.1)
        .expect("the outcome update after a cancellation is dead-lettered");
    assert_eq!(conflict.header("lantern.stage"), Some("conflict"));
    assert!(
        conflict
            .header("lantern.reason")
            .unwrap()
            .contains("reinstates"),
        "{conflict:?}"
    );
    l.produce(
        &l.topics.incidents,
        &[incident(
            "A",
            5,
            "recorded",
            may,
            "Criminal damage and arson",
            Some(PRESTON_A),
        )],
    )
    .await;
    l.drain();
    assert_eq!(crime_count(&l, "2022-05", "Criminal damage and arson"), 1);
}

/// A dead-letter topic that refuses records (here: it does not exist, and the broker does not
/// create topics) must not stop the pipeline or lose the record: it goes to the local spill file
/// with its raw bytes, and the good records around it are counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_dead_letter_is_spilled_locally_and_the_pipeline_goes_on() {
    // librdkafka waits this long for a missing topic to appear before failing the delivery.
    let kafka = format!(
        "bootstrap_servers = \"{}\"\n[kafka.properties]\n\"topic.metadata.propagation.max.ms\" = \"2000\"\n",
        Broker::for_test().bootstrap()
    );
    let l = Lantern::on_broker_with_kafka(Broker::for_test(), &kafka, "");
    // Point the dead letters at a topic that was never created.
    let text = std::fs::read_to_string(&l.config).unwrap();
    let missing = format!("{}.missing", l.topics.dlq);
    std::fs::write(&l.config, text.replace(&l.topics.dlq, &missing)).unwrap();

    let may = "2022-05-10T12:00:00+01:00";
    let bad = ("Z".to_string(), b"{not json".to_vec());
    l.produce(
        &l.topics.incidents,
        &[
            incident("Y", 1, "recorded", may, "Burglary", Some(PRESTON_A)),
            bad.clone(),
            incident("X", 1, "recorded", may, "Burglary", Some(PRESTON_A)),
        ],
    )
    .await;
    l.drain();
    assert_eq!(crime_count(&l, "2022-05", "Burglary"), 2);

    // Each shard spills its own partition's dead letters.
    let shards = l.config.parent().unwrap().join("data/incidents/shards");
    let spills: Vec<_> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path().join("dead-letters.ndjson"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(spills.len(), 1, "one spill file under {}", shards.display());
    let text = std::fs::read_to_string(&spills[0]).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let letter = &lines[0];
    assert_eq!(letter["dead_letter_topic"], missing.as_str());
    assert_eq!(letter["source_topic"], l.topics.incidents.as_str());
    assert_eq!(letter["stage"], "decode");
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(letter["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload, bad.1);
    assert!(!letter["refused"].as_str().unwrap().is_empty());
}
