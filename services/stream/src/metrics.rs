//! Processor metrics. Names follow `lantern_<component>_<name>_<unit>[_total]` (see
//! `docs/metrics.md`); labels are bounded: pipeline, topic, partition, stage, reason — never a
//! record id.

use crate::core::Stage;
use crate::facts::MISSES;

/// The `reason` labels of `lantern_stream_events_discarded_total`.
pub const DISCARD_REASONS: [&str; 3] = ["duplicate", "stale_version", "already_published"];

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Every metric of the stream processors, registered once in a caller-supplied registry.
#[derive(Debug, Clone)]
pub struct StreamMetrics {
    /// Messages read from Kafka.
    pub events_received: IntCounterVec,
    /// Messages that decoded and validated.
    pub events_accepted: IntCounterVec,
    /// Messages sent to the dead-letter topic, by stage (decode | validate | conflict | partition).
    pub events_dead_lettered: IntCounterVec,
    /// Dead letters the dead-letter topic refused, written to the local spill file instead.
    pub dead_letters_spilled: IntCounterVec,
    /// Messages that changed nothing, by reason (duplicate | stale_version | already_published).
    pub events_discarded: IntCounterVec,
    /// Next offset committed per partition, after the output it covers was published.
    pub committed_offset: IntGaugeVec,
    /// Table commits (manifests published).
    pub table_commits: IntCounterVec,
    /// Time to publish one commit (facts, aggregates, manifest).
    pub commit_duration: HistogramVec,
    /// Records held in state (latest versions, tombstones included) in the shards this
    /// instance owns.
    pub state_records: IntGaugeVec,
    /// Shards (partitions) this instance owns.
    pub owned_shards: IntGaugeVec,
    /// Offsets skipped between consecutive records of a partition. Normal on compacted or
    /// transactional topics; on Lantern's plain topics it means the broker lost records.
    pub offsets_skipped: IntCounterVec,
    /// Messages on the broker after the partition's published offset (high watermark − next
    /// offset), per owned partition.
    pub consumer_lag: IntGaugeVec,
    /// Accepted events whose event-time month is before the processor's current month.
    pub events_late: IntCounterVec,
    /// Accepted events enrichment could not fully resolve, by dimension and reason.
    pub enrichment_misses: IntCounterVec,
    /// Bytes of table files (facts and aggregates) written by commits.
    pub table_written_bytes: IntCounterVec,
    pub delta_commits: IntCounterVec,
    pub delta_sync_failures: IntCounterVec,
    /// Bytes of the record index files of the owned shards.
    pub state_bytes: IntGaugeVec,
    /// From the oldest broker timestamp of a shard's batch to the commit that publishes it.
    pub freshness: HistogramVec,
    /// Time to push one shard commit to the object store (`storage.url`): uploads and the
    /// manifest's conditional create. Part of `commit_duration`.
    pub store_push_duration: HistogramVec,
    /// Take-overs that restored a shard's working copy from the object store.
    pub store_restores: IntCounterVec,
}

