//! Processor metrics. Names follow `lantern_<component>_<name>_<unit>[_total]` (see
//! `docs/metrics.md`); labels are bounded: pipeline, topic, partition, stage, reason — never a
//! record id.

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
    pub shards_owned: IntGaugeVec,
    /// Offsets skipped between consecutive records of a partition. Normal on compacted or
    /// transactional topics; on Lantern's plain topics it means the broker lost records.
    pub offsets_skipped: IntCounterVec,
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
            shards_owned: gauge(
                "lantern_stream_shards_owned",
                "Shards (partitions of the pipeline's topic) this instance owns.",
                &["pipeline"],
            )?,
            offsets_skipped: counter(
                "lantern_stream_offsets_skipped_total",
                "Offsets skipped between consecutive records of a partition.",
                &["pipeline", "topic", "partition"],
            )?,
        })
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
        m.events_received
            .with_label_values(&["incidents", "t"])
            .inc();
        m.events_accepted.with_label_values(&["incidents"]).inc();
        m.events_dead_lettered
            .with_label_values(&["incidents", "decode"])
            .inc();
        m.events_discarded
            .with_label_values(&["incidents", "duplicate"])
            .inc();
        m.dead_letters_spilled
            .with_label_values(&["incidents"])
            .inc();
        m.committed_offset
            .with_label_values(&["incidents", "t", "0"])
            .set(1);
        m.table_commits.with_label_values(&["incidents"]).inc();
        m.commit_timer("incidents").observe(0.1);
        m.state_records.with_label_values(&["incidents"]).set(1);
        m.offsets_skipped
            .with_label_values(&["incidents", "t", "0"])
            .inc();
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(names.len(), 10);
        for name in names {
            assert!(name.starts_with("lantern_stream_"), "{name}");
            let is_counter = name.ends_with("_total");
            let is_unit = name.ends_with("_seconds")
                || name.ends_with("_offset")
                || name.ends_with("_records");
            assert!(
                is_counter || is_unit,
                "{name} has neither _total nor a unit suffix"
            );
        }
    }
}
