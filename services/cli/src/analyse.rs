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
    let mut last_inputs = None;
    loop {
        let inputs = Analytics::input_versions(&config.storage.data_dir).await?;
        if last_inputs.as_ref() != Some(&inputs) {
            let runs = analytics
                .run(&config.storage.data_dir)
                .await
                .context("computing the analytics")?;
            for run in &runs {
                println!("{}", describe(run));
            }
            last_inputs = Some(inputs);
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
        let mut last_inputs = None;
        loop {
            match Analytics::input_versions(&data_dir).await {
                Ok(inputs) if inputs.is_empty() || last_inputs.as_ref() == Some(&inputs) => {}
                Ok(inputs) => match analytics.run(&data_dir).await {
                    Ok(runs) => {
                        for run in runs
                            .iter()
                            .filter(|r| matches!(r.outcome, WriteOutcome::New { .. }))
                        {
                            tracing::info!(table = run.table, "{}", describe(run));
                        }
                        last_inputs = Some(inputs);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Analytics failed; retrying next interval.")
                    }
                },
                Err(error) => tracing::warn!(%error, "Analytics could not read the tables."),
            }
            tokio::time::sleep(interval).await;
        }
    })))
}
