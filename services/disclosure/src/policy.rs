//! Release policy: what each published partner table may show, read from
//! `pipelines/disclosure/releases.toml` (or a force's own copy under `pipelines.dir`).
//!
//! Every setting is explained for a data protection officer in `docs/disclosure.md`. A policy
//! that could not be applied safely (a threshold the perturbation table does not respect, a
//! rounding base that rounds below the threshold, sensitive records at a finer level than the
//! rest) is refused when it is loaded, naming the release and the key.

use std::collections::BTreeSet;

use lantern_pipelines::{PipelineFiles, PipelineSpec};
use serde::{Deserialize, Serialize};

use crate::DisclosureError;
use crate::ptable::PerturbationTable;

/// The policy file inside the pipeline definitions.
pub const RELEASES_FILE: &str = "disclosure/releases.toml";

/// Geography levels, finest first. Each is a column of the facts tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceLevel {
    Lsoa,
    Msoa,
    Ward,
    Lad,
    Csp,
    Force,
}

impl PlaceLevel {
    /// Every level, finest first: also the order of a record's places ([`crate::protect::Places`]).
    pub const ALL: [PlaceLevel; 6] = [
        PlaceLevel::Lsoa,
        PlaceLevel::Msoa,
        PlaceLevel::Ward,
        PlaceLevel::Lad,
        PlaceLevel::Csp,
        PlaceLevel::Force,
    ];

    pub fn column(self) -> &'static str {
        match self {
            PlaceLevel::Lsoa => "lsoa_code",
            PlaceLevel::Msoa => "msoa_code",
            PlaceLevel::Ward => "ward_code",
            PlaceLevel::Lad => "lad_code",
            PlaceLevel::Csp => "csp_code",
            PlaceLevel::Force => "force_area_code",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PlaceLevel::Lsoa => "lsoa",
            PlaceLevel::Msoa => "msoa",
            PlaceLevel::Ward => "ward",
            PlaceLevel::Lad => "lad",
            PlaceLevel::Csp => "csp",
            PlaceLevel::Force => "force",
        }
    }

    /// Whether every area of `self` lies inside one area of `coarser` (wards do not nest in
    /// MSOAs, so neither is coarser than the other).
    pub fn nests_in(self, coarser: PlaceLevel) -> bool {
        use PlaceLevel::*;
        self == coarser
            || coarser == Force
            || match self {
                Lsoa => true,
                Msoa | Ward => matches!(coarser, Lad | Csp),
                Lad => coarser == Csp,
                Csp | Force => false,
            }
    }
}

/// Time levels, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLevel {
    Month,
    Quarter,
    Year,
}

impl TimeLevel {
    /// The period of a `YYYY-MM` month at this level: `2022-10`, `2022-Q4` or `2022`.
    pub fn period(self, month: &str) -> String {
        match self {
            TimeLevel::Month => month.to_string(),
            TimeLevel::Quarter => {
                let m: u32 = month.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
                format!("{}-Q{}", &month[..4.min(month.len())], m.div_ceil(3))
            }
            TimeLevel::Year => month[..4.min(month.len())].to_string(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeLevel::Month => "month",
            TimeLevel::Quarter => "quarter",
            TimeLevel::Year => "year",
        }
    }
}

/// Which placement of a crime a published tier uses. Publishing both side by side would let a
/// reader difference them, so one tier uses one basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// police.uk's anonymised location (snapped to a map point, LSOA of that point): only
    /// records imported from police.uk. Already public at map point x month x crime type.
    PoliceUkSnapped,
    /// The force's own placement of each crime: every record not from police.uk.
    ForceTrue,
}

/// The value of `source` on records imported from police.uk.
pub const POLICE_UK_SOURCE: &str = "police.uk";

impl Basis {
    pub fn admits(self, source: &str) -> bool {
        (source == POLICE_UK_SOURCE) == (self == Basis::PoliceUkSnapped)
    }
}

/// How small counts are kept from showing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Method {
    /// Cell-key perturbation: each cell's value comes from its count and the keys of its records
    /// through the perturbation table (a file under the pipeline definitions).
    CellKey { ptable: String, modulus: u32 },
    /// Counts in 1..T-1 suppressed, others rounded to the nearest multiple of `base`.
    Rounding { base: u64 },
    /// Counts in 1..T-1 suppressed, plus secondary suppression so no suppressed cell can be
    /// recomputed from the others of its row or column.
    Suppression,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::CellKey { .. } => "cell_key",
            Method::Rounding { .. } => "rounding",
            Method::Suppression => "suppression",
        }
    }
}

