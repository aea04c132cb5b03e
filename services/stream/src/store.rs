//! Between the core and the table store: restore a pipeline's state from its published
//! manifest, publish a batch's changes as one commit, and rebuild the aggregates from the facts.
//!
//! File work (Parquet reads and writes, fsyncs) runs on tokio's blocking threads so that the
//! async workers stay free for `/healthz`, metrics and the other pipelines.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use lantern_tables::manifest::load_current;
use lantern_tables::parquet_io::read_parquet;
use lantern_tables::{Commit, Manifest};

use crate::StreamError;
use crate::aggregate::{AggregateOutput, Aggregates};
use crate::core::Change;
use crate::facts::Fact;
use crate::pipelines::PipelineKind;
use crate::state::FactState;
use crate::time::MonthLabels;

/// Runs blocking file work off the async workers.
pub async fn blocking<T: Send + 'static>(
    pipeline: &str,
    work: impl FnOnce() -> Result<T, StreamError> + Send + 'static,
) -> Result<T, StreamError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| StreamError::Task {
            pipeline: pipeline.to_string(),
            reason: join.to_string(),
        })?
}

/// A pipeline's published manifest and the state it holds, or a new pipeline's first commit
/// (every table, empty, so SQL can query them at once).
pub async fn open<P: PipelineKind>(
    dir: &Path,
    aggregates: &Aggregates,
) -> Result<(Manifest, FactState<P::Fact>, MonthLabels), StreamError> {
    let owned = dir.to_path_buf();
    let restored = blocking(P::SPEC.name, move || {
        let Some(manifest) = load_current(&owned)? else {
            return Ok(None);
        };
        let (state, months) = restore::<P>(&owned, &manifest)?;
        Ok(Some((manifest, state, months)))
    })
    .await?;
    if let Some(restored) = restored {
        return Ok(restored);
    }
    let outputs = aggregates.compute(Vec::new()).await?;
    let owned = dir.to_path_buf();
    let manifest = blocking(P::SPEC.name, move || {
        let mut commit = Commit::begin(&owned, P::SPEC.name, None);
        commit.ensure_table(P::SPEC.facts_table, true, P::Fact::schema())?;
        for output in outputs {
            commit.ensure_table(&output.table, false, output.schema)?;
        }
        Ok(commit.publish()?)
    })
    .await?;
    Ok((manifest, FactState::default(), MonthLabels::default()))
}

/// Reads the facts of a published manifest into a new state.
fn restore<P: PipelineKind>(
    dir: &Path,
    manifest: &Manifest,
) -> Result<(FactState<P::Fact>, MonthLabels), StreamError> {
    let mut state = FactState::default();
    let mut months = MonthLabels::default();
    for path in manifest.table_paths(dir, P::SPEC.facts_table) {
        let (_, batches) = read_parquet(&path)?;
        for batch in &batches {
            let facts =
                P::Fact::from_batch(batch, &mut months).map_err(|reason| StreamError::Facts {
                    table: format!("{} ({})", P::SPEC.facts_table, path.display()),
                    reason,
                })?;
            facts.into_iter().for_each(|f| state.restore(f));
        }
    }
    Ok((state, months))
}

fn facts_error<P: PipelineKind>(e: arrow::error::ArrowError) -> StreamError {
    StreamError::Facts {
        table: P::SPEC.facts_table.into(),
        reason: e.to_string(),
    }
}

/// Publishes one batch atomically: the facts of the months `state` touched, the aggregates of
/// those months with `changes` merged in, and the offsets.
pub async fn publish<P: PipelineKind>(
    dir: &Path,
    previous: &Manifest,
    state: &FactState<P::Fact>,
    changes: &[Change<P::Fact>],
    aggregates: &Aggregates,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<Manifest, StreamError> {
    let touched: Vec<Arc<str>> = state.touched().iter().cloned().collect();
    let mut facts = Vec::with_capacity(touched.len());
    for month in &touched {
        let batch = P::Fact::to_batch(&state.month_facts(month)).map_err(facts_error::<P>)?;
        facts.push((Arc::clone(month), batch));
    }
    let outputs = if changes.is_empty() {
        Vec::new()
    } else {
        let new: Vec<&P::Fact> = changes.iter().map(|c| &c.new).collect();
        let old: Vec<&P::Fact> = changes.iter().filter_map(|c| c.old.as_ref()).collect();
        let plus = P::Fact::to_batch(&new).map_err(facts_error::<P>)?;
        let minus = P::Fact::to_batch(&old).map_err(facts_error::<P>)?;
        let current = read_months(dir, previous, aggregates, &touched).await?;
        aggregates
            .apply(vec![plus], vec![minus], |def| {
                Ok(current.get(&def.table).cloned().unwrap_or_default())
            })
            .await?
    };

    let (dir, previous) = (dir.to_path_buf(), previous.clone());
    let (topic, offsets) = (topic.to_string(), offsets.clone());
    blocking(P::SPEC.name, move || {
        let mut commit = Commit::begin(&dir, P::SPEC.name, Some(&previous));
        let schema = P::Fact::schema();
        for (month, batch) in &facts {
            commit.put_partition(
                P::SPEC.facts_table,
                month,
                schema.clone(),
                std::slice::from_ref(batch),
            )?;
        }
        put_months(&mut commit, &outputs, touched.iter().map(|m| m.as_ref()))?;
        for (&partition, &next) in &offsets {
            commit.set_offset(&topic, partition, next);
        }
        Ok(commit.publish()?)
    })
    .await
}

/// Replaces each output table's partition of every month in `months` (an absent month empties
/// its partition, which drops it).
fn put_months<'a>(
    commit: &mut Commit,
    outputs: &[AggregateOutput],
    months: impl Iterator<Item = &'a str> + Clone,
) -> Result<(), StreamError> {
    for output in outputs {
        for month in months.clone() {
            let rows = output
                .by_month
                .get(month)
                .map(Vec::as_slice)
                .unwrap_or_default();
            commit.put_partition(&output.table, month, output.schema.clone(), rows)?;
        }
    }
    Ok(())
}

