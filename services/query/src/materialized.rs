//! Aggregate tables held in memory while their snapshot is current.
//!
//! An aggregate table is a view over its shards' Parquet files, summed by key, because each
//! shard holds the part of a group's count that its partition's records made. Read that way,
//! every query re-read and re-summed every file, which was most of a dashboard query's latency
//! (docs/performance.md). A dashboard asks many questions of one snapshot between two commits,
//! so [`Materialized`] computes the view once, on the first query that reads the table, and
//! serves later queries on the same snapshot from memory. A commit makes a new snapshot with new
//! tables (see [`crate::catalog`]), so nothing stale is ever served.
//!
//! A table bigger than the budget (`query.table_cache_mb`) is not kept, and its queries read the
//! view as before. So is a table whose first computation failed (over the query's memory limit,
//! say), for the rest of its snapshot's life, so that every query does not pay for a failed
//! attempt.

use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::{ExecutionPlan, collect};
use tokio::sync::OnceCell;

/// A table served from memory once computed, if it fits the budget; else from `view`.
#[derive(Debug)]
pub struct Materialized {
    name: String,
    view: Arc<dyn TableProvider>,
    budget_bytes: usize,
    /// `Some` once computed and within budget; `None` when it is read through the view.
    rows: OnceCell<Option<Arc<MemTable>>>,
}

impl Materialized {
    pub fn new(name: &str, view: Arc<dyn TableProvider>, budget_bytes: usize) -> Self {
        Materialized {
            name: name.to_string(),
            view,
            budget_bytes,
            rows: OnceCell::new(),
        }
    }

    /// The table in memory, computing it on first use; `None` to read the view instead.
    async fn rows(&self, state: &dyn Session) -> Option<Arc<MemTable>> {
        let computed = self
            .rows
            .get_or_try_init(|| self.compute(state))
            .await
            .cloned();
        computed.unwrap_or_else(|error| {
            tracing::warn!(table = %self.name, %error, "Could not hold the table in memory; its queries read its files.");
            let _ = self.rows.set(None);
            None
        })
    }

    async fn compute(&self, state: &dyn Session) -> Result<Option<Arc<MemTable>>, DataFusionError> {
        let plan = self.view.scan(state, None, &[], None).await?;
        let batches = collect(plan, state.task_ctx()).await?;
        // One compact batch: an aggregation's output batches are slices of its whole result's
        // buffers, so each would report (and keep alive) all of it.
        let rows = concat_batches(&self.view.schema(), &batches)?;
        drop(batches);
        let bytes = rows.get_array_memory_size();
        if bytes > self.budget_bytes {
            tracing::info!(
                table = %self.name,
                mib = bytes >> 20,
                budget_mib = self.budget_bytes >> 20,
                "A table is over query.table_cache_mb; its queries read its files."
            );
            return Ok(None);
        }
        let partitions = split(&rows, state.config().target_partitions());
        Ok(Some(Arc::new(MemTable::try_new(
            self.view.schema(),
            partitions,
        )?)))
    }
}

/// `rows` cut into at most `n` partitions (slices, no copies), so a query uses every core.
fn split(rows: &RecordBatch, n: usize) -> Vec<Vec<RecordBatch>> {
    let chunk = rows.num_rows().div_ceil(n.max(1)).max(1);
    let mut partitions: Vec<Vec<RecordBatch>> = (0..rows.num_rows())
        .step_by(chunk)
        .map(|offset| vec![rows.slice(offset, chunk.min(rows.num_rows() - offset))])
        .collect();
    if partitions.is_empty() {
        partitions.push(vec![rows.clone()]);
    }
    partitions
}

#[async_trait]
impl TableProvider for Materialized {
    fn schema(&self) -> SchemaRef {
        self.view.schema()
    }

    fn table_type(&self) -> TableType {
        self.view.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        match self.rows(state).await {
            Some(rows) => rows.scan(state, projection, filters, limit).await,
            None => self.view.scan(state, projection, filters, limit).await,
        }
    }

    /// Inexact for every filter: the view applies them, the table in memory does not, and which
    /// one a scan reads is only known at scan time. DataFusion filters the rows again either way.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A table that counts how often it is scanned.
    #[derive(Debug)]
    struct Counted {
        inner: MemTable,
        scans: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl TableProvider for Counted {
        fn schema(&self) -> SchemaRef {
            self.inner.schema()
        }
        fn table_type(&self) -> TableType {
            TableType::Base
        }
        async fn scan(
            &self,
            state: &dyn Session,
            projection: Option<&Vec<usize>>,
            filters: &[Expr],
            limit: Option<usize>,
        ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
            self.scans.fetch_add(1, Ordering::SeqCst);
            self.inner.scan(state, projection, filters, limit).await
        }
    }

    fn counted() -> (Arc<dyn TableProvider>, Arc<AtomicUsize>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("lad_code", DataType::Utf8, false),
            Field::new("incidents", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![
                    "E07000117",
                    "E07000123",
                    "E07000123",
                ])),
                Arc::new(Int64Array::from(vec![2, 3, 4])),
            ],
        )
        .unwrap();
        let scans = Arc::new(AtomicUsize::new(0));
        let table = Counted {
            inner: MemTable::try_new(schema, vec![vec![batch]]).unwrap(),
            scans: Arc::clone(&scans),
        };
        (Arc::new(table), scans)
    }

    async fn total(ctx: &SessionContext, sql: &str) -> i64 {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    }

    /// Runs the same filtered and unfiltered questions over `budget`, returning the view's scans.
    async fn scans_for(budget: usize) -> usize {
        let (view, scans) = counted();
        let ctx = SessionContext::new();
        let table = Materialized::new("incidents_monthly", view, budget);
        ctx.register_table("incidents_monthly", Arc::new(table))
            .unwrap();
        for _ in 0..3 {
            let all = "SELECT SUM(incidents) FROM incidents_monthly";
            assert_eq!(total(&ctx, all).await, 9);
            // The filter must hold whether the view or memory answers.
            let one = "SELECT SUM(incidents) FROM incidents_monthly WHERE lad_code = 'E07000123'";
            assert_eq!(total(&ctx, one).await, 7);
        }
        scans.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn partitions_cover_every_row_once() {
        let (view, _) = counted();
        let ctx = SessionContext::new();
        let plan = view.scan(&ctx.state(), None, &[], None).await.unwrap();
        let rows = collect(plan, ctx.task_ctx()).await.unwrap().remove(0);
        for n in [1, 2, 3, 4, 8] {
            let parts = split(&rows, n);
            let total: usize = parts.iter().flatten().map(RecordBatch::num_rows).sum();
            assert_eq!(total, 3, "{n} partitions");
            assert!(parts.len() <= n.max(1));
        }
        assert_eq!(split(&rows.slice(0, 0), 2).len(), 1);
    }

    #[tokio::test]
    async fn later_queries_read_memory_and_see_the_same_rows() {
        assert_eq!(scans_for(1 << 20).await, 1);
    }

    #[tokio::test]
    async fn a_table_over_the_budget_is_read_from_the_view_every_time() {
        // One scan to find it is too big, then one per query.
        assert_eq!(scans_for(1).await, 1 + 6);
    }
}
