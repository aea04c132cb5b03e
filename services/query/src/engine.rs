//! The served query path: one [`Session`] per caller, each query on one snapshot, under limits.
//!
//! ```text
//! SQL ──parse──▶ read-only check ──▶ snapshot + role check ──plan──▶ verify ──▶ ResultStream
//!                (readonly)           (catalog, access)                       rows ≤ max_rows,
//!                                                                             time ≤ timeout,
//!                                                                             memory ≤ pool
//! ```
//!
//! A session's DataFusion context contains only the tables its principal may read, each at the
//! manifest its current query pinned. Its runtime has a memory pool of `memory_limit_mb` and no
//! spill directory, so a query that needs more memory fails instead of filling a disk. At most
//! `max_concurrent_queries` queries execute at once across all sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::ParamValues;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::access::{AccessPolicy, Principal};
use crate::catalog::{Catalog, Snapshot};
use crate::{QueryError, readonly};

/// The catalog and schema every session resolves unqualified table names in.
pub const CATALOG: &str = "lantern";
pub const SCHEMA: &str = "public";

/// Per-query limits (`[query]` in lantern.toml).
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_rows: u64,
    pub timeout: Duration,
    pub memory_limit_mb: u64,
    pub max_concurrent_queries: usize,
}

/// Shared by every session of one query server.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    policy: AccessPolicy,
    limits: QueryLimits,
    slots: Arc<Semaphore>,
}

impl Engine {
    pub fn new(catalog: Catalog, policy: AccessPolicy, limits: QueryLimits) -> Arc<Self> {
        Arc::new(Engine {
            catalog,
            policy,
            slots: Arc::new(Semaphore::new(limits.max_concurrent_queries)),
            limits,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn limits(&self) -> QueryLimits {
        self.limits
    }

    /// A session for `principal`: an HTTP request uses one per request, a PostgreSQL connection
    /// one for its lifetime.
    pub fn session(self: &Arc<Self>, principal: Principal) -> Result<Session, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.memory_limit_mb as usize * 1024 * 1024, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(QueryError::Plan)?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        // Deliberately never `.enable_url_table()`: that would let `FROM '/any/path'` read files.
        let ctx = SessionContext::new_with_state(state);
        let schema = Arc::new(SnapshotSchema::default());
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(SCHEMA, Arc::clone(&schema) as Arc<dyn SchemaProvider>)
            .map_err(QueryError::Plan)?;
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        Ok(Session {
            engine: Arc::clone(self),
            principal,
            ctx,
            schema,
        })
    }
}

/// One caller's view: their tables, their memory pool, one query at a time.
pub struct Session {
    engine: Arc<Engine>,
    principal: Principal,
    ctx: SessionContext,
    schema: Arc<SnapshotSchema>,
}

/// A checked and planned statement, bound to the snapshot it was planned on.
#[derive(Debug)]
pub struct Prepared {
    pub plan: LogicalPlan,
    /// Tables the plan reads.
    pub tables: BTreeSet<String>,
    snapshot: Arc<Snapshot>,
}

impl Prepared {
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal", &self.principal)
            .field("session_id", &self.ctx.session_id())
            .finish()
    }
}

impl Session {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The DataFusion context (the PostgreSQL front end adds `pg_catalog` to it).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// When a query starting now must be finished.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.engine.limits.timeout
    }

    /// Parses, checks and runs one statement of SQL text.
    pub async fn run(&self, sql: &str) -> Result<ResultStream, QueryError> {
        let deadline = self.deadline();
        let statement = readonly::parse_read_only(&self.ctx, sql)?;
        let prepared = self.prepare(&statement, deadline).await?;
        self.execute(prepared, None, deadline).await
    }

    /// Checks `statement` (read-only, role) against the current snapshot and plans it.
    pub async fn prepare(
        &self,
        statement: &DfStatement,
        deadline: Instant,
    ) -> Result<Prepared, QueryError> {
        readonly::check_statement(statement)?;
        let timeout = self.engine.limits.timeout;
        tokio::time::timeout_at(deadline, async {
            let snapshot = self.refresh().await?;
            self.check_access(statement, &snapshot)?;
            let plan = self
                .ctx
                .state()
                .statement_to_plan(statement.clone())
                .await
                .map_err(QueryError::Plan)?;
            readonly::sql_options()
                .verify_plan(&plan)
                .map_err(QueryError::Plan)?;
            let tables = tables_read(&plan);
            Ok(Prepared {
                plan,
                tables,
                snapshot,
            })
        })
        .await
        .map_err(|_| QueryError::Timeout { limit: timeout })?
    }

