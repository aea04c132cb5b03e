//! Types shared by more than one event kind, and the checks for the
//! envelope fields every event carries.

use serde::{Deserialize, Serialize};

use crate::check::{self, Check};
use crate::de::present;
use crate::error::SchemaError;
use crate::time::OccurredAt;

/// Where something happened. One Rust type serves incident `location` and
/// business `premises`; the schemas differ only in that `description` is
/// incident-only and `postcode` is premises-only, which each kind's
/// `validate()` enforces.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub lat: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub lon: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub lsoa_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub postcode: Option<String>,
    /// Incident-only: an opaque, pseudonymised address reference (the same address always has
    /// the same reference), so repeat victimisation of a place can be found without the address.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub address_reference: Option<String>,
}

/// Which of the kind-specific members a location may carry, and the JSON
/// pointers to report. The pointers are static so the hot path allocates
/// nothing for them.
#[derive(Clone, Copy)]
pub(crate) enum LocationRules {
    /// incident `location`: `description` allowed, `postcode` not.
    Incident,
    /// business `premises`: `postcode` allowed, `description` not.
    Premises,
}

struct Pointers {
    lat: &'static str,
    lon: &'static str,
    lsoa_code: &'static str,
    description: &'static str,
    postcode: &'static str,
    address_reference: &'static str,
}

impl LocationRules {
    fn pointers(self) -> &'static Pointers {
        match self {
            LocationRules::Incident => &Pointers {
                lat: "/location/lat",
                lon: "/location/lon",
                lsoa_code: "/location/lsoa_code",
                description: "/location/description",
                postcode: "/location/postcode",
                address_reference: "/location/address_reference",
            },
            LocationRules::Premises => &Pointers {
                lat: "/premises/lat",
                lon: "/premises/lon",
                lsoa_code: "/premises/lsoa_code",
                description: "/premises/description",
                postcode: "/premises/postcode",
                address_reference: "/premises/address_reference",
            },
        }
    }
}

impl Location {
    /// `(lat, lon)` when both are present. Validation guarantees they are
    /// either both present or both absent.
    pub fn point(&self) -> Option<(f64, f64)> {
        Some((self.lat?, self.lon?))
    }

    pub(crate) fn check(&self, rules: LocationRules) -> Check {
        let at = rules.pointers();
        match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                check::range(at.lat, lat, -90.0, 90.0)?;
                check::range(at.lon, lon, -180.0, 180.0)?;
            }
            (Some(_), None) => return Err(SchemaError::validate(at.lon, "lat requires lon")),
            (None, Some(_)) => return Err(SchemaError::validate(at.lat, "lon requires lat")),
            (None, None) => {}
        }
        if let Some(code) = &self.lsoa_code {
            check::pattern(at.lsoa_code, code, check::is_lsoa, check::LSOA)?;
        }
        match rules {
            LocationRules::Incident => {
                if self.postcode.is_some() {
                    return Err(SchemaError::validate(
                        at.postcode,
                        "postcode is only allowed on business premises",
                    ));
                }
                check::opt_length(at.description, self.description.as_deref(), 0, 200)?;
                check::opt_length(
                    at.address_reference,
                    self.address_reference.as_deref(),
                    1,
                    200,
                )
            }
            LocationRules::Premises => {
                if self.address_reference.is_some() {
                    return Err(SchemaError::validate(
                        at.address_reference,
                        "address_reference is only allowed on incident locations \
                         (a business is identified by business_ref)",
                    ));
                }
                if self.description.is_some() {
                    return Err(SchemaError::validate(
                        at.description,
                        "description is not allowed on business premises",
                    ));
                }
                check::opt_length(at.postcode, self.postcode.as_deref(), 0, 10)
            }
        }
    }
}

/// Lifecycle of a police-recorded incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Recorded,
    Reclassified,
    Cancelled,
    OutcomeUpdated,
}

impl IncidentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            IncidentStatus::Recorded => "recorded",
            IncidentStatus::Reclassified => "reclassified",
            IncidentStatus::Cancelled => "cancelled",
            IncidentStatus::OutcomeUpdated => "outcome_updated",
        }
    }
}

/// Lifecycle of a business-crime or cybercrime report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Reported,
    Updated,
    Withdrawn,
}

impl ReportStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportStatus::Reported => "reported",
            ReportStatus::Updated => "updated",
            ReportStatus::Withdrawn => "withdrawn",
        }
    }
}

/// Who the victim is. One enum for all kinds so consumers can aggregate
/// across them; `None` is incident-only (e.g. a victimless drugs offence),
/// `Organisation` is cybercrime-only. Each kind's `validate()` rejects the
/// value its schema does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VictimKind {
    Person,
    Business,
    None,
    Organisation,
}

impl VictimKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            VictimKind::Person => "person",
            VictimKind::Business => "business",
            VictimKind::None => "none",
            VictimKind::Organisation => "organisation",
        }
    }
}

/// Incident victim. `reference` is an opaque id, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Victim {
    pub kind: VictimKind,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<String>,
}

/// Incident markers. Absent means false, and false is not written back,
/// so an incident without flags encodes without a `flags` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    #[serde(default, skip_serializing_if = "is_false")]
    pub domestic_abuse: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hate_crime: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub online: bool,
}

impl Flags {
    pub(crate) fn is_default(&self) -> bool {
        *self == Flags::default()
    }
}

// serde's skip_serializing_if passes a reference.
fn is_false(b: &bool) -> bool {
    !*b
}

