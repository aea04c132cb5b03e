//! Report intake: `POST /api/v1/reports/{business-crime|cybercrime-report|incident}`.
//!
//! A report is checked against the same contract the processor enforces ([`validate`]) and
//! produced to the kind's topic with `acks=all`, keyed by its record id. The answer:
//! - `202` with the event id, once the broker has acknowledged it;
//! - `400` naming every failing field (JSON pointer and reason), nothing produced;
//! - `401` without a valid token; `403` for a role that may not file this kind, or a reporter's
//!   report for a business that is not theirs;
//! - `409` for an `Idempotency-Key` already used with another body ([`idempotency`]);
//! - `413` over `intake.max_body_bytes`; `429` over `intake.reports_per_minute`;
//! - `503` when the broker has not acknowledged within `intake.produce_timeout_ms`. Nothing is
//!   kept in memory for later: librdkafka drops the message at that deadline.
//!
//! Every submission, accepted or refused, is a line of the audit log (`report` set: kind, record
//! and event id, topic, partition and offset).
//!
//! Who may file: admins every kind; reporters business-crime reports for their own business
//! references (`lantern users add NAME --role reporter --business REF`). A report without an
//! `event_id` gets one: derived from the user and the `Idempotency-Key` when there is one (so a
//! retry after a lost answer makes the same event), random otherwise.

pub mod idempotency;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lantern_common::config::{Config, TopicsConfig};
use lantern_query::access::{Principal, Role};
use prometheus::{IntCounterVec, Opts, Registry};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::audit::{AuditLog, AuditRecord, Outcome, Protocol, ReportAudit};
use crate::directory::Directory;
use crate::http::media_type;
use crate::rate::{self, RateLimiter};
use crate::users::{hex_string, random_bytes};
use idempotency::{Answer, IdempotencyStore, Lookup};
use validate::{FieldError, Validators};

/// A kind of report, as named in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    BusinessCrime,
    CybercrimeReport,
    Incident,
}

impl ReportKind {
    const ALL: [ReportKind; 3] = [
        ReportKind::BusinessCrime,
        ReportKind::CybercrimeReport,
        ReportKind::Incident,
    ];

    /// The URL segment, which is also the schema's name.
    pub fn schema(self) -> &'static str {
        match self {
            ReportKind::BusinessCrime => "business-crime",
            ReportKind::CybercrimeReport => "cybercrime-report",
            ReportKind::Incident => "incident",
        }
    }

    fn parse(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.schema() == segment)
    }

    fn topic(self, topics: &TopicsConfig) -> &str {
        match self {
            ReportKind::BusinessCrime => &topics.business_crime,
            ReportKind::CybercrimeReport => &topics.cybercrime,
            ReportKind::Incident => &topics.incidents,
        }
    }
}

/// Everything the intake's route shares.
pub struct Intake {
    directory: Arc<Directory>,
    audit: AuditLog,
    producer: FutureProducer,
    topics: TopicsConfig,
    validators: Validators,
    limiter: RateLimiter,
    keys: IdempotencyStore,
    max_body_bytes: usize,
    produce_timeout: Duration,
    outcomes: IntCounterVec,
}

