//! `lantern sql`

use anyhow::Context;
use lantern_common::Config;
use lantern_query::{OutputFormat, QueryService, format_batches};

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// One read-only SQL statement (SELECT / WITH / EXPLAIN). DDL, DML and COPY are refused.
    query: String,
    /// Output format: table, csv or json.
    #[arg(long, default_value = "table")]
    format: OutputFormat,
}

pub async fn run(config: Config, args: SqlArgs) -> anyhow::Result<()> {
    let service = QueryService::open(&config.storage.data_dir)
        .await
        .with_context(|| format!("opening tables under {}", config.storage.data_dir.display()))?;
    let files = config.pipelines.files();
    let names = files.read(lantern_enrich::NAMES_FILE)?;
    service.register_place_names(&names).with_context(|| {
        format!(
            "registering place names from {}",
            files.display_name(lantern_enrich::NAMES_FILE).display()
        )
    })?;
    let batches = service.sql(&args.query).await?;
    print!("{}", format_batches(&batches, args.format)?);
    Ok(())
}
