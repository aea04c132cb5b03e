//! Configuration: a TOML file (`lantern.toml`) with environment overrides.
//!
//! Every key can be overridden by `LANTERN_<SECTION>__<KEY>` (double underscore between levels),
//! e.g. `LANTERN_KAFKA__BOOTSTRAP_SERVERS=broker:9092`. Extra librdkafka properties (TLS, SASL)
//! go in `[kafka.properties]`; secrets must not be written there: put them in a file named by
//! `[kafka.secret_files]` or in `LANTERN_KAFKA_SECRET__<PROPERTY>` (dots as underscores, e.g.
//! `LANTERN_KAFKA_SECRET__SASL_PASSWORD`). A bad value fails at start, naming the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lantern_pipelines::PipelineFiles;
use serde::Deserialize;

/// Why the configuration could not be loaded. Each variant names the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config in {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How to reach Kafka.
    pub kafka: KafkaConfig,
    /// Topic names.
    pub topics: TopicsConfig,
    /// Stream-processor behaviour.
    pub processor: ProcessorConfig,
    /// Where tables and processor state live.
    pub storage: StorageConfig,
    /// Where pipeline definitions (aggregate SQL) and reference data live.
    pub pipelines: PipelinesConfig,
    /// Operational HTTP endpoint.
    pub http: HttpConfig,
    /// The query service: HTTP SQL API, PostgreSQL wire protocol, users, audit and limits.
    pub query: QueryConfig,
    /// `lantern up`: everything on one machine.
    pub up: UpConfig,
    /// Published partner tables and research extracts.
    pub disclosure: DisclosureConfig,
    /// Crime-prevention analytics (`lantern analyse`).
    pub analytics: AnalyticsConfig,
    /// Report intake over HTTP (`POST /api/v1/reports/{kind}`).
    pub intake: IntakeConfig,
}

/// Report intake: reports submitted over HTTP are validated and produced to Kafka.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Largest report accepted, in bytes; a larger body gets 413.
    pub max_body_bytes: u64,
    /// Reports one user may submit per minute (a burst of as many, refilled evenly); beyond it,
    /// 429 with `Retry-After`.
    pub reports_per_minute: u64,
    /// How long to wait for the broker to acknowledge a report (acks=all) before answering 503.
    /// Nothing is kept for later: the client retries, with the same `Idempotency-Key`.
    pub produce_timeout_ms: u64,
    /// Where the answers to requests with an `Idempotency-Key` are kept (JSON lines), so a retry
    /// after a restart still gets the same answer and makes no second event.
    pub idempotency_file: PathBuf,
    /// How long an `Idempotency-Key` is remembered, in hours.
    pub idempotency_ttl_hours: u64,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            max_body_bytes: 65_536,
            reports_per_minute: 60,
            produce_timeout_ms: 5_000,
            idempotency_file: PathBuf::from(".lantern/intake-idempotency.jsonl"),
            idempotency_ttl_hours: 24,
        }
    }
}

/// Disclosure control (`lantern publish`, `lantern extract`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisclosureConfig {
    /// File holding the disclosure key (record keys for cell-key perturbation, pseudonyms).
    /// `LANTERN_DISCLOSURE_KEY` holds the key itself instead. Neither set: no cell-key release
    /// and no extract can be made.
    pub key_file: Option<PathBuf>,
    /// `lantern serve` / `lantern up` publish new vintages this often (milliseconds); 0 turns
    /// publishing off there (`lantern publish` still works).
    pub publish_interval_ms: u64,
}

impl Default for DisclosureConfig {
    fn default() -> Self {
        DisclosureConfig {
            key_file: None,
            publish_interval_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// `lantern serve` / `lantern up` recompute the analytics tables this often (milliseconds)
    /// when the tables they read have changed; 0 turns it off there (`lantern analyse` still
    /// works). Their parameters are pipeline definitions: `pipelines/analytics/analytics.toml`.
    pub interval_ms: u64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            interval_ms: 60_000,
        }
    }
}

/// Kafka connection settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, comma-separated host:port list.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties, e.g. `"security.protocol" = "SASL_SSL"`. No secrets here.
    pub properties: BTreeMap<String, String>,
    /// librdkafka property -> path of a file holding its (secret) value, e.g.
    /// `"sasl.password" = "/run/secrets/kafka-password"`.
    pub secret_files: BTreeMap<String, PathBuf>,
}

/// Topic names. Defaults follow `lantern.<kind>.v<schema major version>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Incident events (schema incident v1).
    pub incidents: String,
    /// Business-crime reports (schema business-crime v1).
    pub business_crime: String,
    /// Cybercrime reports (schema cybercrime-report v1).
    pub cybercrime: String,
    /// Dead-letter topic for records that fail decoding or validation.
    pub dead_letter: String,
}