/// Why the intake could not start, naming the config key.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("creating the intake's Kafka producer (kafka.*): {0}")]
    Producer(#[from] lantern_stream::StreamError),
    #[error("opening {path} (intake.idempotency_file): {source}")]
    Keys {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registering intake metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Intake {
    pub fn new(
        config: &Config,
        directory: Arc<Directory>,
        audit: AuditLog,
        registry: &Registry,
    ) -> Result<Arc<Self>, IntakeError> {
        let intake = &config.intake;
        let timeout_ms = intake.produce_timeout_ms.to_string();
        let producer = lantern_stream::kafka::producer_with(
            &config.kafka,
            &[
                // The deadline for an acknowledgement; after it librdkafka drops the message
                // and the client is answered 503.
                ("message.timeout.ms", timeout_ms.as_str()),
                // A report is answered on its own acknowledgement: no waiting to batch.
                ("linger.ms", "0"),
            ],
        )?;
        let ttl = chrono::Duration::hours(intake.idempotency_ttl_hours as i64);
        let keys = IdempotencyStore::open(&intake.idempotency_file, ttl).map_err(|source| {
            IntakeError::Keys {
                path: intake.idempotency_file.clone(),
                source,
            }
        })?;
        let outcomes = IntCounterVec::new(
            Opts::new(
                "lantern_intake_reports_total",
                "Reports submitted over HTTP, by kind and outcome (accepted, replayed, invalid, \
                 forbidden, unauthenticated, too_large, rate_limited, conflict, unavailable).",
            ),
            &["kind", "outcome"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(Arc::new(Intake {
            directory,
            audit,
            producer,
            topics: config.topics.clone(),
            validators: Validators::new(),
            limiter: RateLimiter::new(intake.reports_per_minute),
            keys,
            max_body_bytes: intake.max_body_bytes as usize,
            produce_timeout: Duration::from_millis(intake.produce_timeout_ms),
            outcomes,
        }))
    }
}

pub fn routes(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/api/v1/reports/{kind}", post(submit))
        .with_state(intake)
}

/// An answer, and the outcome label it counts under.
#[derive(Clone)]
struct Reply {
    outcome: &'static str,
    status: StatusCode,
    body: Value,
    retry_after: Option<Duration>,
}

impl Reply {
    fn error(outcome: &'static str, status: StatusCode, code: &str, message: String) -> Self {
        Reply {
            outcome,
            status,
            body: json!({"error": {"code": code, "message": message}}),
            retry_after: None,
        }
    }

    fn into_response(self, replayed: bool) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        let headers = response.headers_mut();
        if let Some(wait) = self.retry_after {
            headers.insert(header::RETRY_AFTER, rate::retry_after(wait));
        }
        if replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lantern\""),
            );
        }
        response
    }
}

async fn submit(
    State(intake): State<Arc<Intake>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let Some(kind) = ReportKind::parse(&kind) else {
        let known: Vec<&str> = ReportKind::ALL.iter().map(|k| k.schema()).collect();
        return Reply::error(
            "unknown_kind",
            StatusCode::NOT_FOUND,
            "unknown_kind",
            format!("no report kind {kind:?}: use one of {}", known.join(", ")),
        )
        .into_response(false);
    };
    let who = authenticate(&intake, &headers).await;
    let (reply, replayed) = match &who {
        Ok(who) => match handle(&intake, kind, who, &headers, body).await {
            Ok((reply, replayed)) => (reply, replayed),
            Err(reply) => (reply, false),
        },
        Err(refusal) => (refusal.clone(), false),
    };
    let outcome = if replayed { "replayed" } else { reply.outcome };
    intake
        .outcomes
        .with_label_values(&[kind.schema(), outcome])
        .inc();
    intake.audit.record(audit_record(
        time,
        client,
        who.ok().as_ref(),
        kind,
        &reply,
        replayed,
        started.elapsed(),
    ));
    reply.into_response(replayed)
}

/// The audit log's line for one submission: who, what, and where it went in Kafka.
fn audit_record(
    time: String,
    client: SocketAddr,
    who: Option<&Principal>,
    kind: ReportKind,
    reply: &Reply,
    replayed: bool,
    took: Duration,
) -> AuditRecord {
    let text = |key: &str| reply.body[key].as_str().map(String::from);
    let accepted = reply.status == StatusCode::ACCEPTED;
    AuditRecord {
        time,
        user: who.map(|w| w.name.clone()),
        role: who.map(|w| w.role.as_str().to_string()),
        protocol: Protocol::Http,
        client: client.to_string(),
        sql: None,
        tables: Vec::new(),
        snapshot: Default::default(),
        rows: u64::from(accepted),
        duration_ms: took.as_secs_f64() * 1000.0,
        outcome: match reply.status {
            StatusCode::ACCEPTED => Outcome::Ok,
            StatusCode::UNAUTHORIZED => Outcome::Unauthenticated,
            _ => Outcome::Error,
        },
        error_code: reply.body["error"]["code"].as_str().map(String::from),
        error: reply.body["error"]["message"].as_str().map(String::from),
        report: Some(ReportAudit {
            kind: kind.schema().to_string(),
            record_id: text("record_id"),
            event_id: text("event_id"),
            topic: text("topic"),
            partition: reply.body["partition"].as_i64().map(|p| p as i32),
            offset: reply.body["offset"].as_i64(),
            replayed,
        }),
    }
}

