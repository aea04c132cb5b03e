//! Property type: what kind of property a crime targeted.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::EnrichError;
use crate::table::{Fold, Table, folded, with_folded};
use lantern_pipelines::PipelineFiles;

pub const OFFENCE_CODES_FILE: &str = "reference/property/offence_codes.csv";
pub const CRIME_TYPES_FILE: &str = "reference/property/crime_types.csv";
pub const PREMISES_TYPES_FILE: &str = "reference/property/premises_types.csv";
pub const BUSINESS_INCIDENT_TYPES_FILE: &str = "reference/property/business_incident_types.csv";
pub const NFIB_CODES_FILE: &str = "reference/property/nfib_codes.csv";

/// The NFIB group reported for codes that are not in `property/nfib_codes.csv` and do not
/// belong to a known numbered group.
pub const UNKNOWN_NFIB_GROUP: &str = "unknown";

/// Kind of property targeted by a crime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    /// Residential dwelling (house, flat, domestic garage or outbuilding).
    Dwelling,
    /// Business and community premises (shops, offices, schools, hospitals, ...).
    BusinessPremises,
    /// Motor vehicle.
    Vehicle,
    /// Property carried by a person: phones, bags, bicycles, cash.
    PersonalProperty,
    /// Online / digital: accounts, data, systems.
    Online,
    /// The offence has no property target (violence, public order, drugs, weapons, ...).
    None,
    /// The offence may target property but the record does not say which kind.
    Unknown,
}

impl PropertyType {
    pub const ALL: [PropertyType; 7] = [
        PropertyType::Dwelling,
        PropertyType::BusinessPremises,
        PropertyType::Vehicle,
        PropertyType::PersonalProperty,
        PropertyType::Online,
        PropertyType::None,
        PropertyType::Unknown,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PropertyType::Dwelling => "dwelling",
            PropertyType::BusinessPremises => "business_premises",
            PropertyType::Vehicle => "vehicle",
            PropertyType::PersonalProperty => "personal_property",
            PropertyType::Online => "online",
            PropertyType::None => "none",
            PropertyType::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for PropertyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PropertyType {
    type Err = EnrichError;

    /// Parses the `as_str` names, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        PropertyType::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| EnrichError::UnknownPropertyType(s.to_owned()))
    }
}

/// The fields of an incident that bear on its property type. Blank strings count as absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct PropertyInput<'a> {
    /// Home Office offence code, e.g. "28E".
    pub offence_code: Option<&'a str>,
    /// police.uk crime type, e.g. "Burglary" (any ASCII case).
    pub crime_type: Option<&'a str>,
    /// Premises type, e.g. "dwelling", "shop" (see `property/premises_types.csv`).
    pub premises_type: Option<&'a str>,
    /// An explicit property type carried by the event (one of the `PropertyType` names).
    pub property_hint: Option<&'a str>,
    /// The event says the offence was committed online.
    pub online_flag: bool,
}

#[derive(Debug)]
struct OffenceRule {
    crime_type: Arc<str>,
    property: PropertyType,
}

#[derive(Debug)]
struct CrimeTypeRule {
    name: Arc<str>,
    property: PropertyType,
    premises_dependent: bool,
}

#[derive(Debug)]
struct NfibRule {
    group: Arc<str>,
    description: Arc<str>,
    property: PropertyType,
}

/// Property-type rules and code tables from `pipelines/reference/property/`.
#[derive(Debug)]
pub struct PropertyRules {
    /// Upper-case offence code → rule.
    offences: HashMap<String, OffenceRule>,
    /// Lower-case crime type → rule.
    crime_types: HashMap<String, CrimeTypeRule>,
    /// Snake-case premises type → property type (`None` = the premises gives no opinion).
    premises: HashMap<String, Option<PropertyType>>,
    /// Snake-case business incident type → property type.
    business: HashMap<String, PropertyType>,
    /// Upper-case NFIB code → rule.
    nfib: HashMap<String, NfibRule>,
    /// Known NFIB groups by name ("NFIB52").
    nfib_groups: HashMap<String, Arc<str>>,
    unknown_group: Arc<str>,
}

fn parse_property(v: &str) -> Result<PropertyType, String> {
    v.parse::<PropertyType>().map_err(|e| e.to_string())
}

fn non_empty<'r>(rec: &'r csv::StringRecord, col: usize, what: &str) -> Result<&'r str, String> {
    let v = rec[col].trim();
    if v.is_empty() {
        Err(format!("empty {what}"))
    } else {
        Ok(v)
    }
}

/// Trimmed, non-blank value.
fn present(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// "NFIB52C" → "NFIB52": the `NFIB` prefix and the digits that follow it.
fn nfib_group_prefix(code: &str) -> Option<&str> {
    let rest = code.strip_prefix("NFIB")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| &code[..4 + digits])
}

