//! Business-crime and cybercrime flows, end to end.

use serde_json::json;

use crate::support::*;

fn business(
    id: &str,
    version: u64,
    status: &str,
    incident_type: &str,
    loss: f64,
) -> (String, Vec<u8>) {
    event(
        id,
        json!({"event_id": format!("{id}:v{version}"), "schema_version": 1, "source": "e2e",
               "occurred_at": "2022-10-05T14:00:00+01:00", "reported_at": "2022-10-05T15:00:00+01:00",
               "report_id": id, "version": version, "status": status, "business_ref": "SHOP-1",
               "sector": "convenience_store", "premises": {"lsoa_code": "E01025232"},
               "incident_type": incident_type, "loss_value": loss, "reported_to_police": false}),
    )
}

fn cyber(id: &str, code: &str, place: serde_json::Value, loss: f64) -> (String, Vec<u8>) {
    event(
        id,
        json!({"event_id": format!("{id}:v1"), "schema_version": 1, "source": "e2e",
               "occurred_at": "2022-10-07T20:00:00+01:00", "reported_at": "2022-10-09T09:00:00+01:00",
               "report_id": id, "version": 1, "status": "reported", "fraud_code": code,
               "victim_kind": "person", "victim_place": place, "loss_value": loss,
               "contact_channel": "online_marketplace"}),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn business_and_cyber_reports_are_aggregated() {
    let l = Lantern::start();
    l.produce(
        &l.topics.business,
        &[
            business("BC1", 1, "reported", "shoplifting", 100.0),
            business("BC1", 2, "updated", "shoplifting", 150.0), // loss revised upwards
            business("BC2", 1, "reported", "shoplifting", 40.0),
            business("BC3", 1, "reported", "abuse_violence_staff", 0.0),
            business("BC4", 1, "reported", "shoplifting", 999.0),
            business("BC4", 2, "withdrawn", "shoplifting", 999.0),
        ],
    )
    .await;
    l.produce(
        &l.topics.cyber,
        &[
            cyber("CY1", "NFIB3A", json!({"lsoa_code": "E01025232"}), 250.0),
            cyber("CY2", "NFIB3A", json!({"lsoa_code": "E01025232"}), 50.0),
            cyber("CY3", "NFIB99Z", json!({"lsoa_code": "E01025232"}), 10.0), // unknown code: kept
            cyber("CY4", "NFIB1H", json!({"postcode_district": "PR1"}), 5000.0),
        ],
    )
    .await;
    l.drain();

    let shoplifting = l.sql(
        "SELECT SUM(incidents) AS n, SUM(loss_total) AS loss FROM business_crime_monthly
         WHERE month = '2022-10' AND sector = 'convenience_store' AND incident_type = 'shoplifting'",
    );
    assert_eq!(shoplifting[0]["n"], 2);
    assert_eq!(shoplifting[0]["loss"].as_f64().unwrap(), 190.0);
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM business_crime_monthly"),
        3
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM business_crime_monthly WHERE lad_code = 'E07000123' AND in_force_area"),
        3
    );

    let unknown = l.sql("SELECT fraud_code, nfib_group, reports FROM cybercrime_monthly WHERE fraud_code = 'NFIB99Z'");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0]["nfib_group"], "unknown");
    assert_eq!(unknown[0]["reports"], 1);
    let district = l.sql("SELECT place_status, postcode_district, reports, loss_total FROM cybercrime_monthly WHERE fraud_code = 'NFIB1H'");
    assert_eq!(district[0]["place_status"], "postcode_district_only");
    assert_eq!(district[0]["postcode_district"], "PR1");
    assert_eq!(district[0]["loss_total"].as_f64().unwrap(), 5000.0);
    assert_eq!(
        l.count("SELECT SUM(reports) FROM cybercrime_monthly WHERE fraud_code = 'NFIB3A'"),
        2
    );

    // The synthetic generator feeds both flows.
    l.ok(&[
        "import",
        "synthetic",
        "--months",
        "2022-10",
        "--business-per-month",
        "50",
        "--cyber-per-month",
        "30",
    ]);
    l.drain();
    assert!(l.count("SELECT SUM(incidents) FROM business_crime_monthly") > 3 + 40);
    assert!(l.count("SELECT SUM(reports) FROM cybercrime_monthly") > 4 + 25);
}
