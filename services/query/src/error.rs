//! Query errors, each with a stable code that HTTP clients and the audit log can rely on.

use std::time::Duration;

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Errors from the query engine and [`crate::format_batches`].
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change tables, settings or files, or is not a single query.
    #[error("Lantern SQL is read-only: {statement_kind} statements are not allowed")]
    ReadOnly { statement_kind: String },
    /// The SQL text held no statement at all.
    #[error("no SQL statement given")]
    Empty,
    /// The statement names a table the caller's role may not read.
    #[error("role {role} may not read table {table}; ask an administrator if you need it")]
    Forbidden { role: String, table: String },
    /// The SQL could not be parsed or planned (syntax error, unknown table or column, ...).
    #[error("invalid query: {0}")]
    Plan(#[source] DataFusionError),
    /// The query was valid but failed while running.
    #[error("query failed: {0}")]
    Execution(#[source] DataFusionError),
    /// The query would return more rows than `query.max_rows`.
    #[error(
        "the result has more than {limit} rows (query.max_rows): aggregate further, add a WHERE \
         clause or a LIMIT"
    )]
    RowLimit { limit: u64 },
    /// The query ran longer than `query.timeout_ms`.
    #[error(
        "the query was stopped after {:.1} s (query.timeout_ms): narrow it or aggregate a smaller range",
        .limit.as_secs_f64()
    )]
    Timeout { limit: Duration },
    /// The query needed more memory than `query.memory_limit_mb`.
    #[error(
        "the query needs more than {limit_mb} MiB of memory (query.memory_limit_mb): aggregate \
         before joining or sorting, or narrow it ({detail})"
    )]
    MemoryLimit { limit_mb: u64, detail: String },
    /// The published tables could not be registered.
    #[error(transparent)]
    Table(#[from] lantern_tables::TableError),
    /// The result could not be rendered.
    #[error("cannot format the result: {0}")]
    Format(#[source] ArrowError),
    /// The place names CSV is malformed.
    #[error("cannot read the place names table: {0}")]
    PlaceNames(#[source] ArrowError),
    /// An output format name other than `table`, `csv` or `json`.
    #[error("unknown output format {0:?}: expected table, csv or json")]
    UnknownFormat(String),
    /// [`crate::QueryService::from_context`] was given a context that could read arbitrary files.
    #[error("refusing to query: the session has URL tables enabled, which lets SQL read any file")]
    UrlTablesEnabled,
}

/// What kind of failure a [`QueryError`] is, for status codes and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is wrong (bad SQL, refused statement): fix it and retry.
    BadRequest,
    /// The caller's role may not do this.
    Forbidden,
    /// A configured limit stopped the query.
    Limit,
    /// Lantern's side failed.
    Internal,
}

impl QueryError {
    /// A stable, documented code (docs/analysts.md) naming the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::ReadOnly { .. } => "read_only",
            QueryError::Empty => "empty_query",
            QueryError::Forbidden { .. } => "table_not_allowed",
            QueryError::Plan(_) => "invalid_query",
            QueryError::Execution(_) => "query_failed",
            QueryError::RowLimit { .. } => "row_limit_exceeded",
            QueryError::Timeout { .. } => "timeout",
            QueryError::MemoryLimit { .. } => "memory_limit_exceeded",
            QueryError::UnknownFormat(_) => "unsupported_format",
            QueryError::Table(_)
            | QueryError::Format(_)
            | QueryError::PlaceNames(_)
            | QueryError::UrlTablesEnabled => "internal",
        }
    }

    /// The class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            QueryError::ReadOnly { .. }
            | QueryError::Empty
            | QueryError::Plan(_)
            | QueryError::Execution(_)
            | QueryError::UnknownFormat(_) => ErrorClass::BadRequest,
            QueryError::Forbidden { .. } => ErrorClass::Forbidden,
            QueryError::RowLimit { .. }
            | QueryError::Timeout { .. }
            | QueryError::MemoryLimit { .. } => ErrorClass::Limit,
            QueryError::Table(_)
            | QueryError::Format(_)
            | QueryError::PlaceNames(_)
            | QueryError::UrlTablesEnabled => ErrorClass::Internal,
        }
    }

    /// The SQLSTATE the PostgreSQL wire protocol reports for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            QueryError::ReadOnly { .. } => "25006", // read_only_sql_transaction
            QueryError::Empty => "42601",           // syntax_error
            QueryError::Forbidden { .. } => "42501", // insufficient_privilege
            QueryError::Plan(_) => "42000",         // syntax_error_or_access_rule_violation
            QueryError::Execution(_) => "22000",    // data_exception
            QueryError::RowLimit { .. } => "54000", // program_limit_exceeded
            QueryError::Timeout { .. } => "57014",  // query_canceled
            QueryError::MemoryLimit { .. } => "53200", // out_of_memory
            _ => "XX000",                           // internal_error
        }
    }

    /// Classifies a DataFusion error raised while running a query under `memory_limit_mb`.
    pub(crate) fn from_execution(error: DataFusionError, memory_limit_mb: u64) -> Self {
        if let DataFusionError::ResourcesExhausted(detail) = error.find_root() {
            return QueryError::MemoryLimit {
                limit_mb: memory_limit_mb,
                detail: first_line(detail),
            };
        }
        QueryError::Execution(error)
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
