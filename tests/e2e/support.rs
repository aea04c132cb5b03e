//! Test harness: a broker per test, the `lantern` binary, producing, consuming and SQL.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use tempfile::TempDir;

pub const INCIDENTS: &str = "lantern.incidents.v1";
pub const BUSINESS: &str = "lantern.business-crime.v1";
pub const CYBER: &str = "lantern.cybercrime-reports.v1";
pub const DLQ: &str = "lantern.dlq";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker with SQLite storage in a temp dir, killed when dropped.
pub struct Broker {
    child: Child,
    pub port: u16,
    /// The broker's working directory: its database and log.
    _log: TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let tansu = std::env::var("TANSU")
            .unwrap_or_else(|_| format!("{}/.cargo/bin/tansu", std::env::var("HOME").unwrap()));
        let port = free_port();
        let log = TempDir::new().unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // SQLite storage, not memory://: tansu 0.6.0's in-memory engine skips to the next
            // record batch when a fetch starts inside one, which loses records on every restart.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(log.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log.path().join("tansu.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {tansu} (set TANSU or run scripts/install-broker.sh): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            port,
            _log: log,
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Lantern deployment for one test: config file and data directory in a temp dir.
pub struct Lantern {
    pub broker: Broker,
    /// Holds the config and data directory; removed when the test ends.
    _dir: TempDir,
    pub config: PathBuf,
}

impl Lantern {
    pub fn start() -> Lantern {
        Self::with_config("")
    }

    /// `extra` is appended to the generated `[processor]` section.
    pub fn with_config(extra_processor: &str) -> Lantern {
        let broker = Broker::start();
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("lantern.toml");
        let pipelines = repo_root().join("pipelines");
        std::fs::write(
            &config,
            format!(
                "[kafka]\nbootstrap_servers = \"{}\"\n\n[processor]\nmax_batch_wait_ms = 200\n{extra_processor}\n\n\
                 [storage]\ndata_dir = {:?}\n\n[pipelines]\ndir = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
                broker.bootstrap(),
                dir.path().join("data").display().to_string(),
                pipelines.display().to_string(),
            ),
        )
        .unwrap();
        let lantern = Lantern {
            broker,
            _dir: dir,
            config,
        };
        lantern.ok(&["topics"]);
        lantern
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lantern"));
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(repo_root())
            .env("RUST_LOG", "warn");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a subcommand that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "lantern {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the processors until they have caught up with every partition.
    pub fn drain(&self) -> String {
        self.ok(&["process", "--drain"])
    }

    /// `lantern sql --format json`, parsed.
    pub fn sql(&self, query: &str) -> Vec<Value> {
        let out = self.ok(&["sql", "--format", "json", query]);
        if out.trim().is_empty() {
            return Vec::new();
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from sql ({e}): {out}"))
    }

    /// A single integer from a one-row, one-column query (NULL counts as 0).
    pub fn count(&self, query: &str) -> i64 {
        let rows = self.sql(query);
        assert_eq!(rows.len(), 1, "{query}: {rows:?}");
        let value = rows[0]
            .as_object()
            .unwrap()
            .values()
            .next()
            .cloned()
            .unwrap_or(Value::Null);
        value
            .as_i64()
            .or_else(|| value.as_f64().map(|f| f as i64))
            .unwrap_or(0)
    }

    pub async fn produce(&self, topic: &str, records: &[(String, Vec<u8>)]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap())
            .set("message.timeout.ms", "30000")
            .create()
            .unwrap();
        for (key, payload) in records {
            producer
                .send(
                    FutureRecord::to(topic).key(key).payload(payload),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }

    /// Reads every record of `topic` (from the beginning until it goes quiet).
    pub fn consume_all(&self, topic: &str) -> Vec<ConsumedRecord> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap())
            .set("group.id", format!("e2e-reader-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let mut out = Vec::new();
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_secs(5) {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_string(),
                                        String::from_utf8_lossy(h.value.unwrap_or_default())
                                            .into_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(ConsumedRecord {
                        payload: m.payload().unwrap_or_default().to_vec(),
                        headers,
                    });
                    quiet_since = Instant::now();
                }
                Some(Err(e)) => panic!("consuming {topic}: {e}"),
                None => {}
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl ConsumedRecord {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A JSON event as (key, bytes).
pub fn event(key: &str, value: Value) -> (String, Vec<u8>) {
    (key.to_string(), serde_json::to_vec(&value).unwrap())
}

/// An incident event with the given identity, version, status, month and crime type, placed by
/// LSOA code (or with no location when `lsoa` is None).
pub fn incident(
    id: &str,
    version: u64,
    status: &str,
    occurred: &str,
    crime_type: &str,
    lsoa: Option<&str>,
) -> (String, Vec<u8>) {
    let mut value = serde_json::json!({
        "event_id": format!("{id}:v{version}"),
        "schema_version": 1,
        "source": "e2e",
        "occurred_at": occurred,
        "reported_at": occurred,
        "incident_id": id,
        "version": version,
        "status": status,
        "crime_type": crime_type,
    });
    if let Some(lsoa) = lsoa {
        value["location"] = serde_json::json!({ "lsoa_code": lsoa });
    }
    event(id, value)
}
