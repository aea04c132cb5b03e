//! Operating Lantern: read-only SQL, config errors, metrics, graceful shutdown, snapshots.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn sql_is_read_only() {
    let l = Lantern::start();
    l.drain(); // publishes the (empty) tables
    for (statement, kind) in [
        ("DROP TABLE incidents_monthly", "DROP"),
        (
            "INSERT INTO incidents_monthly SELECT * FROM incidents_monthly",
            "INSERT",
        ),
        ("COPY incidents_monthly TO '/tmp/lantern-leak.csv'", "COPY"),
        (
            "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE",
        ),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ] {
        let out = l.run(&["sql", statement]);
        assert!(!out.status.success(), "{statement} was allowed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("read-only"), "{statement}: {stderr}");
        assert!(
            stderr.to_uppercase().contains(kind),
            "{statement}: {stderr}"
        );
    }
    assert!(!std::path::Path::new("/tmp/lantern-leak.csv").exists());
    let out = l.run(&["sql", "SELECT * FROM '/etc/passwd'"]);
    assert!(!out.status.success(), "a file was readable through SQL");
    assert_eq!(l.count("SELECT COUNT(*) FROM incidents_monthly"), 0);
}

#[test]
fn bad_config_fails_at_start_naming_the_key() {
    let l = Lantern::start();
    let out = l
        .command(&["process", "--drain"])
        .env("LANTERN_PROCESSOR__MAX_BATCH_EVENTS", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("processor.max_batch_events"));
    let out = l.run(&["sql", "SELECT 1", "--format", "xml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("xml"));
}

#[test]
fn runs_from_any_directory_and_a_missing_definition_names_the_key() {
    let l = Lantern::start();
    // Every command here runs in a temporary directory with the built-in definitions.
    l.drain();
    let lads = l.count("SELECT COUNT(*) FROM place_names WHERE level = 'lad'");
    assert!(lads > 300, "{lads} local authorities in place_names");
    let out = l
        .command(&["process", "--drain"])
        .env("LANTERN_PIPELINES__DIR", "/nonexistent/pipelines")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = stderr
        .lines()
        .find(|line| line.contains("/nonexistent/pipelines/"))
        .unwrap_or_else(|| panic!("no line names the missing file: {stderr}"));
    assert!(error.contains("pipelines.dir"), "{error}");
    // A directory laid out like pipelines/ is read instead of the built-in copy.
    let out = l
        .command(&["sql", "SELECT COUNT(*) AS n FROM place_names"])
        .env("LANTERN_PIPELINES__DIR", repo_root().join("pipelines"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn metrics_snapshots_and_graceful_shutdown() {
    let l = Lantern::with_config("max_batch_events = 500");
    let file = repo_root().join("data/sample/policeuk/2022-10-lancashire-street.csv");
    l.ok(&["import", "police-uk", file.to_str().unwrap()]);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = l
        .command(&["process"])
        .env("LANTERN_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();

    // While the processor commits batch after batch, every query sees one whole commit: the
    // monthly and daily tables (written in the same commit) always agree.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut checks = 0;
    loop {
        let out = l.run(&[
            "sql",
            "--format",
            "json",
            "SELECT (SELECT COALESCE(SUM(incidents), 0) FROM incidents_monthly) AS monthly,
                    (SELECT COALESCE(SUM(incidents), 0) FROM incidents_daily) AS daily",
        ]);
        if !out.status.success() {
            // The processor has not published its tables yet.
            assert!(
                Instant::now() < deadline,
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            rows[0]["monthly"], rows[0]["daily"],
            "a query saw a half-written commit"
        );
        checks += 1;
        let metrics = http_get(port, "/metrics").unwrap_or_default();
        if metrics.contains("lantern_stream_table_commits_total")
            && rows[0]["monthly"].as_i64() > Some(15_000)
        {
            assert!(
                metrics.contains("lantern_stream_events_received_total"),
                "{metrics}"
            );
            assert!(
                metrics.contains("lantern_stream_committed_offset"),
                "{metrics}"
            );
            assert!(http_get(port, "/readyz").unwrap().contains("200 OK"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processor did not catch up: {rows:?}"
        );
    }
    assert!(checks > 1);

    // SIGTERM: finish the batch, publish, commit, exit 0.
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "process exited with {status}");
}

/// The value of one sample line of a Prometheus exposition (its first match), or 0.
fn metric(text: &str, line_prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(line_prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// docs/operations.md, "Recover from a lost disk": with the data volume gone, a processor
/// replays every topic from its first offset. SIGTERM in the middle of that replay publishes the
/// batch in flight and exits 0; the next start carries on from there, and the tables end exactly
/// as they were before the loss.
#[test]
fn sigterm_during_a_replay_after_a_lost_disk_loses_nothing() {
    let l = Lantern::with_config("max_batch_events = 200");
    let file = repo_root().join("data/sample/policeuk/2022-09-lancashire-street.csv");
    l.ok(&["import", "police-uk", file.to_str().unwrap()]);
    l.drain();
    let total = "SELECT SUM(incidents) FROM incidents_monthly";
    let before = l.count(total);
    assert!(before > 15_000, "{before}");

    // The disk is lost: tables, state and offsets with it (Kafka keeps the events).
    let data_dir = l.config.parent().unwrap().join("data");
    std::fs::remove_dir_all(&data_dir).unwrap();

    let port = free_port();
    let mut replay = l
        .command(&["process"])
        .env("LANTERN_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    // Wait for the replay to have published a few batches, then stop it mid-way.
    let deadline = Instant::now() + Duration::from_secs(120);
    let commits = "lantern_stream_table_commits_total{pipeline=\"incidents\"}";
    while metric(&http_get(port, "/metrics").unwrap_or_default(), commits) < 3.0 {
        assert!(Instant::now() < deadline, "the replay never committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = replay.id().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let status = replay.wait().unwrap();
    assert!(status.success(), "SIGTERM during the replay: exit {status}");
    let partial = l.count(total);
    assert!(
        0 < partial && partial < before,
        "the replay was not stopped mid-way ({partial} of {before}): batches too large?"
    );

    l.drain();
    assert_eq!(l.count(total), before, "the replay lost or doubled events");
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_daily"),
        before
    );
    let check = l.ok(&["rebuild", "--check"]);
    assert!(!check.contains("DIFFERS"), "{check}");
}

/// `lantern topics` creates topics that keep every event (a lost data volume is recovered by
/// replaying them) with the cluster's default replication factor unless told otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_topics_never_expire() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;

    let l = Lantern::start(); // runs `lantern topics`
    let admin: AdminClient<DefaultClientContext> =
        producer_config(&l.broker.bootstrap()).create().unwrap();
    let topic = ResourceSpecifier::Topic(&l.topics.incidents);
    let described = admin
        .describe_configs([&topic], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let value = |name: &str| {
        resource
            .get(name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(value("retention.ms"), "-1");
    assert_eq!(value("retention.bytes"), "-1");
}
