//! Aggregate tables, defined by the SQL in `pipelines/sql/` and maintained incrementally.
//!
//! Each definition is a `SELECT keys…, COUNT(*) AS n, SUM(x) AS s … FROM <facts> GROUP BY keys`.
//! A commit does not recompute a month from all of its facts. It runs the *same SQL* twice over
//! the batch's changes — once over the new versions (`plus`), once over the versions they replaced
//! (`minus`) — and merges the signed result into the month's current rows:
//!
//! ```text
//! merged = SUM over (current ∪ plus ∪ −minus) GROUP BY keys, dropping groups whose COUNT(*) is 0
//! ```
//!
//! A new record adds to its group, a revision moves one count from its old group to its new one,
//! and a cancellation subtracts. This is sound because COUNT and SUM are invertible: the only
//! aggregates a definition may use are top-level `COUNT(*)`, `COUNT(x)` and `SUM(x)`, and it must
//! have a `COUNT(*)` (a group exists while it has rows). [`Shape::parse`] checks this when the
//! definition loads. The cost of a commit is the size of the batch plus the aggregate rows of the
//! months it touched, not the months' facts. [`Aggregates::compute`] still runs a definition over
//! whole facts, for a new table and for `lantern rebuild`, which checks the two agree.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem, SetExpr,
    Statement,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use lantern_pipelines::PipelineFiles;

use crate::StreamError;
use crate::facts::Fact;
use crate::pipelines::PipelineKind;

/// One aggregate table: its name, defining SQL and the shape the merge needs.
#[derive(Debug, Clone)]
pub struct AggregateDef {
    pub table: String,
    pub sql: String,
    /// `sql` without its ORDER BY: a batch's deltas are merged (and the merge sorts), so sorting
    /// them first is wasted work.
    pub delta_sql: String,
    pub shape: Shape,
}

/// Which output columns are group keys and which are invertible measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Output columns in order: `true` for a measure.
    pub columns: Vec<(String, bool)>,
    /// The `COUNT(*)` measure: a group with a zero here no longer exists.
    pub row_count: String,
    /// The definition's `ORDER BY …` clause, reused so merged rows come out in the same order.
    pub order_by: String,
    /// The output schema (from planning the SQL over an empty facts table).
    pub schema: SchemaRef,
}

/// Aggregates a definition may use: the ones a signed delta can be merged into.
const INVERTIBLE: &[&str] = &["count", "sum"];
/// Aggregates that cannot be maintained from deltas, refused by name so the error is clear.
const NOT_INVERTIBLE: &[&str] = &[
    "avg",
    "mean",
    "min",
    "max",
    "median",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "var",
    "var_pop",
    "var_samp",
    "variance",
    "array_agg",
    "string_agg",
    "first_value",
    "last_value",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "bit_and",
    "bit_or",
    "bool_and",
    "bool_or",
];

