//! `lantern`: one binary, one subcommand per part of the system.

mod analyse;
mod audit;
mod bench;
mod extract;
mod generate;
mod import;
mod key;
mod lag;
mod process;
mod publish;
mod rebuild;
mod replica;
mod serve;
mod sql;
mod up;
mod users;
mod verify;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lantern_common::Config;

/// Every subcommand allocates per event (decoding, facts, Arrow builders); glibc's allocator cost
/// a fifth of the core path's CPU, mimalloc much less (measured in docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lantern: crime-prevention analytics over Kafka streams.
#[derive(Debug, Parser)]
#[command(name = "lantern", version, about)]
struct Cli {
    /// Config file (TOML). Defaults to ./lantern.toml when it exists, else built-in defaults.
    /// Every key can be overridden with LANTERN_<SECTION>__<KEY> environment variables.
    #[arg(long, global = true, env = "LANTERN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the stream processors: consume, validate, enrich, aggregate, publish tables.
    Process(process::ProcessArgs),
    /// Publish events to Kafka: police.uk street-level CSVs or synthetic reports.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Run one read-only SQL query over the aggregate tables.
    Sql(sql::SqlArgs),
    /// Create Lantern's topics (incidents, business crime, cybercrime, dead letters) if missing.
    Topics(import::TopicsArgs),
    /// Serve SQL over HTTP and the PostgreSQL wire protocol, with roles, audit and limits.
    Serve,
    /// Start everything on this machine: local Kafka broker, processors and query service.
    Up,
    /// Manage who may use the query service.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Read the query audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// How many events each pipeline's tables are behind its topic.
    Lag(lag::LagArgs),
    /// Recompute the aggregates from the facts and compare (or replace) what is published.
    Rebuild(rebuild::RebuildArgs),
    /// Publish the partner tables of the release policy, disclosure-controlled, as new vintages.
    Publish(publish::PublishArgs),
    /// Recompute the crime-prevention analytics tables (rates, repeats, near repeat, hotspots,
    /// harm) from the current tables.
    Analyse(analyse::AnalyseArgs),
    /// Produce an anonymised research extract (k-anonymous, l-diverse) from a spec.
    Extract(extract::ExtractArgs),
    /// Check a published vintage or an extract against its manifest.
    Verify(verify::VerifyArgs),
    /// Manage the disclosure key.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Generate a seeded SYNTHETIC stream of all three event kinds (shaped by real police.uk
    /// rows, with revisions, duplicates, late and invalid events), to Kafka or NDJSON files.
    Gen(generate::GenArgs),
    /// Measure throughput, freshness, query latency and memory on a SYNTHETIC stream, against
    /// a bare Kafka consumer and DuckDB (see docs/performance.md).
    Bench(bench::BenchArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lantern_common::telemetry::init();
    let cli = Cli::parse();
    let config = load_config(cli.config.as_deref())?;
    if cli.command.reads_tables() {
        replica::pull_once(&config).await?;
    }
    match cli.command {
        Command::Process(args) => process::run(config, args).await,
        Command::Import(command) => import::run(config, command).await,
        Command::Sql(args) => sql::run(config, args).await,
        Command::Topics(args) => {
            import::create_topics(&config, args.partitions, args.replication_factor).await
        }
        Command::Serve => serve::run(config).await,
        Command::Up => up::run(config).await,
        Command::Users(command) => users::run(&config, command),
        Command::Audit(command) => audit::run(&config, command).await,
        Command::Lag(args) => lag::run(config, args).await,
        Command::Rebuild(args) => rebuild::run(config, args).await,
        Command::Publish(args) => publish::run(config, args).await,
        Command::Analyse(args) => analyse::run(config, args).await,
        Command::Extract(args) => extract::run(config, args).await,
        Command::Verify(args) => verify::run(args),
        Command::Key(command) => key::run(command),
        Command::Gen(args) => generate::run(config, args).await,
        Command::Bench(args) => bench::run(config, cli.config.clone(), args).await,
    }
}

impl Command {
    /// Whether the command reads the tables, so that with `storage.url` set its replica of the
    /// object store must be brought up to date first.
    fn reads_tables(&self) -> bool {
        matches!(
            self,
            Command::Sql(_)
                | Command::Serve
                | Command::Lag(_)
                | Command::Rebuild(_)
                | Command::Publish(_)
                | Command::Analyse(_)
                | Command::Extract(_)
        )
    }
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let default = std::path::Path::new("lantern.toml");
    let path = path.or_else(|| default.exists().then_some(default));
    Config::load(path).with_context(|| match path {
        Some(p) => format!("loading configuration from {}", p.display()),
        None => "loading default configuration".to_string(),
    })
}
