//! Writing an analytics table: a new immutable vintage under
//! `<data_dir>/analytics/<table>/<NNNNNN>/` (Parquet, CSV, `manifest.json`), `LATEST` swapped
//! atomically — only when the bytes would change — and vintages superseded long ago removed.

use std::path::Path;
use std::time::{Duration, SystemTime};

use lantern_disclosure::manifest::{self, FileEntry};
use lantern_tables::outputs::{LATEST_FILE, analytics_dir, latest_vintage, vintage_dir};
use serde::{Deserialize, Serialize};

use crate::AnalyticsError;
use crate::table::AnalyticsTable;

pub const FORMAT: &str = "lantern-analytics/1";
/// Vintages kept whatever their age: the newest few.
const KEEP_NEWEST: u64 = 3;
/// An older vintage is removed only this long after it was superseded: far longer than any
/// query may run (`query.timeout_ms`), so no query loses a file it is reading.
const GRACE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsManifest {
    pub format: String,
    pub name: String,
    pub vintage: u64,
    pub code_version: String,
    /// The parameters and reference files that produced the table.
    pub parameters: serde_json::Value,
    /// `("pipeline/partition", manifest seq)` of every shard read.
    pub inputs: Vec<(String, u64)>,
    pub rows: u64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    New { vintage: u64 },
    Unchanged { vintage: u64 },
}

pub async fn write(
    data_dir: &Path,
    table: &AnalyticsTable,
    inputs: &[(String, u64)],
) -> Result<WriteOutcome, AnalyticsError> {
    let dir = analytics_dir(data_dir, table.name);
    std::fs::create_dir_all(&dir).map_err(AnalyticsError::io(&dir))?;
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(AnalyticsError::io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(AnalyticsError::io(&staging))?;
    let files = manifest::write_data(&staging, table.name, &table.batch)?;

    let _lock = manifest::lock_dir(&dir).await?;
    let previous = latest_vintage(&dir)?;
    if let Some(vintage) = previous
        && manifest::same_files(&load(&dir, vintage)?.files, &files)
    {
        std::fs::remove_dir_all(&staging).map_err(AnalyticsError::io(&staging))?;
        return Ok(WriteOutcome::Unchanged { vintage });
    }
    let vintage = previous.unwrap_or(0) + 1;
    let written = AnalyticsManifest {
        format: FORMAT.to_string(),
        name: table.name.to_string(),
        vintage,
        code_version: manifest::code_version(),
        parameters: table.parameters.clone(),
        inputs: inputs.to_vec(),
        rows: table.batch.num_rows() as u64,
        files,
    };
    manifest::write_file(
        &staging,
        manifest::MANIFEST_FILE,
        &manifest::json_bytes(&written),
    )?;
    let target = vintage_dir(&dir, vintage);
    std::fs::rename(&staging, &target).map_err(AnalyticsError::io(&target))?;
    manifest::write_file(&dir, ".LATEST.tmp", format!("{vintage:06}\n").as_bytes())?;
    let latest = dir.join(LATEST_FILE);
    std::fs::rename(dir.join(".LATEST.tmp"), &latest).map_err(AnalyticsError::io(&latest))?;
    prune(&dir, vintage)?;
    Ok(WriteOutcome::New { vintage })
}

/// Reads a vintage's manifest.
pub fn load(dir: &Path, vintage: u64) -> Result<AnalyticsManifest, AnalyticsError> {
    let path = vintage_dir(dir, vintage).join(manifest::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(AnalyticsError::io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        AnalyticsError::io(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })
}

/// Removes vintages older than the newest [`KEEP_NEWEST`] that were superseded more than
/// [`GRACE`] ago (the next vintage's directory time is when that happened).
fn prune(dir: &Path, latest: u64) -> Result<(), AnalyticsError> {
    let now = SystemTime::now();
    for vintage in (1..=latest.saturating_sub(KEEP_NEWEST)).rev() {
        let old = vintage_dir(dir, vintage);
        if !old.exists() {
            break;
        }
        let superseded = std::fs::metadata(vintage_dir(dir, vintage + 1))
            .and_then(|m| m.modified())
            .map_err(AnalyticsError::io(dir))?;
        if now.duration_since(superseded).unwrap_or_default() > GRACE {
            std::fs::remove_dir_all(&old).map_err(AnalyticsError::io(&old))?;
        }
    }
    Ok(())
}
