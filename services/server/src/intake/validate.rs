//! A submitted report against the contract the processor enforces: every failing field, each
//! as a JSON pointer and a reason.
//!
//! The processor's decoder (lantern-schemas) stops at the first fault, which is right for a
//! stream but not for a person fixing a form. So a report is checked twice: by the JSON Schema
//! files themselves (every fault, with its pointer), then by the decoder, which also holds the
//! few rules a schema cannot express (`tests/conformance.rs` keeps the two in agreement). A
//! report passes only when both accept it, so nothing accepted here can be refused downstream.

use lantern_schemas::{BusinessCrime, CybercrimeReport, Event, Incident, SchemaError};
use serde::Serialize;
use serde_json::Value;

use super::ReportKind;

/// One reason a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer to the field (`""`: the report as a whole).
    pub pointer: String,
    pub reason: String,
}

/// What the processor will key and count the report by.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub event_id: String,
    pub record_id: String,
    pub business_ref: Option<String>,
}

/// The compiled schemas, one per kind.
pub struct Validators {
    business_crime: jsonschema::Validator,
    cybercrime_report: jsonschema::Validator,
    incident: jsonschema::Validator,
}

impl std::fmt::Debug for Validators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Validators { .. }")
    }
}

impl Default for Validators {
    fn default() -> Self {
        Self::new()
    }
}

impl Validators {
    pub fn new() -> Self {
        let compile = |kind: ReportKind| {
            let text =
                lantern_schemas::schema_text(kind.schema()).expect("every kind has a schema");
            let schema: Value = serde_json::from_str(text).expect("compiled-in schemas are JSON");
            // The contract asserts date-time formats; draft 2020-12 only annotates unless asked.
            jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&schema)
                .expect("compiled-in schemas compile")
        };
        Validators {
            business_crime: compile(ReportKind::BusinessCrime),
            cybercrime_report: compile(ReportKind::CybercrimeReport),
            incident: compile(ReportKind::Incident),
        }
    }

    /// Checks `report` (the exact bytes that will be produced) as a `kind`.
    pub fn check(&self, kind: ReportKind, report: &[u8]) -> Result<Accepted, Vec<FieldError>> {
        let value: Value = serde_json::from_slice(report).map_err(|e| {
            vec![FieldError {
                pointer: String::new(),
                reason: format!("not JSON: {e}"),
            }]
        })?;
        let validator = match kind {
            ReportKind::BusinessCrime => &self.business_crime,
            ReportKind::CybercrimeReport => &self.cybercrime_report,
            ReportKind::Incident => &self.incident,
        };
        let mut errors: Vec<FieldError> = validator
            .iter_errors(&value)
            .map(|e| FieldError {
                pointer: pointer_of(&e),
                reason: e.to_string(),
            })
            .collect();
        let decoded = match kind {
            ReportKind::BusinessCrime => BusinessCrime::decode(report).map(|e| Accepted {
                business_ref: Some(e.business_ref.clone()),
                ..accepted(&e)
            }),
            ReportKind::CybercrimeReport => CybercrimeReport::decode(report).map(|e| accepted(&e)),
            ReportKind::Incident => Incident::decode(report).map(|e| accepted(&e)),
        };
        match decoded {
            Ok(report) if errors.is_empty() => Ok(report),
            Ok(_) => Err(errors),
            Err(SchemaError { field, reason, .. }) => {
                if !errors.iter().any(|e| e.pointer == field) {
                    errors.push(FieldError {
                        pointer: field,
                        reason,
                    });
                }
                Err(errors)
            }
        }
    }
}

fn accepted<E: Event>(event: &E) -> Accepted {
    Accepted {
        event_id: event.event_id().to_string(),
        record_id: event.record_id().to_string(),
        business_ref: None,
    }
}

/// The failing field's pointer; a missing member is named itself rather than its parent.
fn pointer_of(error: &jsonschema::ValidationError<'_>) -> String {
    let parent = error.instance_path().as_str().to_string();
    match error.kind() {
        jsonschema::error::ValidationErrorKind::Required {
            property: Value::String(name),
        } => format!("{parent}/{}", name.replace('~', "~0").replace('/', "~1")),
        _ => parent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Value {
        let text =
            include_str!("../../../../schemas/business-crime/examples/valid/shoplifting-full.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn every_failing_field_is_named() {
        let validators = Validators::new();
        let good = example();
        let accepted = validators
            .check(
                ReportKind::BusinessCrime,
                &serde_json::to_vec(&good).unwrap(),
            )
            .unwrap();
        assert_eq!(accepted.record_id, good["report_id"].as_str().unwrap());

        let mut bad = good.clone();
        bad["sector"] = Value::from("Not A Slug");
        bad["loss_value"] = Value::from(-5);
        bad.as_object_mut().unwrap().remove("report_id");
        let errors = validators
            .check(
                ReportKind::BusinessCrime,
                &serde_json::to_vec(&bad).unwrap(),
            )
            .unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        for field in ["/sector", "/loss_value", "/report_id"] {
            assert!(pointers.contains(&field), "{field} not named: {errors:?}");
        }
    }
}