    /// Runs a prepared plan, with `params` bound to its `$n` placeholders.
    pub async fn execute(
        &self,
        prepared: Prepared,
        params: Option<ParamValues>,
        deadline: Instant,
    ) -> Result<ResultStream, QueryError> {
        let limits = self.engine.limits;
        let timeout = QueryError::Timeout {
            limit: limits.timeout,
        };
        let permit =
            tokio::time::timeout_at(deadline, Arc::clone(&self.engine.slots).acquire_owned())
                .await
                .map_err(|_| QueryError::Timeout {
                    limit: limits.timeout,
                })?
                .expect("the query slot semaphore is never closed");
        let plan = match params {
            Some(params) => prepared
                .plan
                .with_param_values(params)
                .map_err(QueryError::Plan)?,
            None => prepared.plan,
        };
        let memory = limits.memory_limit_mb;
        let inner = tokio::time::timeout_at(deadline, async {
            let frame = self
                .ctx
                .execute_logical_plan(plan)
                .await
                .map_err(QueryError::Plan)?;
            frame
                .execute_stream()
                .await
                .map_err(|e| QueryError::from_execution(e, memory))
        })
        .await
        .map_err(|_| timeout)??;
        Ok(ResultStream {
            schema: inner.schema(),
            inner: Some(inner),
            rows: 0,
            limits,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            tables: prepared.tables,
            snapshot: prepared.snapshot,
            _slot: Some(permit),
        })
    }

    /// Pins the current snapshot for this session's next query and shows it only the tables
    /// its principal may read.
    async fn refresh(&self) -> Result<Arc<Snapshot>, QueryError> {
        let snapshot = self.engine.catalog.snapshot().await?;
        let visible = snapshot
            .tables()
            .into_iter()
            .filter(|(name, kind)| self.engine.policy.allows(&self.principal, name, *kind))
            .filter_map(|(name, _)| snapshot.table(&name).map(|(_, t)| (name, t)))
            .collect();
        *self.schema.tables.write().expect("schema lock poisoned") = Arc::new(visible);
        Ok(snapshot)
    }

    /// Names a table the principal may not read, if the statement mentions one.
    fn check_access(&self, statement: &DfStatement, snapshot: &Snapshot) -> Result<(), QueryError> {
        for name in readonly::referenced_tables(statement) {
            if let Some((kind, _)) = snapshot.table(&name)
                && !self.engine.policy.allows(&self.principal, &name, kind)
            {
                return Err(QueryError::Forbidden {
                    role: self.principal.role.to_string(),
                    table: name,
                });
            }
        }
        Ok(())
    }
}

/// The tables a plan scans, subqueries included.
fn tables_read(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut tables = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            tables.insert(scan.table_name.table().to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

/// The `public` schema of a session: the visible tables of the snapshot its query pinned.
#[derive(Debug, Default)]
struct SnapshotSchema {
    tables: RwLock<Arc<BTreeMap<String, Arc<dyn TableProvider>>>>,
}

impl SnapshotSchema {
    fn current(&self) -> Arc<BTreeMap<String, Arc<dyn TableProvider>>> {
        Arc::clone(&self.tables.read().expect("schema lock poisoned"))
    }
}

#[async_trait]
impl SchemaProvider for SnapshotSchema {
    fn table_names(&self) -> Vec<String> {
        self.current().keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(self.current().get(name).cloned())
    }

    fn table_exist(&self, name: &str) -> bool {
        self.current().contains_key(name)
    }
}

/// A running query's batches, ended early with an error when a limit is hit. Holds the query's
/// slot and its snapshot's pins until it is dropped or finished.
pub struct ResultStream {
    schema: SchemaRef,
    inner: Option<SendableRecordBatchStream>,
    rows: u64,
    limits: QueryLimits,
    deadline: Pin<Box<Sleep>>,
    tables: BTreeSet<String>,
    snapshot: Arc<Snapshot>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for ResultStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultStream")
            .field("rows", &self.rows)
            .field("tables", &self.tables)
            .finish()
    }
}

impl ResultStream {
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Tables the query reads.
    pub fn tables(&self) -> &BTreeSet<String> {
        &self.tables
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Stops the query: its DataFusion tasks are cancelled and its slot freed.
    fn finish(&mut self) {
        self.inner = None;
        self._slot = None;
    }
}

impl Stream for ResultStream {
    type Item = Result<RecordBatch, QueryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.finish();
            return Poll::Ready(Some(Err(QueryError::Timeout {
                limit: this.limits.timeout,
            })));
        }
        match inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                this.finish();
                Poll::Ready(Some(Err(QueryError::from_execution(
                    error,
                    this.limits.memory_limit_mb,
                ))))
            }
            Poll::Ready(Some(Ok(batch))) => {
                this.rows += batch.num_rows() as u64;
                if this.rows > this.limits.max_rows {
                    this.finish();
                    return Poll::Ready(Some(Err(QueryError::RowLimit {
                        limit: this.limits.max_rows,
                    })));
                }
                Poll::Ready(Some(Ok(batch)))
            }
        }
    }
}
