//! The audit log: one JSON line per query, allowed or refused, per failed login, and per report
//! submitted to the intake (with `report` set and no SQL).
//!
//! Lines are appended (`O_APPEND`) to `query.audit_log` by one writer task, which fsyncs after
//! each burst, so the log survives restarts and crashes lose at most the last burst. Queries do
//! not wait for the disk: they hand their record to the writer and go on.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Which front end a query came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Postgres,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Http, Protocol::Postgres];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Postgres => "postgres",
        }
    }
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Ran to completion; every row was sent.
    Ok,
    /// Refused or failed; `error_code` says why.
    Error,
    /// The client went away before the result was complete.
    Cancelled,
    /// The caller could not be authenticated; no SQL ran.
    Unauthenticated,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Cancelled,
        Outcome::Unauthenticated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
            Outcome::Unauthenticated => "unauthenticated",
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the query started (RFC 3339, UTC).
    pub time: String,
    pub user: Option<String>,
    pub role: Option<String>,
    pub protocol: Protocol,
    /// The client's address.
    pub client: String,
    pub sql: Option<String>,
    /// Tables the query read (empty when it was refused before planning).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Manifest sequence number of each pipeline the query saw.
    #[serde(default)]
    pub snapshot: BTreeMap<String, u64>,
    pub rows: u64,
    pub duration_ms: f64,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub error: Option<String>,
    /// A report submitted to the intake (`POST /api/v1/reports/{kind}`) instead of a query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportAudit>,
}

/// What the intake did with one report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportAudit {
    /// `business-crime`, `cybercrime-report` or `incident`.
    pub kind: String,
    /// Set when the report was accepted (or replayed): where it is in Kafka.
    pub record_id: Option<String>,
    pub event_id: Option<String>,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// Answered from the `Idempotency-Key` store rather than produced again.
    pub replayed: bool,
}

/// Where records go. Cloning shares the one writer.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<AuditRecord>,
}

/// Finishes writing when awaited after every [`AuditLog`] clone is dropped.
#[derive(Debug)]
pub struct AuditWriter {
    task: tokio::task::JoinHandle<()>,
}

impl AuditWriter {
    /// Waits until every record handed over has been written and synced.
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

/// Opens (creating, mode 0600) the audit log at `path` for appending and starts its writer.
pub fn open(path: &Path) -> std::io::Result<(AuditLog, AuditWriter)> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let path = path.to_path_buf();
    let task = tokio::task::spawn_blocking(move || write_records(file, rx, &path));
    Ok((AuditLog { tx }, AuditWriter { task }))
}

impl AuditLog {
    pub fn record(&self, record: AuditRecord) {
        if self.tx.send(record).is_err() {
            tracing::error!("The audit log writer has stopped; a query went unrecorded.");
        }
    }
}

fn write_records(
    mut file: std::fs::File,
    mut rx: mpsc::UnboundedReceiver<AuditRecord>,
    path: &Path,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut burst = vec![first];
        while let Ok(next) = rx.try_recv() {
            burst.push(next);
        }
        let mut bytes = Vec::new();
        for record in &burst {
            serde_json::to_writer(&mut bytes, record).expect("audit records serialise");
            bytes.push(b'\n');
        }
        if let Err(error) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            tracing::error!(%error, path = %path.display(), "Cannot write the audit log.");
        }
    }
}

/// The last `n` lines of the audit log at `path`.
pub fn tail(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let file = std::fs::File::open(path)?;
    let mut lines: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for line in std::io::BufReader::new(file).lines() {
        lines.push_back(line?);
        if lines.len() > n {
            lines.pop_front();
        }
    }
    Ok(lines.into())
}

/// Lines appended to `path` after byte `offset`, and the new offset.
pub fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<String>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len < offset {
        return Ok((Vec::new(), len)); // rotated or truncated: start again from its end
    }
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(file);
    let mut consumed = offset;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        if !line.ends_with('\n') {
            break; // a line still being written: read it next time
        }
        consumed += line.len() as u64;
        lines.push(line.trim_end().to_string());
        line.clear();
    }
    Ok((lines, consumed))
}

/// One record as a line a person reads.
pub fn summary(record: &AuditRecord) -> String {
    let who = match (&record.user, &record.role) {
        (Some(user), Some(role)) => format!("{user} ({role})"),
        (Some(user), None) => user.clone(),
        _ => "-".to_string(),
    };
    let outcome = match &record.error_code {
        Some(code) => format!("{} {code}", record.outcome.as_str()),
        None => record.outcome.as_str().to_string(),
    };
    let sql = match &record.report {
        Some(report) => format!(
            "report {}{}{}",
            report.kind,
            report
                .record_id
                .as_ref()
                .map(|id| format!(" {id}"))
                .unwrap_or_default(),
            if report.replayed { " (replayed)" } else { "" }
        ),
        None => record
            .sql
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    format!(
        "{} {:<8} {} {} {} rows {:.0} ms  {}",
        record.time,
        record.protocol.as_str(),
        who,
        outcome,
        record.rows,
        record.duration_ms,
        sql
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sql: &str) -> AuditRecord {
        AuditRecord {
            time: "2026-01-01T00:00:00Z".into(),
            user: Some("alice".into()),
            role: Some("analyst".into()),
            protocol: Protocol::Http,
            client: "127.0.0.1:1".into(),
            sql: Some(sql.into()),
            tables: vec![],
            snapshot: BTreeMap::new(),
            rows: 1,
            duration_ms: 2.0,
            outcome: Outcome::Ok,
            error_code: None,
            error: None,
            report: None,
        }
    }

    #[tokio::test]
    async fn records_are_appended_across_reopenings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        for sql in ["SELECT 1", "SELECT 2"] {
            let (log, writer) = open(&path).unwrap();
            log.record(record(sql));
            drop(log);
            writer.finish().await;
        }
        let lines = tail(&path, 10).unwrap();
        assert_eq!(lines.len(), 2);
        let second: AuditRecord = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(second.sql.as_deref(), Some("SELECT 2"));
        assert_eq!(tail(&path, 1).unwrap().len(), 1);
        let (all, offset) = read_from(&path, 0).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(read_from(&path, offset).unwrap().0.len(), 0);
        assert!(summary(&second).contains("alice (analyst) ok"));
    }
}
