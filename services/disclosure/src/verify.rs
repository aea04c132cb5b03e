//! `lantern verify DIR`: re-checks a published vintage or a research extract against its
//! manifest, with no secret: every file's SHA-256 and size, no file added or missing, the policy
//! file is the one the manifest names, and the data meets that policy (no count in 1..T-1 and a
//! perturbation table that cannot produce one; k and ℓ over every subset of quasi-identifiers).
//! For a vintage, the previous vintage's manifest must hash to what this one says (the chain).

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use lantern_tables::outputs::data_file;

use crate::extract::{self, ExtractReport};
use crate::manifest::{self, EXTRACT_FORMAT, MANIFEST_FILE, OutputManifest, RELEASE_FORMAT};
use crate::release::{self, POLICY_FILE, PTABLE_FILE};
use crate::{DisclosureError, source};

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub manifest_sha256: String,
    /// What was checked and held, in words.
    pub passed: Vec<String>,
    /// What failed, in words. Empty means the output is as its manifest says.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn check(&mut self, holds: bool, passed: impl Into<String>, problem: impl FnOnce() -> String) {
        if holds {
            self.passed.push(passed.into());
        } else {
            self.problems.push(problem());
        }
    }
}

pub fn verify(dir: &Path) -> Result<Verification, DisclosureError> {
    let (manifest, sha) = manifest::load(dir)?;
    let mut v = Verification {
        manifest_sha256: sha,
        ..Default::default()
    };
    check_files(dir, &manifest, &mut v)?;
    let policy_entry = manifest
        .files
        .iter()
        .find(|f| f.path == manifest.policy_file);
    v.check(
        policy_entry.is_some_and(|f| f.sha256 == manifest.policy_sha256),
        format!("{} is the policy the manifest names", manifest.policy_file),
        || format!("{} does not hash to policy_sha256", manifest.policy_file),
    );
    if !v.ok() {
        // Checking data against a policy or data that were changed would prove nothing.
        return Ok(v);
    }
    match manifest.format.as_str() {
        RELEASE_FORMAT => check_release(dir, &manifest, &mut v)?,
        EXTRACT_FORMAT => check_extract(dir, &manifest, &mut v)?,
        other => v
            .problems
            .push(format!("unknown manifest format {other:?}")),
    }
    Ok(v)
}

