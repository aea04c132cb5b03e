//! Where disclosure-controlled outputs live under the data directory, for the writer
//! (`lantern publish`, `lantern extract`) and the readers (the query service) alike.
//!
//! ```text
//! <data_dir>/published/<release>/LATEST          newest vintage number, replaced atomically
//! <data_dir>/published/<release>/<NNNNNN>/<release>.parquet   a vintage (immutable)
//! <data_dir>/extracts/<name>/<name>.parquet      a research extract (immutable)
//! <data_dir>/analytics/<table>/LATEST            newest vintage of an analytics table
//! <data_dir>/analytics/<table>/<NNNNNN>/<table>.parquet
//! ```
//!
//! Each is immutable once its directory exists (each is renamed into place whole). Published
//! vintages and extracts are never deleted; old analytics vintages are, once they are both
//! no longer among the newest few and older than any query may run (`lantern analyse`).

use std::path::{Path, PathBuf};

use crate::TableError;

pub const PUBLISHED_DIR: &str = "published";
pub const EXTRACTS_DIR: &str = "extracts";
pub const ANALYTICS_DIR: &str = "analytics";
pub const LATEST_FILE: &str = "LATEST";
/// Every output directory holds this once complete.
pub const MANIFEST_FILE: &str = "manifest.json";

pub fn release_dir(data_dir: &Path, release: &str) -> PathBuf {
    data_dir.join(PUBLISHED_DIR).join(release)
}

pub fn analytics_dir(data_dir: &Path, table: &str) -> PathBuf {
    data_dir.join(ANALYTICS_DIR).join(table)
}

pub fn vintage_dir(release_dir: &Path, vintage: u64) -> PathBuf {
    release_dir.join(format!("{vintage:06}"))
}

pub fn extract_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(EXTRACTS_DIR).join(name)
}

/// An output's table file: `<dir>/<name>.parquet`.
pub fn data_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.parquet"))
}

/// The newest vintage of the release in `release_dir`, if it has one.
pub fn latest_vintage(release_dir: &Path) -> Result<Option<u64>, TableError> {
    let path = release_dir.join(LATEST_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| TableError::Manifest {
                reason: format!("{text:?} is not a vintage number"),
                path,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TableError::io(path)(e)),
    }
}

/// One output a query can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTable {
    pub name: String,
    /// The release's vintage; `None` for extracts.
    pub vintage: Option<u64>,
    pub file: PathBuf,
}

/// Names of the subdirectories of `dir` (none if it does not exist), sorted.
fn subdirs(dir: &Path) -> Result<Vec<String>, TableError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TableError::io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(TableError::io(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.path().is_dir() && !name.starts_with('.') && !name.ends_with(".staging") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The latest vintage of every release.
pub fn published_tables(data_dir: &Path) -> Result<Vec<OutputTable>, TableError> {
    latest_vintages(&data_dir.join(PUBLISHED_DIR))
}

/// The latest vintage of every analytics table.
pub fn analytics_tables(data_dir: &Path) -> Result<Vec<OutputTable>, TableError> {
    latest_vintages(&data_dir.join(ANALYTICS_DIR))
}

/// The latest vintage of each table under `root` (`<root>/<name>/LATEST`).
fn latest_vintages(root: &Path) -> Result<Vec<OutputTable>, TableError> {
    let mut out = Vec::new();
    for name in subdirs(root)? {
        let dir = root.join(&name);
        if let Some(vintage) = latest_vintage(&dir)? {
            let file = data_file(&vintage_dir(&dir, vintage), &name);
            out.push(OutputTable {
                name,
                vintage: Some(vintage),
                file,
            });
        }
    }
    Ok(out)
}

/// Every complete research extract.
pub fn extract_tables(data_dir: &Path) -> Result<Vec<OutputTable>, TableError> {
    let root = data_dir.join(EXTRACTS_DIR);
    Ok(subdirs(&root)?
        .into_iter()
        .filter(|name| root.join(name).join(MANIFEST_FILE).exists())
        .map(|name| OutputTable {
            file: data_file(&root.join(&name), &name),
            name,
            vintage: None,
        })
        .collect())
}
