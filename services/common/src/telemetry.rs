//! Logging set-up: human-readable lines on stderr, filtered by `RUST_LOG` (default `info`) on
//! top of [`QUIET_DEPENDENCIES`].

use tracing_subscriber::EnvFilter;

/// Dependencies whose own log is not an operator's. The Delta kernel logs every snapshot it
/// builds at `info`, with the whole log listing in the line: a few KB per table commit, growing
/// with the log until a checkpoint (2.4 MB of stderr for a 26-commit backfill), and at `error`
/// the errors it returns (`#[instrument(err)]`), the expected "no files in log segment" of a table
/// about to be created among them. Its modules that warn about files they skip and do not report
/// otherwise (checksum files, `_last_checkpoint`, empty log files) stay at `warn`. deltalake's
/// transaction module logs at `error` the conflicts it returns, and shards of one pipeline commit
/// to one Delta table concurrently, so a conflict is the normal path of Lantern's retry. What
/// they return and Lantern does not retry reaches Lantern's own log with the library's error in
/// it, and `lantern_stream_delta_sync_failures_total`. The rest of deltalake stays at `warn`: it
/// logs a few failures it does not return (cleaning up expired log files). librdkafka's `info` is
/// connection chatter.
pub const QUIET_DEPENDENCIES: &str = "rdkafka=warn,buoyant_kernel=off,\
    buoyant_kernel::crc=warn,buoyant_kernel::last_checkpoint_hint=warn,\
    buoyant_kernel::log_segment_files=warn,\
    deltalake_core=warn,deltalake_core::kernel::transaction=off";

pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = env_filter(rust_log.as_deref());
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if let Some(refused) = rust_log.filter(|r| EnvFilter::try_new(r).is_err()) {
        tracing::warn!(rust_log = %refused, "RUST_LOG is not a valid log filter; logging at info.");
    }
}

/// `RUST_LOG`'s directives come after the quiet defaults, so `RUST_LOG=debug` still keeps the
/// dependencies quiet while `RUST_LOG=buoyant_kernel=info` turns one back on. A malformed
/// `RUST_LOG` falls back to `info`: losing the logs is worse than ignoring a typo.
fn env_filter(rust_log: Option<&str>) -> EnvFilter {
    let operator = rust_log.map(str::trim).filter(|s| !s.is_empty());
    let directives = format!("{QUIET_DEPENDENCIES},{}", operator.unwrap_or("info"));
    EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new(format!("{QUIET_DEPENDENCIES},info")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    /// Whether an event at `$level` for `$target` passes the filter `$rust_log` gives
    /// (`enabled!` wants a literal target, hence a macro).
    macro_rules! passes {
        ($rust_log:expr, $target:literal, $level:expr) => {{
            let subscriber = tracing_subscriber::registry().with(env_filter($rust_log));
            tracing::subscriber::with_default(subscriber, || {
                tracing::enabled!(target: $target, $level)
            })
        }};
    }

    #[test]
    fn by_default_lantern_logs_info_and_delta_only_what_it_does_not_return() {
        assert!(passes!(None, "lantern_stream::runner", Level::INFO));
        assert!(!passes!(None, "lantern_stream::runner", Level::DEBUG));
        assert!(!passes!(None, "buoyant_kernel::snapshot", Level::ERROR));
        assert!(passes!(None, "buoyant_kernel::crc::reader", Level::WARN));
        assert!(!passes!(
            None,
            "deltalake_core::kernel::transaction",
            Level::ERROR
        ));
        assert!(passes!(
            None,
            "deltalake_core::protocol::checkpoints",
            Level::WARN
        ));
        assert!(!passes!(
            None,
            "deltalake_core::protocol::checkpoints",
            Level::INFO
        ));
    }

    #[test]
    fn rust_log_sets_the_level_but_keeps_dependencies_quiet_unless_named() {
        assert!(passes!(
            Some("debug"),
            "lantern_stream::runner",
            Level::DEBUG
        ));
        assert!(!passes!(
            Some("debug"),
            "buoyant_kernel::snapshot",
            Level::INFO
        ));
        assert!(passes!(
            Some("warn,buoyant_kernel=info"),
            "buoyant_kernel::snapshot",
            Level::INFO
        ));
        assert!(!passes!(
            Some("warn"),
            "lantern_stream::runner",
            Level::INFO
        ));
    }

    #[test]
    fn an_empty_or_malformed_rust_log_means_info() {
        assert!(passes!(Some(""), "lantern_stream::runner", Level::INFO));
        assert!(!passes!(Some(""), "lantern_stream::runner", Level::DEBUG));
        assert!(passes!(
            Some("lantern=notalevel"),
            "lantern_stream::runner",
            Level::INFO
        ));
        assert!(!passes!(
            Some("lantern=notalevel"),
            "buoyant_kernel::snapshot",
            Level::INFO
        ));
    }
}