/// Stream-processor settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorConfig {
    /// Consumer groups are `<group_prefix>-<pipeline>`, one per pipeline.
    pub group_prefix: String,
    /// This instance's stable name in its consumer groups (Kafka static membership,
    /// `group.instance.id`), unique per instance. A restarted instance with the same name takes
    /// its partitions straight back; without one, the group first waits for the old member's
    /// session to time out. Unset: dynamic membership.
    pub instance_id: Option<String>,
    /// A batch is committed after this many events...
    pub max_batch_events: usize,
    /// ...or this many milliseconds after its first event, whichever comes first.
    pub max_batch_wait_ms: u64,
    /// ONS code of the police force area this deployment serves (E23000003 = Lancashire).
    pub force_area_code: String,
    /// Pipelines to run; any of "incidents", "business_crime", "cybercrime".
    pub pipelines: Vec<String>,
    /// Page cache of each pipeline's on-disk record index, in MiB. Memory for state stays
    /// within this however many records there are.
    pub state_cache_mb: u64,
}

/// Storage settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Root of the tables and processor state. With `url` set, a working copy (processors) or
    /// read replica (everything else) of what the object store holds.
    pub data_dir: PathBuf,
    /// The object store that is the tables' durable home, shared by every host:
    /// `s3://bucket/prefix` (credentials, region and endpoint from the standard `AWS_*`
    /// environment variables) or `file:///shared/mount`. Unset: `data_dir` alone.
    pub url: Option<String>,
}

/// Pipeline definitions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelinesConfig {
    /// Directory holding `sql/` (one file per aggregate table) and `reference/`, read instead of
    /// the definitions built into the binary. Unset (the default): the built-in ones.
    pub dir: Option<PathBuf>,
}

impl PipelinesConfig {
    /// Where the pipeline definitions are read from.
    pub fn files(&self) -> PipelineFiles {
        PipelineFiles::from_setting(self.dir.as_deref())
    }
}

/// Operational HTTP endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address for `/metrics`, `/healthz`, `/readyz`.
    pub listen: String,
}

/// The query service (`lantern serve`, `lantern up`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Address of the HTTP SQL API (`POST /api/v1/sql`).
    pub http_listen: String,
    /// Address of the PostgreSQL wire protocol (psql, Grafana, DBeaver, psycopg).
    pub pg_listen: String,
    /// Users, roles and salted hashes of their passwords and tokens; managed by `lantern users`.
    pub users_file: PathBuf,
    /// Append-only audit log of every query, allowed or refused (JSON lines).
    pub audit_log: PathBuf,
    /// A query fails once it would return more rows than this.
    pub max_rows: u64,
    /// A query fails once it has run (waiting for a slot included) this many milliseconds.
    pub timeout_ms: u64,
    /// Memory one query may hold for sorts, joins and aggregations, in MiB; beyond it, it fails.
    pub memory_limit_mb: u64,
    /// Queries executing at once; later ones wait for a slot within their timeout. Peak query
    /// memory is bounded by `max_concurrent_queries` x `memory_limit_mb`.
    pub max_concurrent_queries: usize,
    /// Largest aggregate table the query server holds in memory, in MiB, once a query has read
    /// it: later queries on the same commit read memory instead of summing the shards' files
    /// again. Per table and per current snapshot; 0 turns the cache off.
    pub table_cache_mb: u64,
    /// Aggregate tables the `partner` role may read besides the published (disclosure-controlled)
    /// tables, which it always may.
    pub partner_tables: Vec<String>,
    /// How long a dashboard login (user name and password at `/`) lasts, in minutes.
    pub session_ttl_minutes: u64,
}

