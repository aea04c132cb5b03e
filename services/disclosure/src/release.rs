//! `lantern publish`: each release's table, protected, as a named and immutable vintage.
//!
//! ```text
//! <data_dir>/published/<release>/
//!     LATEST                      the newest vintage's number (replaced atomically)
//!     000001/                     a vintage: never changed once written
//!         <release>.parquet, <release>.csv   the table
//!         policy.toml, ptable.csv            the policy applied (and its perturbation table)
//!         report.json                        what protection did (cells perturbed, suppressed, ...)
//!         manifest.json                      source snapshot, key id, SHA-256 of every file
//! ```
//!
//! A new vintage is written only when the table's bytes would change: a commit that does not
//! touch a release's records leaves it as it is, and a revision that does makes a new vintage
//! that goes through the same rules. Partners cite `<release>` vintage N.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use lantern_enrich::Populations;
use lantern_pipelines::PipelineFiles;

use crate::manifest::{self, OutputManifest, RELEASE_FORMAT};
use crate::policy::{PlaceLevel, Release, SensitiveCategory};
use crate::protect::{self, ProtectionReport, PublishedRow, Record};
use crate::source::{self, SourceInfo};
use crate::{DisclosureError, SecretKey};

pub const POLICY_FILE: &str = "policy.toml";
pub const PTABLE_FILE: &str = "ptable.csv";
pub const REPORT_FILE: &str = "report.json";

/// What `publish` did for one release.
#[derive(Debug, Clone, PartialEq)]
pub enum PublishOutcome {
    /// A new vintage was written.
    New {
        vintage: u64,
        dir: PathBuf,
        manifest_sha256: String,
        report: ProtectionReport,
    },
    /// The table would be byte-identical to the latest vintage: nothing written.
    Unchanged { vintage: u64 },
}

pub use lantern_tables::outputs::{
    LATEST_FILE, latest_vintage as latest, release_dir, vintage_dir,
};

