//! Lantern's pipeline definitions: the aggregate SQL (`sql/`), the place and property reference
//! data (`reference/`), the disclosure policy (`disclosure/`) and the analytics parameters
//! (`analytics/`), as files in this directory and built into every binary.
//!
//! A `lantern` binary therefore runs from any directory and after `cargo install`, with the
//! definitions it was built with. A force that changes them points `pipelines.dir` at its own
//! copy of this directory ([`PipelineFiles::Dir`]); every file is then read from there, and a
//! missing one is an error that names the key.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Every file a pipeline reads, relative to this directory. The test below checks that it
/// matches the files on disk, so a new definition cannot be forgotten here.
macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../", $name)))),*]
    };
}
const EMBEDDED: &[(&str, &[u8])] = embedded![
    "sql/incidents_monthly.sql",
    "sql/incidents_daily.sql",
    "sql/business_crime_monthly.sql",
    "sql/cybercrime_monthly.sql",
    "reference/places/lsoa.csv",
    "reference/places/names.csv",
    "reference/places/population.csv",
    "reference/places/lsoa_boundaries.txt",
    "reference/harm/chi_weights_v1.csv",
    "reference/harm/chi_crime_type_weights_v1.csv",
    "reference/property/business_incident_types.csv",
    "reference/property/crime_types.csv",
    "reference/property/nfib_codes.csv",
    "reference/property/offence_codes.csv",
    "reference/property/premises_types.csv",
    "disclosure/releases.toml",
    "disclosure/ptable_t10.csv",
    "disclosure/hierarchies/crime_group_v1.csv",
    "disclosure/extracts/incidents_research.toml",
    "analytics/analytics.toml",
];

/// One pipeline, declared once: everything else (config validation, the processor, `lantern
/// lag`, `lantern rebuild`) looks pipelines up here rather than matching their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineSpec {
    /// Name: consumer-group suffix, data directory, metric label, `processor.pipelines` entry.
    pub name: &'static str,
    /// The `[topics]` key holding the pipeline's input topic.
    pub topic_key: &'static str,
    /// The internal table of the latest version of every record (the facts).
    pub facts_table: &'static str,
    /// Aggregate tables, each defined by `sql/<name>.sql` over the facts table.
    pub aggregates: &'static [&'static str],
    /// The status of a cancelled or withdrawn record: kept in the facts as a tombstone, counted
    /// nowhere.
    pub tombstone: &'static str,
}

/// Every pipeline Lantern has. The fact type of each is bound to its name in
/// `lantern_stream::pipelines`.
pub const PIPELINES: &[PipelineSpec] = &[
    PipelineSpec {
        name: "incidents",
        topic_key: "topics.incidents",
        facts_table: "incident_facts",
        aggregates: &["incidents_monthly", "incidents_daily"],
        tombstone: "cancelled",
    },
    PipelineSpec {
        name: "business_crime",
        topic_key: "topics.business_crime",
        facts_table: "business_crime_facts",
        aggregates: &["business_crime_monthly"],
        tombstone: "withdrawn",
    },
    PipelineSpec {
        name: "cybercrime",
        topic_key: "topics.cybercrime",
        facts_table: "cybercrime_facts",
        aggregates: &["cybercrime_monthly"],
        tombstone: "withdrawn",
    },
];

/// The pipeline called `name`.
pub fn pipeline(name: &str) -> Option<&'static PipelineSpec> {
    PIPELINES.iter().find(|p| p.name == name)
}

/// A definition file that could not be read from the configured `pipelines.dir`.
#[derive(Debug, thiserror::Error)]
pub enum PipelineFileError {
    #[error(
        "cannot read {}: {source} (pipelines.dir names a directory holding sql/ and reference/; \
         leave it unset to use the definitions built into lantern)",
        path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{name}: no such definition is built into lantern (a bug: list it in lantern-pipelines)"
    )]
    NotEmbedded { name: String },
}

/// Where pipeline definitions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineFiles {
    /// The definitions built into the binary (the default).
    Embedded,
    /// A directory laid out like this one (`pipelines.dir`).
    Dir(PathBuf),
}

impl PipelineFiles {
    /// From the `pipelines.dir` setting: the directory if set, else the built-in definitions.
    pub fn from_setting(dir: Option<&Path>) -> Self {
        dir.map_or(Self::Embedded, |dir| Self::Dir(dir.to_path_buf()))
    }

    /// The contents of `name` (e.g. `"sql/incidents_monthly.sql"`).
    pub fn read(&self, name: &str) -> Result<Cow<'static, [u8]>, PipelineFileError> {
        match self {
            Self::Embedded => EMBEDDED
                .iter()
                .find(|(embedded, _)| *embedded == name)
                .map(|(_, bytes)| Cow::Borrowed(*bytes))
                .ok_or_else(|| PipelineFileError::NotEmbedded { name: name.into() }),
            Self::Dir(dir) => {
                let path = dir.join(name);
                std::fs::read(&path)
                    .map(Cow::Owned)
                    .map_err(|source| PipelineFileError::Io { path, source })
            }
        }
    }

    /// How `name` is shown in messages: its path, or `<built-in>/name`.
    pub fn display_name(&self, name: &str) -> PathBuf {
        match self {
            Self::Embedded => Path::new("<built-in pipelines>").join(name),
            Self::Dir(dir) => dir.join(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_on_disk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_on_disk(&entry.path(), &format!("{name}/"), out);
            } else if [".sql", ".csv", ".toml", ".txt"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_definition_on_disk_is_built_in_and_identical() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for sub in ["sql", "reference", "disclosure", "analytics"] {
            files_on_disk(&root.join(sub), &format!("{sub}/"), &mut on_disk);
        }
        on_disk.sort();
        let mut built_in: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        built_in.sort();
        assert_eq!(on_disk, built_in);
        let dir = PipelineFiles::Dir(root.to_path_buf());
        for name in &built_in {
            assert_eq!(
                PipelineFiles::Embedded.read(name).unwrap(),
                dir.read(name).unwrap()
            );
        }
    }

    #[test]
    fn every_aggregate_of_every_pipeline_has_its_sql() {
        for spec in PIPELINES {
            for table in spec.aggregates {
                PipelineFiles::Embedded
                    .read(&format!("sql/{table}.sql"))
                    .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            }
        }
    }

    #[test]
    fn a_missing_file_names_the_setting() {
        let files = PipelineFiles::Dir(PathBuf::from("/nonexistent/pipelines"));
        let error = files
            .read("sql/incidents_monthly.sql")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/nonexistent/pipelines/sql/incidents_monthly.sql"),
            "{error}"
        );
        assert!(error.contains("pipelines.dir"), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
}
