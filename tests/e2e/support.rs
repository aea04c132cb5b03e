//! Test harness: the run's Kafka broker, the `lantern` binary, producing, consuming and SQL.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use tempfile::TempDir;

/// Set by scripts/test.sh to the broker it started for the whole run.
const SHARED_BROKER_ENV: &str = "E2E_KAFKA_BOOTSTRAP";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An Apache Kafka broker for tests: the run's shared one, or one of a test's own.
pub enum Broker {
    /// The broker scripts/test.sh started for the whole run (a JVM takes seconds to start, so
    /// tests share it and keep apart by unique topic and group names).
    Shared { bootstrap: String },
    /// A broker started for one test (scripts/broker.sh), stopped when dropped: for tests that
    /// stop or pause the broker, and for `cargo test` run without scripts/test.sh.
    Own {
        port: u16,
        controller_port: u16,
        secure_port: Option<u16>,
        /// The port clients are told to use: `port`, or a proxy's.
        advertised: u16,
        dir: TempDir,
    },
}

impl Broker {
    /// The run's shared broker if there is one, else a broker of this test's own.
    pub fn for_test() -> Broker {
        match std::env::var(SHARED_BROKER_ENV) {
            Ok(bootstrap) if !bootstrap.is_empty() => Broker::Shared { bootstrap },
            _ => Broker::own(),
        }
    }

    /// Starts a single-node KRaft broker in a temporary directory.
    pub fn own() -> Broker {
        Self::start_own(None, None)
    }

    /// As [`Broker::own`], but telling clients to connect to `port` (a proxy in front of it).
    pub fn own_advertising(port: u16) -> Broker {
        Self::start_own(Some(port), None)
    }

    /// As [`Broker::own`], with a SASL_SSL listener on `port` as well (scripts/broker.sh
    /// --secure-port): its CA certificate and the SCRAM password are in [`Broker::tls_dir`].
    pub fn own_secured(port: u16) -> Broker {
        Self::start_own(None, Some(port))
    }

    /// Where a secured broker keeps `ca.pem` and `password`.
    pub fn tls_dir(&self) -> PathBuf {
        match self {
            Broker::Own { dir, .. } => dir.path().join("tls"),
            Broker::Shared { .. } => panic!("the shared broker has no TLS listener"),
        }
    }

    fn start_own(advertised_port: Option<u16>, secure_port: Option<u16>) -> Broker {
        let port = free_port();
        let broker = Broker::Own {
            port,
            controller_port: free_port(),
            secure_port,
            advertised: advertised_port.unwrap_or(port),
            dir: TempDir::new().unwrap(),
        };
        broker.start();
        broker
    }

    /// Stops a broker of the test's own (controlled shutdown), keeping its data.
    pub fn stop(&self) {
        assert_succeeded("stop", self.script("stop"));
    }

    /// Starts a broker of the test's own (again, after `stop`), on the same ports and data.
    pub fn start(&self) {
        assert_succeeded("start", self.script("start"));
    }

    fn script(&self, action: &str) -> Output {
        let Broker::Own {
            port,
            controller_port,
            secure_port,
            advertised,
            dir,
        } = self
        else {
            panic!("a test may not start or stop the shared broker");
        };
        let mut command = Command::new(repo_root().join("scripts/broker.sh"));
        command
            .arg(action)
            .args(["--dir", dir.path().to_str().unwrap()]);
        if action == "start" {
            command
                .args(["--port", &port.to_string()])
                .args(["--controller-port", &controller_port.to_string()])
                .args(["--advertised-port", &advertised.to_string()]);
            if let Some(secure) = secure_port {
                command.args(["--secure-port", &secure.to_string()]);
            }
        }
        command.output().unwrap()
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Broker::Shared { bootstrap } => bootstrap.clone(),
            Broker::Own { advertised, .. } => format!("127.0.0.1:{advertised}"),
        }
    }
}

fn assert_succeeded(action: &str, out: Output) {
    assert!(
        out.status.success(),
        "scripts/broker.sh {action} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Broker::Own { .. } = self {
            // Not asserted: a panic while the test is already panicking would abort the run.
            let _ = self.script("stop");
        }
    }
}

/// The topic names of one test: unique, so tests can share a broker.
#[derive(Debug, Clone)]
pub struct Topics {
    pub incidents: String,
    pub business: String,
    pub cyber: String,
    pub dlq: String,
}

/// A name no other test in this run (or an earlier run on the same broker) uses.
fn unique_suffix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Lantern deployment for one test: its topics and groups on the broker, and a config file
/// and data directory in a temp dir.
pub struct Lantern {
    pub broker: Broker,
    pub topics: Topics,
    /// Holds the config and data directory; removed when the test ends.
    _dir: TempDir,
    pub config: PathBuf,
    /// Environment every `lantern` command of this deployment gets (beyond the test's own).
    pub env: Vec<(String, String)>,
}

impl Lantern {
    pub fn start() -> Lantern {
        Self::with_config("")
    }

    /// `extra` is appended to the generated `[processor]` section.
    pub fn with_config(extra_processor: &str) -> Lantern {
        Self::on_broker(Broker::for_test(), extra_processor)
    }

    pub fn on_broker(broker: Broker, extra_processor: &str) -> Lantern {
        let kafka = format!("bootstrap_servers = \"{}\"\n", broker.bootstrap());
        Self::on_broker_with_kafka(broker, &kafka, extra_processor)
    }

    /// `kafka` is the whole generated `[kafka]` section's body (with any sub-tables after it).
    pub fn on_broker_with_kafka(broker: Broker, kafka: &str, extra_processor: &str) -> Lantern {
        let dir = TempDir::new().unwrap();
        let id = unique_suffix();
        let topics = Topics {
            incidents: format!("e2e.incidents.{id}"),
            business: format!("e2e.business-crime.{id}"),
            cyber: format!("e2e.cybercrime.{id}"),
            dlq: format!("e2e.dlq.{id}"),
        };
        let config = dir.path().join("lantern.toml");
        // No [pipelines] dir: the binary's built-in definitions are what users run. The data
        // directory is relative, so it is resolved against this file's directory.
        std::fs::write(
            &config,
            format!(
                "[topics]\nincidents = \"{}\"\nbusiness_crime = \"{}\"\ncybercrime = \"{}\"\ndead_letter = \"{}\"\n\n\
                 [processor]\ngroup_prefix = \"e2e-{id}\"\nmax_batch_wait_ms = 200\n{extra_processor}\n\n\
                 [storage]\ndata_dir = \"data\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
                 [kafka]\n{kafka}",
                topics.incidents,
                topics.business,
                topics.cyber,
                topics.dlq,
            ),
        )
        .unwrap();
        let lantern = Lantern {
            broker,
            topics,
            _dir: dir,
            config,
            env: Vec::new(),
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
            // Not the repository: the binary must find everything it needs without it.
            .current_dir(std::env::temp_dir())
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().cloned());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a subcommand that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        stdout_of(self.command(args))
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
        let producer: FutureProducer = producer_config(&self.broker.bootstrap())
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
/// Runs `command`, which must succeed; returns its stdout.
pub fn stdout_of(mut command: Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A producer's settings as Lantern's producers must have them: keyed records partitioned by
/// Kafka's default (Java) partitioner, which the processor checks.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set(
        "partitioner",
        lantern_stream::partitioner::PRODUCER_PARTITIONER,
    );
    config
}

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
