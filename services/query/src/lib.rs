//! Read-only SQL over Lantern's published aggregate tables.
//!
//! [`QueryService`] registers every published table of a data directory in a DataFusion
//! [`SessionContext`] and runs one client statement at a time. Clients send arbitrary SQL, so
//! the service is locked down in three layers:
//!
//! 1. The session is built by [`session_context`]: URL tables are off (`SELECT * FROM
//!    '/etc/passwd'` is an unknown table, not a file read) and only DataFusion's core table
//!    functions (`generate_series`, `range`) exist: no `read_csv` / `read_parquet`.
//! 2. Every statement is parsed with DataFusion's own parser (same dialect and recursion limit
//!    as the session) and refused with [`QueryError::ReadOnly`] unless it is exactly one plain
//!    query, or `EXPLAIN` of one. Nested data-modifying statements (`WITH .. INSERT`) and
//!    `SELECT .. INTO` are refused too.
//! 3. The statement is then planned with [`SQLOptions`] that forbid DDL, DML and
//!    statements, so anything the pre-parse missed still fails before it runs.

use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::DynamicFileCatalog;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Select, Statement as SqlStatement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

/// How [`format_batches`] renders a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table (Arrow's pretty printer).
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects, one per row; NULLs are written as `null`.
    Json,
}

impl FromStr for OutputFormat {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            other => Err(QueryError::UnknownFormat(other.to_string())),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
        })
    }
}

/// Errors from [`QueryService`] and [`format_batches`].
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change tables, settings or files, or is not a single query.
    #[error("Lantern SQL is read-only: {statement_kind} statements are not allowed")]
    ReadOnly { statement_kind: String },
    /// The SQL text held no statement at all.
    #[error("no SQL statement given")]
    Empty,
    /// The SQL could not be parsed or planned (syntax error, unknown table or column, ...).
    #[error("invalid query: {0}")]
    Plan(#[source] DataFusionError),
    /// The query was valid but failed while running.
    #[error("query failed: {0}")]
    Execution(#[source] DataFusionError),
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
    /// [`QueryService::from_context`] was given a context that could read arbitrary files.
    #[error("refusing to query: the session has URL tables enabled, which lets SQL read any file")]
    UrlTablesEnabled,
}

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
        let table = MemTable::try_new(schema, vec![batches]).map_err(QueryError::Plan)?;
        self.ctx
            .register_table("place_names", Arc::new(table))
            .map(drop)
            .map_err(QueryError::Plan)
    }

    /// Runs one read-only statement: a query, or `EXPLAIN` of one. Anything else fails with
    /// [`QueryError::ReadOnly`] before it is planned.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        if self.url_tables {
            return Err(QueryError::UrlTablesEnabled);
        }
        self.check_read_only(sql)?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self
            .ctx
            .sql_with_options(sql, options)
            .await
            .map_err(QueryError::Plan)?;
        df.collect().await.map_err(QueryError::Execution)
    }

    /// Parses `sql` exactly as the session will and refuses anything but one plain query.
    fn check_read_only(&self, sql: &str) -> Result<(), QueryError> {
        let config = self.ctx.copied_config();
        let parser_options = &config.options().sql_parser;
        let dialect = dialect_from_str(parser_options.dialect).ok_or_else(|| {
            QueryError::Plan(DataFusionError::Plan(format!(
                "unsupported SQL dialect {}",
                parser_options.dialect
            )))
        })?;
        let mut statements = DFParserBuilder::new(sql)
            .with_dialect(dialect.as_ref())
            .with_recursion_limit(parser_options.recursion_limit.get())
            .build()
            .and_then(|mut parser| parser.parse_statements())
            .map_err(QueryError::Plan)?;
        let statement = match statements.len() {
            0 => return Err(QueryError::Empty),
            1 => statements.pop_front().expect("one statement"),
            _ => return Err(read_only("multiple")),
        };
        check_statement(&statement)
    }
}

fn read_only(kind: impl Into<String>) -> QueryError {
    QueryError::ReadOnly {
        statement_kind: kind.into(),
    }
}

