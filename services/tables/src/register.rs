//! Exposing published tables to DataFusion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::catalog::{Session, TableProvider};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::TableProviderFilterPushDown;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionContext, ident};

use crate::TableError;
use crate::shards::{self, PublishedShard};

/// One pipeline's published shards.
#[derive(Debug, Clone)]
pub struct PublishedPipeline {
    pub name: String,
    pub dir: PathBuf,
    pub shards: Vec<PublishedShard>,
}

/// Every table any of `shards` has, with whether it is internal.
pub fn tables_of(shards: &[PublishedShard]) -> BTreeMap<&str, bool> {
    shards
        .iter()
        .flat_map(|s| s.manifest.tables.iter())
        .map(|(name, files)| (name.as_str(), files.internal))
        .collect()
}

/// The pipelines under `data_dir` with at least one published shard, by name.
pub fn published_pipelines(data_dir: &Path) -> Result<Vec<PublishedPipeline>, TableError> {
    let mut out = Vec::new();
    for dir in shards::pipeline_dirs(data_dir)? {
        let shards = shards::published_shards(&dir)?;
        let Some(first) = shards.first() else {
            continue; // a stray directory, or a pipeline that has not committed yet
        };
        out.push(PublishedPipeline {
            name: first.manifest.pipeline.clone(),
            dir,
            shards,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Registers every published table under `data_dir` in `ctx` and returns their names: the
/// pipelines' tables, the latest vintage of each partner table and each research extract.
///
/// Each table is pinned to the files of the shard manifests that were live when this ran: a
/// commit that lands afterwards does not change what this context sees, so a query never mixes
/// two commits of a shard. Internal tables (per-record state) are only registered when
/// `include_internal` is set.
pub async fn register_all(
    ctx: &SessionContext,
    data_dir: &Path,
    include_internal: bool,
) -> Result<Vec<String>, TableError> {
    let mut names = Vec::new();
    for pipeline in published_pipelines(data_dir)? {
        for (table, internal) in tables_of(&pipeline.shards) {
            if internal && !include_internal {
                continue;
            }
            let provider = combined_table(&ctx.state(), table, &pipeline.shards).await?;
            ctx.register_table(table, provider)
                .map_err(|source| TableError::Register {
                    table: table.to_string(),
                    source,
                })?;
            names.push(table.to_string());
        }
    }
    let outputs = crate::outputs::published_tables(data_dir)?
        .into_iter()
        .chain(crate::outputs::extract_tables(data_dir)?)
        .chain(crate::outputs::analytics_tables(data_dir)?);
    for output in outputs {
        let provider = listing_table(&ctx.state(), &output.name, &[output.file]).await?;
        ctx.register_table(&output.name, provider)
            .map_err(|source| TableError::Register {
                table: output.name.clone(),
                source,
            })?;
        names.push(output.name);
    }
    names.sort();
    Ok(names)
}

/// `table` over all of `shards`: their files read as one table, and for an aggregate (a table
/// with measures) its rows summed by key, since each shard holds the part of a group's count
/// that its partition's records make.
pub async fn combined_table(
    state: &SessionState,
    table: &str,
    shards: &[PublishedShard],
) -> Result<Arc<dyn TableProvider>, TableError> {
    let holding: Vec<&PublishedShard> = shards
        .iter()
        .filter(|s| s.manifest.tables.contains_key(table))
        .collect();
    let paths: Vec<PathBuf> = holding
        .iter()
        .flat_map(|s| s.manifest.table_paths(&s.dir, table))
        .collect();
    let files = listing_table(state, table, &paths).await?;
    let measures = holding
        .first()
        .and_then(|s| s.manifest.tables.get(table))
        .map(|t| t.measures.clone())
        .unwrap_or_default();
    if measures.is_empty() || holding.len() < 2 {
        return Ok(files);
    }
    sum_by_key(state, table, files, &measures).map_err(|source| TableError::Register {
        table: table.to_string(),
        source,
    })
}

/// A view of `files` grouped by every column but `measures`, each measure summed and cast back
/// to its type (SUM widens), columns in their original order.
fn sum_by_key(
    state: &SessionState,
    table: &str,
    files: Arc<ListingTable>,
    measures: &[String],
) -> datafusion::error::Result<Arc<dyn TableProvider>> {
    let schema = files.schema();
    let is_measure = |name: &str| measures.iter().any(|m| m == name);
    let keys: Vec<Expr> = schema
        .fields()
        .iter()
        .filter(|f| !is_measure(f.name()))
        .map(|f| ident(f.name()))
        .collect();
    let sums: Vec<Expr> = measures.iter().map(|m| sum(ident(m)).alias(m)).collect();
    let columns: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|f| match is_measure(f.name()) {
            true => cast(ident(f.name()), f.data_type().clone()).alias(f.name()),
            false => ident(f.name()),
        })
        .collect();
    let plan = LogicalPlanBuilder::scan(table, provider_as_source(files), None)?
        .aggregate(keys, sums)?
        .project(columns)?
        .build()?;
    Ok(Arc::new(PublishedTable(
        DataFrame::new(state.clone(), plan).into_view(),
    )))
}

/// A published table computed from its shards by a view. Clients (`\dt`, Grafana, DBeaver) see
/// a base table, which it is to them: how its rows are combined is Lantern's business.
#[derive(Debug)]
struct PublishedTable(Arc<dyn TableProvider>);

#[async_trait::async_trait]
impl TableProvider for PublishedTable {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
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
        self.0.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.0.supports_filters_pushdown(filters)
    }
}

/// A table over exactly `paths` (one manifest's files of `table`), its schema read from them.
pub async fn listing_table(
    state: &SessionState,
    table: &str,
    paths: &[PathBuf],
) -> Result<Arc<ListingTable>, TableError> {
    let register = |source| TableError::Register {
        table: table.to_string(),
        source,
    };
    let urls = paths
        .iter()
        .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(register)?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(state)
        .await
        .map_err(register)?;
    ListingTable::try_new(config)
        .map(Arc::new)
        .map_err(register)
}
