//! Simple and extended query protocol over a connection's [`WireSession`].
//!
//! Statements are parsed with datafusion-pg-catalog's PostgreSQL compatibility parser (which
//! rewrites the catalog queries psql, Grafana and DBeaver send into SQL DataFusion plans), then:
//! - `BEGIN` / `COMMIT` / `ROLLBACK` are acknowledged: every statement is read-only and sees the
//!   latest snapshot, so a transaction has nothing to do (drivers such as psycopg send them);
//! - `SET` of a client-side setting drivers send on connect (`application_name`,
//!   `extra_float_digits`, `client_encoding`, ...) is acknowledged and changes nothing; any other
//!   `SET` is refused, like every other non-query statement;
//! - `SHOW` answers from the fixed server settings;
//! - everything else goes through the engine: read-only check, role check, snapshot, limits.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::DataType;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, StreamExt};
use lantern_query::engine::ResultStream;
use lantern_query::{QueryError, readonly};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;

use super::{PgFrontEnd, WireSession, settings};
use crate::audit::Protocol;
use crate::track::Track;

/// Client settings drivers set on connect that change nothing in Lantern.
const HARMLESS_SETTINGS: [&str; 8] = [
    "application_name",
    "extra_float_digits",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "client_min_messages",
    "bytea_output",
    "search_path",
];

/// A statement the wire protocol answers itself.
#[derive(Debug, Clone)]
pub enum ClientStatement {
    Begin,
    Commit,
    Rollback,
    Set,
    Show { name: String, value: String },
}

/// A parsed statement, as stored by the extended protocol.
#[derive(Debug, Clone)]
pub enum WireStatement {
    Client(ClientStatement),
    /// A query, with the plan it had when parsed (for Describe). Execution plans it again on
    /// the snapshot current then.
    Query {
        sql: String,
        statement: Box<Statement>,
        plan: Box<LogicalPlan>,
    },
}

#[derive(Debug)]
pub struct QueryHandler {
    front: Arc<PgFrontEnd>,
    parser: Arc<WireParser>,
}

impl QueryHandler {
    pub fn new(front: Arc<PgFrontEnd>) -> Self {
        QueryHandler {
            parser: Arc::new(WireParser {
                front: Arc::clone(&front),
                sql: PostgresCompatibilityParser::new(),
            }),
            front,
        }
    }

    fn track<C: ClientInfo>(
        &self,
        client: &C,
        sql: &str,
    ) -> PgWireResult<(Arc<WireSession>, Track)> {
        let wire = session(client)?;
        let mut track =
            self.front
                .tracker
                .start(Protocol::Postgres, wire.peer.clone(), Some(sql.to_string()));
        track.set_principal(wire.session.principal());
        Ok((wire, track))
    }
}

fn session<C: ClientInfo>(client: &C) -> PgWireResult<Arc<WireSession>> {
    client
        .session_extensions()
        .get::<WireSession>()
        .ok_or_else(|| PgWireError::ApiError("the connection has not logged in".into()))
}

/// A [`QueryError`] as the ErrorResponse a PostgreSQL client shows.
fn wire_error(error: &QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        error.sqlstate().to_string(),
        error.to_string(),
    )))
}

#[derive(Debug)]
pub struct WireParser {
    front: Arc<PgFrontEnd>,
    sql: PostgresCompatibilityParser,
}

impl WireParser {
    /// Parses a query string into statements, naming refused statements clearly even when the
    /// PostgreSQL dialect cannot parse them (`CREATE EXTERNAL TABLE`, DataFusion's `COPY .. TO`).
    fn parse(&self, wire: &WireSession, sql: &str) -> Result<Vec<Statement>, QueryError> {
        match self.sql.parse(&settings::answer_search_path_subquery(sql)) {
            Ok(statements) => Ok(statements),
            Err(parse_error) => match readonly::parse_read_only(wire.session.context(), sql) {
                Err(refusal @ QueryError::ReadOnly { .. }) => Err(refusal),
                _ => Err(QueryError::Plan(datafusion::error::DataFusionError::SQL(
                    Box::new(parse_error),
                    None,
                ))),
            },
        }
    }
}