/// Publishes `release` from the current snapshot of its source under `data_dir`.
pub async fn publish(
    data_dir: &Path,
    files: &PipelineFiles,
    release: &Release,
    key: Option<&SecretKey>,
    populations: &Populations,
) -> Result<PublishOutcome, DisclosureError> {
    let (records, source) = read_records(data_dir, files, release).await?;
    let (rows, report) = protect::protect(release, &records, key)?;
    let batch = to_batch(release, &rows, populations)?;

    let dir = release_dir(data_dir, &release.policy.name);
    std::fs::create_dir_all(&dir).map_err(DisclosureError::io(&dir))?;
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(DisclosureError::io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(DisclosureError::io(&staging))?;
    let mut written = manifest::write_data(&staging, &release.policy.name, &batch)?;
    let policy_text = release.policy.to_toml();
    let policy_entry = manifest::write_file(&staging, POLICY_FILE, policy_text.as_bytes())?;
    written.push(policy_entry.clone());
    if let Some((_, bytes, _)) = &release.ptable {
        written.push(manifest::write_file(&staging, PTABLE_FILE, bytes)?);
    }
    written.push(manifest::write_file(
        &staging,
        REPORT_FILE,
        &manifest::json_bytes(&report),
    )?);

    // `lantern publish` may run while `lantern serve` publishes too: one at a time per release,
    // so the second sees the first's vintage and finds nothing changed.
    let _lock = manifest::lock_dir(&dir).await?;
    let previous = latest(&dir)?;
    let previous_manifest = match previous {
        Some(v) => Some(manifest::load(&vintage_dir(&dir, v))?),
        None => None,
    };
    if let (Some(vintage), Some((old, _))) = (previous, &previous_manifest)
        && manifest::same_files(&old.files, &written)
    {
        std::fs::remove_dir_all(&staging).map_err(DisclosureError::io(&staging))?;
        return Ok(PublishOutcome::Unchanged { vintage });
    }
    let vintage = previous.unwrap_or(0) + 1;
    let stem = &release.policy.name;
    let manifest = OutputManifest {
        format: RELEASE_FORMAT.to_string(),
        name: stem.clone(),
        vintage: Some(vintage),
        code_version: manifest::code_version(),
        policy_file: POLICY_FILE.to_string(),
        policy_sha256: policy_entry.sha256,
        key_ids: key
            .filter(|_| release.ptable.is_some())
            .map(|k| vec![k.id()])
            .unwrap_or_default(),
        source,
        rows: [
            (format!("{stem}.parquet"), batch.num_rows() as u64),
            (format!("{stem}.csv"), batch.num_rows() as u64),
        ]
        .into(),
        files: written,
        previous_manifest_sha256: previous_manifest.map(|(_, sha)| sha),
    };
    let manifest_bytes = manifest::json_bytes(&manifest);
    manifest::write_file(&staging, manifest::MANIFEST_FILE, &manifest_bytes)?;
    let target = vintage_dir(&dir, vintage);
    std::fs::rename(&staging, &target).map_err(DisclosureError::io(&target))?;
    const LATEST_TMP: &str = ".LATEST.tmp";
    manifest::write_file(&dir, LATEST_TMP, format!("{vintage:06}\n").as_bytes())?;
    let latest_path = dir.join(LATEST_FILE);
    std::fs::rename(dir.join(LATEST_TMP), &latest_path)
        .map_err(DisclosureError::io(&latest_path))?;
    Ok(PublishOutcome::New {
        vintage,
        dir: target,
        manifest_sha256: manifest::sha256_hex(&manifest_bytes),
        report,
    })
}

/// Offence subgroups that make a record a sexual offence (Home Office offence classification).
const SEXUAL_OFFENCE_SUBGROUPS: [&str; 2] = ["Rape", "Other sexual offences"];

/// Offence codes in a sexual-offence subgroup, from the reference data.
fn sexual_offence_codes(files: &PipelineFiles) -> Result<Vec<String>, DisclosureError> {
    let name = "reference/property/offence_codes.csv";
    let bytes = files
        .read(name)
        .map_err(|e| DisclosureError::Policy(e.to_string()))?;
    let mut codes = Vec::new();
    for row in csv::Reader::from_reader(&*bytes).records() {
        let row = row.map_err(|e| DisclosureError::Policy(format!("{name}: {e}")))?;
        if SEXUAL_OFFENCE_SUBGROUPS.contains(&row.get(2).unwrap_or_default()) {
            codes.push(row.get(0).unwrap_or_default().to_string());
        }
    }
    Ok(codes)
}

/// The release's records from the current snapshot of its pipeline's facts.
pub async fn read_records(
    data_dir: &Path,
    files: &PipelineFiles,
    release: &Release,
) -> Result<(Vec<Record>, SourceInfo), DisclosureError> {
    let policy = &release.policy;
    let places = PlaceLevel::ALL.map(PlaceLevel::column);
    let mut columns: Vec<String> = ["record_id"]
        .iter()
        .chain(&places)
        .map(|c| c.to_string())
        .collect();
    columns.extend(policy.by.iter().cloned());
    if policy.sensitive.is_some() {
        columns.extend(["offence_code", "domestic_abuse", "hate_crime"].map(String::from));
    }
    if let Some(value) = &policy.value {
        columns.extend([value.column.clone(), value.contributor.clone()]);
    }
    let basis = match policy.basis {
        crate::policy::Basis::PoliceUkSnapped => "=",
        crate::policy::Basis::ForceTrue => "<>",
    };
    let filter = format!("source {basis} '{}'", crate::policy::POLICE_UK_SOURCE);
    let (batches, info) = source::read_facts(data_dir, release.pipeline, &columns, &filter)
        .await
        .map_err(|e| match e {
            DisclosureError::DataFusion(e) => DisclosureError::Policy(format!(
                "release {}: reading {columns:?} from {}: {e} (are `by` and `value` columns of \
                 the source?)",
                policy.name, release.pipeline.facts_table
            )),
            other => other,
        })?;
    let sexual = match &policy.sensitive {
        Some(s) if s.categories.contains(&SensitiveCategory::SexualOffences) => {
            sexual_offence_codes(files)?
        }
        _ => Vec::new(),
    };
    let mut records = Vec::with_capacity(info.records as usize);
    for batch in &batches {
        let ids = source::strings(batch, "record_id");
        let months = source::strings(batch, "month");
        let place_cols: Vec<Vec<Option<String>>> =
            places.iter().map(|c| source::strings(batch, c)).collect();
        let by_cols: Vec<Vec<Option<String>>> = policy
            .by
            .iter()
            .map(|c| source::strings(batch, c))
            .collect();
        let offences = source::strings(batch, "offence_code");
        let domestic = source::flags(batch, "domestic_abuse");
        let hate = source::flags(batch, "hate_crime");
        let (values, contributors) = match &policy.value {
            Some(v) => (
                source::floats(batch, &v.column),
                source::strings(batch, &v.contributor),
            ),
            None => (vec![None; batch.num_rows()], vec![None; batch.num_rows()]),
        };
        for row in 0..batch.num_rows() {
            let sensitive = policy.sensitive.as_ref().and_then(|s| {
                s.categories
                    .iter()
                    .copied()
                    .find(|category| match category {
                        SensitiveCategory::SexualOffences => offences[row]
                            .as_ref()
                            .is_some_and(|code| sexual.contains(code)),
                        SensitiveCategory::DomesticAbuse => domestic[row],
                        SensitiveCategory::HateCrime => hate[row],
                    })
            });
            records.push(Record {
                record_id: ids[row].clone().unwrap_or_default(),
                month: months[row].clone().unwrap_or_default(),
                places: std::array::from_fn(|i| place_cols[i][row].as_deref().map(Arc::from)),
                by: by_cols
                    .iter()
                    .map(|c| c[row].clone().unwrap_or_else(|| "unknown".into()))
                    .collect(),
                sensitive,
                value_pence: values[row].map(|v| (v * 100.0).round() as i64),
                contributor: contributors[row].clone(),
            });
        }
    }
    Ok((records, info))
}

/// The published table's columns: period, place, categories, sensitive group, count, status,
/// then the money total and its status when the release has one.
pub fn to_batch(
    release: &Release,
    rows: &[PublishedRow],
    populations: &Populations,
) -> Result<RecordBatch, DisclosureError> {
    let policy = &release.policy;
    let text = |f: &dyn Fn(&PublishedRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let level_of = |row: &PublishedRow| match (row.cell.group, &policy.sensitive) {
        (Some(_), Some(s)) => (s.time_level, s.place_level),
        _ => (policy.time_level, policy.place_level),
    };
    let mut fields = vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("period_level", DataType::Utf8, false),
        Field::new("place_code", DataType::Utf8, true),
        Field::new("place_level", DataType::Utf8, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        text(&|r| Some(r.cell.period.clone())),
        text(&|r| Some(level_of(r).0.as_str().to_string())),
        text(&|r| r.cell.place.as_deref().map(String::from)),
        text(&|r| Some(level_of(r).1.as_str().to_string())),
    ];
    for (i, name) in policy.by.iter().enumerate() {
        fields.push(Field::new(name, DataType::Utf8, false));
        columns.push(text(&|r| Some(r.cell.by[i].clone())));
    }
    fields.push(Field::new("sensitive_group", DataType::Utf8, true));
    columns.push(text(&|r| r.cell.group.map(|g| g.label().to_string())));
    fields.push(Field::new("count", DataType::Int64, true));
    columns.push(Arc::new(
        rows.iter()
            .map(|r| r.count.map(|c| c as i64))
            .collect::<Int64Array>(),
    ));
    fields.push(Field::new("status", DataType::Utf8, false));
    columns.push(text(&|r| Some(r.status.as_str().to_string())));
    if let Some(value) = &policy.value {
        fields.push(Field::new(&value.name, DataType::Int64, true));
        columns.push(Arc::new(
            rows.iter()
                .map(|r| r.value.and_then(|(v, _)| v))
                .collect::<Int64Array>(),
        ));
        fields.push(Field::new(
            format!("{}_status", value.name),
            DataType::Utf8,
            true,
        ));
        columns.push(text(&|r| r.value.map(|(_, s)| s.as_str().to_string())));
    }
    if policy.rate_per_1000_residents {
        let residents = |r: &PublishedRow| {
            let code = r.cell.place.as_deref()?;
            populations.of(code).map(|p| p.residents)
        };
        fields.push(Field::new("residents", DataType::Int64, true));
        columns.push(Arc::new(
            rows.iter()
                .map(|r| residents(r).map(|n| n as i64))
                .collect::<Int64Array>(),
        ));
        fields.push(Field::new("rate_per_1000", DataType::Float64, true));
        columns.push(Arc::new(
            rows.iter()
                .map(|r| match (r.count, residents(r)) {
                    (Some(count), Some(n)) if n > 0 => Some(1000.0 * count as f64 / n as f64),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
