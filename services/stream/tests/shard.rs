//! Handing a shard from one owner to the next, without Kafka: the new owner waits for the old
//! one's lock, starts from what the old one published last, and skips what was published.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineFiles;
use lantern_stream::StreamError;
use lantern_stream::StreamMetrics;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::pipelines::Incidents;
use lantern_stream::shard::{Shard, ShardEnv};
use lantern_tables::TableError;
use lantern_tables::remote::Remote;
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
        remote: None,
    }
}

/// A shard environment whose tables' home is the object store at `store` (a `file://` store:
/// the same code path as S3, which `tests/e2e/object_store.rs` covers).
async fn remote_env(pipeline_dir: &Path, store: &Path) -> ShardEnv {
    let url = format!("file://{}", store.display());
    ShardEnv {
        remote: Some(Remote::from_url(&url).unwrap()),
        ..env(pipeline_dir).await
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

#[tokio::test(flavor = "multi_thread")]
async fn of_two_writers_racing_for_one_shard_in_the_store_one_loses_cleanly() {
    let store = tempfile::tempdir().unwrap();
    let (host_a, host_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env_a = remote_env(&host_a.path().join("incidents"), store.path()).await;
    let env_b = remote_env(&host_b.path().join("incidents"), store.path()).await;
    let (_stop, mut stopped) = watch::channel(false);

    // Both hosts believe they own partition 0 (a zombie after a rebalance) and both start
    // from the shard's first commit in the store.
    let mut a = Shard::<Incidents>::take_over(&env_a, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    let mut b = Shard::<Incidents>::take_over(&env_b, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    let first: Vec<OwnedMessage> = (0..4).map(incident).collect();
    a.apply(&env_a, &first).await.unwrap();
    let other: Vec<OwnedMessage> = (0..6).map(incident).collect();
    let lost = b.apply(&env_b, &other).await.unwrap_err();
    assert!(
        matches!(
            lost,
            StreamError::Table(TableError::LostShard {
                seq: 2,
                partition: 0,
                ..
            })
        ),
        "the second writer of commit 2 must lose: {lost}"
    );
    drop(b);

    // A third host taking the shard over sees exactly the winner's commit.
    let host_c = tempfile::tempdir().unwrap();
    let env_c = remote_env(&host_c.path().join("incidents"), store.path()).await;
    let mut c = Shard::<Incidents>::take_over(&env_c, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.next_offset(TOPIC), Some(4));
    assert_eq!(c.records().unwrap(), 4);

    // The loser, restarted, throws its unpublished commit away and continues from the store.
    let mut b = Shard::<Incidents>::take_over(&env_b, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.next_offset(TOPIC), Some(4));
    assert_eq!(
        b.records().unwrap(),
        4,
        "the index was rebuilt from the store's facts"
    );
    let rest: Vec<OwnedMessage> = (4..6).map(incident).collect();
    assert_eq!(b.apply(&env_b, &rest).await.unwrap().next_offset, Some(6));
    assert_eq!(b.records().unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_that_lost_its_disk_continues_from_the_store() {
    let store = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    let env = remote_env(&host.path().join("incidents"), store.path()).await;
    let (_stop, mut stopped) = watch::channel(false);
    let mut shard = Shard::<Incidents>::take_over(&env, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    let batch: Vec<OwnedMessage> = (0..5).map(incident).collect();
    shard.apply(&env, &batch).await.unwrap();
    drop(shard);

    std::fs::remove_dir_all(host.path()).unwrap();
    let mut shard = Shard::<Incidents>::take_over(&env, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shard.next_offset(TOPIC), Some(5));
    assert_eq!(shard.records().unwrap(), 5);
    // Replayed input is recognised as published, new input counts once.
    let again: Vec<OwnedMessage> = (3..8).map(incident).collect();
    assert_eq!(
        shard.apply(&env, &again).await.unwrap().next_offset,
        Some(8)
    );
    assert_eq!(shard.records().unwrap(), 8);
}

/// The sequence of the manifest a working copy or replica of shard 0 holds.
fn replica_seq(data_dir: &Path) -> Option<u64> {
    let shard = lantern_tables::shards::shard_dir(&data_dir.join("incidents"), 0);
    let name = lantern_tables::manifest::current_name(&shard).unwrap()?;
    lantern_tables::manifest::seq_of(&name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_replica_follows_the_store_and_leaves_a_shard_its_host_writes_alone() {
    let store = tempfile::tempdir().unwrap();
    let (writer_host, reader_host) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = remote_env(&writer_host.path().join("incidents"), store.path()).await;
    let remote = env.remote.clone().unwrap();
    let (_stop, mut stopped) = watch::channel(false);
    let mut writer = Shard::<Incidents>::take_over(&env, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    let batch: Vec<OwnedMessage> = (0..5).map(incident).collect();
    writer.apply(&env, &batch).await.unwrap();
    let writer_seq = replica_seq(writer_host.path());

    let pull = || remote.pull(reader_host.path(), Duration::ZERO);
    assert_eq!(pull().await.unwrap().shards, 1, "a new replica is filled");
    assert_eq!(replica_seq(reader_host.path()), writer_seq);
    assert_eq!(pull().await.unwrap().shards, 0, "a current replica is left");

    let more: Vec<OwnedMessage> = (5..7).map(incident).collect();
    writer.apply(&env, &more).await.unwrap();
    assert_eq!(pull().await.unwrap().shards, 1, "a newer commit is pulled");
    assert_eq!(
        replica_seq(reader_host.path()),
        replica_seq(writer_host.path())
    );

    // A writer of the shard on the reader's host holds its lock: its working copy is its own,
    // and a pull must not replace it under it, even when the store has moved on (here by the
    // first writer, which the lock-holder would lose to at its next commit).
    let local_env = remote_env(&reader_host.path().join("incidents"), store.path()).await;
    let _local_writer = Shard::<Incidents>::take_over(&local_env, 0, &mut stopped)
        .await
        .unwrap()
        .unwrap();
    let last: Vec<OwnedMessage> = (7..9).map(incident).collect();
    writer.apply(&env, &last).await.unwrap();
    let held = replica_seq(reader_host.path());
    assert_eq!(pull().await.unwrap().shards, 0);
    assert_eq!(replica_seq(reader_host.path()), held);
    assert_ne!(held, replica_seq(writer_host.path()));
}
