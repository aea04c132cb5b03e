//! Which partition a record belongs on: Kafka's default partitioner, murmur2 of the key.
//!
//! Lantern keeps each partition's state apart (one shard per partition, see [`crate::shard`]),
//! so every version of a record must arrive on the same partition. Producers key every version
//! by the record id and use Kafka's default partitioner — the Java client's, also librdkafka's
//! `murmur2_random` (Lantern's importers set it) — so a record's partition is
//! `(murmur2(record_id) & 0x7fffffff) % partitions`. The core checks each version against it
//! and dead-letters one on any other partition: a producer that keys differently, or partitions
//! with something else, would split a record across shards and count it twice.

/// librdkafka's name for the partitioner Lantern's producers must use (Java's default).
pub const PRODUCER_PARTITIONER: &str = "murmur2_random";

/// The partition Kafka's default partitioner gives `key` in a topic of `partitions` partitions.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    debug_assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): MurmurHash2, 32-bit, with
/// Kafka's seed, reading the key as little-endian 4-byte words.
pub fn murmur2(key: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ key.len() as u32;
    let mut words = key.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Java client's results, as librdkafka's own unit test (`rdmurmur2.c`) lists them.
    #[test]
    fn matches_the_java_client() {
        let unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: [(&str, u32); 11] = [
            ("kafka", 0xd067cf64),
            ("giberish123456789", 0x8f552b0c),
            ("1234", 0x9fc97b14),
            ("234", 0xe7c009ca),
            ("34", 0x873930da),
            ("4", 0x5a4b5ca1),
            (unaligned, 0x78424f1c),
            (&unaligned[1..], 0x4a62b377),
            (&unaligned[2..], 0xe0e4e09e),
            (&unaligned[3..], 0x62b8b43f),
            ("", 0x106e08d9),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()), expected, "murmur2({key:?})");
        }
    }

    #[test]
    fn partitions_are_in_range_and_stable() {
        for partitions in 1..=7 {
            for id in ["LAN-1", "LAN-2", "BC-000042", ""] {
                let p = partition_for(id.as_bytes(), partitions);
                assert!((0..partitions).contains(&p));
                assert_eq!(p, partition_for(id.as_bytes(), partitions));
            }
        }
        assert_eq!(partition_for(b"kafka", 1), 0);
    }
}
