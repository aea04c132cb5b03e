//! police.uk importer against the bundled sample and small hand-written files.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use lantern_ingest::{IngestError, read_police_uk, read_police_uk_from_reader};
use serde_json::Value;

const HEADER: &str = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context";

fn sample(month: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/sample/policeuk")
        .join(format!("{month}-lancashire-street.csv"))
}

fn json(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).expect("payload is JSON")
}

fn import_str(csv: &str) -> lantern_ingest::PoliceUkImport {
    read_police_uk_from_reader(csv.as_bytes(), Path::new("test.csv")).expect("imports")
}

#[test]
fn sample_october_imports_every_row_once() {
    let path = sample("2022-10");
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    let import = read_police_uk(&path).unwrap();
    assert!(
        import.rejected.is_empty(),
        "{:?}",
        &import.rejected[..3.min(import.rejected.len())]
    );
    assert_eq!(import.rows, lines - 1);
    assert_eq!(import.events.len(), import.rows);

    let ids: HashSet<&str> = import.events.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(ids.len(), import.events.len(), "incident ids are unique");

    let mut no_location = 0;
    let mut asb = 0;
    let mut repeated_crime_ids = 0;
    for e in &import.events {
        let v = json(&e.payload);
        assert_eq!(v["incident_id"], e.key.as_str());
        assert_eq!(v["event_id"], format!("{}:v1", e.key));
        assert_eq!(v["source"], "police.uk");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["version"], 1);
        assert_eq!(v["status"], "recorded");
        assert_eq!(v["occurred_at"]["start"], "2022-10-01T00:00:00+01:00");
        // Clocks went back on 30 October 2022: the month ends in GMT.
        assert_eq!(v["occurred_at"]["end"], "2022-10-31T23:59:59+00:00");
        assert_eq!(v["reported_at"], "2022-10-01T00:00:00+01:00");
        assert!(!e.payload.windows(4).any(|w| w == b"null"), "no nulls");
        match v.get("location") {
            None => no_location += 1,
            Some(loc) => {
                assert!(loc.get("lsoa_code").is_some() || loc.get("lat").is_some());
                assert_eq!(loc.get("lat").is_some(), loc.get("lon").is_some());
            }
        }
        if v["crime_type"] == "Anti-social behaviour" {
            asb += 1;
            assert!(e.key.starts_with("policeuk:2022-10:asb:"), "{}", e.key);
            assert!(v.get("outcome").is_none());
        } else {
            assert!(
                v.get("outcome").is_some(),
                "crimes carry an outcome: {}",
                e.key
            );
            if !e.key.ends_with(":0") {
                repeated_crime_ids += 1;
            }
        }
    }
    // Counts from the published file: 588 "No Location" rows, 4,542 ASB rows, 27 Crime IDs
    // that appear twice in the month.
    assert_eq!(no_location, 588);
    assert_eq!(asb, 4542);
    assert_eq!(repeated_crime_ids, 27);
}

#[test]
fn reimport_is_byte_identical() {
    let path = sample("2022-09");
    let a = read_police_uk(&path).unwrap();
    let b = read_police_uk(&path).unwrap();
    assert_eq!(a.events, b.events);
    assert_eq!(a.rows, 15_538);
}

#[test]
fn exact_example_shape() {
    let csv = format!(
        "{HEADER}\r\nabc123,2022-09,Lancashire Constabulary,Lancashire Constabulary,-2.7,53.76,On or near High Street,E01025300,Preston 001A,Burglary,Investigation complete; no suspect identified,\r\n"
    );
    let import = import_str(&csv);
    assert_eq!(import.events.len(), 1);
    let e = &import.events[0];
    assert_eq!(e.key, "policeuk:2022-09:abc123:0");
    assert_eq!(
        String::from_utf8(e.payload.clone()).unwrap(),
        r#"{"event_id":"policeuk:2022-09:abc123:0:v1","schema_version":1,"source":"police.uk","occurred_at":{"start":"2022-09-01T00:00:00+01:00","end":"2022-09-30T23:59:59+01:00"},"reported_at":"2022-09-01T00:00:00+01:00","incident_id":"policeuk:2022-09:abc123:0","version":1,"status":"recorded","crime_type":"Burglary","location":{"lat":53.76,"lon":-2.7,"lsoa_code":"E01025300","description":"On or near High Street"},"outcome":"Investigation complete; no suspect identified"}"#
    );
}

#[test]
fn gmt_month_and_file_on_disk() {
    let csv = format!(
        "{HEADER}\r\n,2022-12,Lancashire Constabulary,Lancashire Constabulary,,,No Location,,,Anti-social behaviour,,\r\n"
    );
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(csv.as_bytes()).unwrap();
    let import = read_police_uk(f.path()).unwrap();
    assert_eq!(import.events.len(), 1);
    let v = json(&import.events[0].payload);
    assert_eq!(v["occurred_at"]["start"], "2022-12-01T00:00:00+00:00");
    assert_eq!(v["occurred_at"]["end"], "2022-12-31T23:59:59+00:00");
    assert_eq!(v["reported_at"], "2022-12-01T00:00:00+00:00");
    assert!(v.get("location").is_none());
}