/// `lantern up`: broker, processors and query service together on one machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpConfig {
    /// Start a local Kafka broker (with `broker_script`) on the port of `kafka.bootstrap_servers`.
    /// Set false when `kafka.bootstrap_servers` points at a cluster of your own.
    pub embedded_broker: bool,
    /// The script that starts and stops the local broker (the repository's `scripts/broker.sh`).
    pub broker_script: PathBuf,
    /// Where the local broker keeps its data and logs.
    pub broker_dir: PathBuf,
    /// The local broker's KRaft controller port; unset, the broker's port + 1.
    pub controller_port: Option<u16>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            properties: BTreeMap::new(),
            secret_files: BTreeMap::new(),
        }
    }
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            incidents: "lantern.incidents.v1".into(),
            business_crime: "lantern.business-crime.v1".into(),
            cybercrime: "lantern.cybercrime-reports.v1".into(),
            dead_letter: "lantern.dlq".into(),
        }
    }
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            group_prefix: "lantern".into(),
            instance_id: None,
            max_batch_events: 100_000,
            max_batch_wait_ms: 500,
            state_cache_mb: 64,
            force_area_code: "E23000003".into(),
            pipelines: lantern_pipelines::PIPELINES
                .iter()
                .map(|p| p.name.to_string())
                .collect(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from(".lantern/data"),
            url: None,
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            http_listen: "127.0.0.1:8080".into(),
            pg_listen: "127.0.0.1:5433".into(),
            users_file: PathBuf::from(".lantern/users.toml"),
            audit_log: PathBuf::from(".lantern/audit.log"),
            max_rows: 1_000_000,
            timeout_ms: 30_000,
            memory_limit_mb: 512,
            max_concurrent_queries: 4,
            table_cache_mb: 256,
            partner_tables: Vec::new(),
            session_ttl_minutes: 480,
        }
    }
}

impl Default for UpConfig {
    fn default() -> Self {
        UpConfig {
            embedded_broker: true,
            broker_script: PathBuf::from("scripts/broker.sh"),
            broker_dir: PathBuf::from(".lantern/broker"),
            controller_port: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9898".into(),
        }
    }
}

const ENV_PREFIX: &str = "LANTERN_";
const SECRET_PREFIX: &str = "LANTERN_KAFKA_SECRET__";