/// Accepts a plain query or `EXPLAIN` of one; names the kind of anything else.
fn check_statement(statement: &DfStatement) -> Result<(), QueryError> {
    match statement {
        DfStatement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(query) => check_query(query),
            other => Err(read_only(sql_statement_kind(other))),
        },
        DfStatement::Explain(explain) => check_statement(&explain.statement).map_err(|e| match e {
            QueryError::ReadOnly { statement_kind } => {
                read_only(format!("EXPLAIN {statement_kind}"))
            }
            other => other,
        }),
        DfStatement::CreateExternalTable(_) => Err(read_only("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(read_only("COPY")),
        DfStatement::Reset(_) => Err(read_only("RESET")),
    }
}

/// Walks a query for anything that writes: a nested statement (`WITH x AS (..) INSERT ..`,
/// Postgres-style data-modifying CTEs) or `SELECT .. INTO new_table`.
fn check_query(query: &impl Visit) -> Result<(), QueryError> {
    struct Writes;
    impl Visitor for Writes {
        type Break = String;

        fn pre_visit_statement(&mut self, statement: &SqlStatement) -> ControlFlow<String> {
            ControlFlow::Break(sql_statement_kind(statement))
        }

        fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
            if select.into.is_some() {
                ControlFlow::Break("SELECT INTO".to_string())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    match query.visit(&mut Writes) {
        ControlFlow::Break(kind) => Err(read_only(kind)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// A short name for a statement's kind, e.g. `INSERT`, `CREATE VIEW`, `DROP TABLE`.
fn sql_statement_kind(statement: &SqlStatement) -> String {
    let fixed = match statement {
        SqlStatement::Query(_) => "query",
        SqlStatement::Insert(_) => "INSERT",
        SqlStatement::Update(_) => "UPDATE",
        SqlStatement::Delete(_) => "DELETE",
        SqlStatement::Merge(_) => "MERGE",
        SqlStatement::Truncate(_) => "TRUNCATE",
        SqlStatement::Copy { .. } => "COPY",
        SqlStatement::Set(_) => "SET",
        SqlStatement::Reset(_) => "RESET",
        SqlStatement::CreateTable(_) => "CREATE TABLE",
        SqlStatement::CreateView(_) => "CREATE VIEW",
        SqlStatement::CreateSchema { .. } => "CREATE SCHEMA",
        SqlStatement::CreateDatabase { .. } => "CREATE DATABASE",
        SqlStatement::CreateFunction(_) => "CREATE FUNCTION",
        SqlStatement::CreateIndex(_) => "CREATE INDEX",
        SqlStatement::AlterTable(_) => "ALTER TABLE",
        SqlStatement::Drop { object_type, .. } => return format!("DROP {object_type}"),
        SqlStatement::DropFunction(_) => "DROP FUNCTION",
        SqlStatement::Explain { .. } => "EXPLAIN",
        SqlStatement::ExplainTable { .. } => "DESCRIBE",
        SqlStatement::Prepare { .. } => "PREPARE",
        SqlStatement::Execute { .. } => "EXECUTE",
        SqlStatement::Deallocate { .. } => "DEALLOCATE",
        SqlStatement::StartTransaction { .. } => "BEGIN",
        SqlStatement::Commit { .. } => "COMMIT",
        SqlStatement::Rollback { .. } => "ROLLBACK",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    // Anything else: its leading keyword as printed, e.g. `SHOW`, `GRANT`, `VACUUM`.
    statement
        .to_string()
        .split_whitespace()
        .next()
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "unknown".to_string())
}

/// Renders query results: an aligned table, CSV with a header, or a JSON array of objects.
///
/// With no batches at all (DataFusion may return none for an empty result) `table` prints an
/// empty frame, `csv` an empty string and `json` `[]`.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, QueryError> {
    match format {
        OutputFormat::Table => arrow::util::pretty::pretty_format_batches(batches)
            .map(|table| table.to_string())
            .map_err(QueryError::Format),
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(QueryError::Format)?;
            }
            utf8(writer.into_inner())
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(QueryError::Format)?;
            }
            writer.finish().map_err(QueryError::Format)?;
            utf8(writer.into_inner())
        }
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, QueryError> {
    String::from_utf8(bytes).map_err(|e| QueryError::Format(ArrowError::ExternalError(Box::new(e))))
}

#[cfg(test)]
mod tests;
