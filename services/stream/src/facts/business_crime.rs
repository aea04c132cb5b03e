//! `business_crime_facts`: the latest version of each business-crime report.

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use lantern_enrich::ReferenceData;
use lantern_schemas::BusinessCrime;

use super::columns::{BatchReader, ColumnsBuilder, known_value};
use super::incident::PROPERTY_TYPES;
use super::{Fact, Meta, PlaceCols};
use crate::time::MonthLabels;

pub const STATUSES: [&str; 3] = ["reported", "updated", "withdrawn"];

#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCrimeFact {
    pub meta: Meta,
    pub business_ref: String,
    pub sector: String,
    pub incident_type: String,
    pub property_type: &'static str,
    pub loss_value: Option<f64>,
    pub reported_to_police: bool,
    pub police_reference: Option<String>,
    pub place: PlaceCols,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl BusinessCrimeFact {
    pub fn enrich(
        event: BusinessCrime,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> Self {
        let meta = Meta::of(&event, months);
        let point = event.premises.point();
        let place = PlaceCols::from(reference.places.resolve(
            event.premises.lsoa_code.as_deref(),
            point,
            None,
        ));
        BusinessCrimeFact {
            meta,
            property_type: reference
                .property
                .business_property(&event.incident_type)
                .as_str(),
            business_ref: event.business_ref,
            sector: event.sector,
            incident_type: event.incident_type,
            loss_value: event.loss_value,
            reported_to_police: event.reported_to_police,
            police_reference: event.police_reference,
            place,
            lat: point.map(|p| p.0),
            lon: point.map(|p| p.1),
        }
    }
}

impl Fact for BusinessCrimeFact {
    const TOMBSTONE: &'static str = "withdrawn";
    const REINSTATES: &'static str = "reported";

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
            "business_ref",
            false,
            facts.iter().map(|f| Some(f.business_ref.as_str())),
        );
        c.utf8(
            "sector",
            false,
            facts.iter().map(|f| Some(f.sector.as_str())),
        );
        c.utf8(
            "incident_type",
            false,
            facts.iter().map(|f| Some(f.incident_type.as_str())),
        );
        c.utf8(
            "property_type",
            false,
            facts.iter().map(|f| Some(f.property_type)),
        );
        c.f64("loss_value", facts.iter().map(|f| f.loss_value));
        c.bool(
            "reported_to_police",
            facts.iter().map(|f| f.reported_to_police),
        );
        c.utf8(
            "police_reference",
            true,
            facts.iter().map(|f| f.police_reference.as_deref()),
        );
        PlaceCols::write(&facts.iter().map(|f| &f.place).collect::<Vec<_>>(), &mut c);
        c.f64("lat", facts.iter().map(|f| f.lat));
        c.f64("lon", facts.iter().map(|f| f.lon));
        c.finish()
    }

    fn from_batch(batch: &RecordBatch, months: &mut MonthLabels) -> Result<Vec<Self>, String> {
        let r = BatchReader::new(batch);
        (0..batch.num_rows())
            .map(|row| {
                Ok(BusinessCrimeFact {
                    meta: Meta::read(&r, row, &STATUSES, months)?,
                    business_ref: r.string("business_ref", row)?.unwrap_or_default(),
                    sector: r.string("sector", row)?.unwrap_or_default(),
                    incident_type: r.string("incident_type", row)?.unwrap_or_default(),
                    property_type: known_value(
                        r.str("property_type", row)?,
                        &PROPERTY_TYPES,
                        "property_type",
                    )?
                    .ok_or("property_type is null")?,
                    loss_value: r.f64("loss_value", row)?,
                    reported_to_police: r.bool("reported_to_police", row)?,
                    police_reference: r.string("police_reference", row)?,
                    place: PlaceCols::read(&r, row)?,
                    lat: r.f64("lat", row)?,
                    lon: r.f64("lon", row)?,
                })
            })
            .collect()
    }
}