/// A money column (loss) published as a total per cell under dominance rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuePolicy {
    /// Facts column summed (e.g. `loss_value`).
    pub column: String,
    /// Output column name (e.g. `loss_total`).
    pub name: String,
    /// Facts column naming the contributor whose share is tested (e.g. `business_ref`).
    pub contributor: String,
    /// nk rule: the `nk_n` largest contributors may hold at most `nk_k` percent of the total.
    pub nk_n: usize,
    pub nk_k: f64,
    /// p% rule: the total minus the two largest must be at least p% of the largest.
    pub p_percent: f64,
    /// Published totals are rounded to a multiple of this (GBP).
    pub round_to: u64,
}

/// A category of crime that is published only at coarser levels, as its own group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveCategory {
    /// Offence subgroups "Rape" and "Other sexual offences" (Home Office codes).
    SexualOffences,
    /// Records flagged domestic abuse.
    DomesticAbuse,
    /// Records flagged hate crime.
    HateCrime,
}

impl SensitiveCategory {
    pub fn label(self) -> &'static str {
        match self {
            SensitiveCategory::SexualOffences => "Sexual offences",
            SensitiveCategory::DomesticAbuse => "Domestic abuse",
            SensitiveCategory::HateCrime => "Hate crime",
        }
    }
}

/// Banding of sensitive categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitivePolicy {
    /// In order of precedence: a record in two categories is counted in the first.
    pub categories: Vec<SensitiveCategory>,
    pub place_level: PlaceLevel,
    pub time_level: TimeLevel,
}

/// One published table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasePolicy {
    /// Published table name (what partners query and cite).
    pub name: String,
    /// Plain-words description for the data dictionary.
    pub title: String,
    /// The aggregate table this release publishes; its records are the facts behind it.
    pub source: String,
    pub basis: Basis,
    pub place_level: PlaceLevel,
    pub time_level: TimeLevel,
    /// Category columns of the source kept in the release (e.g. `crime_type`).
    #[serde(default)]
    pub by: Vec<String>,
    /// No published count is in 1..threshold-1.
    pub threshold: u64,
    pub method: Method,
    #[serde(default)]
    pub value: Option<ValuePolicy>,
    #[serde(default)]
    pub sensitive: Option<SensitivePolicy>,
    /// Also publish `residents` (Census 2011) and `rate_per_1000` = 1000 × published count /
    /// residents of the row's place, per period. Computed from the protected count, so it
    /// discloses nothing the count does not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rate_per_1000_residents: bool,
}

/// The policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(rename = "release")]
    pub releases: Vec<ReleasePolicy>,
}

/// A release policy with what it refers to resolved and checked.
#[derive(Debug, Clone)]
pub struct Release {
    pub policy: ReleasePolicy,
    pub pipeline: &'static PipelineSpec,
    /// The perturbation table's file name and bytes, for cell-key releases.
    pub ptable: Option<(String, Vec<u8>, PerturbationTable)>,
}

impl ReleasePolicy {
    /// This policy as the TOML written next to each vintage (and hashed into its manifest).
    pub fn to_toml(&self) -> String {
        toml::to_string(&PolicyFile {
            releases: vec![self.clone()],
        })
        .expect("a policy always serialises")
    }
}

/// Whether `name` is taken by a pipeline's facts or aggregate table (outputs share their
/// namespace in the query service).
pub fn table_name_taken(name: &str) -> bool {
    lantern_pipelines::PIPELINES
        .iter()
        .any(|p| p.facts_table == name || p.aggregates.contains(&name))
}

/// Loads and checks every release in the policy file of `files`.
pub fn load(files: &PipelineFiles) -> Result<Vec<Release>, DisclosureError> {
    let bytes = files
        .read(RELEASES_FILE)
        .map_err(|e| DisclosureError::Policy(e.to_string()))?;
    let origin = files.display_name(RELEASES_FILE).display().to_string();
    parse(&bytes, &origin, |name| {
        files
            .read(&format!("disclosure/{name}"))
            .map(|b| b.into_owned())
            .map_err(|e| DisclosureError::Policy(e.to_string()))
    })
}

