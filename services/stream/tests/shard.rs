//! Handing a shard from one owner to the next, without Kafka: the new owner waits for the old
//! one's lock, starts from what the old one published last, and skips what was published.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineFiles;
use lantern_stream::StreamMetrics;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::pipelines::Incidents;
use lantern_stream::shard::{Shard, ShardEnv};
use rdkafka::message::{OwnedMessage, Timestamp};
use serde_json::json;
use tokio::sync::watch;

const TOPIC: &str = "incidents";

async fn env(pipeline_dir: &Path) -> ShardEnv {
    ShardEnv {
        pipeline_dir: pipeline_dir.to_path_buf(),
        topic: TOPIC.into(),
        partitions: 1,
        aggregates: Aggregates::load::<Incidents>(&PipelineFiles::Embedded)
            .await
            .unwrap(),
        reference: Arc::new(ReferenceData::load(&PipelineFiles::Embedded, "E23000003").unwrap()),
        cache_bytes: 1 << 20,
        // Never used: every message below is valid, so nothing is dead-lettered.
        producer: rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create()
            .unwrap(),
        dead_letter_topic: "unused".into(),
        metrics: StreamMetrics::register(&prometheus::Registry::new()).unwrap(),
    }
}

fn incident(offset: i64) -> OwnedMessage {
    let id = format!("H{offset}");
    let value = json!({
        "event_id": format!("{id}:1"),
        "schema_version": 1,
        "source": "test",
        "occurred_at": "2024-03-01T10:00:00Z",
        "reported_at": "2024-03-01T10:00:00Z",
        "incident_id": id,
        "version": 1,
        "status": "recorded",
        "crime_type": "Burglary",
        "location": {"lsoa_code": "E01025232"},
    });
    OwnedMessage::new(
        Some(serde_json::to_vec(&value).unwrap()),
        Some(id.into_bytes()),
        TOPIC.into(),
        Timestamp::NotAvailable,
        0,
        offset,
        None,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_owner_waits_for_the_old_one_and_starts_from_its_last_publish() {
    let dir = tempfile::tempdir().unwrap();
    let env = Arc::new(env(dir.path()).await);
    let (_stop, mut stopped) = watch::channel(false);
    let mut old = Shard::<Incidents>::take_over(&env, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.next_offset(TOPIC), None);

    // The group has moved the partition on, but the old owner is still finishing its batch.
    let (new_env, mut new_stopped) = (Arc::clone(&env), stopped.clone());
    let next_owner =
        tokio::spawn(
            async move { Shard::<Incidents>::take_over(&new_env, 0, &mut new_stopped).await },
        );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !next_owner.is_finished(),
        "the new owner must wait for the old one's lock"
    );
    let batch: Vec<OwnedMessage> = (0..5).map(incident).collect();
    let applied = old.apply(&env, &batch).await.unwrap();
    assert_eq!(applied.next_offset, Some(5));
    drop(old);

    let mut new = next_owner.await.unwrap().unwrap().unwrap();
    assert_eq!(
        new.next_offset(TOPIC),
        Some(5),
        "starts after the last publish"
    );
    assert_eq!(new.records().unwrap(), 5);
    // Read again from an earlier offset (the assignment raced the old owner's publish): the
    // published part is skipped, the rest is applied once.
    let again: Vec<OwnedMessage> = (3..7).map(incident).collect();
    let applied = new.apply(&env, &again).await.unwrap();
    assert_eq!(applied.next_offset, Some(7));
    assert_eq!(new.records().unwrap(), 7);
}
