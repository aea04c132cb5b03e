//! `lantern publish`: write a new vintage of each partner table whose figures changed.
//!
//! Also runs inside `lantern serve` and `lantern up` ([`spawn_loop`]), so published tables follow
//! the stream without anyone running a command.

use std::time::Duration;

use anyhow::Context;
use lantern_common::Config;
use lantern_disclosure::policy::{self, Release};
use lantern_disclosure::release::{self, PublishOutcome};
use lantern_disclosure::{DisclosureError, SecretKey};
use lantern_enrich::Populations;

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Keep running: publish every disclosure.publish_interval_ms until ctrl-c.
    #[arg(long)]
    watch: bool,
    /// Only this release (repeatable). Default: every release in the policy.
    #[arg(long = "release")]
    releases: Vec<String>,
}

pub async fn run(config: Config, args: PublishArgs) -> anyhow::Result<()> {
    let mut releases = load_policy(&config)?;
    if !args.releases.is_empty() {
        for name in &args.releases {
            if !releases.iter().any(|r| &r.policy.name == name) {
                anyhow::bail!("--release {name}: no such release in the policy");
            }
        }
        releases.retain(|r| args.releases.contains(&r.policy.name));
    }
    let key = SecretKey::load(config.disclosure.key_file.as_deref())?;
    let populations = load_populations(&config)?;
    let mut failed = false;
    loop {
        for (name, outcome) in publish_all(&config, &releases, key.as_ref(), &populations).await {
            failed |= matches!(&outcome, Err(e) if !matches!(e, DisclosureError::NoSource(_)));
            println!("{name}: {}", describe(&outcome));
        }
        if !args.watch {
            break;
        }
        let interval = Duration::from_millis(config.disclosure.publish_interval_ms.max(1000));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = lantern_common::shutdown::signal() => break,
        }
    }
    if failed && !args.watch {
        anyhow::bail!("some releases could not be published (see above)");
    }
    Ok(())
}

/// The checked release policy of the configured pipeline definitions.
pub fn load_policy(config: &Config) -> anyhow::Result<Vec<Release>> {
    policy::load(&config.pipelines.files()).context("loading the release policy")
}

/// Census populations of every place, for the releases that publish rates.
fn load_populations(config: &Config) -> anyhow::Result<Populations> {
    Populations::load(&config.pipelines.files()).context("loading the census populations")
}

/// Publishes every release; a release whose source has no data yet is not an error.
pub async fn publish_all(
    config: &Config,
    releases: &[Release],
    key: Option<&SecretKey>,
    populations: &Populations,
) -> Vec<(String, Result<PublishOutcome, DisclosureError>)> {
    let files = config.pipelines.files();
    let mut out = Vec::new();
    for release in releases {
        let outcome =
            release::publish(&config.storage.data_dir, &files, release, key, populations).await;
        out.push((release.policy.name.clone(), outcome));
    }
    out
}

fn describe(outcome: &Result<PublishOutcome, DisclosureError>) -> String {
    match outcome {
        Ok(PublishOutcome::New {
            vintage,
            dir,
            manifest_sha256,
            report,
        }) => format!(
            "vintage {vintage} written to {} ({} rows from {} records in {} cells; {} small \
             cells; {} perturbed, {} rounded, {} suppressed, {} secondary suppressed, {} money \
             totals withheld by dominance). Manifest SHA-256 {manifest_sha256}",
            dir.display(),
            report.rows_published,
            report.records,
            report.cells,
            report.small_cells,
            report.perturbed,
            report.rounded,
            report.suppressed,
            report.secondary_suppressed,
            report.values_dominated,
        ),
        Ok(PublishOutcome::Unchanged { vintage }) => {
            format!("unchanged since vintage {vintage}")
        }
        Err(DisclosureError::NoSource(why)) => format!("nothing to publish yet: {why}"),
        Err(e) => format!("FAILED: {e}"),
    }
}

/// Publishes in the background every `disclosure.publish_interval_ms` (if not 0), for
/// `lantern serve` and `lantern up`. Cell-key releases are skipped, with a warning, when no key
/// is configured.
pub fn spawn_loop(config: &Config) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if config.disclosure.publish_interval_ms == 0 {
        return Ok(None);
    }
    let mut releases = load_policy(config)?;
    let key = SecretKey::load(config.disclosure.key_file.as_deref())?;
    if key.is_none() {
        let skipped: Vec<&str> = releases
            .iter()
            .filter(|r| r.ptable.is_some())
            .map(|r| r.policy.name.as_str())
            .collect();
        tracing::warn!(
            ?skipped,
            "No disclosure key (disclosure.key_file or LANTERN_DISCLOSURE_KEY): cell-key \
             releases are not published. Make one with `lantern key new FILE`."
        );
        releases.retain(|r| r.ptable.is_none());
    }
    let populations = load_populations(config)?;
    let config = config.clone();
    let interval = Duration::from_millis(config.disclosure.publish_interval_ms);
    Ok(Some(tokio::spawn(async move {
        loop {
            for (name, outcome) in publish_all(&config, &releases, key.as_ref(), &populations).await
            {
                match &outcome {
                    Ok(PublishOutcome::New { .. }) => {
                        tracing::info!(release = %name, "{}", describe(&outcome))
                    }
                    Ok(PublishOutcome::Unchanged { .. }) | Err(DisclosureError::NoSource(_)) => {}
                    Err(_) => tracing::warn!(release = %name, "{}", describe(&outcome)),
                }
            }
            tokio::time::sleep(interval).await;
        }
    })))
}
