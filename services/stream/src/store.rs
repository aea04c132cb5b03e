//! Between the core and the table store: open a pipeline (its manifest and record index),
//! publish a batch's changes as one commit, and rebuild the aggregates from the facts.
//!
//! The facts table is partitioned by month and, within a month, into [`FACT_BUCKETS`] buckets
//! by a stable hash of the record id. A commit rewrites only the bucket files holding a changed
//! record — read, drop the replaced rows (which are also the `minus` side of the aggregate
//! merge), add the new versions, sort by record id, write — one file at a time, so neither the
//! history nor a whole month is ever in memory.
//!
//! File work (Parquet reads and writes, fsyncs) runs on tokio's blocking threads so that the
//! async workers stay free for `/healthz`, metrics and the other pipelines.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, StringArray};
use arrow::compute::{concat_batches, filter_record_batch, sort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use lantern_tables::manifest::{SCHEMA_PARTITION, file_path, load_current};
use lantern_tables::parquet_io::read_parquet;
use lantern_tables::{Commit, Manifest};
use tracing::info;

use crate::StreamError;
use crate::aggregate::{AggregateOutput, Aggregates, split_by_month};
use crate::core::{Change, Processor};
use crate::facts::Fact;
use crate::index::RecordIndex;
use crate::pipelines::PipelineKind;

/// Buckets per month of a facts table. Fixed: a record's file is found from its id, so changing
/// this would need every facts file rewritten.
pub const FACT_BUCKETS: u64 = 8;

/// The record index's file in a shard directory.
pub fn index_path(store_dir: &Path) -> PathBuf {
    store_dir.join("state").join("index.redb")
}

/// Deletes the record index of a shard (it is rebuilt from the facts when the shard opens).
pub fn discard_index(store_dir: &Path) -> Result<(), StreamError> {
    let path = index_path(store_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StreamError::State {
            path,
            source: Box::new(redb::Error::Io(e)),
        }),
    }
}

/// The facts partition holding `record_id` in `month`: `YYYY-MM/bNN`.
pub fn facts_partition(month: &str, record_id: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's randomly seeded hasher.
    let hash = record_id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{month}/b{:02}", hash % FACT_BUCKETS)
}

/// The month of a partition key (`YYYY-MM` or `YYYY-MM/bNN`).
fn month_of(partition: &str) -> &str {
    partition.split('/').next().unwrap_or(partition)
}

/// The commit sequence in a data file's name (`…/00000000000000000017-<token>.parquet`, or
/// without the token as files were named before).
fn file_seq(relative: &str) -> Option<u64> {
    let stem = Path::new(relative).file_stem()?.to_str()?;
    stem.split('-').next()?.parse().ok()
}

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

/// A pipeline's published manifest and its record index, caught up with it; for a new
/// pipeline, its first commit (every table, empty, so SQL can query them at once).
pub async fn open<P: PipelineKind>(
    dir: &Path,
    aggregates: &Aggregates,
    cache_bytes: usize,
) -> Result<(Manifest, RecordIndex), StreamError> {
    let owned = dir.to_path_buf();
    let existing = blocking(P::SPEC.name, move || Ok(load_current(&owned)?)).await?;
    let manifest = match existing {
        Some(manifest) => manifest,
        None => {
            let (owned, aggregates) = (dir.to_path_buf(), aggregates.clone());
            blocking(P::SPEC.name, move || {
                let mut commit = Commit::begin(&owned, P::SPEC.name, None);
                commit.ensure_table(P::SPEC.facts_table, true, &[], P::Fact::schema())?;
                for def in aggregates.defs() {
                    let shape = &def.shape;
                    commit.ensure_table(
                        &def.table,
                        false,
                        &shape.measures(),
                        shape.schema.clone(),
                    )?;
                }
                Ok(commit.publish()?)
            })
            .await?
        }
    };
    let owned = dir.to_path_buf();
    blocking(P::SPEC.name, move || {
        let mut index = RecordIndex::open(&index_path(&owned), cache_bytes)?;
        catch_up::<P>(&owned, &manifest, &mut index)?;
        Ok((manifest, index))
    })
    .await
}