/// The checks in the order a client can act on them; `Err` for a refusal.
async fn handle(
    intake: &Intake,
    kind: ReportKind,
    who: &Principal,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Reply, bool), Reply> {
    may_file(who, kind, None)?;
    if let Err(wait) = intake.limiter.take(&who.name) {
        let mut reply = Reply::error(
            "rate_limited",
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} reports a minute from {} (intake.reports_per_minute): retry later",
                intake.limiter.per_minute(),
                who.name
            ),
        );
        reply.retry_after = Some(wait);
        return Err(reply);
    }
    if !is_json(headers) {
        return Err(Reply::error(
            "invalid",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the report as JSON (Content-Type: application/json)".into(),
        ));
    }
    let bytes = read_body(intake, headers, body).await?;
    let key = idempotency_key(headers)?;
    let Some(key) = key else {
        return Ok((file(intake, kind, who, &bytes, None).await, false));
    };
    let body_sha256 = hex_string(&Sha256::digest(&bytes));
    let (lookup, _guard) = intake.keys.begin(&who.name, &key, &body_sha256).await;
    match lookup {
        Lookup::Replay(answer) => Ok((
            Reply {
                outcome: "replayed",
                status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED),
                body: answer.response,
                retry_after: None,
            },
            true,
        )),
        Lookup::Conflict => Err(Reply::error(
            "conflict",
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!(
                "Idempotency-Key {key:?} was already used with a different report: use a new key \
                 for a new report"
            ),
        )),
        Lookup::New => {
            let reply = file(intake, kind, who, &bytes, Some(&key)).await;
            if reply.status == StatusCode::ACCEPTED {
                let answer = Answer {
                    user: who.name.clone(),
                    key,
                    body_sha256,
                    status: reply.status.as_u16(),
                    response: reply.body.clone(),
                    at: chrono::Utc::now(),
                };
                if let Err(error) = intake.keys.remember(answer) {
                    // The event is in Kafka; a retry would make a second event with the same
                    // event and record id, which the processor counts once.
                    tracing::error!(%error, "Cannot keep an Idempotency-Key answer.");
                }
            }
            Ok((reply, false))
        }
    }
}

async fn authenticate(intake: &Intake, headers: &HeaderMap) -> Result<Principal, Reply> {
    crate::http::authenticate(&intake.directory, headers)
        .await
        .map_err(|e| {
            Reply::error(
                "unauthenticated",
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                e.to_string(),
            )
        })
}

/// Whether `who` may file a report of `kind` (and, once known, for `business_ref`).
fn may_file(who: &Principal, kind: ReportKind, business_ref: Option<&str>) -> Result<(), Reply> {
    let forbidden =
        |message: String| Reply::error("forbidden", StatusCode::FORBIDDEN, "forbidden", message);
    match who.role {
        Role::Admin => Ok(()),
        Role::Reporter if kind == ReportKind::BusinessCrime => match business_ref {
            Some(business) if !who.businesses.contains(business) => Err(forbidden(format!(
                "/business_ref: {} may not file reports for business {business:?}",
                who.name
            ))),
            _ => Ok(()),
        },
        Role::Reporter => Err(forbidden(format!(
            "a reporter files business-crime reports only, not {}",
            kind.schema()
        ))),
        role => Err(forbidden(format!(
            "role {role} may not file reports: ask an administrator for a reporter account"
        ))),
    }
}