impl Shape {
    /// Reads the keys and measures from `sql`, whose output schema is `schema`.
    pub fn parse(table: &str, sql: &str, schema: SchemaRef) -> Result<Shape, String> {
        let statements = parse_sql(sql)?;
        let [Statement::Query(query)] = statements.as_slice() else {
            return Err("must be exactly one SELECT".into());
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Err("must be a plain SELECT … GROUP BY (no UNION, no VALUES)".into());
        };
        let order_by = query
            .order_by
            .as_ref()
            .map(ToString::to_string)
            .ok_or("needs an ORDER BY over every key, so files are reproducible")?;
        let mut columns = Vec::new();
        let mut row_count = None;
        for (item, field) in select.projection.iter().zip(schema.fields()) {
            let expr = match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
                other => return Err(format!("cannot merge the select item {other}")),
            };
            let measure = match measure_kind(expr)? {
                Some(Measure::CountRows) => {
                    row_count.get_or_insert_with(|| field.name().clone());
                    true
                }
                Some(Measure::Other) => true,
                None => false,
            };
            if measure {
                sql_type(field.data_type()).map_err(|t| {
                    format!(
                        "measure {} has type {t}, which cannot be merged",
                        field.name()
                    )
                })?;
            }
            columns.push((field.name().clone(), measure));
        }
        if columns.len() != schema.fields().len() {
            return Err("every output column must be a plain select item".into());
        }
        let keys = columns.iter().filter(|(_, m)| !m).count();
        match &select.group_by {
            GroupByExpr::Expressions(exprs, _) if exprs.len() == keys => {}
            _ => {
                return Err(format!(
                    "must GROUP BY exactly its {keys} non-aggregate columns"
                ));
            }
        }
        let row_count = row_count.ok_or_else(|| {
            format!("{table} needs a COUNT(*) column: a group exists while it has rows")
        })?;
        Ok(Shape {
            columns,
            row_count,
            order_by,
            schema,
        })
    }

    /// The measure columns: what is summed when shards or deltas are combined.
    pub fn measures(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter(|(_, m)| *m)
            .map(|(c, _)| c.clone())
            .collect()
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter(|(_, m)| !m)
            .map(|(c, _)| c.as_str())
    }

    /// The SQL that merges `current`, `plus` and `minus` (each with this shape's schema).
    fn merge_sql(&self) -> String {
        let quoted = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
        let negated: Vec<String> = self
            .columns
            .iter()
            .map(|(c, measure)| match measure {
                true => format!("-{} AS {}", quoted(c), quoted(c)),
                false => quoted(c),
            })
            .collect();
        let outer: Vec<String> = self
            .columns
            .iter()
            .zip(self.schema.fields())
            .map(|((c, measure), field)| match measure {
                true => format!(
                    "CAST(SUM({q}) AS {t}) AS {q}",
                    q = quoted(c),
                    t = sql_type(field.data_type()).expect("checked in parse")
                ),
                false => quoted(c),
            })
            .collect();
        let keys: Vec<String> = self.keys().map(quoted).collect();
        // The filter is outside the GROUP BY: in a HAVING, the count's name would resolve to
        // the outer alias, an aggregate of an aggregate.
        format!(
            "SELECT * FROM (\
               SELECT {outer} FROM (\
                 SELECT * FROM current_rows \
                 UNION ALL SELECT * FROM plus_rows \
                 UNION ALL SELECT {negated} FROM minus_rows\
               ) GROUP BY {keys}\
             ) WHERE {count} <> 0 {order}",
            outer = outer.join(", "),
            negated = negated.join(", "),
            keys = keys.join(", "),
            count = quoted(&self.row_count),
            order = self.order_by,
        )
    }
}

fn parse_sql(sql: &str) -> Result<Vec<Statement>, String> {
    Parser::parse_sql(&GenericDialect {}, sql).map_err(|e| e.to_string())
}

/// `sql` (a definition [`Shape::parse`] accepted) without its ORDER BY clause.
fn without_order_by(sql: &str) -> Result<String, String> {
    let mut statements = parse_sql(sql)?;
    let [Statement::Query(query)] = statements.as_mut_slice() else {
        return Err("must be exactly one SELECT".into());
    };
    query.order_by = None;
    Ok(query.to_string())
}

enum Measure {
    CountRows,
    Other,
}

/// Whether a top-level select expression is an (invertible) aggregate.
fn measure_kind(expr: &Expr) -> Result<Option<Measure>, String> {
    let Expr::Function(function) = expr else {
        return Ok(None);
    };
    let name = function.name.to_string().to_ascii_lowercase();
    if NOT_INVERTIBLE.contains(&name.as_str()) {
        return Err(format!(
            "{} cannot be maintained incrementally: use COUNT or SUM",
            function.name
        ));
    }
    if !INVERTIBLE.contains(&name.as_str()) {
        return Ok(None);
    }
    let FunctionArguments::List(list) = &function.args else {
        return Err(format!("{expr}: expected an argument list"));
    };
    if list.duplicate_treatment.is_some() || function.filter.is_some() {
        return Err(format!(
            "{expr}: DISTINCT / FILTER cannot be maintained incrementally"
        ));
    }
    let star = matches!(
        list.args.as_slice(),
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]
    );
    Ok(Some(if name == "count" && star {
        Measure::CountRows
    } else {
        Measure::Other
    }))
}

