//! The batch yardstick: DuckDB (from PyPI, run by `scripts/bench_duckdb.py`) doing the core
//! path's work on the incidents — latest version per record, LSOA → LAD join, month × LAD ×
//! crime-type counts — over the same events as NDJSON, timed in the same run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use lantern_enrich::ReferenceData;
use lantern_ingest::synthetic::stream::Profile;
use serde::{Deserialize, Serialize};

/// The script, built into the binary so `lantern bench` runs from any directory; it is written
/// into the run's work directory and run from there.
const SCRIPT: &str = include_str!("../../../../scripts/bench_duckdb.py");

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DuckDbFigures {
    pub duckdb_version: String,
    pub threads: u32,
    pub seconds: f64,
    pub rows: u64,
    pub total: i64,
}

/// Writes the LSOA → LAD lookup of every LSOA the profile uses, as the enrichment resolves them.
pub fn write_lookup(
    path: &Path,
    profile: &Profile,
    reference: &ReferenceData,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    writeln!(out, "lsoa_code,lad_code")?;
    for code in profile.lsoa_codes() {
        let lad = reference.places.by_lsoa(code).lad_code;
        writeln!(out, "{code},{}", lad.as_deref().unwrap_or(""))?;
    }
    out.flush()?;
    Ok(())
}

/// Runs the DuckDB script with `python` over `ndjson`, joined to `lookup`.
pub fn run(python: &PathBuf, ndjson: &Path, lookup: &Path) -> anyhow::Result<DuckDbFigures> {
    let script = lookup.with_file_name("bench_duckdb.py");
    std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
    let output = Command::new(python)
        .arg(&script)
        .arg("--ndjson")
        .arg(ndjson)
        .arg("--lookup")
        .arg(lookup)
        .arg("--threads")
        .arg(
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .to_string(),
        )
        .output()
        .with_context(|| {
            format!(
                "running {} {} (--python: a Python with duckdb installed)",
                python.display(),
                script.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            python.display(),
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("reading the output of {}", script.display()))
}