/// JSON, or no declared type at all.
fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_none_or(|media| media == "application/json")
}

async fn read_body(intake: &Intake, headers: &HeaderMap, body: Body) -> Result<Bytes, Reply> {
    let limit = intake.max_body_bytes;
    let too_large = || {
        Reply::error(
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a report may be at most {limit} bytes (intake.max_body_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// The `Idempotency-Key` header: 1 to 200 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Reply> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=200).contains(&key.len()) && key.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(key.to_string()))
        }
        _ => Err(Reply::error(
            "invalid",
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
            "Idempotency-Key: 1 to 200 visible ASCII characters".into(),
        )),
    }
}

/// Validates and produces one report; the answer to send.
async fn file(
    intake: &Intake,
    kind: ReportKind,
    who: &Principal,
    bytes: &[u8],
    key: Option<&str>,
) -> Reply {
    let report = match with_event_id(bytes, &who.name, key) {
        Ok(report) => report,
        Err(errors) => return invalid(errors),
    };
    let accepted = match intake.validators.check(kind, &report) {
        Ok(accepted) => accepted,
        Err(errors) => return invalid(errors),
    };
    if let Err(refusal) = may_file(who, kind, accepted.business_ref.as_deref()) {
        return refusal;
    }
    let topic = kind.topic(&intake.topics);
    let record = FutureRecord::to(topic)
        .key(accepted.record_id.as_bytes())
        .payload(&report);
    match intake
        .producer
        .send(record, Timeout::After(intake.produce_timeout))
        .await
    {
        Ok(delivery) => Reply {
            outcome: "accepted",
            status: StatusCode::ACCEPTED,
            body: json!({
                "event_id": accepted.event_id,
                "record_id": accepted.record_id,
                "topic": topic,
                "partition": delivery.partition,
                "offset": delivery.offset,
            }),
            retry_after: None,
        },
        Err((error, _)) => {
            tracing::warn!(%error, topic, "The broker did not acknowledge a report.");
            let mut reply = Reply::error(
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                format!(
                    "the broker did not acknowledge the report within {} ms ({error}); nothing \
                     was kept: retry with the same Idempotency-Key",
                    intake.produce_timeout.as_millis()
                ),
            );
            reply.retry_after = Some(Duration::from_secs(5));
            reply
        }
    }
}

fn invalid(errors: Vec<FieldError>) -> Reply {
    let message = format!(
        "the report is not valid: {}",
        errors
            .iter()
            .map(|e| format!(
                "{} {}",
                if e.pointer.is_empty() {
                    "(report)"
                } else {
                    &e.pointer
                },
                e.reason
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Reply {
        outcome: "invalid",
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": {"code": "invalid_report", "message": message, "fields": errors}}),
        retry_after: None,
    }
}

/// The report's bytes, with an `event_id` added when it has none.
fn with_event_id(bytes: &[u8], user: &str, key: Option<&str>) -> Result<Vec<u8>, Vec<FieldError>> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![FieldError {
            pointer: String::new(),
            reason: format!("not JSON: {e}"),
        }]
    })?;
    let Some(object) = value.as_object_mut() else {
        return Err(vec![FieldError {
            pointer: String::new(),
            reason: "a report is a JSON object".into(),
        }]);
    };
    if object.contains_key("event_id") {
        return Ok(bytes.to_vec());
    }
    let id = match key {
        Some(key) => {
            let digest = Sha256::digest(format!("{user}\0{key}").as_bytes());
            format!("intake:{}", &hex_string(&digest)[..32])
        }
        None => format!("intake:{}", hex_string(&random_bytes::<16>())),
    };
    object.insert("event_id".into(), Value::String(id));
    Ok(serde_json::to_vec(&value).expect("JSON values serialise"))
}
