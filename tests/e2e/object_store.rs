//! Tables on an S3-compatible object store (`storage.url = "s3://…"`), against a real S3 server
//! started by the test (moto's, from PyPI; scripts/test.sh installs it):
//!
//! - processors SIGKILLed at random moments, one of them in the middle of a commit, and a host
//!   that loses its whole disk, still give exact totals, read by a fresh query host from the
//!   store alone;
//! - DuckDB and `deltalake` read the same totals straight from the store's Delta logs;
//! - two processors writing the same shards (two consumer groups, two hosts) race on every
//!   commit: one loses cleanly, saying so, and the totals stay exact.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::kill_at_scale::{monthly_counts, produce_fast, stream};
use crate::support::*;

/// An S3-compatible server (moto) on a free port, stopped when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(delta_python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto's S3 server (scripts/test.sh installs moto[server])");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto's S3 server did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        S3Server { child, endpoint }
    }

    /// What points a process at the server, as a deployment's environment would.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "lantern-test"),
            ("AWS_SECRET_ACCESS_KEY", "lantern-test-secret"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn create_bucket(&self, bucket: &str) {
        let script = format!(
            "import boto3; boto3.client('s3', endpoint_url='{}').create_bucket(Bucket='{bucket}')",
            self.endpoint
        );
        let out = Command::new(delta_python())
            .args(["-c", &script])
            .envs(self.env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn delta_python() -> String {
    std::env::var("E2E_DELTA_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A deployment whose tables' home is `s3://lantern/<unique prefix>`, on its own S3 server.
fn lantern_on_s3(extra_processor: &str) -> (Lantern, S3Server, String) {
    let s3 = S3Server::start();
    s3.create_bucket("lantern");
    let mut l = Lantern::with_config(extra_processor);
    l.env = s3.env();
    let url = format!("s3://lantern/{}", l.topics.incidents);
    let text = std::fs::read_to_string(&l.config).unwrap();
    let text = text.replace(
        "data_dir = \"data\"\n",
        &format!("data_dir = \"data\"\nurl = \"{url}\"\n"),
    );
    std::fs::write(&l.config, text).unwrap();
    (l, s3, url)
}

fn data_dir(l: &Lantern) -> std::path::PathBuf {
    l.config.parent().unwrap().join("data")
}

/// Asserts DuckDB and deltalake, reading the Delta table in the store, see what SQL sees.
fn assert_store_readers_agree(l: &Lantern, table_url: &str) {
    let expected = l.sql(
        "SELECT crime_type, SUM(incidents) AS total FROM incidents_monthly \
         GROUP BY crime_type ORDER BY crime_type",
    );
    let expected: Vec<serde_json::Value> = expected
        .iter()
        .map(|r| serde_json::json!([r["crime_type"], r["total"].as_i64().unwrap()]))
        .collect();
    let out = Command::new(delta_python())
        .arg(repo_root().join("tests/e2e/python/read_delta.py"))
        .args([table_url, "crime_type", "incidents"])
        .envs(l.env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "read_delta.py on {table_url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["duckdb"], serde_json::json!(expected), "DuckDB on S3");
    assert_eq!(
        seen["deltalake"],
        serde_json::json!(expected),
        "deltalake on S3"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_s3_random_kills_and_a_lost_disk_give_exact_totals_that_any_host_reads() {
    let (l, _s3, url) = lantern_on_s3("max_batch_events = 500\npipelines = [\"incidents\"]");
    let (events, kills, seed) = (6_000, 6, 11);
    let (stream, expected) = stream(events, seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let bootstrap = l.broker.bootstrap();
    for (round, part) in stream.chunks(stream.len().div_ceil(kills)).enumerate() {
        produce_fast(&bootstrap, &l.topics.incidents, part).await;
        if round == kills / 2 {
            // The host loses its disk: working copies, record indexes, everything local.
            std::fs::remove_dir_all(data_dir(&l)).unwrap();
        }
        let mut child = l.command(&["process"]).spawn().unwrap();
        // Random moments: during take-over (downloads), mid-batch, mid-push.
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..3000))).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    l.drain();

    // A query host with nothing local reads everything from the store.
    std::fs::remove_dir_all(data_dir(&l)).unwrap();
    assert_eq!(monthly_counts(&l), expected, "after kills and a lost disk");
    let total: i64 = expected.values().sum();
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_daily"), total);
    let check = l.ok(&["rebuild", "--check"]);
    assert!(!check.contains("DIFFERS"), "{check}");
    assert_store_readers_agree(&l, &format!("{url}/incidents/tables/incidents_monthly"));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_s3_of_two_processors_racing_for_the_same_shards_one_loses_cleanly() {
    let (l, _s3, _url) = lantern_on_s3("max_batch_events = 200\npipelines = [\"incidents\"]");
    let (stream, expected) = stream(3_000, 5);
    let bootstrap = l.broker.bootstrap();
    let (first, rest) = stream.split_at(stream.len() / 2);
    produce_fast(&bootstrap, &l.topics.incidents, first).await;

    // Host A, and host B: a second consumer group, so it too reads every partition, and a
    // disk of its own. Both write the same shards of the same store.
    let other = tempfile::tempdir().unwrap();
    let start = |second: bool| {
        let mut command = l.command(&["process"]);
        if second {
            command
                .env(
                    "LANTERN_PROCESSOR__GROUP_PREFIX",
                    format!("{}-b", l.topics.incidents),
                )
                .env("LANTERN_STORAGE__DATA_DIR", other.path());
        }
        command.stderr(Stdio::piped()).spawn().unwrap()
    };
    let mut hosts = [start(false), start(true)];
    // Each shard's next commit is raced for; the first writer to lose one stops (both may,
    // each having lost a different shard).
    let deadline = Instant::now() + Duration::from_secs(120);
    while hosts.iter_mut().all(|h| h.try_wait().unwrap().is_none()) {
        assert!(Instant::now() < deadline, "neither writer lost a race");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    produce_fast(&bootstrap, &l.topics.incidents, rest).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut losers = 0;
    for host in &mut hosts {
        match host.try_wait().unwrap() {
            Some(status) => {
                let mut stderr = String::new();
                std::io::Read::read_to_string(host.stderr.as_mut().unwrap(), &mut stderr).unwrap();
                assert!(!status.success(), "a loser exits with an error");
                assert!(
                    stderr.contains("another writer published commit"),
                    "a writer stops only for a lost race, and says so:\n{stderr}"
                );
                losers += 1;
            }
            None => {
                host.kill().unwrap();
                host.wait().unwrap();
            }
        }
    }
    assert!(losers >= 1);
    l.drain();

    std::fs::remove_dir_all(data_dir(&l)).unwrap();
    assert_eq!(
        monthly_counts(&l),
        expected,
        "nothing lost, nothing counted twice"
    );
}
