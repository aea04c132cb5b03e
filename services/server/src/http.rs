//! The HTTP SQL API: `POST /api/v1/sql`.
//!
//! - **Auth**: `Authorization: Bearer lnt.<user>.<secret>`; missing or wrong → 401.
//! - **Request**: the SQL as the body (`text/plain`, `application/sql`, or no content type), or
//!   JSON `{"sql": "..."}` (`application/json`).
//! - **Response** by `Accept`: `application/json` (default), `text/csv`, or
//!   `application/vnd.apache.arrow.stream` (Arrow IPC stream). Rows are streamed as the query
//!   produces them, never collected whole.
//! - **Errors**: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status, when they
//!   happen before the first row. After rows have been sent the status is already 200: a JSON
//!   result then ends with an `"error"` member instead of `"row_count"`; CSV and Arrow responses
//!   are cut off without their end (curl exits 18, Arrow readers report a truncated stream), so
//!   a partial result can never pass for a whole one.

use std::net::SocketAddr;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use lantern_query::engine::{Engine, ResultStream};
use lantern_query::{ErrorClass, QueryError};
use serde::Deserialize;

use crate::audit::Protocol;
use crate::directory::{AuthError, Directory};
use crate::track::{Track, Tracker};

const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Clone)]
struct Api {
    engine: Arc<Engine>,
    directory: Arc<Directory>,
    tracker: Tracker,
}

/// The API's routes. Serve with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(engine: Arc<Engine>, directory: Arc<Directory>, tracker: Tracker) -> Router {
    Router::new()
        .route("/api/v1/sql", post(sql))
        .with_state(Api {
            engine,
            directory,
            tracker,
        })
}

/// Binds `listen` and serves the API until `shutdown` resolves.
pub async fn serve(
    listen: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "The HTTP SQL API failed.");
        }
    });
    Ok((bound, task))
}

/// A refusal before any row was sent.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn from_query(error: &QueryError) -> Self {
        let status = match error.class() {
            ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
            ErrorClass::Forbidden => StatusCode::FORBIDDEN,
            ErrorClass::Limit => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.code(), error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lantern\""),
            );
        }
        response
    }
}

async fn sql(
    State(api): State<Api>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut track = api.tracker.start(Protocol::Http, client.to_string(), None);
    match run(&api, &headers, &body, &mut track).await {
        Ok((format, stream, first)) => stream_response(format, stream, first, track),
        Err(error) => error.into_response(),
    }
}

/// Everything up to the first batch; errors here still get their own status code.
async fn run(
    api: &Api,
    headers: &HeaderMap,
    body: &[u8],
    track: &mut Track,
) -> Result<(ResultFormat, ResultStream, Option<RecordBatch>), ApiError> {
    let sql = request_sql(headers, body);
    if let Ok(sql) = &sql {
        track.set_sql(sql);
    }
    let who = match authenticate(&api.directory, headers).await {
        Ok(who) => who,
        Err(error) => {
            let refusal = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                error.to_string(),
            );
            take(track).unauthenticated(&refusal.message);
            return Err(refusal);
        }
    };
    track.set_principal(&who);
    let fail = |track: &mut Track, error: ApiError| {
        take(track).refused(error.code, &error.message);
        error
    };
    let format = ResultFormat::from_accept(headers).map_err(|e| fail(track, e))?;
    let sql = sql.map_err(|e| fail(track, e))?;
    let query_failed = |track: &mut Track, rows: u64, error: QueryError| {
        let refusal = ApiError::from_query(&error);
        take(track).failed(rows, &error);
        refusal
    };
    let session = api
        .engine
        .session(who)
        .map_err(|e| query_failed(track, 0, e))?;
    let mut stream = session
        .run(&sql)
        .await
        .map_err(|e| query_failed(track, 0, e))?;
    track.set_reads(stream.tables(), stream.snapshot());
    match stream.next().await {
        Some(Err(error)) => Err(query_failed(track, stream.rows(), error)),
        first => Ok((
            format,
            stream,
            first.transpose().expect("errors handled above"),
        )),
    }
}

/// Moves the track out, leaving a finished placeholder behind (used once per request).
fn take(track: &mut Track) -> Track {
    std::mem::replace(track, Track::detached())
}

