//! `lantern extract --spec FILE`: an anonymised research extract, or a refusal saying why.

use std::path::PathBuf;

use anyhow::Context;
use lantern_common::Config;
use lantern_disclosure::SecretKey;
use lantern_disclosure::extract;

#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// The extract specification (TOML; `builtin:NAME` for pipelines/disclosure/extracts/NAME.toml
    /// of the configured pipeline definitions).
    #[arg(long)]
    spec: String,
    /// Output directory (must not exist). Default: <data_dir>/extracts/<name>, where researchers
    /// granted <name> can query it.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(config: Config, args: ExtractArgs) -> anyhow::Result<()> {
    let files = config.pipelines.files();
    let text = match args.spec.strip_prefix("builtin:") {
        Some(name) => {
            let bytes = files.read(&format!("disclosure/extracts/{name}.toml"))?;
            String::from_utf8(bytes.into_owned()).context("the spec is not UTF-8")?
        }
        None => std::fs::read_to_string(&args.spec)
            .with_context(|| format!("reading --spec {}", args.spec))?,
    };
    let spec = extract::parse_spec(&text, &args.spec)?;
    let key = SecretKey::load(config.disclosure.key_file.as_deref())?.context(
        "an extract needs the disclosure key for its pseudonyms: set disclosure.key_file or \
         LANTERN_DISCLOSURE_KEY (make one with `lantern key new FILE`)",
    )?;
    let out = args
        .out
        .unwrap_or_else(|| extract::default_dir(&config.storage.data_dir, &spec.name));
    let report =
        extract::extract(&config.storage.data_dir, &files, &text, &spec, &key, &out).await?;
    println!("Extract {} written to {}", spec.name, out.display());
    println!(
        "  {} of {} records released ({} dropped); k = {} (required {}), l = {:?} (required {})",
        report.records_released,
        report.records_in_source,
        report.records_dropped,
        report.k_reached,
        report.k_required,
        report.l_reached,
        report.l_required
    );
    println!("  generalised to {:?}", report.generalisation);
    println!("  values suppressed: {:?}", report.values_suppressed);
    println!(
        "  {} classes; re-identification risk max {:.3}, average {:.4}",
        report.classes, report.max_reidentification_risk, report.average_reidentification_risk
    );
    Ok(())
}
