//! `lantern extract --spec FILE`: a research extract of record-level data, anonymised.
//!
//! 1. Read the live records of the spec's pipeline from one pinned snapshot of its facts.
//! 2. Keep only the columns the spec names: ids become keyed pseudonyms, quasi-identifiers are
//!    generalised along versioned hierarchies, sensitive attributes are kept as they are.
//! 3. Search the generalisation lattice (every combination of allowed levels), lowest first, for
//!    the least generalisation at which k-anonymity and ℓ-diversity hold after suppressing at
//!    most `max_suppressed_share` of the records: first quasi-identifier values of the records
//!    still at risk are replaced by `*` (one variable at a time, the most detailed first), then
//!    records still at risk are dropped.
//! 4. Check k and ℓ over every subset of the quasi-identifiers, and refuse to write if any
//!    fails; else write the data (Parquet, CSV), `datapackage.json`, `report.json`, the spec and
//!    a manifest.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use lantern_pipelines::{PipelineFiles, PipelineSpec};
use serde::{Deserialize, Serialize};

use crate::manifest::{self, EXTRACT_FORMAT, OutputManifest};
use crate::source;
use crate::{DisclosureError, SecretKey};

pub const SPEC_FILE: &str = "spec.toml";
pub const REPORT_FILE: &str = "report.json";
pub const DATAPACKAGE_FILE: &str = "datapackage.json";
/// A quasi-identifier value withheld by local suppression.
pub const SUPPRESSED: &str = "*";

/// The extract specification (see `pipelines/disclosure/extracts/incidents_research.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    pub name: String,
    pub title: String,
    pub pipeline: String,
    #[serde(default = "default_k")]
    pub k: u64,
    #[serde(default = "default_l")]
    pub l: u64,
    #[serde(default = "default_share")]
    pub max_suppressed_share: f64,
    #[serde(default, rename = "pseudonym")]
    pub pseudonyms: Vec<PseudonymSpec>,
    #[serde(rename = "quasi_identifier")]
    pub quasi_identifiers: Vec<QuasiIdentifier>,
    #[serde(default, rename = "sensitive")]
    pub sensitive: Vec<SensitiveSpec>,
}