/// Who sent the request: its bearer token (a user's own or a dashboard session's) checked
/// against the users file.
pub(crate) async fn authenticate(
    directory: &Directory,
    headers: &HeaderMap,
) -> Result<lantern_query::access::Principal, AuthError> {
    let token = bearer_token(headers).ok_or(AuthError::Missing)?;
    directory.authenticate_token(token).await
}

/// The token of `Authorization: Bearer <token>`, if the request has one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
}

/// The request's media type, lower-cased and without parameters (`application/json`).
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

fn request_sql(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let content_type = media_type(headers);
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
    match content_type.as_deref() {
        Some("application/json") => serde_json::from_slice::<SqlRequest>(body)
            .map(|r| r.sql)
            .map_err(|e| {
                bad(format!(
                    "request body: {e} (expected {{\"sql\": \"SELECT ...\"}})"
                ))
            }),
        None
        | Some("text/plain")
        | Some("application/sql")
        | Some("application/x-www-form-urlencoded") => String::from_utf8(body.to_vec())
            .map_err(|_| bad("request body: the SQL is not valid UTF-8".to_string())),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type {other} is not accepted: send the SQL as text/plain or JSON {{\"sql\": ...}}"
            ),
        )),
    }
}

/// The result encodings, chosen by `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResultFormat {
    Json,
    Csv,
    Arrow,
}

impl ResultFormat {
    fn from_accept(headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Ok(ResultFormat::Json);
        };
        for media in accept
            .split(',')
            .map(|m| m.split(';').next().unwrap_or("").trim())
        {
            match media {
                "application/json" | "*/*" | "application/*" | "" => return Ok(ResultFormat::Json),
                "text/csv" | "text/*" => return Ok(ResultFormat::Csv),
                ARROW_STREAM => return Ok(ResultFormat::Arrow),
                _ => {}
            }
        }
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "unsupported_format",
            format!(
                "cannot answer Accept: {accept}; use application/json, text/csv or {ARROW_STREAM}"
            ),
        ))
    }

    fn content_type(self) -> &'static str {
        match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::Arrow => ARROW_STREAM,
        }
    }
}

fn stream_response(
    format: ResultFormat,
    stream: ResultStream,
    first: Option<RecordBatch>,
    track: Track,
) -> Response {
    let committed_at = stream.snapshot().committed_at().map(str::to_string);
    let encoder = Encoder::new(format, stream.schema());
    let body = futures::stream::unfold(
        Some(BodyState {
            stream,
            encoder,
            pending: first,
            started: false,
            track: Some(track),
        }),
        |state| async move {
            let mut state = state?;
            let chunk = state.next_chunk().await;
            match chunk {
                Some(Ok(bytes)) => Some((Ok::<Bytes, std::io::Error>(bytes), Some(state))),
                Some(Err(error)) => Some((Err(error), None)),
                None => None,
            }
        },
    );
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(at) = committed_at.and_then(|at| HeaderValue::from_str(&at).ok()) {
        headers.insert("lantern-committed-at", at);
    }
    response
}

struct BodyState {
    stream: ResultStream,
    encoder: Encoder,
    pending: Option<RecordBatch>,
    started: bool,
    track: Option<Track>,
}

impl BodyState {
    /// The next piece of the body; `Err` aborts the response.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        self.track.as_ref()?;
        if !self.started {
            self.started = true;
            let mut head = self.encoder.start();
            if let Some(batch) = self.pending.take() {
                match self.encoder.batch(&batch) {
                    Ok(bytes) => head.extend_from_slice(&bytes),
                    Err(error) => return Some(self.fail(error)),
                }
            }
            return Some(Ok(Bytes::from(head)));
        }
        match self.stream.next().await {
            Some(Ok(batch)) => match self.encoder.batch(&batch) {
                Ok(bytes) => Some(Ok(Bytes::from(bytes))),
                Err(error) => Some(self.fail(error)),
            },
            Some(Err(error)) => Some(self.fail(error)),
            None => {
                let rows = self.stream.rows();
                if let Some(track) = self.track.take() {
                    track.ok(rows);
                }
                Some(Ok(Bytes::from(self.encoder.end(rows))))
            }
        }
    }

    fn fail(&mut self, error: QueryError) -> Result<Bytes, std::io::Error> {
        let rows = self.stream.rows();
        if let Some(track) = self.track.take() {
            track.failed(rows, &error);
        }
        match self.encoder.fail(rows, &error) {
            Some(tail) => Ok(Bytes::from(tail)),
            None => Err(std::io::Error::other(error.to_string())),
        }
    }
}

