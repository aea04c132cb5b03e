//! Aggregate tables, computed by DataFusion from the SQL definitions in `pipelines/sql/`.
//!
//! The processor does not maintain counters by hand: for every month a commit touched it runs
//! each aggregate's SQL over that month's facts and replaces the month's partition. The SQL file
//! is therefore the one definition of a table — the same text the `.slt` tests check.

use lantern_pipelines::PipelineFiles;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, StringArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::StreamError;

/// One aggregate table: its name and defining SQL.
#[derive(Debug, Clone)]
pub struct AggregateDef {
    pub table: String,
    pub sql: String,
}

/// The result of one aggregate over a set of months: the schema and the rows of each month.
#[derive(Debug)]
pub struct AggregateOutput {
    pub table: String,
    pub schema: SchemaRef,
    pub by_month: HashMap<String, Vec<RecordBatch>>,
}

/// The aggregates of one pipeline.
#[derive(Debug, Clone)]
pub struct Aggregates {
    facts_table: &'static str,
    defs: Vec<AggregateDef>,
}

impl Aggregates {
    /// Reads `sql/<table>.sql` for each table.
    pub fn load(
        files: &PipelineFiles,
        facts_table: &'static str,
        tables: &[&str],
    ) -> Result<Self, StreamError> {
        let defs = tables
            .iter()
            .map(|table| {
                let name = format!("sql/{table}.sql");
                let bytes = files.read(&name)?;
                let sql = String::from_utf8(bytes.into_owned()).map_err(|_| {
                    StreamError::DefinitionNotUtf8 {
                        path: files.display_name(&name),
                    }
                })?;
                Ok(AggregateDef {
                    table: table.to_string(),
                    sql: sql.trim().trim_end_matches(';').to_string(),
                })
            })
            .collect::<Result<_, StreamError>>()?;
        Ok(Aggregates { facts_table, defs })
    }

    /// Runs every aggregate over `facts` (batches sharing `schema`, e.g. one per touched month,
    /// registered as they are: no concatenated copy) and splits each result by its `month`.
    pub async fn compute(
        &self,
        schema: SchemaRef,
        facts: Vec<RecordBatch>,
    ) -> Result<Vec<AggregateOutput>, StreamError> {
        let registration_failed = |source| StreamError::Aggregate {
            table: self.facts_table.to_string(),
            source,
        };
        let table = MemTable::try_new(schema, vec![facts]).map_err(registration_failed)?;
        let ctx = SessionContext::new();
        ctx.register_table(self.facts_table, Arc::new(table))
            .map_err(registration_failed)?;
        let mut outputs = Vec::with_capacity(self.defs.len());
        for def in &self.defs {
            let failed = |source| StreamError::Aggregate {
                table: def.table.clone(),
                source,
            };
            let frame = ctx.sql(&def.sql).await.map_err(failed)?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(failed)?;
            let by_month = split_by_month(&batches).map_err(|e| failed(e.into()))?;
            outputs.push(AggregateOutput {
                table: def.table.clone(),
                schema,
                by_month,
            });
        }
        Ok(outputs)
    }
}

/// Groups rows by the `month` column, keeping their order within each month.
fn split_by_month(
    batches: &[RecordBatch],
) -> Result<HashMap<String, Vec<RecordBatch>>, arrow::error::ArrowError> {
    let mut out: HashMap<String, Vec<RecordBatch>> = HashMap::new();
    for batch in batches {
        let months = batch
            .column_by_name("month")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| {
                arrow::error::ArrowError::SchemaError(
                    "aggregate output has no string `month` column".into(),
                )
            })?;
        let mut rows: HashMap<&str, Vec<u32>> = HashMap::new();
        for row in 0..months.len() {
            rows.entry(months.value(row)).or_default().push(row as u32);
        }
        for (month, indices) in rows {
            let part = take_record_batch(batch, &UInt32Array::from(indices))?;
            out.entry(month.to_string()).or_default().push(part);
        }
    }
    Ok(out)
}
