//! With `storage.url` set, the object store is the tables' home and the commands that read
//! tables (`sql`, `serve`, `lag`, `publish`, `analyse`, `extract`) read a replica of it kept in
//! `storage.data_dir`: pulled once before a one-shot command, and continually by `serve`.

use std::time::Duration;

use anyhow::Context;
use lantern_common::Config;
use lantern_tables::remote::Remote;
use tokio::task::JoinHandle;

/// How often `serve` looks for new commits in the store: one list request per shard each time.
const PULL_EVERY: Duration = Duration::from_secs(1);
/// How long the replica keeps a replaced file for queries still reading it (as processors do).
const FILE_RETENTION: Duration = Duration::from_secs(60);

/// The object store `storage.url` names, if set.
pub fn remote(config: &Config) -> anyhow::Result<Option<Remote>> {
    config
        .storage
        .url
        .as_deref()
        .map(|url| Remote::from_url(url).context("opening the object store at storage.url"))
        .transpose()
}

/// Brings the replica up to the store once (nothing to do without `storage.url`).
pub async fn pull_once(config: &Config) -> anyhow::Result<()> {
    let Some(remote) = remote(config)? else {
        return Ok(());
    };
    let pulled = remote
        .pull(&config.storage.data_dir, FILE_RETENTION)
        .await
        .with_context(|| format!("reading the tables from {}", remote.url()))?;
    tracing::info!(url = %remote.url(), shards_updated = pulled.shards, "Replica of the object store is up to date.");
    Ok(())
}

/// Keeps the replica up to the store until aborted; `None` without `storage.url`.
pub fn keep_pulling(config: &Config) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(remote) = remote(config)? else {
        return Ok(None);
    };
    let data_dir = config.storage.data_dir.clone();
    Ok(Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(PULL_EVERY).await;
            if let Err(error) = remote.pull(&data_dir, FILE_RETENTION).await {
                tracing::warn!(%error, url = %remote.url(), "Could not bring the replica up to the object store; will retry.");
            }
        }
    })))
}