impl Config {
    /// Loads `path` (if given; defaults apply otherwise), applies `LANTERN_*` overrides from the
    /// process environment and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Config::load`], with the environment passed in (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut root, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let mut table: toml::Table =
                    text.parse()
                        .map_err(|e: toml::de::Error| ConfigError::Parse {
                            origin: path.display().to_string(),
                            message: e.to_string(),
                        })?;
                if let Some(base) = path.parent() {
                    resolve_relative_paths(&mut table, base);
                }
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "defaults".to_string()),
        };
        let mut secrets = BTreeMap::new();
        for (name, value) in env {
            if let Some(property) = name.strip_prefix(SECRET_PREFIX) {
                secrets.insert(property.to_ascii_lowercase().replace('_', "."), value);
            } else if let Some(path) = name.strip_prefix(ENV_PREFIX) {
                apply_override(&mut root, &name, path, &value)?;
            }
        }
        let mut config: Config =
            toml::Value::Table(root)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: format!("{origin} with LANTERN_* overrides"),
                    message: e.to_string(),
                })?;
        config.resolve_secrets(secrets)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads secret files into `kafka.properties`, then environment secrets (which win).
    fn resolve_secrets(
        &mut self,
        env_secrets: BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        for (property, path) in &self.kafka.secret_files {
            let value = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    &format!("kafka.secret_files.{property}"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            self.kafka
                .properties
                .insert(property.clone(), value.trim_end().to_string());
        }
        self.kafka.properties.extend(env_secrets);
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return Err(invalid("kafka.bootstrap_servers", "must not be empty"));
        }
        let topics = [
            ("topics.incidents", &self.topics.incidents),
            ("topics.business_crime", &self.topics.business_crime),
            ("topics.cybercrime", &self.topics.cybercrime),
            ("topics.dead_letter", &self.topics.dead_letter),
        ];
        for (key, topic) in topics {
            let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) {
                return Err(invalid(
                    key,
                    format!("{topic:?} is not a legal Kafka topic name"),
                ));
            }
        }
        // A dead letter written to a source topic would be read back as input, refused again and
        // dead-lettered forever; two pipelines on one topic would each dead-letter the other's.
        for (i, (key, topic)) in topics.iter().enumerate() {
            if let Some((other, _)) = topics[..i].iter().find(|(_, t)| t == topic) {
                return Err(invalid(
                    key,
                    format!("{topic:?} is already {other}: every topic must be different"),
                ));
            }
        }
        if let Some(id) = &self.processor.instance_id {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
            if id.is_empty() || id.len() > 200 || !id.chars().all(allowed) {
                return Err(invalid(
                    "processor.instance_id",
                    format!("{id:?} must be 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', '-'"),
                ));
            }
        }
        if self.processor.max_batch_events == 0 {
            return Err(invalid("processor.max_batch_events", "must be at least 1"));
        }
        if !(1..=65_536).contains(&self.processor.state_cache_mb) {
            return Err(invalid("processor.state_cache_mb", "must be in 1..=65536"));
        }
        if self.processor.max_batch_wait_ms == 0 {
            return Err(invalid("processor.max_batch_wait_ms", "must be at least 1"));
        }
        let code = &self.processor.force_area_code;
        if !(code.len() == 9 && (code.starts_with("E23") || code.starts_with("W15"))) {
            return Err(invalid(
                "processor.force_area_code",
                format!("{code:?} is not an ONS police force area code (E23xxxxxx or W15xxxxxx)"),
            ));
        }
        for pipeline in &self.processor.pipelines {
            if lantern_pipelines::pipeline(pipeline).is_none() {
                return Err(invalid(
                    "processor.pipelines",
                    format!(
                        "unknown pipeline {pipeline:?}; known: {:?}",
                        lantern_pipelines::PIPELINES
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                    ),
                ));
            }
        }
        for (key, listen) in [
            ("http.listen", &self.http.listen),
            ("query.http_listen", &self.query.http_listen),
            ("query.pg_listen", &self.query.pg_listen),
        ] {
            if listen.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    key,
                    format!("{listen:?} is not a socket address like 127.0.0.1:9898"),
                ));
            }
        }
        if let Some(url) = &self.storage.url {
            let bucket = url.strip_prefix("s3://").map(|rest| rest.split('/').next());
            match (bucket, url.starts_with("file:///")) {
                (Some(Some(bucket)), _) if !bucket.is_empty() => {}
                (None, true) => {}
                _ => {
                    return Err(invalid(
                        "storage.url",
                        format!("{url:?} is not s3://bucket/prefix or file:///path"),
                    ));
                }
            }
        }
        for (key, value) in [
            ("query.max_rows", self.query.max_rows),
            ("query.timeout_ms", self.query.timeout_ms),
            ("query.memory_limit_mb", self.query.memory_limit_mb),
            (
                "query.max_concurrent_queries",
                self.query.max_concurrent_queries as u64,
            ),
            ("query.session_ttl_minutes", self.query.session_ttl_minutes),
            ("intake.max_body_bytes", self.intake.max_body_bytes),
            ("intake.reports_per_minute", self.intake.reports_per_minute),
            ("intake.produce_timeout_ms", self.intake.produce_timeout_ms),
            (
                "intake.idempotency_ttl_hours",
                self.intake.idempotency_ttl_hours,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Keys whose values are paths. A relative path written in a config file means relative to that
/// file, so `lantern --config /srv/lantern/lantern.toml` works from any directory; a relative
/// path from the environment or the defaults stays relative to the working directory.
const PATH_KEYS: [(&str, &str); 8] = [
    ("storage", "data_dir"),
    ("intake", "idempotency_file"),
    ("disclosure", "key_file"),
    ("pipelines", "dir"),
    ("query", "users_file"),
    ("query", "audit_log"),
    ("up", "broker_script"),
    ("up", "broker_dir"),
];
const PATH_TABLES: [(&str, &str); 1] = [("kafka", "secret_files")];

fn resolve_relative_paths(root: &mut toml::Table, base: &Path) {
    let resolve = |value: &mut toml::Value| {
        if let toml::Value::String(path) = value
            && Path::new(path.as_str()).is_relative()
        {
            *path = base.join(path.as_str()).display().to_string();
        }
    };
    for (section, key) in PATH_KEYS {
        if let Some(value) = root
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .and_then(|t| t.get_mut(key))
        {
            resolve(value);
        }
    }
    for (section, key) in PATH_TABLES {
        if let Some(table) = root
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .and_then(|t| t.get_mut(key))
            .and_then(toml::Value::as_table_mut)
        {
            table.iter_mut().for_each(|(_, value)| resolve(value));
        }
    }
}

/// Applies `LANTERN_SECTION__KEY=value` to the TOML tree. Values are parsed as TOML scalars or
/// arrays when they parse (numbers, booleans, `["a","b"]`), else taken as strings.
fn apply_override(
    root: &mut toml::Table,
    var: &str,
    path: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
    if keys.len() < 2 || keys.iter().any(String::is_empty) {
        return Err(invalid(
            var,
            "environment overrides look like LANTERN_<SECTION>__<KEY>",
        ));
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut table = root;
    for key in &keys[..keys.len() - 1] {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| invalid(var, format!("`{key}` is not a section")))?;
    }
    table.insert(keys[keys.len() - 1].clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(config.topics.incidents, "lantern.incidents.v1");
        assert_eq!(config.processor.force_area_code, "E23000003");
    }

    #[test]
    fn example_config_in_repo_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lantern.toml");
        Config::load_with_env(Some(&path), env(&[])).unwrap();
    }

    #[test]
    fn env_overrides_win_and_parse_numbers() {
        let config = Config::load_with_env(
            None,
            env(&[
                ("LANTERN_KAFKA__BOOTSTRAP_SERVERS", "broker:19092"),
                ("LANTERN_PROCESSOR__MAX_BATCH_EVENTS", "42"),
                ("LANTERN_KAFKA_SECRET__SASL_PASSWORD", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kafka.bootstrap_servers, "broker:19092");
        assert_eq!(config.processor.max_batch_events, 42);
        assert_eq!(config.kafka.properties["sasl.password"], "s3cret");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::load_with_env(None, env(&[("LANTERN_PROCESSOR__MAX_BATCH_EVENTS", "0")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("processor.max_batch_events"),
            "{err}"
        );
        let err =
            Config::load_with_env(None, env(&[("LANTERN_HTTP__LISTEN", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("http.listen"), "{err}");
        let err =
            Config::load_with_env(None, env(&[("LANTERN_QUERY__PG_LISTEN", "5432")])).unwrap_err();
        assert!(err.to_string().contains("query.pg_listen"), "{err}");
        for url in ["gs://bucket/x", "s3://", "/srv/lantern", "file://relative"] {
            let err =
                Config::load_with_env(None, env(&[("LANTERN_STORAGE__URL", url)])).unwrap_err();
            assert!(err.to_string().contains("storage.url"), "{url}: {err}");
        }
        for url in ["s3://bucket", "s3://bucket/prefix", "file:///srv/lantern"] {
            let config = Config::load_with_env(None, env(&[("LANTERN_STORAGE__URL", url)]));
            assert_eq!(config.unwrap().storage.url.as_deref(), Some(url));
        }
        let err =
            Config::load_with_env(None, env(&[("LANTERN_QUERY__TIMEOUT_MS", "0")])).unwrap_err();
        assert!(err.to_string().contains("query.timeout_ms"), "{err}");
        let err = Config::load_with_env(None, env(&[("LANTERN_PROCESSOR__FORCE_AREA_CODE", "X1")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("processor.force_area_code"),
            "{err}"
        );
        let err = Config::load_with_env(
            None,
            env(&[("LANTERN_PROCESSOR__INSTANCE_ID", "\"pod 0\"")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("processor.instance_id"), "{err}");
        let config = Config::load_with_env(
            None,
            env(&[("LANTERN_PROCESSOR__INSTANCE_ID", "lantern-0")]),
        )
        .unwrap();
        assert_eq!(config.processor.instance_id.as_deref(), Some("lantern-0"));
    }

    #[test]
    fn the_dead_letter_topic_cannot_be_a_source_topic() {
        let err = Config::load_with_env(
            None,
            env(&[("LANTERN_TOPICS__DEAD_LETTER", "lantern.incidents.v1")]),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("topics.dead_letter"), "{message}");
        assert!(message.contains("topics.incidents"), "{message}");
    }

    #[test]
    fn relative_paths_in_a_file_are_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("lantern-config-rel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lantern.toml");
        std::fs::write(
            &path,
            "[storage]\ndata_dir = \"state/data\"\n[pipelines]\ndir = \"/abs/pipelines\"\n",
        )
        .unwrap();
        let config = Config::load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(config.storage.data_dir, dir.join("state/data"));
        assert_eq!(config.pipelines.dir, Some(PathBuf::from("/abs/pipelines")));
        let config =
            Config::load_with_env(Some(&path), env(&[("LANTERN_STORAGE__DATA_DIR", "here")]))
                .unwrap();
        assert_eq!(config.storage.data_dir, PathBuf::from("here"));
        assert_eq!(
            Config::default().pipelines.dir,
            None,
            "built-in definitions by default"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err =
            Config::load_with_env(None, env(&[("LANTERN_KAFKA__BOOTSTRAP", "x")])).unwrap_err();
        assert!(err.to_string().contains("bootstrap"), "{err}");
    }

    #[test]
    fn secret_files_are_read() {
        let dir = std::env::temp_dir().join(format!("lantern-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("pw");
        std::fs::write(&secret, "from-file\n").unwrap();
        let config_path = dir.join("lantern.toml");
        std::fs::write(
            &config_path,
            format!(
                "[kafka.secret_files]\n\"sasl.password\" = {:?}\n",
                secret.display().to_string()
            ),
        )
        .unwrap();
        let config = Config::load_with_env(Some(&config_path), env(&[])).unwrap();
        assert_eq!(config.kafka.properties["sasl.password"], "from-file");
        let missing = dir.join("missing.toml");
        std::fs::write(
            &missing,
            "[kafka.secret_files]\n\"sasl.password\" = \"/nonexistent/pw\"\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&missing), env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("kafka.secret_files.sasl.password"),
            "{err}"
        );
    }
}
