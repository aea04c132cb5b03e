//! The yardstick for Lantern's end-to-end rate: how fast a bare librdkafka consumer (the same
//! library and client settings Lantern uses, and nothing else) reads a whole topic.
//!
//! ```sh
//! cargo run --release -p lantern-stream --example bare_consumer -- 127.0.0.1:9092 lantern.incidents.v1
//! ```
//! Assigns every partition from the beginning, reads until every partition reports its end,
//! and prints messages, bytes, seconds and messages/s (timed from the first message).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(bootstrap), Some(topic)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_consumer BOOTSTRAP TOPIC");
        std::process::exit(2);
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "lantern-bare-consumer")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(30))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut list = TopicPartitionList::new();
    for &p in &partitions {
        list.add_partition_offset(&topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;

    let mut pending: BTreeSet<i32> = partitions.iter().copied().collect();
    let (mut messages, mut bytes, mut first) = (0u64, 0u64, None);
    while !pending.is_empty() {
        match consumer.poll(Duration::from_secs(1)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                messages += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => eprintln!("consumer error: {e}"),
            None => {}
        }
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!(
        "bare consumer: {messages} messages, {:.1} MB in {seconds:.2} s = {:.0} msg/s ({} partitions)",
        bytes as f64 / 1e6,
        messages as f64 / seconds.max(f64::EPSILON),
        partitions.len()
    );
    Ok(())
}