fn default_k() -> u64 {
    10
}
fn default_l() -> u64 {
    2
}
fn default_share() -> f64 {
    0.05
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PseudonymSpec {
    pub column: String,
    pub domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuasiIdentifier {
    /// Output column name.
    pub name: String,
    /// `time/v1`, `place/v1`, `crime_group/v1`, `sector/v1` or `nfib/v1`.
    pub hierarchy: String,
    /// Levels it may be published at, finest first.
    pub levels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveSpec {
    pub column: String,
}

/// A versioned generalisation hierarchy: how a record's value looks at each level.
#[derive(Debug, Clone)]
enum Hierarchy {
    /// month -> quarter -> year (from the facts' `month`).
    Time,
    /// lsoa -> msoa -> lad -> force (the facts' place codes; `unplaced` when not placed).
    Place,
    /// crime_type -> crime_group (`disclosure/hierarchies/crime_group_v1.csv`) -> all.
    CrimeGroup(BTreeMap<String, String>),
    /// sector -> all (business crime).
    Sector,
    /// fraud_code -> nfib_group -> all (cybercrime).
    Nfib,
}

const CRIME_GROUP_FILE: &str = "disclosure/hierarchies/crime_group_v1.csv";

impl Hierarchy {
    fn named(name: &str, files: &PipelineFiles) -> Result<Self, DisclosureError> {
        Ok(match name {
            "time/v1" => Hierarchy::Time,
            "place/v1" => Hierarchy::Place,
            "sector/v1" => Hierarchy::Sector,
            "nfib/v1" => Hierarchy::Nfib,
            "crime_group/v1" => {
                let bytes = files
                    .read(CRIME_GROUP_FILE)
                    .map_err(|e| DisclosureError::Policy(e.to_string()))?;
                let mut map = BTreeMap::new();
                for row in csv::Reader::from_reader(&*bytes).records() {
                    let row = row
                        .map_err(|e| DisclosureError::Policy(format!("{CRIME_GROUP_FILE}: {e}")))?;
                    map.insert(row[0].to_string(), row[1].to_string());
                }
                Hierarchy::CrimeGroup(map)
            }
            other => {
                return Err(DisclosureError::Policy(format!(
                    "unknown hierarchy {other:?}: known are time/v1, place/v1, crime_group/v1, \
                     sector/v1, nfib/v1"
                )));
            }
        })
    }

    fn levels(&self) -> &'static [&'static str] {
        match self {
            Hierarchy::Time => &["month", "quarter", "year"],
            Hierarchy::Place => &["lsoa", "msoa", "lad", "force"],
            Hierarchy::CrimeGroup(_) => &["crime_type", "crime_group", "all"],
            Hierarchy::Sector => &["sector", "all"],
            Hierarchy::Nfib => &["fraud_code", "nfib_group", "all"],
        }
    }

    fn columns(&self) -> &'static [&'static str] {
        match self {
            Hierarchy::Time => &["month"],
            Hierarchy::Place => &["lsoa_code", "msoa_code", "lad_code", "force_area_code"],
            Hierarchy::CrimeGroup(_) => &["crime_type"],
            Hierarchy::Sector => &["sector"],
            Hierarchy::Nfib => &["fraud_code", "nfib_group"],
        }
    }

    /// The value at each of the hierarchy's levels, from the record's `columns()` values.
    fn ladder(&self, values: &[Option<String>]) -> Vec<String> {
        let or = |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.into());
        match self {
            Hierarchy::Time => {
                let month = or(&values[0], "unknown");
                use crate::policy::TimeLevel;
                [TimeLevel::Month, TimeLevel::Quarter, TimeLevel::Year]
                    .map(|l| l.period(&month))
                    .to_vec()
            }
            Hierarchy::Place => values.iter().map(|v| or(v, "unplaced")).collect(),
            Hierarchy::CrimeGroup(groups) => {
                let crime_type = or(&values[0], "unknown");
                let group = groups
                    .get(&crime_type)
                    .cloned()
                    .unwrap_or_else(|| "unknown".into());
                vec![crime_type, group, "all".into()]
            }
            Hierarchy::Sector => vec![or(&values[0], "unknown"), "all".into()],
            Hierarchy::Nfib => vec![
                or(&values[0], "unknown"),
                or(&values[1], "unknown"),
                "all".into(),
            ],
        }
    }
}

/// k and ℓ over one subset of the quasi-identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsetCheck {
    pub quasi_identifiers: Vec<String>,
    pub classes: u64,
    pub smallest_class: u64,
    /// Fewest distinct values of each sensitive attribute in a class.
    pub least_diversity: BTreeMap<String, u64>,
}

/// What the extract did, for the researcher and the data protection officer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractReport {
    pub k_required: u64,
    pub l_required: u64,
    pub records_in_source: u64,
    pub records_released: u64,
    pub records_dropped: u64,
    /// Quasi-identifier values replaced by `*`, per variable.
    pub values_suppressed: BTreeMap<String, u64>,
    /// The level each quasi-identifier was generalised to.
    pub generalisation: BTreeMap<String, String>,
    pub hierarchies: BTreeMap<String, String>,
    /// The smallest class over all quasi-identifiers (the k reached).
    pub k_reached: u64,
    /// The ℓ reached per sensitive attribute.
    pub l_reached: BTreeMap<String, u64>,
    pub classes: u64,
    /// Prosecutor-model risk: the highest chance of re-identifying a record (1 / smallest class)
    /// and the average (classes / records).
    pub max_reidentification_risk: f64,
    pub average_reidentification_risk: f64,
    /// Every non-empty subset of the quasi-identifiers, checked.
    pub subsets: Vec<SubsetCheck>,
}

