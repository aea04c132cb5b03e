//! End-to-end tests: the real `lantern` binary against a real Kafka-protocol broker (tansu).
//!
//! Every test starts its own broker (SQLite storage in a temp dir, a free port) and its own data
//! directory, so tests are independent and can run in parallel. Set `TANSU` to the broker
//! binary (scripts/test.sh does); by default `~/.cargo/bin/tansu` is used.

mod support;

mod business_and_cyber;
mod operations;
mod police_uk_import;
mod restart;
mod revisions;
