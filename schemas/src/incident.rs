//! `incident` v1: a police-recorded crime or ASB incident, or a revision of
//! one. Contract: `schemas/incident/v1.schema.json`; topic
//! `lantern.incidents.v1`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Event;
use crate::check;
use crate::common::{Envelope, Flags, IncidentStatus, Location, LocationRules, Victim, VictimKind};
use crate::de::{integer_u32, integer_u64, nullable_object, object, present, present_object};
use crate::error::{SchemaError, decode_json};
use crate::time::{OccurredAt, rfc3339};

/// The 14 police.uk street-level crime categories, spelled exactly.
pub const CRIME_TYPES: [&str; 14] = [
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
];

/// ASB categories (Home Office ASB typology).
pub const ASB_CATEGORIES: [&str; 3] = ["personal", "nuisance", "environmental"];

/// What kind of property was targeted.
pub const PROPERTY_KINDS: [&str; 5] = [
    "dwelling",
    "business_premises",
    "vehicle",
    "personal_property",
    "online",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub event_id: String,
    #[serde(deserialize_with = "integer_u32")]
    pub schema_version: u32,
    pub source: String,
    pub occurred_at: OccurredAt,
    #[serde(with = "rfc3339")]
    pub reported_at: DateTime<Utc>,
    pub incident_id: String,
    #[serde(deserialize_with = "integer_u64")]
    pub version: u64,
    pub status: IncidentStatus,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub offence_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub crime_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub asb_category: Option<String>,
    /// The one nullable member: police.uk publishes some crimes with no
    /// location, and producers pass that through as `null`.
    #[serde(
        default,
        deserialize_with = "nullable_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<Location>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub premises_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub property: Option<String>,
    #[serde(
        default,
        deserialize_with = "present_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub victim: Option<Victim>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Flags::is_default"
    )]
    pub flags: Flags,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub outcome: Option<String>,
}

impl Incident {
    /// Enforce every schema constraint that serde's shape check does not.
    /// `decode` calls this; producers building events in Rust should too.
    pub fn validate(&self) -> Result<(), SchemaError> {
        Envelope {
            event_id: &self.event_id,
            schema_version: self.schema_version,
            source: &self.source,
            occurred_at: &self.occurred_at,
            record_id_field: "/incident_id",
            record_id: &self.incident_id,
            version: self.version,
        }
        .check()?;

        // Without a classification the record cannot be counted anywhere.
        if self.offence_code.is_none() && self.crime_type.is_none() && self.asb_category.is_none() {
            return Err(SchemaError::validate(
                "",
                "at least one of offence_code, crime_type, asb_category is required",
            ));
        }
        if let Some(code) = &self.offence_code {
            check::pattern(
                "/offence_code",
                code,
                check::is_offence_code,
                check::OFFENCE_CODE,
            )?;
        }
        if let Some(t) = &self.crime_type {
            check::one_of("/crime_type", t, &CRIME_TYPES)?;
        }
        if let Some(c) = &self.asb_category {
            check::one_of("/asb_category", c, &ASB_CATEGORIES)?;
        }
        if let Some(location) = &self.location {
            location.check(LocationRules::Incident)?;
        }
        if let Some(p) = &self.premises_type {
            check::pattern("/premises_type", p, check::is_slug, check::SLUG)?;
        }
        if let Some(p) = &self.property {
            check::one_of("/property", p, &PROPERTY_KINDS)?;
        }
        if let Some(victim) = &self.victim {
            if victim.kind == VictimKind::Organisation {
                return Err(SchemaError::validate(
                    "/victim/kind",
                    "`organisation` is not an incident victim kind (person, business, none)",
                ));
            }
            check::opt_length("/victim/reference", victim.reference.as_deref(), 1, 200)?;
        }
        check::opt_length("/outcome", self.outcome.as_deref(), 0, 200)
    }
}

impl Event for Incident {
    const KIND: &'static str = "incident";

