use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::*;
use datafusion::execution::context::SQLOptions;

fn sample_batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("month", DataType::Utf8, false),
        Field::new("lsoa_code", DataType::Utf8, true),
        Field::new("incidents", DataType::Int64, false),
        Field::new("loss_total", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["2024-01", "2024-02"])),
            Arc::new(StringArray::from(vec![Some("E01000001"), None])),
            Arc::new(Int64Array::from(vec![3, 1])),
            Arc::new(Float64Array::from(vec![Some(12.5), None])),
        ],
    )
    .unwrap()
}

/// A locked-down service over one in-memory table, `incidents_monthly`.
fn service() -> QueryService {
    let ctx = session_context();
    let batch = sample_batch();
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
    ctx.register_table("incidents_monthly", Arc::new(table))
        .unwrap();
    QueryService::from_context(ctx)
}

async fn row_count(service: &QueryService) -> usize {
    service
        .sql("SELECT * FROM incidents_monthly")
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum()
}

#[tokio::test]
async fn runs_a_query() {
    let service = service();
    assert_eq!(service.tables(), vec!["incidents_monthly".to_string()]);
    let batches = service
        .sql("SELECT month, incidents FROM incidents_monthly WHERE incidents > 2;")
        .await
        .unwrap();
    let text = format_batches(&batches, OutputFormat::Table).unwrap();
    assert!(text.contains("2024-01"), "{text}");
    assert!(!text.contains("2024-02"), "{text}");
}

#[tokio::test]
async fn explain_of_a_query_and_information_schema_are_allowed() {
    let service = service();
    let batches = service
        .sql("EXPLAIN SELECT * FROM incidents_monthly")
        .await
        .unwrap();
    assert!(!batches.is_empty());
    let batches = service
        .sql("SELECT table_name FROM information_schema.tables WHERE table_name = 'incidents_monthly'")
        .await
        .unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    // CTEs, unions and subqueries are still plain queries.
    service
        .sql(
            "WITH m AS (SELECT * FROM incidents_monthly) \
             SELECT month FROM m UNION ALL SELECT month FROM (SELECT month FROM incidents_monthly)",
        )
        .await
        .unwrap();
}