/// Where a cybercrime victim is, coarsely: never a precise point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VictimPlace {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub postcode_district: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub lsoa_code: Option<String>,
}

impl VictimPlace {
    pub(crate) fn check(&self) -> Check {
        if let Some(d) = &self.postcode_district {
            check::pattern(
                "/victim_place/postcode_district",
                d,
                check::is_postcode_district,
                check::POSTCODE_DISTRICT,
            )?;
        }
        if let Some(code) = &self.lsoa_code {
            check::pattern("/victim_place/lsoa_code", code, check::is_lsoa, check::LSOA)?;
        }
        Ok(())
    }
}

/// The envelope fields every kind carries, borrowed for checking.
pub(crate) struct Envelope<'a> {
    pub event_id: &'a str,
    pub schema_version: u32,
    pub source: &'a str,
    pub occurred_at: &'a OccurredAt,
    /// e.g. `/incident_id`
    pub record_id_field: &'static str,
    pub record_id: &'a str,
    pub version: u64,
}

/// The only schema version this crate decodes. A v2 gets its own types
/// and topic (see schemas/README.md), so this is a hard equality.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Largest record version: 2^53-1, the largest integer every JSON
/// implementation (JavaScript included) holds exactly.
pub(crate) const MAX_VERSION: u64 = (1 << 53) - 1;

impl Envelope<'_> {
    pub(crate) fn check(&self) -> Check {
        check::length("/event_id", self.event_id, 1, 200)?;
        if self.schema_version != SCHEMA_VERSION {
            return Err(SchemaError::validate(
                "/schema_version",
                format!("must be {SCHEMA_VERSION}, got {}", self.schema_version),
            ));
        }
        check::length("/source", self.source, 1, 100)?;
        if let OccurredAt::Range { start, end } = self.occurred_at
            && end < start
        {
            return Err(SchemaError::validate(
                "/occurred_at/end",
                "range end is before its start",
            ));
        }
        if let Err((suffix, reason)) = self.occurred_at.check_plausible(chrono::Utc::now()) {
            return Err(SchemaError::validate(
                format!("/occurred_at{suffix}"),
                reason,
            ));
        }
        check::length(self.record_id_field, self.record_id, 1, 200)?;
        if !(1..=MAX_VERSION).contains(&self.version) {
            return Err(SchemaError::validate(
                "/version",
                format!("must be in 1..={MAX_VERSION}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(json: &str) -> Location {
        serde_json::from_str(json).expect("test location decodes")
    }

    #[test]
    fn point_needs_both() {
        assert_eq!(
            loc(r#"{"lat":53.4,"lon":-2.2}"#).point(),
            Some((53.4, -2.2))
        );
        assert_eq!(loc(r#"{"lat":53.4}"#).point(), None);
        assert_eq!(loc(r#"{}"#).point(), None);
    }

    #[test]
    fn lat_and_lon_come_together() {
        let e = loc(r#"{"lat":53.4}"#)
            .check(LocationRules::Incident)
            .expect_err("lat alone");
        assert_eq!(e.field, "/location/lon");
        let e = loc(r#"{"lon":-2.2}"#)
            .check(LocationRules::Premises)
            .expect_err("lon alone");
        assert_eq!(e.field, "/premises/lat");
    }

    #[test]
    fn kind_specific_members() {
        let with_postcode = loc(r#"{"postcode":"M1 1AE"}"#);
        assert!(with_postcode.check(LocationRules::Premises).is_ok());
        let e = with_postcode
            .check(LocationRules::Incident)
            .expect_err("postcode");
        assert_eq!(e.field, "/location/postcode");

        let with_description = loc(r#"{"description":"On or near Oxford Road"}"#);
        assert!(with_description.check(LocationRules::Incident).is_ok());
        let e = with_description
            .check(LocationRules::Premises)
            .expect_err("description");
        assert_eq!(e.field, "/premises/description");
    }

    #[test]
    fn null_members_are_wrong_type() {
        assert!(serde_json::from_str::<Location>(r#"{"lat":null,"lon":null}"#).is_err());
        assert!(serde_json::from_str::<Victim>(r#"{"kind":"person","reference":null}"#).is_err());
    }

    #[test]
    fn flags_default_false_and_skip_when_false() {
        let f: Flags =
            serde_json::from_str(r#"{"online":true,"hate_crime":false}"#).expect("valid");
        assert_eq!(
            f,
            Flags {
                domestic_abuse: false,
                hate_crime: false,
                online: true
            }
        );
        assert_eq!(
            serde_json::to_string(&f).expect("ser"),
            r#"{"online":true}"#
        );
        assert!(serde_json::from_str::<Flags>(r#"{"online":null}"#).is_err());
        assert!(serde_json::from_str::<Flags>(r#"{"online":1}"#).is_err());
    }

    #[test]
    fn as_str_matches_serde() {
        for s in [
            IncidentStatus::Recorded,
            IncidentStatus::Reclassified,
            IncidentStatus::Cancelled,
            IncidentStatus::OutcomeUpdated,
        ] {
            assert_eq!(serde_json::to_value(s).expect("ser"), s.as_str());
        }
        for s in [
            ReportStatus::Reported,
            ReportStatus::Updated,
            ReportStatus::Withdrawn,
        ] {
            assert_eq!(serde_json::to_value(s).expect("ser"), s.as_str());
        }
        for k in [
            VictimKind::Person,
            VictimKind::Business,
            VictimKind::None,
            VictimKind::Organisation,
        ] {
            assert_eq!(serde_json::to_value(k).expect("ser"), k.as_str());
        }
    }
}
