//! `QueryService::open` over tables published with `lantern_tables::Commit`.

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use lantern_query::{OutputFormat, QueryError, QueryService, format_batches};
use lantern_tables::Commit;

fn batch(months: &[&str], counts: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("month", DataType::Utf8, false),
        Field::new("incidents", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(months.to_vec())),
            Arc::new(Int64Array::from(counts.to_vec())),
        ],
    )
    .unwrap()
}

/// Publishes one shard of the `incidents` pipeline with `monthly` rows and an internal table.
fn publish_shard(data_dir: &std::path::Path, partition: i32, monthly: &[RecordBatch]) {
    let dir = lantern_tables::shards::shard_dir(&data_dir.join("incidents"), partition);
    let mut commit = Commit::begin(&dir, "incidents", None);
    let schema = monthly[0].schema();
    commit
        .ensure_table(
            "incidents_monthly",
            false,
            &["incidents".into()],
            schema.clone(),
        )
        .unwrap();
    for batch in monthly {
        let month = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0);
        commit
            .put_partition(
                "incidents_monthly",
                month,
                schema.clone(),
                std::slice::from_ref(batch),
            )
            .unwrap();
    }
    commit
        .ensure_table("incident_facts", true, &[], schema.clone())
        .unwrap();
    commit.publish().unwrap();
}

#[tokio::test]
async fn open_registers_published_tables_summed_over_shards_but_not_internal_ones() {
    let data_dir = tempfile::tempdir().unwrap();
    publish_shard(data_dir.path(), 0, &[batch(&["2024-01"], &[3])]);
    publish_shard(
        data_dir.path(),
        1,
        &[batch(&["2024-01"], &[2]), batch(&["2024-02"], &[4])],
    );

    let service = QueryService::open(data_dir.path()).await.unwrap();
    assert_eq!(service.tables(), vec!["incidents_monthly".to_string()]);

    let batches = service
        .sql("SELECT month, incidents FROM incidents_monthly ORDER BY month")
        .await
        .unwrap();
    assert_eq!(
        format_batches(&batches, OutputFormat::Csv).unwrap(),
        "month,incidents\n2024-01,5\n2024-02,4\n"
    );

    // Internal per-record tables are not reachable.
    assert!(matches!(
        service.sql("SELECT * FROM incident_facts").await,
        Err(QueryError::Plan(_))
    ));
    // Published tables are read-only.
    assert!(matches!(
        service
            .sql("INSERT INTO incidents_monthly VALUES ('2024-03', 1)")
            .await,
        Err(QueryError::ReadOnly { .. })
    ));
}
