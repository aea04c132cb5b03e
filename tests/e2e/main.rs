//! End-to-end tests: the real `lantern` binary against a real Apache Kafka broker.
//!
//! scripts/test.sh starts one broker (scripts/broker.sh) for the whole run and passes its address
//! in `E2E_KAFKA_BOOTSTRAP`; each test uses its own topics, consumer groups and data
//! directory, so tests are independent and run in parallel. A test that stops or slows its
//! broker starts its own, as does every test when `E2E_KAFKA_BOOTSTRAP` is unset (plain
//! `cargo test`: slower, since each starts a JVM).

mod support;

mod analytics;
mod bench;
mod business_and_cyber;
mod chart;
mod dashboard;
mod delta;
mod disclosure;
mod grafana;
mod intake;
mod kill_at_scale;
mod metrics_spec;
mod object_store;
mod operations;
mod police_uk_import;
mod query_service;
mod quickstart;
mod restart;
mod revisions;
mod scale_out;
mod secure_cluster;
mod slow_broker;
