//! The PostgreSQL wire protocol front end: psql, Grafana, DBeaver, psycopg, JDBC.
//!
//! Built from the parts datafusion-postgres is made of (pgwire for the protocol, arrow-pg to
//! encode rows, datafusion-pg-catalog for `pg_catalog` and for rewriting the catalog queries
//! clients send), but with Lantern's own handlers: datafusion-postgres serves one shared
//! `SessionContext` to every connection, while Lantern gives each connection a session holding
//! only its user's tables, and runs every statement through the same engine, limits and audit
//! as the HTTP API.
//!
//! - [`scram`]: login with SCRAM-SHA-256 against the users file.
//! - [`query`]: simple and extended query protocol.
//! - [`settings`]: the fixed server settings, and the catalog functions Grafana calls.

mod query;
mod scram;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use lantern_query::engine::{CATALOG, Engine, Session};
use pgwire::api::PgWireServerHandlers;
use pgwire::error::{PgWireError, PgWireResult};

use crate::directory::Directory;
use crate::track::Tracker;

/// What every connection shares.
#[derive(Debug)]
pub struct PgFrontEnd {
    pub engine: Arc<Engine>,
    pub directory: Arc<Directory>,
    pub tracker: Tracker,
}

/// One logged-in connection's session, stored in the connection's extensions.
#[derive(Debug)]
pub struct WireSession {
    session: Session,
    peer: String,
}

impl WireSession {
    fn new(session: Session, peer: String) -> PgWireResult<Self> {
        // pg_catalog (pg_class, pg_namespace, pg_attribute, ...) is built over this session's
        // catalog, so it lists only the tables this user may read.
        datafusion_pg_catalog::setup_pg_catalog(session.context(), CATALOG, EmptyContextProvider)
            .map_err(|e| PgWireError::ApiError(e))?;
        settings::register_functions(session.context());
        Ok(WireSession { session, peer })
    }
}

/// The handlers of one connection.
struct Connection {
    startup: Arc<scram::ScramStartup>,
    queries: Arc<query::QueryHandler>,
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }
}

/// Binds `listen` and serves connections until `shutdown` resolves. Connections already open
/// are then closed with the runtime.
pub async fn serve(
    listen: SocketAddr,
    front: Arc<PgFrontEnd>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let queries = Arc::new(query::QueryHandler::new(Arc::clone(&front)));
    let task = tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "Cannot accept a PostgreSQL connection.");
                    continue;
                }
            };
            let connection = Connection {
                startup: Arc::new(scram::ScramStartup::new(Arc::clone(&front))),
                queries: Arc::clone(&queries),
            };
            tokio::spawn(async move {
                if let Err(error) = pgwire::tokio::process_socket(socket, None, connection).await {
                    tracing::debug!(%error, %peer, "PostgreSQL connection ended with an error.");
                }
            });
        }
    });
    Ok((bound, task))
}