    fn decode(bytes: &[u8]) -> Result<Self, SchemaError> {
        let incident: Incident = decode_json(bytes)?;
        incident.validate()?;
        Ok(incident)
    }

    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn record_id(&self) -> &str {
        &self.incident_id
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn event_time(&self) -> DateTime<Utc> {
        self.occurred_at.event_time()
    }

    fn reported_at(&self) -> DateTime<Utc> {
        self.reported_at
    }

    fn source(&self) -> &str {
        &self.source
    }

    fn status(&self) -> &'static str {
        self.status.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Stage;
    use serde_json::{Value, json};

    fn base() -> Value {
        json!({
            "event_id": "rms:INC-1:1",
            "schema_version": 1,
            "source": "rms",
            "occurred_at": "2024-03-01T22:15:00Z",
            "reported_at": "2024-03-01T22:40:00Z",
            "incident_id": "INC-1",
            "version": 1,
            "status": "recorded",
            "crime_type": "Burglary"
        })
    }

    fn decode(v: &Value) -> Result<Incident, SchemaError> {
        Incident::decode(&serde_json::to_vec(v).expect("ser"))
    }

    fn with(mut v: Value, pointer: &str, new: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let target = if parent.is_empty() {
            &mut v
        } else {
            v.pointer_mut(parent).expect("parent exists")
        };
        target
            .as_object_mut()
            .expect("object")
            .insert(key.to_owned(), new);
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().expect("object").remove(key);
        v
    }

    fn rejects(v: &Value, stage: Stage, field: &str) {
        let e = decode(v).expect_err("should be rejected");
        assert_eq!((e.stage, e.field.as_str()), (stage, field), "{e}");
    }

    #[test]
    fn base_is_valid() {
        let i = decode(&base()).expect("valid");
        assert_eq!(i.record_id(), "INC-1");
        assert_eq!(i.flags, Flags::default());
    }

    #[test]
    fn any_one_classification_is_enough() {
        let none = without(base(), "crime_type");
        rejects(&none, Stage::Validate, "");
        for (k, v) in [
            ("offence_code", "28E"),
            ("crime_type", "Drugs"),
            ("asb_category", "nuisance"),
        ] {
            assert!(
                decode(&with(none.clone(), &format!("/{k}"), json!(v))).is_ok(),
                "{k}"
            );
        }
    }

    #[test]
    fn crime_type_is_case_sensitive() {
        rejects(
            &with(base(), "/crime_type", json!("burglary")),
            Stage::Validate,
            "/crime_type",
        );
    }

    #[test]
    fn range_end_before_start_is_rejected_but_equal_is_fine() {
        let r = |s: &str, e: &str| with(base(), "/occurred_at", json!({"start": s, "end": e}));
        rejects(
            &r("2024-03-02T07:00:00Z", "2024-03-01T22:00:00Z"),
            Stage::Validate,
            "/occurred_at/end",
        );
        assert!(decode(&r("2024-03-01T22:00:00Z", "2024-03-01T22:00:00Z")).is_ok());
        // Comparison is on instants, not on the offset-bearing text.
        assert!(decode(&r("2024-03-01T23:00:00+01:00", "2024-03-01T22:30:00Z")).is_ok());
    }

    #[test]
    fn location_null_absent_and_empty() {
        assert_eq!(
            decode(&with(base(), "/location", Value::Null))
                .expect("null")
                .location,
            None
        );
        assert_eq!(decode(&base()).expect("absent").location, None);
        let empty = decode(&with(base(), "/location", json!({}))).expect("empty");
        assert_eq!(empty.location, Some(Location::default()));
    }

    #[test]
    fn location_rules() {
        rejects(
            &with(base(), "/location", json!({"lat": 91.0, "lon": 0.0})),
            Stage::Validate,
            "/location/lat",
        );
        rejects(
            &with(base(), "/location", json!({"lat": 0.0, "lon": -180.5})),
            Stage::Validate,
            "/location/lon",
        );
        rejects(
            &with(base(), "/location", json!({"lat": 53.0})),
            Stage::Validate,
            "/location/lon",
        );
        rejects(
            &with(base(), "/location", json!({"postcode": "M1 1AE"})),
            Stage::Validate,
            "/location/postcode",
        );
        rejects(
            &with(base(), "/location", json!({"lsoa_code": "E0100000"})),
            Stage::Validate,
            "/location/lsoa_code",
        );
        rejects(
            &with(base(), "/location", json!({"lat": "53.0", "lon": 1})),
            Stage::Decode,
            "/location/lat",
        );
        rejects(
            &with(base(), "/location", json!({"x": 1})),
            Stage::Decode,
            "/location/x",
        );
    }

    #[test]
    fn victim_kind_allowed_per_kind() {
        rejects(
            &with(base(), "/victim", json!({"kind": "organisation"})),
            Stage::Validate,
            "/victim/kind",
        );
        assert!(decode(&with(base(), "/victim", json!({"kind": "none"}))).is_ok());
        rejects(
            &with(
                base(),
                "/victim",
                json!({"kind": "person", "reference": ""}),
            ),
            Stage::Validate,
            "/victim/reference",
        );
        rejects(
            &with(base(), "/victim", json!({"reference": "V1"})),
            Stage::Decode,
            "/victim/kind",
        );
    }

    #[test]
    fn decode_errors_name_the_field() {
        rejects(&without(base(), "event_id"), Stage::Decode, "/event_id");
        rejects(
            &with(base(), "/surprise", json!(true)),
            Stage::Decode,
            "/surprise",
        );
        rejects(
            &with(base(), "/status", json!("closed")),
            Stage::Decode,
            "/status",
        );
        rejects(
            &with(base(), "/offence_code", Value::Null),
            Stage::Decode,
            "/offence_code",
        );
        rejects(
            &with(base(), "/reported_at", json!("2024-03-01 22:40:00Z")),
            Stage::Decode,
            "/reported_at",
        );
        rejects(
            &with(
                base(),
                "/occurred_at",
                json!({"start": "2024-03-01T22:00:00Z"}),
            ),
            Stage::Decode,
            "/occurred_at/end",
        );
        rejects(
            &with(base(), "/flags", json!({"online": "yes"})),
            Stage::Decode,
            "/flags/online",
        );
        rejects(
            &with(base(), "/version", json!(-1)),
            Stage::Decode,
            "/version",
        );
        let e = Incident::decode(b"not json").expect_err("not json");
        assert_eq!((e.stage, e.field.as_str()), (Stage::Decode, ""));
        // Arrays are never structs, at the top or nested (serde would take
        // them positionally).
        assert!(Incident::decode(b"[]").is_err());
        rejects(
            &with(base(), "/location", json!([53.0, -2.0])),
            Stage::Decode,
            "/location",
        );
        rejects(
            &with(base(), "/victim", json!(["person"])),
            Stage::Decode,
            "/victim",
        );
        rejects(
            &with(base(), "/flags", json!([true])),
            Stage::Decode,
            "/flags",
        );
        // Nothing may follow the object.
        let mut trailing = serde_json::to_vec(&base()).expect("ser");
        trailing.extend_from_slice(b" {}");
        let e = Incident::decode(&trailing).expect_err("trailing");
        assert_eq!((e.stage, e.field.as_str()), (Stage::Decode, ""));
    }

    #[test]
    fn envelope_rules() {
        rejects(
            &with(base(), "/schema_version", json!(2)),
            Stage::Validate,
            "/schema_version",
        );
        rejects(
            &with(base(), "/version", json!(0)),
            Stage::Validate,
            "/version",
        );
        rejects(
            &with(base(), "/event_id", json!("")),
            Stage::Validate,
            "/event_id",
        );
        rejects(
            &with(base(), "/event_id", json!("x".repeat(201))),
            Stage::Validate,
            "/event_id",
        );
        assert!(decode(&with(base(), "/event_id", json!("é".repeat(200)))).is_ok());
        rejects(
            &with(base(), "/source", json!("s".repeat(101))),
            Stage::Validate,
            "/source",
        );
        rejects(
            &with(base(), "/incident_id", json!("")),
            Stage::Validate,
            "/incident_id",
        );
        assert!(decode(&with(base(), "/version", json!(9_007_199_254_740_991_u64))).is_ok());
        rejects(
            &with(base(), "/version", json!(9_007_199_254_740_992_u64)),
            Stage::Validate,
            "/version",
        );
        // JSON Schema treats 2.0 as an integer, so must we.
        assert_eq!(
            decode(&with(base(), "/version", json!(2.0)))
                .expect("2.0")
                .version,
            2
        );
    }

    #[test]
    fn other_field_rules() {
        rejects(
            &with(base(), "/offence_code", json!("28e")),
            Stage::Validate,
            "/offence_code",
        );
        rejects(
            &with(base(), "/premises_type", json!("Car Park")),
            Stage::Validate,
            "/premises_type",
        );
        rejects(
            &with(base(), "/property", json!("house")),
            Stage::Validate,
            "/property",
        );
        rejects(
            &with(base(), "/asb_category", json!("rowdy")),
            Stage::Validate,
            "/asb_category",
        );
        rejects(
            &with(base(), "/outcome", json!("o".repeat(201))),
            Stage::Validate,
            "/outcome",
        );
        assert!(decode(&with(base(), "/outcome", json!(""))).is_ok());
    }

    #[test]
    fn explicit_false_flags_are_dropped_on_encode() {
        let i = decode(&with(base(), "/flags", json!({"domestic_abuse": false}))).expect("valid");
        assert_eq!(serde_json::to_value(&i).expect("ser"), base());
    }
}
