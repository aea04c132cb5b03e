//! Following one query from start to end, for the audit log and the metrics.
//!
//! A [`Track`] is started when a request or statement arrives and is finished exactly once with
//! its outcome. If it is dropped unfinished (the client disconnected mid-result), it records the
//! query as cancelled: no query leaves no trace.

use std::collections::BTreeMap;
use std::time::Instant;

use lantern_query::QueryError;
use lantern_query::access::Principal;
use lantern_query::catalog::Snapshot;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::audit::{AuditLog, AuditRecord, Outcome, Protocol};

/// Query metrics (docs/metrics.md, component `query`).
#[derive(Debug, Clone)]
pub struct QueryMetrics {
    pub queries: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    pub rows: IntCounterVec,
}

impl QueryMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let queries = IntCounterVec::new(
            Opts::new(
                "lantern_query_queries_total",
                "Queries received, by protocol and outcome (ok, error, cancelled, unauthenticated).",
            ),
            &["protocol", "outcome"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "lantern_query_errors_total",
                "Queries refused or failed, by protocol and stable error code.",
            ),
            &["protocol", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "lantern_query_duration_seconds",
                "Time from receiving a query to its last row sent, by protocol.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["protocol"],
        )?;
        let rows = IntCounterVec::new(
            Opts::new(
                "lantern_query_rows_returned_total",
                "Rows sent to clients, by protocol.",
            ),
            &["protocol"],
        )?;
        registry.register(Box::new(queries.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(rows.clone()))?;
        // Every series with a bounded label set exists from the start, at zero, so rates and
        // alerts see 0 rather than no data. Error codes appear with their first error.
        for protocol in Protocol::ALL.map(Protocol::as_str) {
            for outcome in Outcome::ALL {
                queries.with_label_values(&[protocol, outcome.as_str()]);
            }
            duration.with_label_values(&[protocol]);
            rows.with_label_values(&[protocol]);
        }
        Ok(QueryMetrics {
            queries,
            errors,
            duration,
            rows,
        })
    }
}

/// Where finished queries are reported.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub audit: AuditLog,
    pub metrics: QueryMetrics,
}

impl Tracker {
    pub fn start(&self, protocol: Protocol, client: String, sql: Option<String>) -> Track {
        Track {
            tracker: Some(self.clone()),
            record: Some(AuditRecord {
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                user: None,
                role: None,
                protocol,
                client,
                sql,
                tables: Vec::new(),
                snapshot: BTreeMap::new(),
                rows: 0,
                duration_ms: 0.0,
                outcome: Outcome::Cancelled,
                error_code: None,
                error: None,
                report: None,
            }),
            started: Instant::now(),
        }
    }
}

/// One query in flight.
#[derive(Debug)]
pub struct Track {
    tracker: Option<Tracker>,
    record: Option<AuditRecord>,
    started: Instant,
}

impl Track {
    /// A track that records nothing (what is left after a track was moved out).
    pub fn detached() -> Track {
        Track {
            tracker: None,
            record: None,
            started: Instant::now(),
        }
    }

    fn record(&mut self) -> &mut AuditRecord {
        self.record.as_mut().expect("a track is finished only once")
    }

    pub fn set_principal(&mut self, who: &Principal) {
        let record = self.record();
        record.user = Some(who.name.clone());
        record.role = Some(who.role.to_string());
    }

    /// The user name a failed login claimed.
    pub fn set_claimed_user(&mut self, user: Option<&str>) {
        self.record().user = user.map(str::to_string);
    }

    pub fn set_sql(&mut self, sql: &str) {
        self.record().sql = Some(sql.to_string());
    }

    /// What the query read: its tables and the manifests it saw.
    pub fn set_reads<'a>(
        &mut self,
        tables: impl IntoIterator<Item = &'a String>,
        snapshot: &Snapshot,
    ) {
        let record = self.record();
        record.tables = tables.into_iter().cloned().collect();
        record.snapshot = snapshot.versions().into_iter().collect();
    }

    pub fn ok(mut self, rows: u64) {
        self.finish(Outcome::Ok, rows, None);
    }

    pub fn failed(mut self, rows: u64, error: &QueryError) {
        self.finish(
            Outcome::Error,
            rows,
            Some((error.code(), error.to_string())),
        );
    }

    /// Refused before reaching the engine (a malformed request).
    pub fn refused(mut self, code: &str, message: &str) {
        self.finish(Outcome::Error, 0, Some((code, message.to_string())));
    }

    /// Rows sent so far, so a cancelled query's record says how far it got.
    pub fn set_rows(&mut self, rows: u64) {
        if let Some(record) = self.record.as_mut() {
            record.rows = rows;
        }
    }

    pub fn unauthenticated(mut self, reason: &str) {
        self.finish(
            Outcome::Unauthenticated,
            0,
            Some(("unauthenticated", reason.to_string())),
        );
    }

    fn finish(&mut self, outcome: Outcome, rows: u64, error: Option<(&str, String)>) {
        let (Some(mut record), Some(tracker)) = (self.record.take(), self.tracker.take()) else {
            return;
        };
        let protocol = record.protocol.as_str();
        let elapsed = self.started.elapsed();
        record.duration_ms = elapsed.as_secs_f64() * 1000.0;
        record.rows = rows;
        record.outcome = outcome;
        let m = &tracker.metrics;
        m.queries
            .with_label_values(&[protocol, outcome.as_str()])
            .inc();
        m.duration
            .with_label_values(&[protocol])
            .observe(elapsed.as_secs_f64());
        m.rows.with_label_values(&[protocol]).inc_by(rows);
        if let Some((code, message)) = error {
            m.errors.with_label_values(&[protocol, code]).inc();
            record.error_code = Some(code.to_string());
            record.error = Some(message);
        }
        tracker.audit.record(record);
    }
}

impl Drop for Track {
    fn drop(&mut self) {
        if self.record.is_some() {
            let rows = self.record.as_ref().map_or(0, |r| r.rows);
            self.finish(Outcome::Cancelled, rows, None);
        }
    }
}