/// Answers transaction control, harmless `SET`s and `SHOW` without the engine.
fn client_statement<C: ClientInfo>(
    client: &C,
    statement: &Statement,
) -> Option<Result<ClientStatement, QueryError>> {
    match statement {
        Statement::StartTransaction { .. } => return Some(Ok(ClientStatement::Begin)),
        Statement::Commit { .. } => return Some(Ok(ClientStatement::Commit)),
        Statement::Rollback { .. } => return Some(Ok(ClientStatement::Rollback)),
        _ => {}
    }
    let text = statement.to_string();
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '=')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('"').to_ascii_lowercase())
        .collect();
    match words.first().map(String::as_str) {
        Some("set") => {
            let name = words
                .iter()
                .skip(1)
                .find(|w| !matches!(w.as_str(), "session" | "local"))?;
            Some(if HARMLESS_SETTINGS.contains(&name.as_str()) {
                Ok(ClientStatement::Set)
            } else {
                Err(QueryError::ReadOnly {
                    statement_kind: format!("SET {name}"),
                })
            })
        }
        Some("show") => {
            let name = words.get(1)?.clone();
            Some(show(client, &name).map(|value| ClientStatement::Show { name, value }))
        }
        _ => None,
    }
}

fn show<C: ClientInfo>(client: &C, name: &str) -> Result<String, QueryError> {
    if name == "application_name" {
        return Ok(client
            .metadata()
            .get("application_name")
            .cloned()
            .unwrap_or_default());
    }
    settings::setting(name)
        .map(str::to_string)
        .ok_or_else(|| QueryError::Plan(settings::unrecognized(name)))
}

fn client_response(statement: &ClientStatement) -> PgWireResult<Response> {
    Ok(match statement {
        ClientStatement::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        ClientStatement::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        ClientStatement::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        ClientStatement::Set => Response::Execution(Tag::new("SET")),
        ClientStatement::Show { name, value } => {
            let fields = Arc::new(vec![show_field(name, &Format::UnifiedText)]);
            let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
            encoder.encode_field(&Some(value.as_str()))?;
            let row = encoder.take_row();
            Response::Query(QueryResponse::new(fields, futures::stream::iter([Ok(row)])))
        }
    })
}

fn show_field(name: &str, format: &Format) -> FieldInfo {
    FieldInfo::new(
        name.to_string(),
        None,
        None,
        Type::TEXT,
        format.format_for(0),
    )
}

