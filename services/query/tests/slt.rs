//! Runs the sqllogictest files in `pipelines/slt/` against the aggregate definitions in
//! `pipelines/sql/`.
//!
//! Each `.slt` file builds tiny fact tables with ordinary DDL/DML in a plain DataFusion session
//! and queries an aggregate through the placeholder `{{aggregate:NAME}}`, which this runner
//! replaces with the text of `pipelines/sql/NAME.sql` (trailing `;` removed). See
//! `pipelines/slt/README.md`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Record, Runner};

/// The aggregates that must each have a `.slt` file.
const REQUIRED: &[&str] = &[
    "incidents_monthly",
    "incidents_daily",
    "business_crime_monthly",
    "cybercrime_monthly",
];

const PLACEHOLDER_OPEN: &str = "{{aggregate:";
const PLACEHOLDER_CLOSE: &str = "}}";

fn pipelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines")
}

#[derive(Debug, thiserror::Error)]
enum SltError {
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("bad placeholder: {0}")]
    Placeholder(String),
}

/// Replaces every `{{aggregate:NAME}}` in `sql` with the aggregate's SQL.
fn substitute(sql: &str, sql_dir: &Path) -> Result<String, SltError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(PLACEHOLDER_OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + PLACEHOLDER_OPEN.len()..];
        let end = after
            .find(PLACEHOLDER_CLOSE)
            .ok_or_else(|| SltError::Placeholder(format!("unclosed {PLACEHOLDER_OPEN}")))?;
        let name = after[..end].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(SltError::Placeholder(format!(
                "invalid aggregate name {name:?}"
            )));
        }
        let path = sql_dir.join(format!("{name}.sql"));
        let text = fs::read_to_string(&path)
            .map_err(|e| SltError::Placeholder(format!("{}: {e}", path.display())))?;
        let body = strip_final_semicolon(&text);
        // Newlines around the body: the file may end in a `--` comment, which must not swallow
        // whatever the .slt writes after the placeholder.
        out.push('\n');
        out.push_str(&body);
        out.push('\n');
        rest = &after[end + PLACEHOLDER_CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The aggregate's text without trailing blank lines and with the `;` ending its last line of
/// code removed (comment lines after it are kept).
fn strip_final_semicolon(text: &str) -> String {
    let mut lines: Vec<&str> = text.trim_end().lines().collect();
    let last_code = lines.iter().rposition(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--")
    });
    if let Some(i) = last_code {
        let line = lines[i].trim_end();
        if let Some(stripped) = line.strip_suffix(';') {
            lines[i] = stripped;
        }
    }
    lines.join("\n")
}

/// A plain DataFusion session (DDL and DML allowed: the .slt files build their inputs).
struct Lantern {
    ctx: SessionContext,
    sql_dir: PathBuf,
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DefaultColumnType::Integer,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

/// Renders rows as text: NULL as `NULL`, the empty string as `(empty)`.
fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| {
                        let value = f.value(row).to_string();
                        if value.is_empty() {
                            "(empty)".to_string()
                        } else {
                            value
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[async_trait]
impl AsyncDB for Lantern {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let sql = substitute(sql, &self.sql_dir)?;
        let df = self.ctx.sql(&sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types: schema
                .fields()
                .iter()
                .map(|f| column_type(f.data_type()))
                .collect(),
            rows: render(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

/// Every `.slt` file in `pipelines/slt`, sorted.
fn slt_files() -> Vec<PathBuf> {
    let dir = pipelines_dir().join("slt");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_aggregate_has_an_slt_file_that_queries_it() {
    let sql_dir = pipelines_dir().join("sql");
    let aggregates: BTreeSet<String> = fs::read_dir(&sql_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| stem(&p))
        .collect();
    for name in REQUIRED {
        assert!(
            aggregates.contains(*name),
            "pipelines/sql/{name}.sql is missing"
        );
    }
    let slts: BTreeSet<String> = slt_files().iter().map(|p| stem(p)).collect();
    for name in &aggregates {
        assert!(slts.contains(name), "pipelines/slt/{name}.slt is missing");
    }
    // Non-vacuous: each file checks results of a query over its own aggregate.
    for path in slt_files() {
        let name = stem(&path);
        let placeholder = format!("{PLACEHOLDER_OPEN}{name}{PLACEHOLDER_CLOSE}");
        let records = sqllogictest::parse_file::<DefaultColumnType>(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let checked = records
            .iter()
            .filter(|r| match r {
                Record::Query { sql, expected, .. } => {
                    sql.contains(&placeholder)
                        && matches!(expected, sqllogictest::QueryExpect::Results { results, .. } if !results.is_empty())
                }
                _ => false,
            })
            .count();
        assert!(
            checked > 0,
            "{} has no query with expected rows over {placeholder}",
            path.display()
        );
    }
}

#[tokio::test]
async fn slt_files_pass() {
    let sql_dir = pipelines_dir().join("sql");
    let files = slt_files();
    let found: BTreeSet<String> = files.iter().map(|p| stem(p)).collect();
    for name in REQUIRED {
        assert!(found.contains(*name), "pipelines/slt/{name}.slt is missing");
    }
    let mut failures = Vec::new();
    for path in &files {
        let sql_dir = sql_dir.clone();
        let mut runner = Runner::new(move || {
            let sql_dir = sql_dir.clone();
            async move {
                Ok(Lantern {
                    ctx: SessionContext::new(),
                    sql_dir,
                })
            }
        });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        if let Err(e) = runner.run_file_async(path).await {
            failures.push(format!("{}:\n{e}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} .slt files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
    eprintln!("{} .slt files passed", files.len());
}

#[test]
fn substitution_inlines_the_aggregate_without_its_semicolon() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("agg.sql"),
        "-- c\nSELECT 1 AS x;\n-- trailing\n",
    )
    .unwrap();
    // The `;` goes even before a trailing comment, which stays on its own line.
    let out = substitute("SELECT * FROM ({{aggregate:agg}})", dir.path()).unwrap();
    assert_eq!(out, "SELECT * FROM (\n-- c\nSELECT 1 AS x\n-- trailing\n)");
    fs::write(dir.path().join("agg.sql"), "SELECT 1 AS x;\n\n").unwrap();
    let out = substitute("SELECT * FROM ({{aggregate:agg}}) t", dir.path()).unwrap();
    assert_eq!(out, "SELECT * FROM (\nSELECT 1 AS x\n) t");
    assert!(substitute("{{aggregate:missing}}", dir.path()).is_err());
    assert!(substitute("{{aggregate:../etc}}", dir.path()).is_err());
    assert!(substitute("{{aggregate:agg", dir.path()).is_err());
}