/// The published rows of every aggregate table in `months`, conformed to the table's schema.
async fn read_months(
    dir: &Path,
    manifest: &Manifest,
    aggregates: &Aggregates,
    months: &[Arc<str>],
) -> Result<HashMap<String, Vec<RecordBatch>>, StreamError> {
    let mut wanted: Vec<(String, SchemaRef, Vec<PathBuf>)> = Vec::new();
    for def in aggregates.defs() {
        let partitions = manifest.tables.get(&def.table).map(|t| &t.partitions);
        let paths = months
            .iter()
            .filter_map(|m| partitions.and_then(|p| p.get(m.as_ref())))
            .map(|relative| dir.join(relative))
            .collect();
        wanted.push((def.table.clone(), def.shape.schema.clone(), paths));
    }
    blocking("aggregates", move || {
        let mut out = HashMap::new();
        for (table, schema, paths) in wanted {
            let mut rows = Vec::new();
            for path in paths {
                for batch in read_parquet(&path)?.1 {
                    rows.push(conform(&schema, &batch).map_err(|e| StreamError::Facts {
                        table: format!("{table} ({})", path.display()),
                        reason: e.to_string(),
                    })?);
                }
            }
            out.insert(table, rows);
        }
        Ok(out)
    })
    .await
}

/// `batch` with `schema` (same columns; Parquet round trips may differ in nullability flags).
pub fn conform(
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
}

/// What `lantern rebuild` found for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub table: String,
    pub months: usize,
    /// Months whose published rows differed from the recomputation.
    pub differing: Vec<String>,
}

/// Recomputes every aggregate of the pipeline in `dir` from its facts and compares the result
/// with what is published. With `replace`, publishes the recomputation (offsets unchanged).
/// The caller holds the pipeline's lock.
pub async fn rebuild<P: PipelineKind>(
    dir: &Path,
    aggregates: &Aggregates,
    replace: bool,
) -> Result<Vec<RebuildReport>, StreamError> {
    let owned = dir.to_path_buf();
    let loaded = blocking(P::SPEC.name, move || {
        let Some(manifest) = load_current(&owned)? else {
            return Ok(None);
        };
        let (state, _) = restore::<P>(&owned, &manifest)?;
        Ok(Some((manifest, state)))
    })
    .await?;
    let Some((manifest, state)) = loaded else {
        return Ok(Vec::new());
    };
    let months = state.months();
    let mut facts = Vec::with_capacity(months.len());
    for month in &months {
        facts.push(P::Fact::to_batch(&state.month_facts(month)).map_err(facts_error::<P>)?);
    }
    let outputs = aggregates.compute(facts).await?;
    let published_months: BTreeSet<Arc<str>> = aggregates
        .defs()
        .iter()
        .filter_map(|d| manifest.tables.get(&d.table))
        .flat_map(|t| t.partitions.keys())
        .filter(|m| m.as_str() != lantern_tables::manifest::SCHEMA_PARTITION)
        .map(|m| Arc::from(m.as_str()))
        .collect();
    let all_months: Vec<Arc<str>> = months.union(&published_months).cloned().collect();
    let published = read_months(dir, &manifest, aggregates, &all_months).await?;

    let mut reports = Vec::new();
    for output in &outputs {
        let mut differing = Vec::new();
        let rows = published.get(&output.table).cloned().unwrap_or_default();
        let by_month = crate::aggregate::split_by_month(&rows).map_err(|e| StreamError::Facts {
            table: output.table.clone(),
            reason: e.to_string(),
        })?;
        for month in &all_months {
            let want = output
                .by_month
                .get(month.as_ref())
                .cloned()
                .unwrap_or_default();
            let have = by_month.get(month.as_ref()).cloned().unwrap_or_default();
            if !same_rows(&output.schema, &want, &have)? {
                differing.push(month.to_string());
            }
        }
        reports.push(RebuildReport {
            table: output.table.clone(),
            months: output.by_month.len(),
            differing,
        });
    }
    if replace {
        let owned = dir.to_path_buf();
        blocking(P::SPEC.name, move || {
            let mut commit = Commit::begin(&owned, P::SPEC.name, Some(&manifest));
            put_months(&mut commit, &outputs, all_months.iter().map(|m| m.as_ref()))?;
            Ok(commit.publish()?)
        })
        .await?;
    }
    Ok(reports)
}

fn same_rows(
    schema: &SchemaRef,
    a: &[RecordBatch],
    b: &[RecordBatch],
) -> Result<bool, StreamError> {
    let concat = |batches: &[RecordBatch]| {
        concat_batches(schema, batches).map_err(|e| StreamError::Facts {
            table: "(rebuild comparison)".into(),
            reason: e.to_string(),
        })
    };
    Ok(concat(a)?.columns() == concat(b)?.columns())
}
