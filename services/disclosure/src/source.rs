//! Reading the records behind a table: the facts (latest version of every record) of one
//! pipeline, as of one committed snapshot of all its shards.
//!
//! The snapshot comes from the query service's [`Catalog`], so its files are pinned by a reader
//! lease while they are read and the processor's garbage collector cannot remove them.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use lantern_pipelines::PipelineSpec;
use lantern_query::catalog::Catalog;
use serde::{Deserialize, Serialize};

use crate::DisclosureError;

/// One shard of the source as read: which manifest, and how far into its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardVersion {
    pub partition: i32,
    pub manifest_seq: u64,
    pub committed_at: String,
    /// Next offset to read from the pipeline's topic (the manifest's offsets).
    pub next_offset: Option<i64>,
}

/// Where an output's records came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub pipeline: String,
    pub topic_key: String,
    pub facts_table: String,
    pub shards: Vec<ShardVersion>,
    /// Event-time range of the records used (months, `YYYY-MM`).
    pub first_month: Option<String>,
    pub last_month: Option<String>,
    /// Records read.
    pub records: u64,
}

/// The live records of `pipeline` (tombstones and records placed outside the force area left
/// out), `columns` of each (named more than once or not, always with `month`), ordered by record
/// id; `filter` is an extra SQL condition.
pub async fn read_facts(
    data_dir: &Path,
    pipeline: &PipelineSpec,
    columns: &[String],
    filter: &str,
) -> Result<(Vec<RecordBatch>, SourceInfo), DisclosureError> {
    let catalog = Catalog::new(data_dir, BTreeMap::new());
    let snapshot = catalog.snapshot().await?;
    let shards = snapshot.shards_of(pipeline.name);
    if shards.is_empty() {
        return Err(DisclosureError::NoSource(format!(
            "pipeline {} has not published any table under {} yet (run lantern process)",
            pipeline.name,
            data_dir.display()
        )));
    }
    let shards = shards
        .into_iter()
        .map(|s| ShardVersion {
            partition: s.partition,
            manifest_seq: s.manifest.seq,
            committed_at: s.manifest.committed_at.clone(),
            next_offset: s
                .manifest
                .offsets
                .values()
                .find_map(|by_partition| by_partition.get(&s.partition).copied()),
        })
        .collect();
    let (_, table) = snapshot
        .table(pipeline.facts_table)
        .ok_or_else(|| DisclosureError::NoSource(format!("no table {}", pipeline.facts_table)))?;
    let ctx = lantern_query::session_context();
    ctx.register_table("facts", table)?;
    let mut seen = std::collections::BTreeSet::from(["month"]);
    let list = columns
        .iter()
        .filter(|c| seen.insert(c.as_str()))
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = live_records_sql(pipeline, "facts", &format!("{list}, month"), filter);
    let batches = ctx.sql(&sql).await?.collect().await?;
    let months: Vec<String> = batches
        .iter()
        .flat_map(|b| strings(b, "month"))
        .flatten()
        .collect();
    let info = SourceInfo {
        pipeline: pipeline.name.to_string(),
        topic_key: pipeline.topic_key.to_string(),
        facts_table: pipeline.facts_table.to_string(),
        shards,
        first_month: months.iter().min().cloned(),
        last_month: months.iter().max().cloned(),
        records: months.len() as u64,
    };
    Ok((batches, info))
}

/// The query of a pipeline's live records in `table` (its facts): tombstones and records placed
/// outside the force area left out, ordered by record id; `filter` is an extra SQL condition.
pub fn live_records_sql(
    pipeline: &PipelineSpec,
    table: &str,
    columns: &str,
    filter: &str,
) -> String {
    format!(
        "SELECT {columns} FROM {table} WHERE status <> '{}' \
         AND place_status <> 'outside_force' AND ({filter}) ORDER BY record_id",
        pipeline.tombstone
    )
}

/// A column's values as strings (`None` for null), whatever its string or other type.
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let Some(column) = batch.column_by_name(name) else {
        return vec![None; batch.num_rows()];
    };
    let column = arrow::compute::cast(column, &DataType::Utf8).expect("every type casts to Utf8");
    let column = column.as_string::<i32>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i).to_string()))
        .collect()
}

/// A column's values as floats (`None` for null).
pub fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let Some(column) = batch.column_by_name(name) else {
        return vec![None; batch.num_rows()];
    };
    let column = arrow::compute::cast(column, &DataType::Float64).expect("numbers cast to Float64");
    let column = column.as_primitive::<Float64Type>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i)))
        .collect()
}

/// A boolean column (`false` for null).
pub fn flags(batch: &RecordBatch, name: &str) -> Vec<bool> {
    let Some(column) = batch.column_by_name(name) else {
        return vec![false; batch.num_rows()];
    };
    let column = column.as_boolean();
    (0..column.len())
        .map(|i| column.is_valid(i) && column.value(i))
        .collect()
}