impl PropertyRules {
    /// Loads the five `reference/property/*.csv` tables.
    pub fn load(files: &PipelineFiles) -> Result<Self, EnrichError> {
        // Crime types first: the offence table's categories are checked against them.
        let mut crime_types = HashMap::new();
        let mut t = Table::open(files, CRIME_TYPES_FILE)?;
        let (c_ct, c_pt, c_pd) = (
            t.column("crime_type")?,
            t.column("property_type")?,
            t.column("premises_dependent")?,
        );
        t.for_each(|rec| {
            let name = non_empty(rec, c_ct, "crime_type")?;
            let property = parse_property(&rec[c_pt])?;
            let premises_dependent = match rec[c_pd].trim() {
                "true" => true,
                "false" => false,
                v => return Err(format!("premises_dependent {v:?} must be true or false")),
            };
            let rule = CrimeTypeRule {
                name: Arc::from(name),
                property,
                premises_dependent,
            };
            if crime_types
                .insert(folded(name, Fold::Lower), rule)
                .is_some()
            {
                return Err(format!("duplicate crime_type {name:?}"));
            }
            Ok(())
        })?;

        let mut offences = HashMap::new();
        let mut t = Table::open(files, OFFENCE_CODES_FILE)?;
        let (c_code, c_cat, c_pt) = (
            t.column("offence_code")?,
            t.column("police_uk_category")?,
            t.column("property_type")?,
        );
        t.column("offence_description")?;
        t.column("offence_subgroup")?;
        t.for_each(|rec| {
            let code = non_empty(rec, c_code, "offence_code")?;
            let cat = non_empty(rec, c_cat, "police_uk_category")?;
            let crime_type = match crime_types.get(&folded(cat, Fold::Lower)) {
                Some(rule) => rule.name.clone(),
                None => {
                    return Err(format!(
                        "police_uk_category {cat:?} is not a crime type of {CRIME_TYPES_FILE}"
                    ));
                }
            };
            let property = parse_property(&rec[c_pt])?;
            let rule = OffenceRule {
                crime_type,
                property,
            };
            if offences.insert(folded(code, Fold::Upper), rule).is_some() {
                return Err(format!("duplicate offence_code {code:?}"));
            }
            Ok(())
        })?;

        let mut premises = HashMap::new();
        let mut t = Table::open(files, PREMISES_TYPES_FILE)?;
        let (c_pr, c_pt) = (t.column("premises_type")?, t.column("property_type")?);
        t.for_each(|rec| {
            let name = non_empty(rec, c_pr, "premises_type")?;
            let v = rec[c_pt].trim();
            let property = if v.is_empty() {
                None
            } else {
                Some(parse_property(v)?)
            };
            if premises
                .insert(folded(name, Fold::Snake), property)
                .is_some()
            {
                return Err(format!("duplicate premises_type {name:?}"));
            }
            Ok(())
        })?;

        let mut business = HashMap::new();
        let mut t = Table::open(files, BUSINESS_INCIDENT_TYPES_FILE)?;
        let (c_it, c_pt) = (t.column("incident_type")?, t.column("property_type")?);
        t.column("label")?;
        t.for_each(|rec| {
            let name = non_empty(rec, c_it, "incident_type")?;
            let property = parse_property(&rec[c_pt])?;
            if business
                .insert(folded(name, Fold::Snake), property)
                .is_some()
            {
                return Err(format!("duplicate incident_type {name:?}"));
            }
            Ok(())
        })?;

        let mut nfib = HashMap::new();
        let mut nfib_groups: HashMap<String, Arc<str>> = HashMap::new();
        let mut t = Table::open(files, NFIB_CODES_FILE)?;
        let (c_fc, c_gr, c_de, c_pt) = (
            t.column("fraud_code")?,
            t.column("group")?,
            t.column("description")?,
            t.column("property_type")?,
        );
        t.for_each(|rec| {
            let code = folded(non_empty(rec, c_fc, "fraud_code")?, Fold::Upper);
            let group = folded(non_empty(rec, c_gr, "group")?, Fold::Upper);
            if group.eq_ignore_ascii_case(UNKNOWN_NFIB_GROUP) {
                return Err(format!("group {UNKNOWN_NFIB_GROUP:?} is reserved"));
            }
            let group = nfib_groups
                .entry(group.clone())
                .or_insert_with(|| Arc::from(group.as_str()))
                .clone();
            let rule = NfibRule {
                group,
                description: Arc::from(rec[c_de].trim()),
                property: parse_property(&rec[c_pt])?,
            };
            if nfib.insert(code.clone(), rule).is_some() {
                return Err(format!("duplicate fraud_code {code:?}"));
            }
            Ok(())
        })?;

        Ok(Self {
            offences,
            crime_types,
            premises,
            business,
            nfib,
            nfib_groups,
            unknown_group: Arc::from(UNKNOWN_NFIB_GROUP),
        })
    }

    fn offence(&self, code: &str) -> Option<&OffenceRule> {
        with_folded(code, Fold::Upper, |c| self.offences.get(c)).flatten()
    }

    fn crime_type_rule(&self, crime_type: &str) -> Option<&CrimeTypeRule> {
        with_folded(crime_type, Fold::Lower, |c| self.crime_types.get(c)).flatten()
    }