/// Brings `index` up to `manifest`: re-reads the facts files commits after the index's sequence
/// wrote, or every facts file if the index is new or ahead of the manifest.
fn catch_up<P: PipelineKind>(
    dir: &Path,
    manifest: &Manifest,
    index: &mut RecordIndex,
) -> Result<(), StreamError> {
    if index.seq() == manifest.seq {
        return Ok(());
    }
    let from_scratch = index.seq() == 0 || index.seq() > manifest.seq;
    if from_scratch {
        index.clear()?;
    }
    let since = index.seq();
    let started = std::time::Instant::now();
    let mut records = 0;
    for (partition, relative) in facts_partitions::<P>(manifest) {
        if partition == SCHEMA_PARTITION || file_seq(relative).is_some_and(|seq| seq <= since) {
            continue;
        }
        let (_, batches) = read_parquet(&file_path(dir, relative))?;
        records += index.upsert_facts(&batches, P::Fact::TOMBSTONE)?;
    }
    index.set_seq(manifest.seq)?;
    info!(
        pipeline = P::SPEC.name,
        from_scratch,
        since,
        to = manifest.seq,
        records,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Record index caught up with the published facts."
    );
    Ok(())
}

fn facts_partitions<P: PipelineKind>(manifest: &Manifest) -> Vec<(&str, &str)> {
    manifest
        .tables
        .get(P::SPEC.facts_table)
        .map(|t| {
            t.partitions
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

fn facts_error<P: PipelineKind>(e: arrow::error::ArrowError) -> StreamError {
    StreamError::Facts {
        table: P::SPEC.facts_table.into(),
        reason: e.to_string(),
    }
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, StreamError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| StreamError::Facts {
            table: "facts".into(),
            reason: format!("no string column {name}"),
        })
}

/// One facts file as a single batch with the facts schema.
fn read_facts(dir: &Path, schema: &SchemaRef, relative: &str) -> Result<RecordBatch, StreamError> {
    let path = file_path(dir, relative);
    let batches = read_conformed(&path, schema)?;
    concat_batches(schema, &batches).map_err(|e| StreamError::Facts {
        table: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A Parquet file's batches, each with `schema`.
fn read_conformed(path: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>, StreamError> {
    let (_, batches) = read_parquet(path)?;
    batches
        .iter()
        .map(|b| conform(schema, b))
        .collect::<Result<_, _>>()
        .map_err(|e| StreamError::Facts {
            table: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// What one facts partition gets in a commit.
struct Rewrite<F> {
    /// Records whose held version sits in this partition and is replaced.
    remove: HashSet<Arc<str>>,
    /// New versions that sit in this partition.
    add: Vec<F>,
}

/// Publishes one batch atomically: the facts partitions holding a changed record, the
/// aggregates of their months with the changes merged in, and the offsets.
pub async fn publish<P: PipelineKind>(
    dir: &Path,
    previous: &Manifest,
    changes: Vec<Change<P::Fact>>,
    aggregates: &Aggregates,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<Manifest, StreamError> {
    let mut commit = Commit::begin(dir, P::SPEC.name, Some(previous));
    if !changes.is_empty() {
        let new: Vec<&P::Fact> = changes.iter().map(|c| &c.new).collect();
        let plus = P::Fact::to_batch(&new).map_err(facts_error::<P>)?;
        let rewrites = plan_rewrites(changes);
        let months: BTreeSet<String> = rewrites.keys().map(|k| month_of(k).to_string()).collect();
        let minus;
        (commit, minus) = rewrite_facts::<P>(dir, previous, commit, rewrites).await?;
        let current = read_months(dir, previous, aggregates, &months).await?;
        let outputs = aggregates
            .apply(vec![plus], minus, |def| {
                Ok(current.get(&def.table).cloned().unwrap_or_default())
            })
            .await?;
        commit = blocking(P::SPEC.name, move || {
            put_months(&mut commit, &outputs, months.iter().map(String::as_str))?;
            Ok(commit)
        })
        .await?;
    }
    let (topic, offsets) = (topic.to_string(), offsets.clone());
    blocking(P::SPEC.name, move || {
        for (&partition, &next) in &offsets {
            commit.set_offset(&topic, partition, next);
        }
        Ok(commit.publish()?)
    })
    .await
}

/// Publishes a batch's changes ([`publish`]) and then records them in `processor`'s index.
/// After the manifest, never before: the manifest is the commit point, and an index one commit
/// behind is caught up from the facts files on the next open.
pub async fn commit_batch<P: PipelineKind>(
    dir: &Path,
    previous: &Manifest,
    processor: &mut Processor<P>,
    changes: Vec<Change<P::Fact>>,
    aggregates: &Aggregates,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<Manifest, StreamError> {
    let manifest = publish::<P>(dir, previous, changes, aggregates, topic, offsets).await?;
    // A durable redb commit: tell tokio this worker is busy so others take its tasks.
    tokio::task::block_in_place(|| processor.index().commit(manifest.seq))?;
    Ok(manifest)
}

/// Which facts partitions the changes touch: where each record's held version sits (to drop it)
/// and where its new version goes (to add it).
fn plan_rewrites<F: Fact>(changes: Vec<Change<F>>) -> BTreeMap<String, Rewrite<F>> {
    let mut rewrites: BTreeMap<String, Rewrite<F>> = BTreeMap::new();
    for change in changes {
        let id = Arc::clone(change.new.record_id());
        if let Some(old) = &change.old {
            rewrite(&mut rewrites, facts_partition(&old.month, &id))
                .remove
                .insert(Arc::clone(&id));
        }
        rewrite(&mut rewrites, facts_partition(change.new.month(), &id))
            .add
            .push(change.new);
    }
    rewrites
}

/// Rewrites the planned facts partitions into `commit`, one file at a time, off the async
/// workers; returns the commit and the replaced rows.
async fn rewrite_facts<P: PipelineKind>(
    dir: &Path,
    previous: &Manifest,
    mut commit: Commit,
    rewrites: BTreeMap<String, Rewrite<P::Fact>>,
) -> Result<(Commit, Vec<RecordBatch>), StreamError> {
    let (dir, previous) = (dir.to_path_buf(), previous.clone());
    blocking(P::SPEC.name, move || {
        let mut minus = Vec::with_capacity(rewrites.len());
        for (partition, rewrite) in rewrites {
            minus.push(rewrite_partition::<P>(
                &dir,
                &previous,
                &mut commit,
                &partition,
                rewrite,
            )?);
        }
        Ok((commit, minus))
    })
    .await
}

fn rewrite<F>(rewrites: &mut BTreeMap<String, Rewrite<F>>, partition: String) -> &mut Rewrite<F> {
    rewrites.entry(partition).or_insert_with(|| Rewrite {
        remove: HashSet::new(),
        add: Vec::new(),
    })
}

/// Rewrites one facts partition; returns the rows it replaced (the aggregate merge's `minus`).
fn rewrite_partition<P: PipelineKind>(
    dir: &Path,
    previous: &Manifest,
    commit: &mut Commit,
    partition: &str,
    rewrite: Rewrite<P::Fact>,
) -> Result<RecordBatch, StreamError> {
    let schema = P::Fact::schema();
    let existing = previous
        .tables
        .get(P::SPEC.facts_table)
        .and_then(|t| t.partitions.get(partition));
    let facts = match existing {
        Some(relative) => read_facts(dir, &schema, relative)?,
        None => RecordBatch::new_empty(schema.clone()),
    };
    let ids = string_column(&facts, "record_id")?;
    let replaced: BooleanArray = (0..facts.num_rows())
        .map(|row| Some(rewrite.remove.contains(ids.value(row))))
        .collect();
    let removed = filter_record_batch(&facts, &replaced).map_err(facts_error::<P>)?;
    if removed.num_rows() != rewrite.remove.len() {
        return Err(StreamError::Facts {
            table: format!("{} partition {partition}", P::SPEC.facts_table),
            reason: format!(
                "the record index places {} replaced records here but the file holds {}: the \
                 index and the facts disagree (delete {} to rebuild it)",
                rewrite.remove.len(),
                removed.num_rows(),
                index_path(dir).display()
            ),
        });
    }
    let kept = filter_record_batch(
        &facts,
        &arrow::compute::not(&replaced).map_err(facts_error::<P>)?,
    )
    .map_err(facts_error::<P>)?;
    let added =
        P::Fact::to_batch(&rewrite.add.iter().collect::<Vec<_>>()).map_err(facts_error::<P>)?;
    let merged = concat_batches(&schema, &[kept, added]).map_err(facts_error::<P>)?;
    // Record-id order, so a replay of the same commit writes the same bytes.
    let order = sort_to_indices(
        merged
            .column_by_name("record_id")
            .expect("facts have record_id"),
        None,
        None,
    )
    .map_err(facts_error::<P>)?;
    let sorted = take_record_batch(&merged, &order).map_err(facts_error::<P>)?;
    commit.put_partition(P::SPEC.facts_table, partition, schema, &[sorted])?;
    Ok(removed)
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
    months: &BTreeSet<String>,
) -> Result<HashMap<String, Vec<RecordBatch>>, StreamError> {
    let mut wanted: Vec<(String, SchemaRef, Vec<PathBuf>)> = Vec::new();
    for def in aggregates.defs() {
        let partitions = manifest.tables.get(&def.table).map(|t| &t.partitions);
        let paths = months
            .iter()
            .filter_map(|m| partitions.and_then(|p| p.get(m)))
            .map(|relative| file_path(dir, relative))
            .collect();
        wanted.push((def.table.clone(), def.shape.schema.clone(), paths));
    }
    blocking("aggregates", move || {
        let mut out = HashMap::new();
        for (table, schema, paths) in wanted {
            let mut rows = Vec::new();
            for path in paths {
                rows.extend(read_conformed(&path, &schema)?);
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

/// Recomputes every aggregate of the pipeline in `dir` from its facts, a month at a time, and
/// compares the result with what is published. With `replace`, publishes the recomputation
/// (offsets unchanged). The caller holds the pipeline's lock.
pub async fn rebuild<P: PipelineKind>(
    dir: &Path,
    aggregates: &Aggregates,
    replace: bool,
) -> Result<Vec<RebuildReport>, StreamError> {
    let owned = dir.to_path_buf();
    let Some(manifest) = blocking(P::SPEC.name, move || Ok(load_current(&owned)?)).await? else {
        return Ok(Vec::new());
    };
    let schema = P::Fact::schema();
    let mut facts_by_month: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (partition, relative) in facts_partitions::<P>(&manifest) {
        if partition != SCHEMA_PARTITION {
            facts_by_month
                .entry(month_of(partition).to_string())
                .or_default()
                .push(relative.to_string());
        }
    }
    let mut months: BTreeSet<String> = facts_by_month.keys().cloned().collect();
    for def in aggregates.defs() {
        if let Some(table) = manifest.tables.get(&def.table) {
            months.extend(
                table
                    .partitions
                    .keys()
                    .filter(|m| m.as_str() != SCHEMA_PARTITION)
                    .cloned(),
            );
        }
    }

    let mut reports: BTreeMap<String, RebuildReport> = BTreeMap::new();
    let mut rebuilt: Vec<AggregateOutput> = Vec::new();
    for month in &months {
        let files = facts_by_month.get(month).cloned().unwrap_or_default();
        let (owned, s) = (dir.to_path_buf(), schema.clone());
        let facts = blocking(P::SPEC.name, move || {
            files.iter().map(|f| read_facts(&owned, &s, f)).collect()
        })
        .await?;
        let outputs = aggregates.compute(facts).await?;
        let one = BTreeSet::from([month.clone()]);
        let published = read_months(dir, &manifest, aggregates, &one).await?;
        for output in outputs {
            let want = output.by_month.get(month).cloned().unwrap_or_default();
            let have = published.get(&output.table).cloned().unwrap_or_default();
            let have = split_by_month(&have)
                .map_err(|e| StreamError::Facts {
                    table: output.table.clone(),
                    reason: e.to_string(),
                })?
                .remove(month)
                .unwrap_or_default();
            let report = reports
                .entry(output.table.clone())
                .or_insert_with(|| RebuildReport {
                    table: output.table.clone(),
                    months: 0,
                    differing: Vec::new(),
                });
            report.months += usize::from(!want.is_empty());
            if !same_rows(&output.schema, &want, &have)? {
                report.differing.push(month.clone());
            }
            if replace {
                match rebuilt.iter_mut().find(|o| o.table == output.table) {
                    Some(all) => all.by_month.extend(output.by_month),
                    None => rebuilt.push(output),
                }
            }
        }
    }
    if replace {
        let owned = dir.to_path_buf();
        blocking(P::SPEC.name, move || {
            let mut commit = Commit::begin(&owned, P::SPEC.name, Some(&manifest));
            put_months(&mut commit, &rebuilt, months.iter().map(String::as_str))?;
            Ok(commit.publish()?)
        })
        .await?;
    }
    Ok(reports.into_values().collect())
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
