//! `business-crime` v1: a crime reported by a business (e.g. via a Business
//! Crime Reduction Partnership app), whether or not police were told.
//! Contract: `schemas/business-crime/v1.schema.json`; topic
//! `lantern.business-crime.v1`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Event;
use crate::check;
use crate::common::{Envelope, Location, LocationRules, ReportStatus};
use crate::de::{integer_u32, integer_u64, object, present};
use crate::error::{SchemaError, decode_json};
use crate::time::{OccurredAt, rfc3339};

/// What happened to the business.
pub const INCIDENT_TYPES: [&str; 7] = [
    "shoplifting",
    "abuse_violence_staff",
    "burglary",
    "criminal_damage",
    "robbery",
    "fraud",
    "other",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessCrime {
    pub event_id: String,
    #[serde(deserialize_with = "integer_u32")]
    pub schema_version: u32,
    pub source: String,
    pub occurred_at: OccurredAt,
    #[serde(with = "rfc3339")]
    pub reported_at: DateTime<Utc>,
    pub report_id: String,
    #[serde(deserialize_with = "integer_u64")]
    pub version: u64,
    pub status: ReportStatus,
    pub business_ref: String,
    pub sector: String,
    /// Required, but every member is optional: `{}` means "location not
    /// given", which is still a valid report.
    #[serde(deserialize_with = "object")]
    pub premises: Location,
    pub incident_type: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub loss_value: Option<f64>,
    pub reported_to_police: bool,
    /// Nullable: the reporting apps send `null` until a crime number exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police_reference: Option<String>,
}

impl BusinessCrime {
    /// Enforce every schema constraint that serde's shape check does not.
    pub fn validate(&self) -> Result<(), SchemaError> {
        Envelope {
            event_id: &self.event_id,
            schema_version: self.schema_version,
            source: &self.source,
            occurred_at: &self.occurred_at,
            record_id_field: "/report_id",
            record_id: &self.report_id,
            version: self.version,
        }
        .check()?;
        check::length("/business_ref", &self.business_ref, 1, 200)?;
        check::pattern("/sector", &self.sector, check::is_slug, check::SLUG)?;
        self.premises.check(LocationRules::Premises)?;
        check::one_of("/incident_type", &self.incident_type, &INCIDENT_TYPES)?;
        if let Some(loss) = self.loss_value {
            check::range("/loss_value", loss, 0.0, crate::MAX_LOSS_GBP)?;
        }
        check::opt_length(
            "/police_reference",
            self.police_reference.as_deref(),
            1,
            100,
        )
    }
}

impl Event for BusinessCrime {
    const KIND: &'static str = "business-crime";

    fn decode(bytes: &[u8]) -> Result<Self, SchemaError> {
        let report: BusinessCrime = decode_json(bytes)?;
        report.validate()?;
        Ok(report)
    }

    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn record_id(&self) -> &str {
        &self.report_id
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
            "event_id": "bcrp:R-1:1",
            "schema_version": 1,
            "source": "bcrp-app",
            "occurred_at": "2024-03-01T14:05:00Z",
            "reported_at": "2024-03-01T14:30:00Z",
            "report_id": "R-1",
            "version": 1,
            "status": "reported",
            "business_ref": "BIZ-42",
            "sector": "convenience_store",
            "premises": {},
            "incident_type": "shoplifting",
            "reported_to_police": false
        })
    }

    fn rejects(v: Value, stage: Stage, field: &str) {
        let e = BusinessCrime::decode(&serde_json::to_vec(&v).expect("ser"))
            .expect_err("should be rejected");
        assert_eq!((e.stage, e.field.as_str()), (stage, field), "{e}");
    }

    fn set(mut v: Value, key: &str, new: Value) -> Value {
        v.as_object_mut()
            .expect("object")
            .insert(key.to_owned(), new);
        v
    }

    fn ok(v: Value) -> BusinessCrime {
        BusinessCrime::decode(&serde_json::to_vec(&v).expect("ser")).expect("valid")
    }

    #[test]
    fn base_is_valid() {
        let r = ok(base());
        assert_eq!(r.premises.point(), None);
        assert_eq!(r.record_id(), "R-1");
    }

    #[test]
    fn premises_rules() {
        let r = ok(set(
            base(),
            "premises",
            json!({"lat": 53.48, "lon": -2.24, "postcode": "M1 1AE"}),
        ));
        assert_eq!(r.premises.point(), Some((53.48, -2.24)));
        rejects(
            set(base(), "premises", json!({"postcode": "M1 1AE XXXX"})),
            Stage::Validate,
            "/premises/postcode",
        );
        rejects(
            set(base(), "premises", json!({"description": "x"})),
            Stage::Validate,
            "/premises/description",
        );
        rejects(
            set(base(), "premises", json!({"lon": 1.0})),
            Stage::Validate,
            "/premises/lat",
        );
        rejects(
            set(base(), "premises", Value::Null),
            Stage::Decode,
            "/premises",
        );
    }

    #[test]
    fn loss_and_police_reference() {
        assert_eq!(
            ok(set(base(), "loss_value", json!(0))).loss_value,
            Some(0.0)
        );
        rejects(
            set(base(), "loss_value", json!(-0.01)),
            Stage::Validate,
            "/loss_value",
        );
        rejects(
            set(base(), "loss_value", Value::Null),
            Stage::Decode,
            "/loss_value",
        );
        assert_eq!(
            ok(set(base(), "police_reference", Value::Null)).police_reference,
            None
        );
        rejects(
            set(base(), "police_reference", json!("")),
            Stage::Validate,
            "/police_reference",
        );
        rejects(
            set(base(), "police_reference", json!("p".repeat(101))),
            Stage::Validate,
            "/police_reference",
        );
    }

    #[test]
    fn closed_sets() {
        rejects(
            set(base(), "incident_type", json!("theft")),
            Stage::Validate,
            "/incident_type",
        );
        rejects(
            set(base(), "sector", json!("Convenience Store")),
            Stage::Validate,
            "/sector",
        );
        rejects(
            set(base(), "status", json!("cancelled")),
            Stage::Decode,
            "/status",
        );
        rejects(
            set(base(), "reported_to_police", json!("no")),
            Stage::Decode,
            "/reported_to_police",
        );
    }
}
