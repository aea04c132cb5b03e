//! Read-only SQL over Lantern's published aggregate tables.
//!
//! Clients send arbitrary SQL, so every path into DataFusion is locked down in layers:
//!
//! 1. Sessions are built by [`session_context`] (or [`engine::Engine`] for served queries): URL
//!    tables are off (`SELECT * FROM '/etc/passwd'` is an unknown table, not a file read) and
//!    only DataFusion's core table functions (`generate_series`, `range`) exist: no
//!    `read_csv` / `read_parquet`.
//! 2. [`readonly`] refuses anything but one plain query (or `EXPLAIN` of one) before planning,
//!    and checks plans again with planner options that forbid DDL, DML and statements.
//! 3. For served queries, [`access`] decides per role which tables exist at all in the
//!    caller's session, [`catalog`] pins each query to one committed snapshot of every table,
//!    and [`engine`] enforces the row, time and memory limits.
//!
//! [`QueryService`] is the one-shot form used by `lantern sql` on the machine holding the tables.

pub mod access;
pub mod catalog;
pub mod engine;
mod error;
mod format;
mod materialized;
pub mod readonly;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::DynamicFileCatalog;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use error::{ErrorClass, QueryError};
pub use format::{OutputFormat, format_batches};

/// A DataFusion session fit for client SQL: information_schema on (so `SELECT * FROM
/// information_schema.tables` works), URL tables off, and no file-reading table functions.
pub fn session_context() -> SessionContext {
    let config = SessionConfig::new().with_information_schema(true);
    // Deliberately never `.enable_url_table()`: that would let `FROM '/any/path'` read files.
    SessionContext::new_with_config(config)
}

/// Whether `ctx` resolves quoted paths in `FROM` as files (`SessionContext::enable_url_table`).
pub fn url_tables_enabled(ctx: &SessionContext) -> bool {
    ctx.state().catalog_list().is::<DynamicFileCatalog>()
}

/// The ONS names table (`level, code, name` for msoa, ward, lad, csp, force_area), parsed from
/// the operator's pipeline definitions (never from a client). About 10,000 rows: held in memory.
pub fn place_names_table(names_csv: &[u8]) -> Result<Arc<MemTable>, QueryError> {
    let schema = Arc::new(Schema::new(
        ["level", "code", "name"]
            .map(|c| Field::new(c, DataType::Utf8, false))
            .to_vec(),
    ));
    let batches = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
        .with_header(true)
        .build(names_csv)
        .and_then(|reader| reader.collect::<Result<Vec<_>, _>>())
        .map_err(QueryError::PlaceNames)?;
    MemTable::try_new(schema, vec![batches])
        .map(Arc::new)
        .map_err(QueryError::Plan)
}

/// The name under which [`place_names_table`] is registered.
pub const PLACE_NAMES: &str = "place_names";

/// Read-only SQL over the published tables.
pub struct QueryService {
    ctx: SessionContext,
    url_tables: bool,
}

impl fmt::Debug for QueryService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryService")
            .field("session_id", &self.ctx.session_id())
            .field("tables", &self.tables())
            .finish()
    }
}

impl QueryService {
    /// Registers every published table under `data_dir` (internal per-record tables excluded)
    /// in a fresh [`session_context`]. Each table is pinned to the manifest that was live now.
    pub async fn open(data_dir: &Path) -> Result<Self, QueryError> {
        let ctx = session_context();
        lantern_tables::register_all(&ctx, data_dir, false).await?;
        Ok(Self::from_context(ctx))
    }

    /// Wraps an existing context (tests, sqllogictest). The caller chooses what is registered;
    /// build it with [`session_context`]. A context with URL tables enabled is refused at query
    /// time ([`QueryError::UrlTablesEnabled`]).
    pub fn from_context(ctx: SessionContext) -> Self {
        let url_tables = url_tables_enabled(&ctx);
        Self { ctx, url_tables }
    }

    /// The underlying DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The tables a query can name without a schema prefix (the session's default catalog and
    /// schema), sorted.
    pub fn tables(&self) -> Vec<String> {
        let options = self.ctx.copied_config();
        let catalog = &options.options().catalog;
        let mut names = self
            .ctx
            .catalog(&catalog.default_catalog)
            .and_then(|c| c.schema(&catalog.default_schema))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Registers the ONS names table (`level, code, name` for msoa, ward, lad, csp,
    /// force_area) as `place_names`, so queries can label codes:
    /// `JOIN place_names n ON n.level = 'lad' AND n.code = lad_code`. The CSV (with a header)
    /// comes from the operator's pipeline definitions, never from the client; it is small (about
    /// 10,000 rows), so it is held in memory.
    pub fn register_place_names(&self, names_csv: &[u8]) -> Result<(), QueryError> {
        let table = place_names_table(names_csv)?;
        self.ctx
            .register_table(PLACE_NAMES, table)
            .map(drop)
            .map_err(QueryError::Plan)
    }

    /// Runs one read-only statement: a query, or `EXPLAIN` of one. Anything else fails with
    /// [`QueryError::ReadOnly`] before it is planned.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        if self.url_tables {
            return Err(QueryError::UrlTablesEnabled);
        }
        readonly::parse_read_only(&self.ctx, sql)?;
        let df = self
            .ctx
            .sql_with_options(sql, readonly::sql_options())
            .await
            .map_err(QueryError::Plan)?;
        df.collect().await.map_err(QueryError::Execution)
    }
}

#[cfg(test)]
mod tests;