/// Every refused statement, with the kind the error must name.
const REFUSED: &[(&str, &str)] = &[
    ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
    ("CREATE TABLE t (a INT)", "CREATE TABLE"),
    (
        "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE EXTERNAL TABLE",
    ),
    ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
    (
        "CREATE OR REPLACE VIEW incidents_monthly AS SELECT 1",
        "CREATE VIEW",
    ),
    ("CREATE SCHEMA s", "CREATE SCHEMA"),
    (
        "CREATE FUNCTION f(INT) RETURNS INT RETURN 1",
        "CREATE FUNCTION",
    ),
    (
        "INSERT INTO incidents_monthly VALUES ('2024-03', NULL, 1, 0.0)",
        "INSERT",
    ),
    (
        "INSERT INTO incidents_monthly SELECT * FROM incidents_monthly",
        "INSERT",
    ),
    ("UPDATE incidents_monthly SET incidents = 0", "UPDATE"),
    ("DELETE FROM incidents_monthly", "DELETE"),
    ("TRUNCATE TABLE incidents_monthly", "TRUNCATE"),
    (
        "COPY incidents_monthly TO '/tmp/lantern-query-copy-test.csv'",
        "COPY",
    ),
    (
        "COPY (SELECT * FROM incidents_monthly) TO '/tmp/lantern-query-copy-test.csv' STORED AS CSV",
        "COPY",
    ),
    ("SET datafusion.catalog.information_schema = false", "SET"),
    ("SET TIME ZONE 'UTC'", "SET"),
    ("RESET datafusion.catalog.information_schema", "RESET"),
    ("DROP TABLE incidents_monthly", "DROP TABLE"),
    ("DROP VIEW incidents_monthly", "DROP VIEW"),
    ("ALTER TABLE incidents_monthly RENAME TO x", "ALTER TABLE"),
    ("SELECT 1; SELECT 2", "multiple"),
    ("SELECT 1; DROP TABLE incidents_monthly", "multiple"),
    (
        "EXPLAIN INSERT INTO incidents_monthly SELECT * FROM incidents_monthly",
        "EXPLAIN INSERT",
    ),
    (
        "EXPLAIN ANALYZE DELETE FROM incidents_monthly",
        "EXPLAIN DELETE",
    ),
    (
        "EXPLAIN COPY incidents_monthly TO '/tmp/lantern-query-copy-test.csv'",
        "EXPLAIN COPY",
    ),
    (
        "WITH x AS (SELECT * FROM incidents_monthly) INSERT INTO incidents_monthly SELECT * FROM x",
        "INSERT",
    ),
    ("SELECT * INTO stolen FROM incidents_monthly", "SELECT INTO"),
    ("DESCRIBE incidents_monthly", "DESCRIBE"),
    ("SHOW TABLES", "SHOW"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("BEGIN", "BEGIN"),
];

#[tokio::test]
async fn refuses_every_non_query_statement_and_names_its_kind() {
    let service = service();
    let before = row_count(&service).await;
    for (sql, kind) in REFUSED {
        match service.sql(sql).await {
            Err(QueryError::ReadOnly { statement_kind }) => {
                assert_eq!(&statement_kind, kind, "wrong kind for {sql}");
                let message = QueryError::ReadOnly {
                    statement_kind: statement_kind.clone(),
                }
                .to_string();
                assert_eq!(
                    message,
                    format!("Lantern SQL is read-only: {kind} statements are not allowed")
                );
            }
            other => panic!("{sql} was not refused as read-only: {other:?}"),
        }
    }
    // Nothing changed.
    assert_eq!(service.tables(), vec!["incidents_monthly".to_string()]);
    assert_eq!(row_count(&service).await, before);
    assert!(!Path::new("/tmp/lantern-query-copy-test.csv").exists());
    // The session config is untouched: information_schema still answers.
    service
        .sql("SELECT * FROM information_schema.tables")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sql_options_layer_alone_also_refuses_writes() {
    // Defence in depth: even without the pre-parse, planning with these options fails.
    let service = service();
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    for (sql, _) in REFUSED.iter().filter(|(_, kind)| {
        matches!(
            *kind,
            "CREATE TABLE" | "CREATE VIEW" | "INSERT" | "DELETE" | "COPY" | "SET" | "DROP TABLE"
        )
    }) {
        assert!(
            service
                .context()
                .sql_with_options(sql, options)
                .await
                .is_err(),
            "{sql} planned"
        );
    }
}

#[tokio::test]
async fn cannot_read_files() {
    let service = service();
    assert!(!url_tables_enabled(service.context()));
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_json('/etc/passwd')",
        "SELECT * FROM parquet_metadata('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'file:///etc/passwd'",
        "SELECT * FROM \"/etc/passwd\"",
    ] {
        match service.sql(sql).await {
            Err(QueryError::Plan(_)) => {}
            other => panic!("{sql} did not fail to plan: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_context_with_url_tables_is_refused() {
    let ctx = SessionContext::new().enable_url_table();
    assert!(url_tables_enabled(&ctx));
    let service = QueryService::from_context(ctx);
    assert!(matches!(
        service.sql("SELECT 1").await,
        Err(QueryError::UrlTablesEnabled)
    ));
}

#[tokio::test]
async fn empty_bad_and_unknown_sql_are_errors() {
    let service = service();
    assert!(matches!(service.sql("").await, Err(QueryError::Empty)));
    assert!(matches!(service.sql("  ;; ").await, Err(QueryError::Empty)));
    assert!(matches!(
        service.sql("SELEC 1").await,
        Err(QueryError::Plan(_))
    ));
    assert!(matches!(
        service.sql("SELECT * FROM no_such_table").await,
        Err(QueryError::Plan(_))
    ));
}

#[tokio::test]
async fn open_of_an_empty_data_dir_has_no_tables() {
    let dir = tempfile::tempdir().unwrap();
    let service = QueryService::open(dir.path()).await.unwrap();
    assert!(service.tables().is_empty());
    let missing = dir.path().join("missing");
    let service = QueryService::open(&missing).await.unwrap();
    assert!(service.tables().is_empty());
    assert!(!url_tables_enabled(service.context()));
}

#[test]
fn output_format_parses_and_names_a_bad_value() {
    assert_eq!(
        "table".parse::<OutputFormat>().unwrap(),
        OutputFormat::Table
    );
    assert_eq!("csv".parse::<OutputFormat>().unwrap(), OutputFormat::Csv);
    assert_eq!("json".parse::<OutputFormat>().unwrap(), OutputFormat::Json);
    let err = "yaml".parse::<OutputFormat>().unwrap_err();
    assert!(err.to_string().contains("\"yaml\""), "{err}");
    for format in [OutputFormat::Table, OutputFormat::Csv, OutputFormat::Json] {
        assert_eq!(format.to_string().parse::<OutputFormat>().unwrap(), format);
    }
}

#[test]
fn formats_table_csv_and_json() {
    let batches = [sample_batch()];
    let table = format_batches(&batches, OutputFormat::Table).unwrap();
    assert_eq!(
        table,
        "+---------+-----------+-----------+------------+\n\
         | month   | lsoa_code | incidents | loss_total |\n\
         +---------+-----------+-----------+------------+\n\
         | 2024-01 | E01000001 | 3         | 12.5       |\n\
         | 2024-02 |           | 1         |            |\n\
         +---------+-----------+-----------+------------+"
    );
    let csv = format_batches(&batches, OutputFormat::Csv).unwrap();
    assert_eq!(
        csv,
        "month,lsoa_code,incidents,loss_total\n2024-01,E01000001,3,12.5\n2024-02,,1,\n"
    );
    let json = format_batches(&batches, OutputFormat::Json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"month": "2024-01", "lsoa_code": "E01000001", "incidents": 3, "loss_total": 12.5},
            {"month": "2024-02", "lsoa_code": null, "incidents": 1, "loss_total": null},
        ])
    );
}

#[test]
fn formats_an_empty_result() {
    assert_eq!(format_batches(&[], OutputFormat::Json).unwrap(), "[]");
    assert_eq!(format_batches(&[], OutputFormat::Csv).unwrap(), "");
    let empty = sample_batch().slice(0, 0);
    assert_eq!(
        format_batches(std::slice::from_ref(&empty), OutputFormat::Json).unwrap(),
        "[]"
    );
    assert_eq!(
        format_batches(&[empty], OutputFormat::Csv).unwrap(),
        "month,lsoa_code,incidents,loss_total\n"
    );
}
