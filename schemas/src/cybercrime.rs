//! `cybercrime-report` v1: a fraud or cyber-dependent crime report (Action
//! Fraud / NFIB style). Contract: `schemas/cybercrime-report/v1.schema.json`;
//! topic `lantern.cybercrime-reports.v1`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Event;
use crate::check;
use crate::common::{Envelope, ReportStatus, VictimKind, VictimPlace};
use crate::de::{integer_u32, integer_u64, object, present};
use crate::error::{SchemaError, decode_json};
use crate::time::{OccurredAt, rfc3339};

/// How the offender first reached the victim.
pub const CONTACT_CHANNELS: [&str; 9] = [
    "phone",
    "email",
    "text_message",
    "social_media",
    "website",
    "online_marketplace",
    "in_person",
    "letter",
    "other",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CybercrimeReport {
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
    /// NFIB-style code. Kept as an open string: NFIB adds codes, and an
    /// unknown code must not dead-letter a report (enrichment maps it).
    pub fraud_code: String,
    pub victim_kind: VictimKind,
    #[serde(deserialize_with = "object")]
    pub victim_place: VictimPlace,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub loss_value: Option<f64>,
    pub contact_channel: String,
}

impl CybercrimeReport {
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
        check::pattern(
            "/fraud_code",
            &self.fraud_code,
            check::is_fraud_code,
            check::FRAUD_CODE,
        )?;
        if self.victim_kind == VictimKind::None {
            // Every report has a victim: the reporter, or whom they act for.
            return Err(SchemaError::validate(
                "/victim_kind",
                "`none` is not a cybercrime victim kind (person, business, organisation)",
            ));
        }
        self.victim_place.check()?;
        if let Some(loss) = self.loss_value {
            check::range("/loss_value", loss, 0.0, crate::MAX_LOSS_GBP)?;
        }
        check::one_of("/contact_channel", &self.contact_channel, &CONTACT_CHANNELS)
    }
}

impl Event for CybercrimeReport {
    const KIND: &'static str = "cybercrime-report";

    fn decode(bytes: &[u8]) -> Result<Self, SchemaError> {
        let report: CybercrimeReport = decode_json(bytes)?;
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
            "event_id": "af:NFRC-1:1",
            "schema_version": 1,
            "source": "action-fraud",
            "occurred_at": {"start": "2024-02-10T00:00:00Z", "end": "2024-02-20T00:00:00Z"},
            "reported_at": "2024-02-21T09:00:00Z",
            "report_id": "NFRC-1",
            "version": 1,
            "status": "reported",
            "fraud_code": "NFIB3A",
            "victim_kind": "person",
            "victim_place": {"postcode_district": "M14"},
            "contact_channel": "online_marketplace"
        })
    }

    fn set(mut v: Value, key: &str, new: Value) -> Value {
        v.as_object_mut()
            .expect("object")
            .insert(key.to_owned(), new);
        v
    }

    fn decode(v: &Value) -> Result<CybercrimeReport, SchemaError> {
        CybercrimeReport::decode(&serde_json::to_vec(v).expect("ser"))
    }

    fn rejects(v: Value, stage: Stage, field: &str) {
        let e = decode(&v).expect_err("should be rejected");
        assert_eq!((e.stage, e.field.as_str()), (stage, field), "{e}");
    }

    #[test]
    fn base_is_valid_and_windows_on_range_start() {
        let r = decode(&base()).expect("valid");
        assert_eq!(r.event_time().to_rfc3339(), "2024-02-10T00:00:00+00:00");
    }

    #[test]
    fn unknown_nfib_codes_are_accepted() {
        assert!(decode(&set(base(), "fraud_code", json!("NFIB999ZZ"))).is_ok());
        rejects(
            set(base(), "fraud_code", json!("nfib3a")),
            Stage::Validate,
            "/fraud_code",
        );
        rejects(
            set(base(), "fraud_code", json!("N")),
            Stage::Validate,
            "/fraud_code",
        );
    }

    #[test]
    fn victim_kind_allowed_per_kind() {
        assert!(decode(&set(base(), "victim_kind", json!("organisation"))).is_ok());
        rejects(
            set(base(), "victim_kind", json!("none")),
            Stage::Validate,
            "/victim_kind",
        );
        rejects(
            set(base(), "victim_kind", json!("charity")),
            Stage::Decode,
            "/victim_kind",
        );
    }

    #[test]
    fn victim_place_rules() {
        assert!(decode(&set(base(), "victim_place", json!({}))).is_ok());
        rejects(
            set(
                base(),
                "victim_place",
                json!({"postcode_district": "M14 5RX"}),
            ),
            Stage::Validate,
            "/victim_place/postcode_district",
        );
        rejects(
            set(base(), "victim_place", json!({"lsoa_code": "S01000001"})),
            Stage::Validate,
            "/victim_place/lsoa_code",
        );
        rejects(
            set(base(), "victim_place", json!({"lat": 53.0, "lon": -2.0})),
            Stage::Decode,
            "/victim_place/lat",
        );
    }

    #[test]
    fn channel_and_loss() {
        rejects(
            set(base(), "contact_channel", json!("carrier_pigeon")),
            Stage::Validate,
            "/contact_channel",
        );
        rejects(
            set(base(), "loss_value", json!(-5)),
            Stage::Validate,
            "/loss_value",
        );
        assert_eq!(
            decode(&set(base(), "loss_value", json!(1250.5)))
                .expect("valid")
                .loss_value,
            Some(1250.5)
        );
    }
}