/// Parses a spec, checking what can be checked without data.
pub fn parse_spec(text: &str, origin: &str) -> Result<ExtractSpec, DisclosureError> {
    let spec: ExtractSpec =
        toml::from_str(text).map_err(|e| DisclosureError::Policy(format!("{origin}: {e}")))?;
    let bad = |key: &str, why: &str| DisclosureError::Policy(format!("{origin}: `{key}` {why}"));
    let legal = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if spec.name.is_empty() || !spec.name.chars().all(legal) {
        return Err(bad("name", "must be lower-case letters, digits and _"));
    }
    if crate::policy::table_name_taken(&spec.name) {
        return Err(bad("name", "is the name of a pipeline table"));
    }
    if lantern_pipelines::pipeline(&spec.pipeline).is_none() {
        return Err(bad("pipeline", "is not a pipeline"));
    }
    if spec.k < 2 {
        return Err(bad("k", "must be at least 2"));
    }
    if spec.l < 1 {
        return Err(bad("l", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&spec.max_suppressed_share) {
        return Err(bad("max_suppressed_share", "must be in 0..=1"));
    }
    if spec.quasi_identifiers.is_empty() || spec.quasi_identifiers.len() > 8 {
        return Err(bad(
            "quasi_identifier",
            "must list 1 to 8 quasi-identifiers",
        ));
    }
    Ok(spec)
}

/// The spec's quasi-identifiers resolved: hierarchy and the indexes of its allowed levels.
struct ResolvedQi {
    hierarchy: Hierarchy,
    levels: Vec<usize>,
}

fn resolve(spec: &ExtractSpec, files: &PipelineFiles) -> Result<Vec<ResolvedQi>, DisclosureError> {
    spec.quasi_identifiers
        .iter()
        .map(|qi| {
            let hierarchy = Hierarchy::named(&qi.hierarchy, files)?;
            let all = hierarchy.levels();
            let mut levels = Vec::new();
            for level in &qi.levels {
                let index = all.iter().position(|l| l == level).ok_or_else(|| {
                    DisclosureError::Policy(format!(
                        "quasi-identifier {}: {} has no level {level:?} (levels: {all:?})",
                        qi.name, qi.hierarchy
                    ))
                })?;
                if levels.last().is_some_and(|last| *last >= index) {
                    return Err(DisclosureError::Policy(format!(
                        "quasi-identifier {}: levels must be listed finest first",
                        qi.name
                    )));
                }
                levels.push(index);
            }
            if levels.is_empty() {
                return Err(DisclosureError::Policy(format!(
                    "quasi-identifier {}: no levels",
                    qi.name
                )));
            }
            Ok(ResolvedQi { hierarchy, levels })
        })
        .collect()
}

/// The records as codes: for each quasi-identifier and allowed level, each record's value.
struct Coded {
    /// qi -> level (index into the spec's levels) -> record -> code.
    qi: Vec<Vec<Vec<u32>>>,
    /// qi -> level -> code -> text.
    names: Vec<Vec<Vec<String>>>,
    /// sensitive attribute -> record -> code.
    sensitive: Vec<Vec<u32>>,
    records: usize,
}

/// Interns strings to dense codes.
#[derive(Default)]
struct Interner {
    codes: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn code(&mut self, value: &str) -> u32 {
        if let Some(code) = self.codes.get(value) {
            return *code;
        }
        let code = self.names.len() as u32;
        self.codes.insert(value.to_string(), code);
        self.names.push(value.to_string());
        code
    }
}

const STAR: u32 = u32::MAX;

/// Which records fail k or ℓ, given each record's quasi-identifier codes.
fn at_risk(
    tuples: &[Vec<u32>],
    live: &[bool],
    sensitive: &[Vec<u32>],
    k: u64,
    l: u64,
) -> Vec<usize> {
    struct Class {
        members: Vec<usize>,
        distinct: Vec<Vec<u32>>,
    }
    let mut classes: HashMap<&[u32], Class> = HashMap::new();
    for (r, tuple) in tuples.iter().enumerate() {
        if !live[r] {
            continue;
        }
        let class = classes.entry(tuple).or_insert_with(|| Class {
            members: Vec::new(),
            distinct: vec![Vec::new(); sensitive.len()],
        });
        class.members.push(r);
        for (a, values) in sensitive.iter().enumerate() {
            let seen = &mut class.distinct[a];
            if (seen.len() as u64) < l && !seen.contains(&values[r]) {
                seen.push(values[r]);
            }
        }
    }
    let mut out: Vec<usize> = classes
        .into_values()
        .filter(|c| (c.members.len() as u64) < k || c.distinct.iter().any(|d| (d.len() as u64) < l))
        .flat_map(|c| c.members)
        .collect();
    out.sort_unstable();
    out
}

/// The result of anonymising at one lattice node.
struct Attempt {
    node: Vec<usize>,
    tuples: Vec<Vec<u32>>,
    live: Vec<bool>,
    suppressed: Vec<u64>,
    touched: u64,
}

fn attempt(coded: &Coded, node: &[usize], k: u64, l: u64) -> Attempt {
    let n = coded.records;
    let q = node.len();
    let mut tuples: Vec<Vec<u32>> = (0..n)
        .map(|r| (0..q).map(|i| coded.qi[i][node[i]][r]).collect())
        .collect();
    let mut live = vec![true; n];
    let mut touched = vec![false; n];
    let mut suppressed = vec![0u64; q];
    // The most detailed variable (most distinct values at this node) is suppressed first.
    let mut order: Vec<usize> = (0..q).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(coded.names[i][node[i]].len()));
    // `None` after the last variable: drop the records still at risk.
    for variable in order.into_iter().map(Some).chain([None]) {
        let risky = at_risk(&tuples, &live, &coded.sensitive, k, l);
        if risky.is_empty() {
            break;
        }
        for &r in &risky {
            touched[r] = true;
            match variable {
                None => live[r] = false,
                Some(v) if tuples[r][v] != STAR => {
                    tuples[r][v] = STAR;
                    suppressed[v] += 1;
                }
                Some(_) => {}
            }
        }
    }
    Attempt {
        node: node.to_vec(),
        tuples,
        live,
        suppressed,
        touched: touched.iter().filter(|t| **t).count() as u64,
    }
}

/// Every node of the lattice, lowest total generalisation first.
fn lattice(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut nodes = vec![Vec::new()];
    for &size in sizes {
        nodes = nodes
            .into_iter()
            .flat_map(|n: Vec<usize>| {
                (0..size).map(move |i| {
                    let mut n = n.clone();
                    n.push(i);
                    n
                })
            })
            .collect();
    }
    nodes.sort_by_key(|n| (n.iter().sum::<usize>(), n.clone()));
    nodes
}

/// k and ℓ over every non-empty subset of the quasi-identifier columns of `rows`.
pub fn check_subsets(
    qi_names: &[String],
    qi_columns: &[Vec<String>],
    sensitive_names: &[String],
    sensitive_columns: &[Vec<String>],
) -> Vec<SubsetCheck> {
    let q = qi_names.len();
    let rows = qi_columns.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    for mask in 1u32..(1 << q) {
        let members: Vec<usize> = (0..q).filter(|i| mask & (1 << i) != 0).collect();
        let mut classes: HashMap<Vec<&str>, (u64, Vec<std::collections::HashSet<&str>>)> =
            HashMap::new();
        for r in 0..rows {
            let key: Vec<&str> = members.iter().map(|&i| qi_columns[i][r].as_str()).collect();
            let class = classes
                .entry(key)
                .or_insert_with(|| (0, vec![Default::default(); sensitive_columns.len()]));
            class.0 += 1;
            for (a, column) in sensitive_columns.iter().enumerate() {
                class.1[a].insert(column[r].as_str());
            }
        }
        out.push(SubsetCheck {
            quasi_identifiers: members.iter().map(|&i| qi_names[i].clone()).collect(),
            classes: classes.len() as u64,
            smallest_class: classes.values().map(|c| c.0).min().unwrap_or(0),
            least_diversity: sensitive_names
                .iter()
                .enumerate()
                .map(|(a, name)| {
                    let least = classes.values().map(|c| c.1[a].len() as u64).min();
                    (name.clone(), least.unwrap_or(0))
                })
                .collect(),
        });
    }
    out
}

/// Where an extract goes by default.
pub fn default_dir(data_dir: &Path, name: &str) -> PathBuf {
    lantern_tables::outputs::extract_dir(data_dir, name)
}

/// Text of a sensitive value (null is a value of its own: "not recorded").
const NOT_RECORDED: &str = "not recorded";

/// Produces the extract of `spec` (whose text is `spec_text`) into `out`, which must not exist.
pub async fn extract(
    data_dir: &Path,
    files: &PipelineFiles,
    spec_text: &str,
    spec: &ExtractSpec,
    key: &SecretKey,
    out: &Path,
) -> Result<ExtractReport, DisclosureError> {
    if out.exists() {
        return Err(DisclosureError::Refused(format!(
            "{} exists: an extract is never overwritten (choose another --out)",
            out.display()
        )));
    }
    let pipeline: &PipelineSpec =
        lantern_pipelines::pipeline(&spec.pipeline).expect("parse_spec checked the pipeline");
    let qis = resolve(spec, files)?;
    let mut columns: Vec<String> = vec!["record_id".into()];
    columns.extend(spec.pseudonyms.iter().map(|p| p.column.clone()));
    for qi in &qis {
        columns.extend(qi.hierarchy.columns().iter().map(|c| c.to_string()));
    }
    columns.extend(spec.sensitive.iter().map(|s| s.column.clone()));
    let (batches, source) = source::read_facts(data_dir, pipeline, &columns, "true").await?;

    // Code every record's values.
    let mut interners: Vec<Vec<Interner>> = qis
        .iter()
        .map(|qi| qi.levels.iter().map(|_| Interner::default()).collect())
        .collect();
    let mut sensitive_interners: Vec<Interner> =
        spec.sensitive.iter().map(|_| Interner::default()).collect();
    let mut coded = Coded {
        qi: qis
            .iter()
            .map(|qi| vec![Vec::new(); qi.levels.len()])
            .collect(),
        names: Vec::new(),
        sensitive: vec![Vec::new(); spec.sensitive.len()],
        records: 0,
    };
    let mut pseudonyms: Vec<Vec<Option<String>>> = vec![Vec::new(); spec.pseudonyms.len()];
    let mut sensitive_text: Vec<Vec<String>> = vec![Vec::new(); spec.sensitive.len()];
    for batch in &batches {
        let qi_values: Vec<Vec<Vec<Option<String>>>> = qis
            .iter()
            .map(|qi| {
                qi.hierarchy
                    .columns()
                    .iter()
                    .map(|c| source::strings(batch, c))
                    .collect()
            })
            .collect();
        let ids: Vec<Vec<Option<String>>> = spec
            .pseudonyms
            .iter()
            .map(|p| source::strings(batch, &p.column))
            .collect();
        let sensitive: Vec<Vec<Option<String>>> = spec
            .sensitive
            .iter()
            .map(|s| source::strings(batch, &s.column))
            .collect();
        for row in 0..batch.num_rows() {
            for (i, qi) in qis.iter().enumerate() {
                let values: Vec<Option<String>> =
                    qi_values[i].iter().map(|c| c[row].clone()).collect();
                let ladder = qi.hierarchy.ladder(&values);
                for (j, &level) in qi.levels.iter().enumerate() {
                    coded.qi[i][j].push(interners[i][j].code(&ladder[level]));
                }
            }
            for (p, spec) in spec.pseudonyms.iter().enumerate() {
                pseudonyms[p].push(
                    ids[p][row]
                        .as_ref()
                        .map(|id| key.pseudonym(&spec.domain, id)),
                );
            }
            for (a, values) in sensitive.iter().enumerate() {
                let text = values[row].clone().unwrap_or_else(|| NOT_RECORDED.into());
                coded.sensitive[a].push(sensitive_interners[a].code(&text));
                sensitive_text[a].push(text);
            }
            coded.records += 1;
        }
    }
    coded.names = interners
        .into_iter()
        .map(|levels| levels.into_iter().map(|i| i.names).collect())
        .collect();
    if coded.records == 0 {
        return Err(DisclosureError::NoSource(format!(
            "pipeline {} has no live records to extract",
            spec.pipeline
        )));
    }

    // Search the lattice, lowest first; take the least-suppressing node of the lowest height
    // that passes.
    let budget = (spec.max_suppressed_share * coded.records as f64).floor() as u64;
    let sizes: Vec<usize> = qis.iter().map(|qi| qi.levels.len()).collect();
    let mut best: Option<Attempt> = None;
    let mut closest: Option<Attempt> = None;
    let mut passed_height = None;
    for node in lattice(&sizes) {
        let height: usize = node.iter().sum();
        if passed_height.is_some_and(|h| height > h) {
            break;
        }
        let attempt = attempt(&coded, &node, spec.k, spec.l);
        if attempt.touched <= budget {
            passed_height = Some(height);
            if best.as_ref().is_none_or(|b| attempt.touched < b.touched) {
                best = Some(attempt);
            }
        } else if closest.as_ref().is_none_or(|c| attempt.touched < c.touched) {
            closest = Some(attempt);
        }
    }
    let Some(best) = best else {
        let closest = closest.expect("the lattice has at least one node");
        return Err(DisclosureError::Refused(format!(
            "no generalisation of {:?} within the allowed levels reaches k = {} and l = {} while \
             suppressing at most {:.1}% of {} records: the closest, at levels {:?}, would touch \
             {} records ({:.1}%). Allow coarser levels, fewer quasi-identifiers or more \
             suppression.",
            spec.quasi_identifiers
                .iter()
                .map(|q| &q.name)
                .collect::<Vec<_>>(),
            spec.k,
            spec.l,
            spec.max_suppressed_share * 100.0,
            coded.records,
            level_names(spec, &qis, &closest.node),
            closest.touched,
            closest.touched as f64 * 100.0 / coded.records as f64,
        )));
    };

    // The released rows, ordered by their first pseudonym (never by source order).
    let q = qis.len();
    let text_of = |i: usize, r: usize| -> String {
        match best.tuples[r][i] {
            STAR => SUPPRESSED.to_string(),
            code => coded.names[i][best.node[i]][code as usize].clone(),
        }
    };
    let mut released: Vec<usize> = (0..coded.records).filter(|&r| best.live[r]).collect();
    released.sort_by(|&a, &b| {
        let key = |r: usize| pseudonyms.first().map(|p| p[r].clone());
        key(a).cmp(&key(b)).then(a.cmp(&b))
    });
    let qi_names: Vec<String> = spec
        .quasi_identifiers
        .iter()
        .map(|q| q.name.clone())
        .collect();
    let qi_columns: Vec<Vec<String>> = (0..q)
        .map(|i| released.iter().map(|&r| text_of(i, r)).collect())
        .collect();
    let sensitive_names: Vec<String> = spec.sensitive.iter().map(|s| s.column.clone()).collect();
    let sensitive_columns: Vec<Vec<String>> = sensitive_text
        .iter()
        .map(|column| released.iter().map(|&r| column[r].clone()).collect())
        .collect();
    let subsets = check_subsets(&qi_names, &qi_columns, &sensitive_names, &sensitive_columns);
    if let Some(failing) = subsets
        .iter()
        .find(|s| s.smallest_class < spec.k || s.least_diversity.values().any(|d| *d < spec.l))
    {
        // Unreachable when the search is right; checked anyway because it is the promise.
        return Err(DisclosureError::Refused(format!(
            "k or l fails over {:?}: smallest class {}, diversity {:?}",
            failing.quasi_identifiers, failing.smallest_class, failing.least_diversity
        )));
    }
    let full = subsets.last().expect("at least one quasi-identifier");
    let records_released = released.len() as u64;
    let report = ExtractReport {
        k_required: spec.k,
        l_required: spec.l,
        records_in_source: coded.records as u64,
        records_released,
        records_dropped: coded.records as u64 - records_released,
        values_suppressed: qi_names
            .iter()
            .cloned()
            .zip(best.suppressed.iter().copied())
            .collect(),
        generalisation: qi_names
            .iter()
            .cloned()
            .zip(level_names(spec, &qis, &best.node))
            .collect(),
        hierarchies: spec
            .quasi_identifiers
            .iter()
            .map(|q| (q.name.clone(), q.hierarchy.clone()))
            .collect(),
        k_reached: full.smallest_class,
        l_reached: full.least_diversity.clone(),
        classes: full.classes,
        max_reidentification_risk: 1.0 / full.smallest_class.max(1) as f64,
        average_reidentification_risk: full.classes as f64 / records_released.max(1) as f64,
        subsets,
    };

    // The data: pseudonyms, quasi-identifiers, sensitive attributes; nothing else.
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (p, spec) in spec.pseudonyms.iter().enumerate() {
        fields.push(Field::new(
            format!("{}_pseudonym", spec.column),
            DataType::Utf8,
            true,
        ));
        arrays.push(Arc::new(
            released
                .iter()
                .map(|&r| pseudonyms[p][r].clone())
                .collect::<StringArray>(),
        ));
    }
    for (name, column) in qi_names.iter().zip(&qi_columns) {
        fields.push(Field::new(name, DataType::Utf8, false));
        arrays.push(Arc::new(StringArray::from_iter_values(column)));
    }
    for (name, column) in sensitive_names.iter().zip(&sensitive_columns) {
        fields.push(Field::new(name, DataType::Utf8, false));
        arrays.push(Arc::new(StringArray::from_iter_values(column)));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    write(out, spec, spec_text, &batch, &report, source, key)?;
    Ok(report)
}

fn level_names(spec: &ExtractSpec, qis: &[ResolvedQi], node: &[usize]) -> Vec<String> {
    qis.iter()
        .zip(node)
        .zip(&spec.quasi_identifiers)
        .map(|((_, &i), q)| q.levels[i].clone())
        .collect()
}

fn write(
    out: &Path,
    spec: &ExtractSpec,
    spec_text: &str,
    batch: &RecordBatch,
    report: &ExtractReport,
    source: source::SourceInfo,
    key: &SecretKey,
) -> Result<(), DisclosureError> {
    let staging = out.with_extension("staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(DisclosureError::io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(DisclosureError::io(&staging))?;
    let mut files = manifest::write_data(&staging, &spec.name, batch)?;
    let spec_entry = manifest::write_file(&staging, SPEC_FILE, spec_text.as_bytes())?;
    files.push(spec_entry.clone());
    files.push(manifest::write_file(
        &staging,
        DATAPACKAGE_FILE,
        &manifest::json_bytes(&datapackage(spec, batch)),
    )?);
    files.push(manifest::write_file(
        &staging,
        REPORT_FILE,
        &manifest::json_bytes(report),
    )?);
    let rows = batch.num_rows() as u64;
    let manifest = OutputManifest {
        format: EXTRACT_FORMAT.to_string(),
        name: spec.name.clone(),
        vintage: None,
        code_version: manifest::code_version(),
        policy_file: SPEC_FILE.to_string(),
        policy_sha256: spec_entry.sha256,
        key_ids: vec![key.id()],
        source,
        rows: [
            (format!("{}.parquet", spec.name), rows),
            (format!("{}.csv", spec.name), rows),
        ]
        .into(),
        files,
        previous_manifest_sha256: None,
    };
    manifest::write_file(
        &staging,
        manifest::MANIFEST_FILE,
        &manifest::json_bytes(&manifest),
    )?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(DisclosureError::io(parent))?;
    }
    std::fs::rename(&staging, out).map_err(DisclosureError::io(out))
}

/// A Frictionless Data Package describing the extract's two data files.
fn datapackage(spec: &ExtractSpec, batch: &RecordBatch) -> serde_json::Value {
    let describe = |name: &str| -> String {
        if let Some(p) = spec
            .pseudonyms
            .iter()
            .find(|p| format!("{}_pseudonym", p.column) == name)
        {
            return format!(
                "Keyed pseudonym of {} (HMAC-SHA256, domain {:?}): equal values mean the same \
                 {}; it cannot be reversed without the key",
                p.column, p.domain, p.column
            );
        }
        if let Some(q) = spec.quasi_identifiers.iter().find(|q| q.name == name) {
            return format!(
                "Quasi-identifier, generalised along {} (levels {}); \"*\" means withheld",
                q.hierarchy,
                q.levels.join(" > ")
            );
        }
        format!("Sensitive attribute; \"{NOT_RECORDED}\" where the record has none")
    };
    let fields: Vec<serde_json::Value> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name(),
                "type": "string",
                "description": describe(f.name()),
            })
        })
        .collect();
    let resource = |format: &str, media: &str| {
        serde_json::json!({
            "name": format!("{}-{format}", spec.name.replace('_', "-")),
            "path": format!("{}.{format}", spec.name),
            "format": format,
            "mediatype": media,
            "schema": { "fields": fields.clone() },
        })
    };
    serde_json::json!({
        "profile": "tabular-data-package",
        "name": spec.name.replace('_', "-"),
        "title": spec.title,
        "description": format!(
            "Anonymised research extract: k = {}, l = {}. See report.json for what was \
             generalised and suppressed, and manifest.json for provenance.",
            spec.k, spec.l
        ),
        "resources": [
            resource("csv", "text/csv"),
            resource("parquet", "application/vnd.apache.parquet"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lattice_starts_at_the_finest_node() {
        let nodes = lattice(&[3, 2]);
        assert_eq!(nodes.len(), 6);
        assert_eq!(nodes[0], vec![0, 0]);
        assert_eq!(nodes.last().unwrap(), &vec![2, 1]);
    }

    #[test]
    fn risky_records_are_found_by_size_and_diversity() {
        let tuples = vec![vec![1], vec![1], vec![1], vec![2], vec![2], vec![2]];
        let live = vec![true; 6];
        let sensitive = vec![vec![0, 1, 0, 5, 5, 5]];
        assert_eq!(at_risk(&tuples, &live, &sensitive, 3, 2), vec![3, 4, 5]);
        assert_eq!(at_risk(&tuples, &live, &sensitive, 4, 1).len(), 6);
    }

    #[test]
    fn the_default_spec_parses() {
        let text = include_str!("../../../pipelines/disclosure/extracts/incidents_research.toml");
        let spec = parse_spec(text, "incidents_research.toml").unwrap();
        assert_eq!((spec.k, spec.l), (10, 2));
        let err = parse_spec(&text.replace("k = 10", "k = 1"), "x.toml").unwrap_err();
        assert!(err.to_string().contains("`k`"), "{err}");
    }
}
