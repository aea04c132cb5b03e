//! Exposing published tables to DataFusion.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;

use crate::TableError;
use crate::manifest::{self, Manifest};

/// The pipelines under `data_dir` that have published at least once, with their live manifests.
pub fn published_pipelines(data_dir: &Path) -> Result<Vec<(PathBuf, Manifest)>, TableError> {
    let entries = match fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TableError::io(data_dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        if !dir.is_dir() {
            continue; // a stray file in the data directory is not a pipeline
        }
        if let Some(manifest) = manifest::load_current(&dir)? {
            out.push((dir, manifest));
        }
    }
    out.sort_by(|a, b| a.1.pipeline.cmp(&b.1.pipeline));
    Ok(out)
}

/// Registers every published table under `data_dir` in `ctx` and returns their names.
///
/// Each table is pinned to the files of the manifest that was live when this ran: a commit that
/// lands afterwards does not change what this context sees, so a query never mixes two commits.
/// Internal tables (per-record state) are only registered when `include_internal` is set.
pub async fn register_all(
    ctx: &SessionContext,
    data_dir: &Path,
    include_internal: bool,
) -> Result<Vec<String>, TableError> {
    let mut names = Vec::new();
    for (dir, manifest) in published_pipelines(data_dir)? {
        for (table, files) in &manifest.tables {
            if files.internal && !include_internal {
                continue;
            }
            register_table(ctx, table, &manifest.table_paths(&dir, table)).await?;
            names.push(table.clone());
        }
    }
    names.sort();
    Ok(names)
}

async fn register_table(
    ctx: &SessionContext,
    table: &str,
    paths: &[PathBuf],
) -> Result<(), TableError> {
    let provider = listing_table(&ctx.state(), table, paths).await?;
    ctx.register_table(table, provider)
        .map_err(|source| TableError::Register {
            table: table.to_string(),
            source,
        })?;
    Ok(())
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
