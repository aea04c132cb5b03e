//! The query service: SQL over HTTP and the PostgreSQL wire protocol, with users, roles, audit
//! and limits (`lantern serve`, and part of `lantern up`).
//!
//! - [`http`]: `POST /api/v1/sql`, results as JSON, CSV or Arrow IPC.
//! - [`dashboard`]: the partnership dashboard at `/`, its login, and what its panels need
//!   besides SQL ([`atlas`]: the force's places and boundaries; [`provenance`]: which sources
//!   fed each pipeline).
//! - [`pg`]: the PostgreSQL wire protocol.
//! - [`users`] / [`directory`]: the users file and how the running server checks credentials.
//! - [`audit`] / [`track`]: the audit log and query metrics.
//! - [`intake`]: `POST /api/v1/reports/{kind}`, reports validated and produced to Kafka.
//!
//! Both front ends run every statement through one [`Engine`] (lantern-query), so the read-only
//! rule, roles, snapshots and limits are the same whichever way a client connects.

pub mod atlas;
pub mod audit;
pub mod dashboard;
pub mod directory;
pub mod http;
pub mod intake;
pub mod pg;
pub mod provenance;
pub mod rate;
pub mod track;
pub mod users;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use lantern_common::Config;
use lantern_query::access::AccessPolicy;
use lantern_query::catalog::Catalog;
use lantern_query::engine::{Engine, QueryLimits};
use tokio::sync::watch;

use crate::directory::Directory;
use crate::track::{QueryMetrics, Tracker};

/// Why the query service could not start. Each names the config key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot bind {listen} ({key}): {source}")]
    Bind {
        key: &'static str,
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the audit log {path} (query.audit_log): {source}")]
    Audit {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("query.users_file: {0}")]
    Users(#[from] users::UsersError),
    #[error("registering query metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Intake(#[from] intake::IntakeError),
}

/// The query engine over the tables under `data_dir`, with the deployment's access policy and
/// limits (`[query]`): the one the servers run, and the benchmark measures.
pub fn engine(
    config: &Config,
    data_dir: &std::path::Path,
    reference: BTreeMap<String, Arc<dyn TableProvider>>,
) -> Arc<Engine> {
    let q = &config.query;
    Engine::new(
        Catalog::new(data_dir, reference).with_table_cache((q.table_cache_mb as usize) << 20),
        AccessPolicy {
            partner_tables: q.partner_tables.iter().cloned().collect::<BTreeSet<_>>(),
        },
        QueryLimits {
            max_rows: q.max_rows,
            timeout: Duration::from_millis(q.timeout_ms),
            memory_limit_mb: q.memory_limit_mb,
            max_concurrent_queries: q.max_concurrent_queries,
        },
    )
}

/// A running query service.
#[derive(Debug)]
pub struct QueryServer {
    pub http: SocketAddr,
    pub pg: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    audit: audit::AuditWriter,
}

impl QueryServer {
    /// Starts both front ends over the tables under `storage.data_dir`, with `reference` tables
    /// (place names) and the force's places (`atlas`) visible to every role.
    pub async fn start(
        config: &Config,
        mut reference: BTreeMap<String, Arc<dyn TableProvider>>,
        atlas: Arc<atlas::Atlas>,
        registry: &prometheus::Registry,
    ) -> Result<Self, ServeError> {
        reference.insert(
            atlas::FORCE_PLACES.to_string(),
            Arc::clone(&atlas.places) as Arc<dyn TableProvider>,
        );
        let q = &config.query;
        let directory = Directory::open(&q.users_file)?;
        let (audit_log, audit) = audit::open(&q.audit_log).map_err(|source| ServeError::Audit {
            path: q.audit_log.clone(),
            source,
        })?;
        let tracker = Tracker {
            audit: audit_log,
            metrics: QueryMetrics::register(registry)?,
        };
        let engine = engine(config, &config.storage.data_dir, reference);
        let (stop, stopped) = watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };

        let http_listen: SocketAddr = q.http_listen.parse().expect("validated with the config");
        let router = http::router(Arc::clone(&engine), Arc::clone(&directory), tracker.clone())
            .merge(dashboard::routes(dashboard::Dashboard {
                engine: Arc::clone(&engine),
                directory: Arc::clone(&directory),
                atlas,
                provenance: Arc::default(),
                logins: Arc::new(rate::RateLimiter::new(dashboard::LOGINS_PER_MINUTE)),
                session_ttl: Duration::from_secs(q.session_ttl_minutes * 60),
            }))
            .merge(intake::routes(intake::Intake::new(
                config,
                Arc::clone(&directory),
                tracker.audit.clone(),
                registry,
            )?));
        let (http, http_task) = http::serve(http_listen, router, until_stopped())
            .await
            .map_err(|source| ServeError::Bind {
                key: "query.http_listen",
                listen: http_listen,
                source,
            })?;
        let pg_listen: SocketAddr = q.pg_listen.parse().expect("validated with the config");
        let front = Arc::new(pg::PgFrontEnd {
            engine: Arc::clone(&engine),
            directory,
            tracker,
        });
        let (pg, pg_task) =
            pg::serve(pg_listen, front, until_stopped())
                .await
                .map_err(|source| ServeError::Bind {
                    key: "query.pg_listen",
                    listen: pg_listen,
                    source,
                })?;
        let heartbeat = tokio::spawn({
            let engine = Arc::clone(&engine);
            let stopped = until_stopped();
            async move {
                tokio::pin!(stopped);
                let mut tick = tokio::time::interval(lantern_tables::readers::LEASE_REFRESH);
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = tick.tick() => engine.catalog().refresh_leases(),
                    }
                }
            }
        });
        Ok(QueryServer {
            http,
            pg,
            stop,
            tasks: vec![http_task, pg_task, heartbeat],
            audit,
        })
    }

    /// Stops accepting queries, lets HTTP requests in flight finish, and flushes the audit log.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // Open PostgreSQL connections still hold the log; every burst is already synced, so
        // waiting briefly is enough.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.audit.finish()).await;
    }
}