impl StreamMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let commit_duration = HistogramVec::new(
            HistogramOpts::new(
                "lantern_stream_commit_duration_seconds",
                "Time to publish one table commit.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["pipeline"],
        )?;
        registry.register(Box::new(commit_duration.clone()))?;
        let freshness = HistogramVec::new(
            HistogramOpts::new(
                "lantern_stream_freshness_seconds",
                "From the oldest broker timestamp of a batch to the commit that publishes it.",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]),
            &["pipeline"],
        )?;
        registry.register(Box::new(freshness.clone()))?;
        let store_push_duration = HistogramVec::new(
            HistogramOpts::new(
                "lantern_stream_store_push_duration_seconds",
                "Time to push one shard commit to the object store.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["pipeline"],
        )?;
        registry.register(Box::new(store_push_duration.clone()))?;
        Ok(StreamMetrics {
            events_received: counter(
                "lantern_stream_events_received_total",
                "Messages read from Kafka.",
                &["pipeline", "topic"],
            )?,
            events_accepted: counter(
                "lantern_stream_events_accepted_total",
                "Messages that decoded and validated.",
                &["pipeline"],
            )?,
            events_dead_lettered: counter(
                "lantern_stream_events_dead_lettered_total",
                "Messages sent to the dead-letter topic.",
                &["pipeline", "stage"],
            )?,
            dead_letters_spilled: counter(
                "lantern_stream_dead_letters_spilled_total",
                "Dead letters the dead-letter topic refused, spilled to the local file.",
                &["pipeline"],
            )?,
            events_discarded: counter(
                "lantern_stream_events_discarded_total",
                "Messages that changed nothing (duplicate, stale version, or already published).",
                &["pipeline", "reason"],
            )?,
            committed_offset: gauge(
                "lantern_stream_committed_offset",
                "Next offset to consume, committed after its output was published.",
                &["pipeline", "topic", "partition"],
            )?,
            table_commits: counter(
                "lantern_stream_table_commits_total",
                "Table commits published.",
                &["pipeline"],
            )?,
            commit_duration,
            state_records: gauge(
                "lantern_stream_state_records",
                "Records held in processor state.",
                &["pipeline"],
            )?,
            owned_shards: gauge(
                "lantern_stream_owned_shards",
                "Shards (partitions of the pipeline's topic) this instance owns.",
                &["pipeline"],
            )?,
            offsets_skipped: counter(
                "lantern_stream_offsets_skipped_total",
                "Offsets skipped between consecutive records of a partition.",
                &["pipeline", "topic", "partition"],
            )?,
            consumer_lag: gauge(
                "lantern_stream_consumer_lag_messages",
                "Messages on the broker after the partition's published offset.",
                &["pipeline", "topic", "partition"],
            )?,
            events_late: counter(
                "lantern_stream_events_late_total",
                "Accepted events whose event-time month is before the current month.",
                &["pipeline"],
            )?,
            enrichment_misses: counter(
                "lantern_stream_enrichment_misses_total",
                "Accepted events enrichment could not fully resolve.",
                &["pipeline", "dimension", "reason"],
            )?,
            table_written_bytes: counter(
                "lantern_stream_table_written_bytes_total",
                "Bytes of table files written by commits.",
                &["pipeline"],
            )?,
            delta_commits: counter(
                "lantern_stream_delta_commits_total",
                "Delta Lake log commits that brought a table in line with a shard commit.",
                &["pipeline"],
            )?,
            delta_sync_failures: counter(
                "lantern_stream_delta_sync_failures_total",
                "Shard commits after which a table's Delta Lake log could not be brought in line.",
                &["pipeline"],
            )?,
            state_bytes: gauge(
                "lantern_stream_state_bytes",
                "Bytes of the record index files of the owned shards.",
                &["pipeline"],
            )?,
            freshness,
            store_push_duration,
            store_restores: counter(
                "lantern_stream_store_restores_total",
                "Shard take-overs that restored the working copy from the object store.",
                &["pipeline"],
            )?,
        })
    }

    /// Creates every series of `pipeline` whose labels are known in advance, at zero, so
    /// dashboards and alerts see a 0 rather than no data before the first event of a kind.
    pub fn init_pipeline(&self, pipeline: &str, topic: &str) {
        self.events_received.with_label_values(&[pipeline, topic]);
        for vec in [
            &self.events_accepted,
            &self.dead_letters_spilled,
            &self.table_commits,
            &self.events_late,
            &self.table_written_bytes,
            &self.delta_commits,
            &self.delta_sync_failures,
            &self.store_restores,
        ] {
            vec.with_label_values(&[pipeline]);
        }
        for stage in Stage::ALL {
            self.events_dead_lettered
                .with_label_values(&[pipeline, stage.as_str()]);
        }
        for reason in DISCARD_REASONS {
            self.events_discarded.with_label_values(&[pipeline, reason]);
        }
        for (dimension, reason) in MISSES {
            self.enrichment_misses
                .with_label_values(&[pipeline, dimension, reason]);
        }
        for gauge in [&self.state_records, &self.owned_shards, &self.state_bytes] {
            gauge.with_label_values(&[pipeline]);
        }
        self.commit_duration.with_label_values(&[pipeline]);
        self.freshness.with_label_values(&[pipeline]);
        self.store_push_duration.with_label_values(&[pipeline]);
    }

    /// Creates the series of a partition this instance took over.
    pub fn init_partition(&self, pipeline: &str, topic: &str, partition: i32) {
        let labels = [pipeline, topic, &partition.to_string()];
        self.offsets_skipped.with_label_values(&labels);
        self.consumer_lag.with_label_values(&labels);
    }

    /// Removes the series of a partition this instance let go, so its last values do not stay
    /// on the dashboard (the new owner reports them).
    pub fn forget_partition(&self, pipeline: &str, topic: &str, partition: i32) {
        let labels = [pipeline, topic, &partition.to_string()];
        for gauge in [&self.committed_offset, &self.consumer_lag] {
            let _ = gauge.remove_label_values(&labels);
        }
    }

    pub fn commit_timer(&self, pipeline: &str) -> Histogram {
        self.commit_duration.with_label_values(&[pipeline])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        let registry = Registry::new();
        let m = StreamMetrics::register(&registry).unwrap();
        m.init_pipeline("incidents", "t");
        m.init_partition("incidents", "t", 0);
        m.committed_offset
            .with_label_values(&["incidents", "t", "0"])
            .set(1);
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(names.len(), 21, "every metric has its series after init");
        for name in names {
            assert!(name.starts_with("lantern_stream_"), "{name}");
            let is_counter = name.ends_with("_total");
            let is_unit = [
                "_seconds",
                "_offset",
                "_records",
                "_messages",
                "_bytes",
                "_shards",
            ]
            .iter()
            .any(|unit| name.ends_with(unit));
            assert!(
                is_counter || is_unit,
                "{name} has neither _total nor a unit suffix"
            );
        }
    }
}
