//! Crashes: killing the processor at arbitrary moments loses nothing and counts nothing twice.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn kill_and_restart_mid_stream_gives_exact_totals() {
    // Small batches: many commits, so the kills land between and inside commits.
    // A stable instance id (static membership): each restart takes the partitions straight back.
    let l = Lantern::with_config("max_batch_events = 700\ninstance_id = \"restarted\"");
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
    // The incrementally merged aggregates, after the kills, equal a recomputation from the facts.
    let check = l.ok(&["rebuild", "--check"]);
    assert!(check.contains("incidents_monthly"), "{check}");
    assert!(!check.contains("DIFFERS"), "{check}");
}

/// A broker restart under a running processor: it waits, reconnects and carries on with what
/// arrives afterwards, and the totals are exact.
#[test]
fn the_processor_rides_out_a_broker_restart() {
    let l = Lantern::on_broker(
        Broker::own(),
        "max_batch_events = 1000\npipelines = [\"incidents\"]",
    );
    let months = ["2022-09", "2022-10"]
        .map(|m| repo_root().join(format!("data/sample/policeuk/{m}-lancashire-street.csv")));
    let rows = months
        .each_ref()
        .map(|f| csv::Reader::from_path(f).unwrap().records().count() as i64);
    let query = "SELECT SUM(incidents) FROM incidents_monthly";
    // 0 until the processor has published its first tables.
    let total = || {
        let published = l.run(&["sql", "SELECT 1 FROM incidents_monthly LIMIT 1"]);
        if published.status.success() {
            l.count(query)
        } else {
            0
        }
    };
    let wait_for = |expected: i64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        while total() < expected && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
    };

    l.ok(&["import", "police-uk", months[0].to_str().unwrap()]);
    let mut processor = l.command(&["process"]).spawn().unwrap();
    wait_for(rows[0]);
    l.broker.stop();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        processor.try_wait().unwrap().is_none(),
        "the processor exited while the broker was down"
    );
    l.broker.start();
    l.ok(&["import", "police-uk", months[1].to_str().unwrap()]);
    wait_for(rows[0] + rows[1]);

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &processor.id().to_string()])
        .status();
    let status = processor.wait().unwrap();
    assert_eq!(total(), rows[0] + rows[1]);
    assert!(status.success(), "processor exited with {status}");
}
