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
    let names = config.pipelines.dir.join("reference/places/names.csv");
    service
        .register_place_names(&names)
        .await
        .with_context(|| {
            format!(
                "registering place names from {} (pipelines.dir)",
                names.display()
            )
        })?;
    let batches = service.sql(&args.query).await?;
    print!("{}", format_batches(&batches, args.format)?);
    Ok(())
}