/// Runs a checked statement and streams its rows, finishing `track` when the rows end.
async fn run_query(
    wire: &WireSession,
    statement: &Statement,
    params: Option<ParamValues>,
    format: &Format,
    mut track: Track,
) -> PgWireResult<Response> {
    let statement = DfStatement::Statement(Box::new(statement.clone()));
    let session = &wire.session;
    let deadline = session.deadline();
    let started = async {
        let prepared = session.prepare(&statement, deadline).await?;
        session.execute(prepared, params, deadline).await
    }
    .await;
    let stream = match started {
        Ok(stream) => stream,
        Err(error) => {
            track.failed(0, &error);
            return Err(wire_error(&error));
        }
    };
    track.set_reads(stream.tables(), stream.snapshot());
    let fields = Arc::new(arrow_schema_to_pg_fields(
        stream.schema().as_ref(),
        format,
        None,
    )?);
    let rows = futures::stream::unfold(
        Some(RowState {
            stream,
            fields: Arc::clone(&fields),
            buffered: VecDeque::new(),
            track: Some(track),
        }),
        |state| async move {
            let mut state = state?;
            let row = state.next_row().await?;
            let failed = row.is_err();
            Some((row, (!failed).then_some(state)))
        },
    );
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

struct RowState {
    stream: ResultStream,
    fields: Arc<Vec<FieldInfo>>,
    buffered: VecDeque<PgWireResult<DataRow>>,
    track: Option<Track>,
}

impl RowState {
    async fn next_row(&mut self) -> Option<PgWireResult<DataRow>> {
        loop {
            if let Some(row) = self.buffered.pop_front() {
                return Some(row);
            }
            self.track.as_ref()?;
            match self.stream.next().await {
                Some(Ok(batch)) => {
                    self.buffered
                        .extend(encode_recordbatch(Arc::clone(&self.fields), batch));
                    let rows = self.stream.rows();
                    if let Some(track) = self.track.as_mut() {
                        track.set_rows(rows);
                    }
                }
                Some(Err(error)) => {
                    if let Some(track) = self.track.take() {
                        track.failed(self.stream.rows(), &error);
                    }
                    return Some(Err(wire_error(&error)));
                }
                None => {
                    if let Some(track) = self.track.take() {
                        track.ok(self.stream.rows());
                    }
                    return None;
                }
            }
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let wire = session(client)?;
        let statements = match self.parser.parse(&wire, query) {
            Ok(statements) => statements,
            Err(error) => {
                let (_, track) = self.track(client, query)?;
                track.failed(0, &error);
                return Err(wire_error(&error));
            }
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            let (wire, track) = self.track(client, &statement.to_string())?;
            match client_statement(client, statement) {
                Some(Ok(answer)) => {
                    track.ok(0);
                    responses.push(client_response(&answer)?);
                }
                Some(Err(error)) => {
                    track.failed(0, &error);
                    return Err(wire_error(&error));
                }
                None => {
                    responses.push(
                        run_query(&wire, statement, None, &Format::UnifiedText, track).await?,
                    );
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl QueryParser for WireParser {
    type Statement = WireStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let wire = session(client)?;
        let refuse = |error: QueryError| {
            let mut track = self.front.tracker.start(
                Protocol::Postgres,
                wire.peer.clone(),
                Some(sql.to_string()),
            );
            track.set_principal(wire.session.principal());
            track.failed(0, &error);
            wire_error(&error)
        };
        let mut statements = self.parse(&wire, sql).map_err(refuse)?;
        if statements.is_empty() {
            return Ok(None);
        }
        if statements.len() > 1 {
            return Err(refuse(QueryError::ReadOnly {
                statement_kind: "multiple".to_string(),
            }));
        }
        let statement = statements.remove(0);
        if let Some(answer) = client_statement(client, &statement) {
            return answer
                .map(|a| Some(WireStatement::Client(a)))
                .map_err(refuse);
        }
        let df_statement = DfStatement::Statement(Box::new(statement.clone()));
        let prepared = wire
            .session
            .prepare(&df_statement, wire.session.deadline())
            .await
            .map_err(refuse)?;
        Ok(Some(WireStatement::Query {
            sql: sql.to_string(),
            statement: Box::new(statement),
            plan: Box::new(prepared.plan),
        }))
    }

    fn get_parameter_types(&self, statement: &WireStatement) -> PgWireResult<Vec<Type>> {
        let WireStatement::Query { plan, .. } = statement else {
            return Ok(Vec::new());
        };
        parameter_types(plan)?
            .into_iter()
            .map(|t| match t {
                Some(t) => into_pg_type(&t),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        statement: &WireStatement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = column_format.unwrap_or(&Format::UnifiedText);
        match statement {
            WireStatement::Query { plan, .. } => {
                arrow_schema_to_pg_fields(plan.schema().as_arrow(), format, None)
            }
            WireStatement::Client(ClientStatement::Show { name, .. }) => {
                Ok(vec![show_field(name, format)])
            }
            WireStatement::Client(_) => Ok(Vec::new()),
        }
    }
}

/// The types of `$1`, `$2`, ... in order (unknown where DataFusion could not infer one).
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let mut numbered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(name, t)| Some((name.strip_prefix('$')?.parse().ok()?, t)))
        .collect();
    numbered.sort_by_key(|(n, _)| *n);
    Ok(numbered.into_iter().map(|(_, t)| t).collect())
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = WireStatement;
    type QueryParser = WireParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            WireStatement::Client(answer) => client_response(answer),
            WireStatement::Query {
                sql,
                statement,
                plan,
            } => {
                let (wire, track) = self.track(client, sql)?;
                let types = parameter_types(plan)?;
                let params = if types.is_empty() {
                    None
                } else {
                    let refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
                    Some(arrow_pg::datatypes::df::deserialize_parameters(
                        portal, &refs,
                    )?)
                };
                run_query(
                    &wire,
                    statement,
                    params,
                    &portal.result_column_format,
                    track,
                )
                .await
            }
        }
    }
}