/// Parses and checks a policy file; `read` fetches a perturbation table by file name.
pub fn parse(
    bytes: &[u8],
    origin: &str,
    mut read: impl FnMut(&str) -> Result<Vec<u8>, DisclosureError>,
) -> Result<Vec<Release>, DisclosureError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DisclosureError::Policy(format!("{origin}: {e}")))?;
    let file: PolicyFile =
        toml::from_str(text).map_err(|e| DisclosureError::Policy(format!("{origin}: {e}")))?;
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for policy in file.releases {
        let bad = |key: &str, why: String| {
            DisclosureError::Policy(format!(
                "{origin}: release {:?}: `{key}` {why}",
                policy.name
            ))
        };
        let legal = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        if policy.name.is_empty() || !policy.name.chars().all(legal) {
            return Err(bad(
                "name",
                "must be lower-case letters, digits and _".into(),
            ));
        }
        if table_name_taken(&policy.name) {
            return Err(bad("name", "is the name of a pipeline table".into()));
        }
        if !names.insert(policy.name.clone()) {
            return Err(bad("name", "is used by another release".into()));
        }
        let pipeline = lantern_pipelines::PIPELINES
            .iter()
            .find(|p| p.aggregates.contains(&policy.source.as_str()))
            .ok_or_else(|| bad("source", "is not an aggregate table".into()))?;
        if policy.threshold < 2 {
            return Err(bad("threshold", "must be at least 2".into()));
        }
        let ptable = match &policy.method {
            Method::CellKey { ptable, modulus } => {
                if *modulus < 2 {
                    return Err(bad("method.modulus", "must be at least 2".into()));
                }
                let bytes = read(ptable)?;
                let table = PerturbationTable::parse(&bytes, *modulus, ptable)?;
                table
                    .check(policy.threshold)
                    .map_err(|why| bad("method.ptable", format!("is unsafe: {why}")))?;
                Some((ptable.clone(), bytes, table))
            }
            Method::Rounding { base } => {
                if *base < 2 || policy.threshold % base != 0 {
                    return Err(bad(
                        "method.base",
                        format!(
                            "must be at least 2 and divide the threshold {} (else a count of \
                             T could round below T)",
                            policy.threshold
                        ),
                    ));
                }
                None
            }
            Method::Suppression => None,
        };
        if let Some(value) = &policy.value {
            if value.nk_n == 0 || !(0.0..=100.0).contains(&value.nk_k) {
                return Err(bad(
                    "value.nk_n / value.nk_k",
                    "must be n >= 1, 0 <= k <= 100".into(),
                ));
            }
            if !(0.0..=100.0).contains(&value.p_percent) || value.round_to == 0 {
                return Err(bad(
                    "value.p_percent / value.round_to",
                    "out of range".into(),
                ));
            }
        }
        if let Some(sensitive) = &policy.sensitive {
            if pipeline.name != "incidents" {
                return Err(bad("sensitive", "applies only to incidents".into()));
            }
            if !policy.place_level.nests_in(sensitive.place_level)
                || sensitive.time_level < policy.time_level
            {
                return Err(bad(
                    "sensitive.place_level / sensitive.time_level",
                    "must be as coarse as the table's own levels or coarser".into(),
                ));
            }
        }
        out.push(Release {
            policy,
            pipeline,
            ptable,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &[u8] = include_bytes!("../../../pipelines/disclosure/releases.toml");

    fn read(name: &str) -> Result<Vec<u8>, DisclosureError> {
        let path = format!(
            "{}/../../pipelines/disclosure/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).map_err(|e| DisclosureError::Policy(format!("{path}: {e}")))
    }

    #[test]
    fn the_default_policy_loads() {
        let releases = parse(DEFAULT, "releases.toml", read).unwrap();
        assert!(releases.len() >= 3);
        assert_eq!(TimeLevel::Quarter.period("2022-10"), "2022-Q4");
        assert_eq!(TimeLevel::Year.period("2022-10"), "2022");
    }

    #[test]
    fn unsafe_policies_are_refused_naming_the_key() {
        let text = std::str::from_utf8(DEFAULT).unwrap();
        let cases = [
            ("threshold = 10", "threshold = 12", "method.ptable"),
            ("base = 5", "base = 4", "method.base"),
            (
                "source = \"incidents_monthly\"",
                "source = \"incident_facts\"",
                "`source`",
            ),
        ];
        for (from, to, key) in cases {
            assert!(text.contains(from), "default policy lacks {from}");
            let changed = text.replacen(from, to, 1);
            let err = parse(changed.as_bytes(), "releases.toml", read).unwrap_err();
            assert!(err.to_string().contains(key), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn levels_nest_as_geography_does() {
        for (i, level) in PlaceLevel::ALL.into_iter().enumerate() {
            assert_eq!(crate::protect::level_index(level), i);
        }
        assert!(PlaceLevel::Lsoa.nests_in(PlaceLevel::Msoa));
        assert!(!PlaceLevel::Ward.nests_in(PlaceLevel::Msoa));
        assert!(PlaceLevel::Csp.nests_in(PlaceLevel::Force));
        assert!(Basis::PoliceUkSnapped.admits("police.uk"));
        assert!(!Basis::ForceTrue.admits("police.uk"));
    }
}