    /// police.uk crime type of a Home Office offence code (from `offence_codes.csv`).
    pub fn crime_type_for_offence(&self, offence_code: &str) -> Option<Arc<str>> {
        self.offence(offence_code).map(|r| r.crime_type.clone())
    }

    /// Property type that the offence code table assigns to a code (`None` if the code is unknown).
    pub fn offence_property(&self, offence_code: &str) -> Option<PropertyType> {
        self.offence(offence_code).map(|r| r.property)
    }

    /// The police.uk spelling of a crime type given in any ASCII case
    /// ("Violence and Sexual Offences" → "Violence and sexual offences").
    pub fn canonical_crime_type(&self, crime_type: &str) -> Option<Arc<str>> {
        self.crime_type_rule(crime_type).map(|r| r.name.clone())
    }

    /// Property type of an incident. The first rule that gives an answer wins:
    ///
    /// 1. the offence code table (`offence_codes.csv`) gives a *decisive* type (anything
    ///    but `unknown`, so `none` is decisive) → that type;
    /// 2. the event's explicit `property_hint` parses to a type other than `unknown` → that
    ///    type (an unparseable hint is ignored);
    /// 3. the crime type (the event's, or else the offence code's police.uk category) is
    ///    `premises_dependent` in `crime_types.csv` and the premises type maps to a type in
    ///    `premises_types.csv` (blank there = no opinion) → that type;
    /// 4. the crime type's default type, if it is not `unknown`;
    /// 5. `online_flag` is set → `online`. Only `unknown` is upgraded: an offence already
    ///    typed `none` (e.g. harassment committed online) stays `none`, because it has no
    ///    property target at all;
    /// 6. `unknown`.
    pub fn incident_property(&self, input: &PropertyInput) -> PropertyType {
        let offence = present(input.offence_code).and_then(|c| self.offence(c));
        // 1. decisive offence code
        if let Some(rule) = offence
            && rule.property != PropertyType::Unknown
        {
            return rule.property;
        }
        // 2. explicit hint
        if let Some(hint) = present(input.property_hint)
            && let Ok(p) = hint.parse::<PropertyType>()
            && p != PropertyType::Unknown
        {
            return p;
        }
        let crime_type = present(input.crime_type)
            .and_then(|c| self.crime_type_rule(c))
            .or_else(|| offence.and_then(|o| self.crime_type_rule(&o.crime_type)));
        if let Some(ct) = crime_type {
            // 3. premises, for premises-dependent crime types
            if ct.premises_dependent
                && let Some(Some(p)) = present(input.premises_type)
                    .and_then(|p| with_folded(p, Fold::Snake, |k| self.premises.get(k).copied()))
                    .flatten()
            {
                return p;
            }
            // 4. crime type default
            if ct.property != PropertyType::Unknown {
                return ct.property;
            }
        }
        // 5. online flag upgrades unknown only
        if input.online_flag {
            return PropertyType::Online;
        }
        // 6.
        PropertyType::Unknown
    }

    /// Property type of a business-crime incident type (`business_incident_types.csv`);
    /// `unknown` for a type not in the table.
    pub fn business_property(&self, incident_type: &str) -> PropertyType {
        with_folded(incident_type, Fold::Snake, |k| {
            self.business.get(k).copied()
        })
        .flatten()
        .unwrap_or(PropertyType::Unknown)
    }

    /// NFIB group of a fraud / computer-misuse code ("NFIB52C" → "NFIB52").
    ///
    /// A code in `nfib_codes.csv` gets its group from the table. A code not in the table
    /// whose `NFIB<digits>` prefix is a known group (e.g. "NFIB52F") gets that group, since
    /// NFIB codes are numbered within their group; anything else gets
    /// [`UNKNOWN_NFIB_GROUP`]. Callers should still count such codes under their own code.
    pub fn nfib_group(&self, fraud_code: &str) -> Arc<str> {
        with_folded(fraud_code, Fold::Upper, |c| {
            if let Some(rule) = self.nfib.get(c) {
                return Some(rule.group.clone());
            }
            nfib_group_prefix(c).and_then(|g| self.nfib_groups.get(g).cloned())
        })
        .flatten()
        .unwrap_or_else(|| self.unknown_group.clone())
    }

    /// `true` if the fraud code is listed in `nfib_codes.csv`.
    pub fn nfib_known(&self, fraud_code: &str) -> bool {
        with_folded(fraud_code, Fold::Upper, |c| self.nfib.contains_key(c)).unwrap_or(false)
    }

    /// Description of a listed NFIB code.
    pub fn nfib_description(&self, fraud_code: &str) -> Option<Arc<str>> {
        with_folded(fraud_code, Fold::Upper, |c| {
            self.nfib.get(c).map(|r| r.description.clone())
        })
        .flatten()
    }

    /// Property type of an NFIB code: the table's for a listed code, `unknown` otherwise.
    pub fn nfib_property(&self, fraud_code: &str) -> PropertyType {
        with_folded(fraud_code, Fold::Upper, |c| {
            self.nfib.get(c).map(|r| r.property)
        })
        .flatten()
        .unwrap_or(PropertyType::Unknown)
    }
}
