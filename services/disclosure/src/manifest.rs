//! The manifest of a published vintage or research extract: what it holds, where it came from,
//! under which policy and key, and the SHA-256 of every file, so anyone can check it with
//! `lantern verify` (or `sha256sum`) without Lantern's secrets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DisclosureError;
use crate::key::KeyId;
use crate::source::SourceInfo;

pub use lantern_tables::outputs::MANIFEST_FILE;
pub const RELEASE_FORMAT: &str = "lantern-release/1";
pub const EXTRACT_FORMAT: &str = "lantern-extract/1";

/// One file of an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputManifest {
    /// `lantern-release/1` or `lantern-extract/1`.
    pub format: String,
    pub name: String,
    /// Release vintages are numbered from 1; extracts have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vintage: Option<u64>,
    /// The Lantern version that wrote it.
    pub code_version: String,
    /// The policy (release) or spec (extract) applied, as written next to the data.
    pub policy_file: String,
    pub policy_sha256: String,
    /// Keys used (ids only; never the keys).
    pub key_ids: Vec<KeyId>,
    pub source: SourceInfo,
    /// Rows of each data file.
    pub rows: BTreeMap<String, u64>,
    pub files: Vec<FileEntry>,
    /// The SHA-256 of the previous vintage's manifest: vintages form a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_manifest_sha256: Option<String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a file whole.
pub fn read(path: &Path) -> Result<Vec<u8>, DisclosureError> {
    std::fs::read(path).map_err(DisclosureError::io(path))
}

/// Writes `bytes` to `dir/name` and fsyncs it; returns its entry.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<FileEntry, DisclosureError> {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).map_err(DisclosureError::io(&path))?;
    file.write_all(bytes).map_err(DisclosureError::io(&path))?;
    file.sync_all().map_err(DisclosureError::io(&path))?;
    Ok(FileEntry {
        path: name.to_string(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    })
}

/// Writes `batch` as `<stem>.parquet` and `<stem>.csv` in `dir`.
pub fn write_data(
    dir: &Path,
    stem: &str,
    batch: &RecordBatch,
) -> Result<Vec<FileEntry>, DisclosureError> {
    let parquet = dir.join(format!("{stem}.parquet"));
    lantern_tables::parquet_io::write_parquet(
        &parquet,
        batch.schema(),
        std::slice::from_ref(batch),
    )?;
    let parquet_bytes = read(&parquet)?;
    let mut csv = Vec::new();
    {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut csv);
        writer.write(batch)?;
    }
    Ok(vec![
        FileEntry {
            path: format!("{stem}.parquet"),
            bytes: parquet_bytes.len() as u64,
            sha256: sha256_hex(&parquet_bytes),
        },
        write_file(dir, &format!("{stem}.csv"), &csv)?,
    ])
}

/// Pretty JSON with a final newline, as every JSON file of an output is written.
pub fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("outputs always serialise");
    bytes.push(b'\n');
    bytes
}

/// Reads `dir/manifest.json` and its SHA-256.
pub fn load(dir: &Path) -> Result<(OutputManifest, String), DisclosureError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = read(&path)?;
    let manifest = serde_json::from_slice(&bytes).map_err(|e| DisclosureError::Format {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok((manifest, sha256_hex(&bytes)))
}

/// The version string recorded in manifests.
pub fn code_version() -> String {
    format!("lantern {}", env!("CARGO_PKG_VERSION"))
}

/// Waits for an output directory's writer lock (one writer per release or table at a time).
pub async fn lock_dir(dir: &Path) -> Result<lantern_tables::ShardLock, DisclosureError> {
    loop {
        if let Some(lock) = lantern_tables::try_lock_shard(dir)? {
            return Ok(lock);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether two vintages hold the same files, byte for byte.
pub fn same_files(old: &[FileEntry], new: &[FileEntry]) -> bool {
    let mut old: Vec<_> = old.iter().map(|f| (&f.path, &f.sha256)).collect();
    let mut new: Vec<_> = new.iter().map(|f| (&f.path, &f.sha256)).collect();
    old.sort();
    new.sort();
    old == new
}