/// Sizes and hashes of the listed files, and that nothing else is in the directory.
fn check_files(
    dir: &Path,
    manifest: &OutputManifest,
    v: &mut Verification,
) -> Result<(), DisclosureError> {
    for entry in &manifest.files {
        let path = dir.join(&entry.path);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let sha = manifest::sha256_hex(&bytes);
                v.check(
                    sha == entry.sha256 && bytes.len() as u64 == entry.bytes,
                    format!("{}: SHA-256 {}", entry.path, entry.sha256),
                    || {
                        format!(
                            "{}: SHA-256 is {sha}, the manifest says {}",
                            entry.path, entry.sha256
                        )
                    },
                );
            }
            Err(e) => v.problems.push(format!("{}: {e}", entry.path)),
        }
    }
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for entry in std::fs::read_dir(dir).map_err(DisclosureError::io(dir))? {
        let entry = entry.map_err(DisclosureError::io(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name != MANIFEST_FILE && !listed.contains(name.as_str()) {
            v.problems
                .push(format!("{name}: not listed in the manifest"));
        }
    }
    Ok(())
}

fn check_release(
    dir: &Path,
    manifest: &OutputManifest,
    v: &mut Verification,
) -> Result<(), DisclosureError> {
    let policy = manifest::read(&dir.join(POLICY_FILE))?;
    let releases = crate::policy::parse(&policy, POLICY_FILE, |_| {
        manifest::read(&dir.join(PTABLE_FILE))
    });
    let release = match releases {
        Ok(mut r) if r.len() == 1 => r.remove(0),
        Ok(_) => {
            v.problems
                .push(format!("{POLICY_FILE} must hold exactly one release"));
            return Ok(());
        }
        Err(e) => {
            v.problems
                .push(format!("{POLICY_FILE} is not a safe policy: {e}"));
            return Ok(());
        }
    };
    v.passed.push(format!(
        "{POLICY_FILE} is a safe policy: threshold {}, method {}",
        release.policy.threshold,
        release.policy.method.as_str()
    ));
    let (_, batches) = lantern_tables::parquet_io::read_parquet(&data_file(dir, &manifest.name))?;
    let threshold = release.policy.threshold as i64;
    let mut rows = 0u64;
    let mut bad = Vec::new();
    for batch in &batches {
        rows += batch.num_rows() as u64;
        let counts = batch
            .column_by_name("count")
            .map(|c| c.as_primitive::<Int64Type>().clone());
        let status = source::strings(batch, "status");
        let Some(counts) = counts else {
            bad.push("no count column".to_string());
            break;
        };
        for row in 0..batch.num_rows() {
            let count = counts.is_valid(row).then(|| counts.value(row));
            let status = status[row].as_deref().unwrap_or_default();
            let fine = match (status, count) {
                ("published", Some(c)) => c >= threshold,
                ("suppressed" | "secondary_suppressed", None) => true,
                _ => false,
            };
            if !fine && bad.len() < 5 {
                bad.push(format!("row {row}: count {count:?} with status {status:?}"));
            }
        }
    }
    v.check(
        bad.is_empty(),
        format!("no published count is in 1..{}", threshold - 1),
        || format!("counts below the threshold {threshold}: {}", bad.join("; ")),
    );
    let expected = manifest.rows.get(&format!("{}.parquet", manifest.name));
    v.check(
        expected == Some(&rows),
        format!("{rows} rows, as the manifest says"),
        || format!("{rows} rows; the manifest says {expected:?}"),
    );
    check_chain(dir, manifest, v)
}

/// The previous vintage (a sibling directory) must hash to what this manifest says it did.
fn check_chain(
    dir: &Path,
    manifest: &OutputManifest,
    v: &mut Verification,
) -> Result<(), DisclosureError> {
    let (Some(vintage), Some(parent)) = (manifest.vintage, dir.parent()) else {
        return Ok(());
    };
    let previous = release::vintage_dir(parent, vintage.saturating_sub(1));
    if vintage <= 1 || !previous.join(MANIFEST_FILE).exists() {
        v.check(
            vintage <= 1 || manifest.previous_manifest_sha256.is_some(),
            "first vintage, or its predecessor is not here to compare",
            || "a later vintage names no previous manifest".into(),
        );
        return Ok(());
    }
    let (_, sha) = manifest::load(&previous)?;
    v.check(
        manifest.previous_manifest_sha256.as_deref() == Some(sha.as_str()),
        format!(
            "vintage {} follows vintage {} (chain intact)",
            vintage,
            vintage - 1
        ),
        || {
            format!(
                "vintage {}'s manifest does not hash to what vintage {vintage} recorded",
                vintage - 1
            )
        },
    );
    Ok(())
}

fn check_extract(
    dir: &Path,
    manifest: &OutputManifest,
    v: &mut Verification,
) -> Result<(), DisclosureError> {
    let text = String::from_utf8_lossy(&manifest::read(&dir.join(extract::SPEC_FILE))?).to_string();
    let spec = match extract::parse_spec(&text, extract::SPEC_FILE) {
        Ok(spec) => spec,
        Err(e) => {
            v.problems.push(e.to_string());
            return Ok(());
        }
    };
    let (_, batches) = lantern_tables::parquet_io::read_parquet(&data_file(dir, &manifest.name))?;
    let column = |name: &str| -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| source::strings(b, name))
            .map(|s| s.unwrap_or_default())
            .collect()
    };
    let qi_names: Vec<String> = spec
        .quasi_identifiers
        .iter()
        .map(|q| q.name.clone())
        .collect();
    let sensitive_names: Vec<String> = spec.sensitive.iter().map(|s| s.column.clone()).collect();
    let qi_columns: Vec<Vec<String>> = qi_names.iter().map(|n| column(n)).collect();
    let sensitive_columns: Vec<Vec<String>> = sensitive_names.iter().map(|n| column(n)).collect();
    let subsets =
        extract::check_subsets(&qi_names, &qi_columns, &sensitive_names, &sensitive_columns);
    let k = subsets.iter().map(|s| s.smallest_class).min().unwrap_or(0);
    v.check(
        k >= spec.k,
        format!(
            "k = {k} >= {} over all {} subsets of the quasi-identifiers",
            spec.k,
            subsets.len()
        ),
        || format!("k reached is {k}, below the spec's {}", spec.k),
    );
    let l = subsets
        .iter()
        .flat_map(|s| s.least_diversity.values().copied())
        .min()
        .unwrap_or(u64::MAX);
    v.check(
        sensitive_names.is_empty() || l >= spec.l,
        format!("l = {l} >= {} for {sensitive_names:?}", spec.l),
        || format!("l reached is {l}, below the spec's {}", spec.l),
    );
    let report: ExtractReport =
        serde_json::from_slice(&manifest::read(&dir.join(extract::REPORT_FILE))?).map_err(|e| {
            DisclosureError::Format {
                path: dir.join(extract::REPORT_FILE),
                message: e.to_string(),
            }
        })?;
    v.check(
        report.subsets == subsets,
        "report.json's k, l and classes match the data",
        || "report.json does not match the data".into(),
    );
    Ok(())
}
