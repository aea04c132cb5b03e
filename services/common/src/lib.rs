//! Concerns shared by every Lantern service.
//!
//! - [`config`]: `lantern.toml`, environment overrides, secrets from files, validation.
//! - [`http`]: the operational HTTP endpoint (`/metrics`, `/healthz`, `/readyz`).
//! - [`telemetry`]: logging set-up.
//! - [`shutdown`]: the ctrl-c / SIGTERM future passed to every `run`.

pub mod config;
pub mod http;
pub mod shutdown;
pub mod telemetry;

pub use config::{Config, ConfigError};
