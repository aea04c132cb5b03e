//! The partnership dashboard's side of the HTTP server:
//! - `GET /` and `GET /assets/<file>`: the page, its script and style, and the vendored Apache
//!   ECharts (no CDN: a force's network often has no internet), all compiled into the binary;
//! - `GET /report`: the form a business files a business-crime report with (the intake's
//!   endpoint, [`crate::intake`]);
//! - `POST /api/v1/login` (`{"user", "password"}`: the password of the user's PostgreSQL login)
//!   → a session token the SQL API accepts like the user's own token, at most
//!   [`LOGINS_PER_MINUTE`] attempts per user name; `POST /api/v1/logout`;
//! - `GET /api/v1/me`: who the token belongs to, their role and (reporters) their businesses;
//! - `GET /api/v1/provenance`: which sources fed each pipeline (to label synthetic data);
//! - `GET /api/v1/boundaries/{lsoa|msoa}`: the force's boundaries as GeoJSON.
//!
//! Every figure on the page comes from `POST /api/v1/sql` with the viewer's own role, so a
//! partner's dashboard can only show what a partner may query.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lantern_query::access::Principal;
use lantern_query::engine::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::atlas::{Atlas, MapLevel};
use crate::directory::{AuthError, Directory};
use crate::http::{ApiError, authenticate, bearer_token};
use crate::provenance::Provenance;
use crate::rate::{self, RateLimiter};

/// What the dashboard's routes share.
#[derive(Clone)]
pub struct Dashboard {
    pub engine: Arc<Engine>,
    pub directory: Arc<Directory>,
    pub atlas: Arc<Atlas>,
    pub provenance: Arc<Provenance>,
    /// Login attempts per user name, so a password cannot be guessed at PBKDF2's speed.
    pub logins: Arc<RateLimiter>,
    pub session_ttl: Duration,
}

/// Login attempts allowed per user name per minute (whether they succeed or not).
pub const LOGINS_PER_MINUTE: u64 = 10;

/// A file of the page, compiled in.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 7] = [
    Asset {
        name: "session.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/session.js"),
    },
    Asset {
        name: "report.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/report.js"),
    },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/dashboard.js"),
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../web/dashboard.css"),
    },
    Asset {
        name: "echarts.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/vendor/echarts.min.js"),
    },
    Asset {
        name: "echarts-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../web/vendor/echarts-LICENSE.txt"),
    },
    Asset {
        name: "echarts-NOTICE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../web/vendor/echarts-NOTICE.txt"),
    },
];

const INDEX_HTML: &[u8] = include_bytes!("../web/index.html");
const REPORT_HTML: &[u8] = include_bytes!("../web/report.html");

/// Scripts and styles from this server only; no frames, plugins or form posts elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub fn routes(dashboard: Dashboard) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/report", get(report_form))
        .route("/assets/{name}", get(asset))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/provenance", get(provenance))
        .route("/api/v1/boundaries/{level}", get(boundaries))
        .with_state(dashboard)
}

fn page(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

async fn report_form() -> Response {
    page("text/html; charset=utf-8", REPORT_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => page(asset.content_type, asset.bytes),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no asset named {name:?}"),
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    user: String,
    password: String,
}

async fn login(State(d): State<Dashboard>, body: Bytes) -> Response {
    let request: LoginRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("request body: {e} (expected {{\"user\": ..., \"password\": ...}})"),
            )
            .into_response();
        }
    };
    if let Err(wait) = d.logins.take(&request.user) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {LOGINS_PER_MINUTE} login attempts a minute for {:?}: try again in {} s",
                request.user,
                rate::whole_seconds(wait)
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, rate::retry_after(wait));
        return response;
    }
    match d
        .directory
        .login(&request.user, &request.password, d.session_ttl)
        .await
    {
        Ok((token, who)) => axum::Json(json!({
            "token": token,
            "user": who.name,
            "role": who.role.as_str(),
            "expires_in_s": d.session_ttl.as_secs(),
        }))
        .into_response(),
        Err(error) => unauthenticated(error).into_response(),
    }
}

async fn logout(State(d): State<Dashboard>, headers: HeaderMap) -> Response {
    if let Some(token) = bearer_token(&headers) {
        d.directory.logout(token);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn unauthenticated(error: AuthError) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        error.to_string(),
    )
}

/// The caller, or the 401 to answer.
async fn caller(d: &Dashboard, headers: &HeaderMap) -> Result<Principal, ApiError> {
    authenticate(&d.directory, headers)
        .await
        .map_err(unauthenticated)
}

async fn me(State(d): State<Dashboard>, headers: HeaderMap) -> Response {
    match caller(&d, &headers).await {
        Ok(who) => axum::Json(json!({
            "user": who.name,
            "role": who.role.as_str(),
            "businesses": who.businesses,
        }))
        .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn provenance(State(d): State<Dashboard>, headers: HeaderMap) -> Response {
    if let Err(refusal) = caller(&d, &headers).await {
        return refusal.into_response();
    }
    match d.provenance.sources(&d.engine).await {
        Ok(sources) => axum::Json(json!({"pipelines": *sources})).into_response(),
        Err(error) => ApiError::from_query(&error).into_response(),
    }
}

async fn boundaries(
    State(d): State<Dashboard>,
    Path(level): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = caller(&d, &headers).await {
        return refusal.into_response();
    }
    let Some(level) = MapLevel::parse(&level) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no boundaries at level {level:?}: use lsoa or msoa"),
        )
        .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "application/geo+json"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        d.atlas.geojson(level),
    )
        .into_response()
}