/// The SQL name of a measure's type, to cast the merged sum back to the definition's type.
fn sql_type(data_type: &DataType) -> Result<String, String> {
    match data_type {
        DataType::Int64 => Ok("BIGINT".into()),
        DataType::Decimal128(p, s) => Ok(format!("DECIMAL({p}, {s})")),
        DataType::Float64 => Ok("DOUBLE".into()),
        other => Err(other.to_string()),
    }
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
    facts_schema: SchemaRef,
    defs: Vec<AggregateDef>,
}

impl Aggregates {
    /// Reads `sql/<table>.sql` for each aggregate table of pipeline `P` and checks it can be
    /// maintained incrementally.
    pub async fn load<P: PipelineKind>(files: &PipelineFiles) -> Result<Self, StreamError> {
        let (facts_table, tables) = (P::SPEC.facts_table, P::SPEC.aggregates);
        let facts_schema = P::Fact::schema();
        let mut defs = Vec::with_capacity(tables.len());
        for table in tables {
            let name = format!("sql/{table}.sql");
            let bytes = files.read(&name)?;
            let sql = String::from_utf8(bytes.into_owned()).map_err(|_| {
                StreamError::DefinitionNotUtf8 {
                    path: files.display_name(&name),
                }
            })?;
            let sql = sql.trim().trim_end_matches(';').to_string();
            let ctx = facts_context(
                facts_table,
                facts_schema.clone(),
                Vec::new(),
                delta_context(),
            )
            .map_err(aggregate_error(table))?;
            let frame = ctx.sql(&sql).await.map_err(aggregate_error(table))?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let invalid = |reason| StreamError::AggregateDefinition {
                path: files.display_name(&name),
                reason,
            };
            let shape = Shape::parse(table, &sql, schema).map_err(invalid)?;
            let delta_sql = without_order_by(&sql).map_err(invalid)?;
            defs.push(AggregateDef {
                table: table.to_string(),
                sql,
                delta_sql,
                shape,
            });
        }
        Ok(Aggregates {
            facts_table,
            facts_schema,
            defs,
        })
    }

    pub fn defs(&self) -> &[AggregateDef] {
        &self.defs
    }

    /// Runs every aggregate over whole `facts` and splits each result by its `month`.
    pub async fn compute(
        &self,
        facts: Vec<RecordBatch>,
    ) -> Result<Vec<AggregateOutput>, StreamError> {
        let ctx = facts_context(
            self.facts_table,
            self.facts_schema.clone(),
            facts,
            SessionContext::new(),
        )
        .map_err(aggregate_error(self.facts_table))?;
        let mut outputs = Vec::with_capacity(self.defs.len());
        for def in &self.defs {
            let batches = run(&ctx, &def.sql)
                .await
                .map_err(aggregate_error(&def.table))?;
            outputs.push(output(def, &batches)?);
        }
        Ok(outputs)
    }

    /// Every aggregate over a batch's `facts`, unordered: the signed deltas [`Aggregates::apply`]
    /// merges, one result per definition.
    pub async fn deltas(
        &self,
        facts: Vec<RecordBatch>,
    ) -> Result<Vec<Vec<RecordBatch>>, StreamError> {
        let ctx = facts_context(
            self.facts_table,
            self.facts_schema.clone(),
            facts,
            delta_context(),
        )
        .map_err(aggregate_error(self.facts_table))?;
        let mut deltas = Vec::with_capacity(self.defs.len());
        for def in &self.defs {
            deltas.push(
                run(&ctx, &def.delta_sql)
                    .await
                    .map_err(aggregate_error(&def.table))?,
            );
        }
        Ok(deltas)
    }