/// Turns batches into the bytes of one response format.
enum Encoder {
    Json {
        schema: SchemaRef,
        first_row: bool,
    },
    Csv {
        schema: SchemaRef,
    },
    Arrow {
        writer: Box<arrow::ipc::writer::StreamWriter<Vec<u8>>>,
    },
    Broken,
}

impl Encoder {
    fn new(format: ResultFormat, schema: SchemaRef) -> Self {
        match format {
            ResultFormat::Json => Encoder::Json {
                schema,
                first_row: true,
            },
            ResultFormat::Csv => Encoder::Csv { schema },
            ResultFormat::Arrow => {
                match arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &schema) {
                    Ok(writer) => Encoder::Arrow {
                        writer: Box::new(writer),
                    },
                    Err(error) => {
                        tracing::error!(%error, "Cannot start an Arrow IPC stream.");
                        Encoder::Broken
                    }
                }
            }
        }
    }

    fn start(&mut self) -> Vec<u8> {
        match self {
            Encoder::Json { schema, .. } => {
                let columns: Vec<_> = schema
                    .fields()
                    .iter()
                    .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
                    .collect();
                let mut head = br#"{"columns":"#.to_vec();
                head.extend(serde_json::to_vec(&columns).expect("columns serialise"));
                head.extend_from_slice(br#","rows":["#);
                head
            }
            Encoder::Csv { schema } => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(Vec::new());
                let _ = writer.write(&RecordBatch::new_empty(Arc::clone(schema)));
                writer.into_inner()
            }
            Encoder::Arrow { writer } => std::mem::take(writer.get_mut()),
            Encoder::Broken => Vec::new(),
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
        match self {
            Encoder::Json { first_row, .. } => {
                let mut writer = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::JsonArray>(Vec::new());
                writer.write(batch).map_err(QueryError::Format)?;
                writer.finish().map_err(QueryError::Format)?;
                let array = writer.into_inner();
                // `[{...},{...}]` -> `{...},{...}`, joined to the rows before it with a comma.
                let inner = &array[1..array.len() - 1];
                if inner.is_empty() {
                    return Ok(Vec::new());
                }
                let mut out = Vec::with_capacity(inner.len() + 1);
                if !std::mem::replace(first_row, false) {
                    out.push(b',');
                }
                out.extend_from_slice(inner);
                Ok(out)
            }
            Encoder::Csv { .. } => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .build(Vec::new());
                writer.write(batch).map_err(QueryError::Format)?;
                Ok(writer.into_inner())
            }
            Encoder::Arrow { writer } => {
                writer.write(batch).map_err(QueryError::Format)?;
                Ok(std::mem::take(writer.get_mut()))
            }
            Encoder::Broken => Err(QueryError::Format(arrow::error::ArrowError::IpcError(
                "the Arrow stream could not be started".into(),
            ))),
        }
    }

    fn end(&mut self, rows: u64) -> Vec<u8> {
        match self {
            Encoder::Json { .. } => format!(r#"],"row_count":{rows}}}"#).into_bytes(),
            Encoder::Csv { .. } | Encoder::Broken => Vec::new(),
            Encoder::Arrow { writer } => {
                let _ = writer.finish();
                std::mem::take(writer.get_mut())
            }
        }
    }

    /// The end of a response whose query failed after rows were sent, or `None` to cut it off.
    fn fail(&mut self, rows: u64, error: &QueryError) -> Option<Vec<u8>> {
        match self {
            Encoder::Json { .. } => {
                let error = serde_json::json!({"code": error.code(), "message": error.to_string()});
                Some(format!(r#"],"row_count":{rows},"error":{error}}}"#).into_bytes())
            }
            _ => None,
        }
    }
}