#[test]
fn identical_asb_rows_and_repeated_crime_ids_count_separately() {
    let asb = "Lancashire Constabulary,Lancashire Constabulary,-2.7,53.76,On or near Park,E01025300,Preston 001A,Anti-social behaviour,,";
    let crime = "Lancashire Constabulary,Lancashire Constabulary,-2.7,53.76,On or near Park,E01025300,Preston 001A,Drugs,Under investigation,";
    let csv = format!(
        "{HEADER}\r\n,2022-09,{asb}\r\nX1,2022-09,{crime}\r\n,2022-09,{asb}\r\nX1,2022-09,{crime}\r\n,2022-09,{asb}\r\n"
    );
    let import = import_str(&csv);
    let keys: Vec<&str> = import.events.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys.len(), 5);
    let h = &keys[0]["policeuk:2022-09:asb:".len()..][..16];
    assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        keys,
        [
            format!("policeuk:2022-09:asb:{h}:0"),
            "policeuk:2022-09:X1:0".to_string(),
            format!("policeuk:2022-09:asb:{h}:1"),
            "policeuk:2022-09:X1:1".to_string(),
            format!("policeuk:2022-09:asb:{h}:2"),
        ]
    );
}

#[test]
fn bad_rows_are_rejected_with_line_numbers_and_the_rest_imports() {
    let ok = "Lancashire Constabulary,Lancashire Constabulary,-2.7,53.76,On or near Park,E01025300,Preston 001A,Drugs,Under investigation,";
    let csv = format!(
        "{HEADER}\r\n\
         A1,2022-09,{ok}\r\n\
         A2,2022-09,Lancashire Constabulary,Lancashire Constabulary,-2.7,fifty-three,On or near Park,E01025300,Preston 001A,Drugs,Under investigation,\r\n\
         A3,2022-13,{ok}\r\n\
         A4,2022-09,too,few,columns\r\n\
         A5,2022-09,Lancashire Constabulary,Lancashire Constabulary,-2.7,53.76,On or near Park,E01025300,Preston 001A,Jaywalking,,\r\n\
         A6,2022-09,Lancashire Constabulary,Lancashire Constabulary,-2.7,,On or near Park,E01025300,Preston 001A,Drugs,,\r\n\
         A7,2022-09,{ok}\r\n"
    );
    let import = import_str(&csv);
    assert_eq!(import.rows, 7);
    let keys: Vec<&str> = import.events.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["policeuk:2022-09:A1:0", "policeuk:2022-09:A7:0"]);
    let lines: Vec<u64> = import.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7]);
    let reasons: Vec<&str> = import.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons[0].starts_with("test.csv:3: column 6 (Latitude): not a number"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].starts_with("test.csv:4: column 2 (Month)"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].starts_with("test.csv:5: expected 12 columns, found 5"),
        "{}",
        reasons[2]
    );
    assert!(
        reasons[3].starts_with("test.csv:6: column 10 (Crime type): unknown"),
        "{}",
        reasons[3]
    );
    assert!(
        reasons[4].starts_with("test.csv:7: column 6 (Latitude): empty"),
        "{}",
        reasons[4]
    );
}

#[test]
fn out_of_range_coordinates_are_rejected() {
    let csv = format!(
        "{HEADER}\r\nB1,2022-09,L,L,-2.7,95.0,On or near Park,E01025300,Preston 001A,Drugs,,\r\nB2,2022-09,L,L,NaN,53.7,On or near Park,E01025300,Preston 001A,Drugs,,\r\n"
    );
    let import = import_str(&csv);
    assert!(import.events.is_empty());
    assert_eq!(import.rejected.len(), 2);
}

#[test]
fn lsoa_without_coordinates_keeps_location_and_long_text_is_capped() {
    let long = "x".repeat(300);
    let csv = format!("{HEADER}\nC1,2022-09,L,L,,,{long},E01025300,Preston 001A,Drugs,{long},\n");
    let import = import_str(&csv);
    let payload = String::from_utf8(import.events[0].payload.clone()).unwrap();
    assert!(
        payload.contains(r#""location":{"lsoa_code":"E01025300","description":"xxx"#),
        "{payload}"
    );
    let v = json(&import.events[0].payload);
    let loc = v["location"].as_object().unwrap();
    assert_eq!(loc.len(), 2);
    assert_eq!(loc["description"].as_str().unwrap().chars().count(), 200);
    assert_eq!(v["outcome"].as_str().unwrap().chars().count(), 200);
}

#[test]
fn bad_header_is_a_hard_error() {
    let err = read_police_uk_from_reader(
        "Crime ID,Month,Reported by\r\nx,2022-09,L\r\n".as_bytes(),
        Path::new("bad.csv"),
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::BadHeader { .. }), "{err}");
    assert!(err.to_string().starts_with("bad.csv:1:"), "{err}");

    let renamed = HEADER.replace("Latitude", "Lat");
    let err = read_police_uk_from_reader(renamed.as_bytes(), Path::new("bad.csv")).unwrap_err();
    assert!(err.to_string().contains("column 6"), "{err}");

    let err = read_police_uk_from_reader("".as_bytes(), Path::new("empty.csv")).unwrap_err();
    assert!(matches!(err, IngestError::BadHeader { .. }), "{err}");

    let err = read_police_uk(Path::new("/nonexistent/x.csv")).unwrap_err();
    assert!(matches!(err, IngestError::Io { .. }), "{err}");
}

#[test]
fn malformed_lsoa_code_is_rejected() {
    let csv = format!(
        "{HEADER}\r\nD1,2022-09,L,L,-2.7,53.7,On or near Park,Preston 001A,E01025300,Drugs,,\r\n"
    );
    let import = import_str(&csv);
    assert!(import.events.is_empty());
    assert!(
        import.rejected[0]
            .reason
            .starts_with("test.csv:2: column 8 (LSOA code)"),
        "{}",
        import.rejected[0].reason
    );
}