    /// Merges a batch's changes into the current rows of the months they touch. `plus` are the
    /// new versions and `minus` the versions they replaced (tombstones may be in either: the SQL
    /// leaves them out). `current(table)` gives the table's present rows of those months.
    pub async fn apply(
        &self,
        plus: Vec<RecordBatch>,
        minus: Vec<RecordBatch>,
        mut current: impl FnMut(&AggregateDef) -> Result<Vec<RecordBatch>, StreamError>,
    ) -> Result<Vec<AggregateOutput>, StreamError> {
        let added = self.deltas(plus).await?;
        let removed = self.deltas(minus).await?;
        let mut outputs = Vec::with_capacity(self.defs.len());
        for ((def, added), removed) in self.defs.iter().zip(added).zip(removed) {
            let failed = aggregate_error(&def.table);
            let ctx = delta_context();
            let schema = def.shape.schema.clone();
            for (name, rows) in [
                ("current_rows", current(def)?),
                ("plus_rows", added),
                ("minus_rows", removed),
            ] {
                let table = MemTable::try_new(schema.clone(), vec![rows]).map_err(&failed)?;
                ctx.register_table(name, Arc::new(table)).map_err(&failed)?;
            }
            let merged = run(&ctx, &def.shape.merge_sql()).await.map_err(&failed)?;
            check_no_negative_counts(def, &merged)?;
            outputs.push(output(def, &merged)?);
        }
        Ok(outputs)
    }
}

/// `ctx` with `facts` registered as the facts table.
fn facts_context(
    facts_table: &str,
    schema: SchemaRef,
    facts: Vec<RecordBatch>,
    ctx: SessionContext,
) -> Result<SessionContext, DataFusionError> {
    let table = MemTable::try_new(schema, vec![facts])?;
    ctx.register_table(facts_table, Arc::new(table))?;
    Ok(ctx)
}

/// A context for a commit's small inputs (a batch's facts, the months' current rows): one
/// partition. With the default (one per core) DataFusion hash-repartitions every input and
/// aggregates it twice, which cost more than the aggregation; the processor's shards already
/// use the cores.
fn delta_context() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1))
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    ctx.sql(sql).await?.collect().await
}

fn aggregate_error(table: &str) -> impl Fn(DataFusionError) -> StreamError + '_ {
    move |source| StreamError::Aggregate {
        table: table.to_string(),
        source,
    }
}

fn output(def: &AggregateDef, batches: &[RecordBatch]) -> Result<AggregateOutput, StreamError> {
    let failed = |e: arrow::error::ArrowError| aggregate_error(&def.table)(e.into());
    // The merge's casts leave every column nullable; the table's schema is the definition's.
    let batches = batches
        .iter()
        .map(|b| crate::store::conform(&def.shape.schema, b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    let by_month = split_by_month(&batches).map_err(failed)?;
    Ok(AggregateOutput {
        table: def.table.clone(),
        schema: def.shape.schema.clone(),
        by_month,
    })
}

/// A negative count means a retraction of something never added: state and tables disagree.
/// Publishing it would be wrong, so the pipeline stops with the table's name.
fn check_no_negative_counts(
    def: &AggregateDef,
    batches: &[RecordBatch],
) -> Result<(), StreamError> {
    for batch in batches {
        let counts = batch
            .column_by_name(&def.shape.row_count)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        if counts.is_some_and(|c| c.iter().flatten().any(|n| n < 0)) {
            return Err(StreamError::Facts {
                table: def.table.clone(),
                reason: format!(
                    "merging a batch made {} negative: the state and the published aggregate \
                     disagree (run `lantern rebuild`)",
                    def.shape.row_count
                ),
            });
        }
    }
    Ok(())
}

/// Groups rows by the `month` column, keeping their order within each month.
pub fn split_by_month(
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
