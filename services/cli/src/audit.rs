//! `lantern audit tail`: what was queried, by whom, and how it ended.

use std::time::Duration;

use anyhow::Context;
use lantern_common::Config;
use lantern_server::audit::{self, AuditRecord};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Show the last queries, newest last.
    Tail {
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep showing new records as they are appended, until ctrl-c.
        #[arg(short, long)]
        follow: bool,
        /// Print the JSON lines as stored.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Tail {
        lines,
        follow,
        json,
    } = command;
    let path = &config.query.audit_log;
    let show = |line: &str| match serde_json::from_str::<AuditRecord>(line) {
        Ok(record) if !json => println!("{}", audit::summary(&record)),
        _ => println!("{line}"),
    };
    let last = audit::tail(path, lines)
        .with_context(|| format!("reading the audit log {} (query.audit_log)", path.display()))?;
    last.iter().for_each(|l| show(l));
    if !follow {
        return Ok(());
    }
    let mut offset = std::fs::metadata(path)?.len();
    let stop = lantern_common::shutdown::signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let (new, next) = audit::read_from(path, offset)?;
        new.iter().for_each(|l| show(l));
        offset = next;
    }
}
