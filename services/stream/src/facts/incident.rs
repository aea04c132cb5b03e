//! `incident_facts`: the latest version of each crime / ASB record, placed and typed.

use std::sync::Arc;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use lantern_enrich::{PropertyInput, ReferenceData};
use lantern_schemas::Incident;

use super::columns::{BatchReader, ColumnsBuilder, known_value};
use super::{Fact, Meta, PlaceCols};
use crate::time::MonthLabels;

pub const STATUSES: [&str; 4] = ["recorded", "reclassified", "cancelled", "outcome_updated"];
pub const PROPERTY_TYPES: [&str; 7] = [
    "dwelling",
    "business_premises",
    "vehicle",
    "personal_property",
    "online",
    "none",
    "unknown",
];
const VICTIM_KINDS: [&str; 4] = ["person", "business", "none", "organisation"];

/// The police.uk category of ASB records, which carry an ASB category instead of an offence.
const ASB: &str = "Anti-social behaviour";

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFact {
    pub meta: Meta,
    pub offence_code: Option<String>,
    /// police.uk category: given, or derived from the offence code, or ASB.
    pub crime_type: Option<Arc<str>>,
    pub asb_category: Option<String>,
    pub place: PlaceCols,
    pub premises_type: Option<String>,
    pub property_type: &'static str,
    pub victim_kind: Option<&'static str>,
    pub victim_reference: Option<String>,
    /// Pseudonymised address reference, for repeat victimisation of a place.
    pub address_reference: Option<String>,
    pub domestic_abuse: bool,
    pub hate_crime: bool,
    pub online: bool,
    pub outcome: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl IncidentFact {
    /// Enriches a validated incident event.
    pub fn enrich(event: Incident, reference: &ReferenceData, months: &mut MonthLabels) -> Self {
        let meta = Meta::of(&event, months);
        let crime_type = match (&event.crime_type, &event.offence_code, &event.asb_category) {
            (Some(given), _, _) => Some(Arc::from(given.as_str())),
            (None, Some(code), _) => reference.property.crime_type_for_offence(code),
            (None, None, Some(_)) => Some(Arc::from(ASB)),
            (None, None, None) => None,
        };
        let point = event.location.as_ref().and_then(|l| l.point());
        let lsoa = event.location.as_ref().and_then(|l| l.lsoa_code.as_deref());
        let place = PlaceCols::from(reference.places.resolve(lsoa, point, None));
        let property_type = reference
            .property
            .incident_property(&PropertyInput {
                offence_code: event.offence_code.as_deref(),
                crime_type: crime_type.as_deref(),
                premises_type: event.premises_type.as_deref(),
                property_hint: event.property.as_deref(),
                online_flag: event.flags.online,
            })
            .as_str();
        IncidentFact {
            meta,
            offence_code: event.offence_code,
            crime_type,
            asb_category: event.asb_category,
            place,
            premises_type: event.premises_type,
            property_type,
            victim_kind: event.victim.as_ref().map(|v| v.kind.as_str()),
            victim_reference: event.victim.and_then(|v| v.reference),
            address_reference: event
                .location
                .as_ref()
                .and_then(|l| l.address_reference.clone()),
            domestic_abuse: event.flags.domestic_abuse,
            hate_crime: event.flags.hate_crime,
            online: event.flags.online,
            outcome: event.outcome,
            lat: point.map(|p| p.0),
            lon: point.map(|p| p.1),
        }
    }
}

impl Fact for IncidentFact {
    const TOMBSTONE: &'static str = "cancelled";
    const REINSTATES: &'static str = "recorded";

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn place(&self) -> &PlaceCols {
        &self.place
    }

    fn classification_miss(&self) -> Option<&'static str> {
        (self.property_type == "unknown").then_some("property_type")
    }

    fn to_batch(facts: &[&Self]) -> Result<RecordBatch, ArrowError> {
        let mut c = ColumnsBuilder::default();
        Meta::write(&facts.iter().map(|f| &f.meta).collect::<Vec<_>>(), &mut c);
        c.utf8(
            "offence_code",
            true,
            facts.iter().map(|f| f.offence_code.as_deref()),
        );
        c.utf8(
            "crime_type",
            true,
            facts.iter().map(|f| f.crime_type.as_deref()),
        );
        c.utf8(
            "asb_category",
            true,
            facts.iter().map(|f| f.asb_category.as_deref()),
        );
        PlaceCols::write(&facts.iter().map(|f| &f.place).collect::<Vec<_>>(), &mut c);
        c.utf8(
            "premises_type",
            true,
            facts.iter().map(|f| f.premises_type.as_deref()),
        );
        c.utf8(
            "property_type",
            false,
            facts.iter().map(|f| Some(f.property_type)),
        );
        c.utf8("victim_kind", true, facts.iter().map(|f| f.victim_kind));
        c.utf8(
            "victim_reference",
            true,
            facts.iter().map(|f| f.victim_reference.as_deref()),
        );
        c.utf8(
            "address_reference",
            true,
            facts.iter().map(|f| f.address_reference.as_deref()),
        );
        c.bool("domestic_abuse", facts.iter().map(|f| f.domestic_abuse));
        c.bool("hate_crime", facts.iter().map(|f| f.hate_crime));
        c.bool("online", facts.iter().map(|f| f.online));
        c.utf8("outcome", true, facts.iter().map(|f| f.outcome.as_deref()));
        c.f64("lat", facts.iter().map(|f| f.lat));
        c.f64("lon", facts.iter().map(|f| f.lon));
        c.finish()
    }

    fn from_batch(batch: &RecordBatch, months: &mut MonthLabels) -> Result<Vec<Self>, String> {
        let r = BatchReader::new(batch);
        (0..batch.num_rows())
            .map(|row| {
                Ok(IncidentFact {
                    meta: Meta::read(&r, row, &STATUSES, months)?,
                    offence_code: r.string("offence_code", row)?,
                    crime_type: r.arc("crime_type", row)?,
                    asb_category: r.string("asb_category", row)?,
                    place: PlaceCols::read(&r, row)?,
                    premises_type: r.string("premises_type", row)?,
                    property_type: known_value(
                        r.str("property_type", row)?,
                        &PROPERTY_TYPES,
                        "property_type",
                    )?
                    .ok_or("property_type is null")?,
                    victim_kind: known_value(
                        r.str("victim_kind", row)?,
                        &VICTIM_KINDS,
                        "victim_kind",
                    )?,
                    victim_reference: r.string("victim_reference", row)?,
                    address_reference: r.added_string("address_reference", row)?,
                    domestic_abuse: r.bool("domestic_abuse", row)?,
                    hate_crime: r.bool("hate_crime", row)?,
                    online: r.bool("online", row)?,
                    outcome: r.string("outcome", row)?,
                    lat: r.f64("lat", row)?,
                    lon: r.f64("lon", row)?,
                })
            })
            .collect()
    }
}
