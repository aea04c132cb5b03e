//! Crashes: killing the processor at arbitrary moments loses nothing and counts nothing twice.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn kill_and_restart_mid_stream_gives_exact_totals() {
    // Small batches: many commits, so the kills land between and inside commits.
    let l = Lantern::with_config("max_batch_events = 700");
    let file = repo_root().join("data/sample/policeuk/2022-09-lancashire-street.csv");
    let rows = csv::Reader::from_path(&file).unwrap().records().count() as i64;
    l.ok(&["import", "police-uk", file.to_str().unwrap()]);
    // Revisions on top: 200 extra records, half then cancelled, in the same stream.
    let may = "2022-09-03T10:00:00+01:00";
    let mut revisions = Vec::new();
    for i in 0..200 {
        revisions.push(incident(
            &format!("R{i}"),
            1,
            "recorded",
            may,
            "Burglary",
            Some("E01025232"),
        ));
    }
    for i in (0..200).step_by(2) {
        revisions.push(incident(
            &format!("R{i}"),
            2,
            "cancelled",
            may,
            "Burglary",
            Some("E01025232"),
        ));
    }
    l.produce(&l.topics.incidents, &revisions).await;

    // Debug builds take about a second to load reference data, so these land mid-stream.
    for pause_ms in [2500u64, 1700, 3100] {
        let mut child = l.command(&["process"]).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        // SIGKILL: no chance to flush or commit anything.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    l.drain();

    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly"),
        rows + 100
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_daily"),
        rows + 100
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly WHERE lsoa_code = 'E01025232' AND crime_type = 'Burglary' AND month = '2022-09'"),
        100 + csv::Reader::from_path(&file)
            .unwrap()
            .records()
            .filter(|r| {
                let r = r.as_ref().unwrap();
                &r[7] == "E01025232" && &r[9] == "Burglary"
            })
            .count() as i64
    );

    // A clean restart with nothing new to read changes nothing.
    l.drain();
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly"),
        rows + 100
    );
}
