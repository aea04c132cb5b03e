//! `lantern analyse`: recompute the crime-prevention analytics tables from the current tables.
//!
//! Also runs inside `lantern serve` and `lantern up` ([`spawn_loop`]), recomputing when the
//! tables it reads have changed.

use std::time::Duration;

use anyhow::Context;
use lantern_analytics::output::WriteOutcome;
use lantern_analytics::{Analytics, TableRun};
use lantern_common::Config;

#[derive(Debug, clap::Args)]
pub struct AnalyseArgs {
    /// Keep running: recompute every analytics.interval_ms (at least 1 s) when the input tables
    /// changed, until ctrl-c.
    #[arg(long)]
    watch: bool,
}

pub async fn run(config: Config, args: AnalyseArgs) -> anyhow::Result<()> {
    let analytics = load(&config)?;
    // None: compute once even over no tables, so the command always says what it did.
    let mut last_read = None;
    loop {
        let runs = analytics
            .refresh(&config.storage.data_dir, &mut last_read)
            .await
            .context("computing the analytics")?;
        for run in runs.iter().flatten() {
            println!("{}", describe(run));
        }
        if !args.watch {
            return Ok(());
        }
        let interval = Duration::from_millis(config.analytics.interval_ms.max(1000));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = lantern_common::shutdown::signal() => return Ok(()),
        }
    }
}

fn load(config: &Config) -> anyhow::Result<Analytics> {
    Analytics::load(&config.pipelines.files(), &config.processor.force_area_code)
        .context("loading the analytics parameters and reference data")
}

fn describe(run: &TableRun) -> String {
    let what = match run.outcome {
        WriteOutcome::New { vintage } => format!("vintage {vintage}"),
        WriteOutcome::Unchanged { vintage } => format!("unchanged since vintage {vintage}"),
    };
    format!(
        "{}: {} rows, {what} (computed in {:.1} s)",
        run.table,
        run.rows,
        run.compute.as_secs_f64()
    )
}

/// Recomputes in the background every `analytics.interval_ms` (if not 0) when the input tables
/// changed, for `lantern serve` and `lantern up`.
pub fn spawn_loop(config: &Config) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if config.analytics.interval_ms == 0 {
        return Ok(None);
    }
    let analytics = load(config)?;
    let data_dir = config.storage.data_dir.clone();
    let interval = Duration::from_millis(config.analytics.interval_ms);
    Ok(Some(tokio::spawn(async move {
        // Some(no shards): nothing to compute until the processors have committed.
        let mut last_read = Some(Vec::new());
        loop {
            match analytics.refresh(&data_dir, &mut last_read).await {
                Ok(runs) => {
                    let new = runs.iter().flatten();
                    for run in new.filter(|r| matches!(r.outcome, WriteOutcome::New { .. })) {
                        tracing::info!(table = run.table, "{}", describe(run));
                    }
                }
                Err(error) => tracing::warn!(%error, "Analytics failed; retrying next interval."),
            }
            tokio::time::sleep(interval).await;
        }
    })))
}
