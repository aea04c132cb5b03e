//! Scale-out: several `lantern process` instances in one consumer group share a pipeline's
//! partitions. Instances join and leave mid-stream — one stops cleanly, one is SIGKILLed (the
//! group reassigns its partitions after the session timeout) — while events keep arriving;
//! afterwards the tables equal both an independent model of the stream and what a single
//! instance computes from the same topic into its own data directory, and every shard's
//! aggregates equal `lantern rebuild --check`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::kill_at_scale::{monthly_counts, produce_fast, stream};
use crate::support::*;

/// A running `lantern process` whose log goes to a file.
struct Instance {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn start(l: &Lantern, name: &'static str, logs: &Path) -> Instance {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = l
            .command(&["process"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Instance { name, child, log }
    }

    /// SIGTERM: finish the batch, publish, leave the group.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
        self.log()
    }

    /// SIGKILL: no goodbye; the group notices after the session timeout.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Every row of the aggregate tables, as `lantern sql` prints them, ordered by their keys (the
/// other key columns follow from the LSOA).
fn aggregate_rows(sql: impl Fn(&str) -> Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let keys = "lsoa_code, crime_type, property_type, place_status";
    let mut rows = sql(&format!(
        "SELECT month, {keys}, incidents FROM incidents_monthly ORDER BY month, {keys}"
    ));
    rows.extend(sql(&format!(
        "SELECT day, {keys}, incidents FROM incidents_daily ORDER BY day, {keys}"
    )));
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_joining_and_leaving_give_a_single_instances_totals() {
    let (stream, expected) = stream(24_000, 11);
    // A short session timeout, so the group reassigns a killed instance's partitions quickly.
    let kafka = format!(
        "bootstrap_servers = \"{}\"\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\
         \"heartbeat.interval.ms\" = \"1000\"\n",
        Broker::for_test().bootstrap()
    );
    let l = Lantern::on_broker_with_kafka(
        Broker::for_test(),
        &kafka,
        "max_batch_events = 1000\npipelines = [\"incidents\"]",
    );
    let bootstrap = l.broker.bootstrap();
    let logs = tempfile::tempdir().unwrap();
    let parts: Vec<&[(String, Vec<u8>)]> = stream.chunks(stream.len().div_ceil(4)).collect();

    // One instance owns every partition; two more join and take partitions over mid-stream.
    produce_fast(&bootstrap, &l.topics.incidents, parts[0]).await;
    let a = Instance::start(&l, "a", logs.path());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b = Instance::start(&l, "b", logs.path());
    let c = Instance::start(&l, "c", logs.path());
    produce_fast(&bootstrap, &l.topics.incidents, parts[1]).await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    // One leaves cleanly, one dies; their partitions move to the others while events arrive.
    let b_log = b.stop();
    produce_fast(&bootstrap, &l.topics.incidents, parts[2]).await;
    let c_log = c.kill();
    let d = Instance::start(&l, "d", logs.path());
    produce_fast(&bootstrap, &l.topics.incidents, parts[3]).await;
    l.ok(&["lag", "--wait", "180"]);
    let a_log = a.stop();
    let d_log = d.stop();

    let logs = [("a", &a_log), ("b", &b_log), ("c", &c_log), ("d", &d_log)];
    // The ownership moves, for whoever reads a failure.
    for (name, log) in logs {
        for line in log
            .lines()
            .filter(|l| l.contains("shard") || l.contains("Rebalanced"))
        {
            eprintln!("{name}: {line}");
        }
    }
    for (name, log) in logs {
        assert!(
            log.contains("Took the shard over"),
            "instance {name} never owned a shard:\n{log}"
        );
        assert!(
            !log.contains("belongs on partition"),
            "instance {name} refused a version on the wrong partition:\n{log}"
        );
    }
    assert!(
        a_log.contains("Let the shard go"),
        "the first instance never gave a partition to a newcomer:\n{a_log}"
    );

    // Against the model of the stream.
    let got = monthly_counts(&l);
    assert_eq!(got, expected, "the shared tables differ from the model");
    let check = l.ok(&["rebuild", "--check"]);
    assert!(!check.contains("DIFFERS"), "{check}");
    assert_eq!(check.matches("(partition ").count(), 3 * 2, "{check}");

    // Against one instance reading the same topic into a data directory of its own.
    let single = l.config.with_file_name("single.toml");
    let text = std::fs::read_to_string(&l.config).unwrap();
    std::fs::write(
        &single,
        text.replace("data_dir = \"data\"", "data_dir = \"single\"")
            .replace("group_prefix = \"", "group_prefix = \"single-"),
    )
    .unwrap();
    let lantern = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lantern"));
        command.arg("--config").arg(&single).args(args);
        stdout_of(command)
    };
    lantern(&["process", "--drain"]);
    let single_rows = aggregate_rows(|q| {
        serde_json::from_str(&lantern(&["sql", "--format", "json", q])).unwrap()
    });
    assert!(single_rows.len() > 100, "{}", single_rows.len());
    assert_eq!(
        aggregate_rows(|q| l.sql(q)),
        single_rows,
        "three instances and one instance disagree"
    );
}
