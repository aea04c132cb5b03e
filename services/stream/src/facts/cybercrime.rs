//! `cybercrime_facts`: the latest version of each fraud / computer-misuse report.

use std::sync::Arc;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use lantern_enrich::ReferenceData;
use lantern_schemas::CybercrimeReport;

use super::columns::{BatchReader, ColumnsBuilder, known_value};
use super::{Fact, Meta, PlaceCols};
use crate::time::MonthLabels;

pub use super::business_crime::STATUSES;

#[derive(Debug, Clone, PartialEq)]
pub struct CybercrimeFact {
    pub meta: Meta,
    /// Kept exactly as reported, known to the NFIB table or not.
    pub fraud_code: String,
    /// NFIB group from the reference table, `unknown` for codes it does not list.
    pub nfib_group: Arc<str>,
    pub victim_kind: &'static str,
    pub postcode_district: Option<String>,
    pub contact_channel: String,
    pub loss_value: Option<f64>,
    pub place: PlaceCols,
}

impl CybercrimeFact {
    pub fn enrich(
        event: CybercrimeReport,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> Self {
        let meta = Meta::of(&event, months);
        let place = PlaceCols::from(reference.places.resolve(
            event.victim_place.lsoa_code.as_deref(),
            None,
            event.victim_place.postcode_district.as_deref(),
        ));
        CybercrimeFact {
            meta,
            nfib_group: reference.property.nfib_group(&event.fraud_code),
            fraud_code: event.fraud_code,
            victim_kind: event.victim_kind.as_str(),
            postcode_district: event.victim_place.postcode_district,
            contact_channel: event.contact_channel,
            loss_value: event.loss_value,
            place,
        }
    }
}

const VICTIM_KINDS: [&str; 3] = ["person", "business", "organisation"];

impl Fact for CybercrimeFact {
    const TOMBSTONE: &'static str = "withdrawn";
    const REINSTATES: &'static str = "reported";

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn place(&self) -> &PlaceCols {
        &self.place
    }

    fn classification_miss(&self) -> Option<&'static str> {
        (&*self.nfib_group == lantern_enrich::UNKNOWN_NFIB_GROUP).then_some("nfib_group")
    }

    fn to_batch(facts: &[&Self]) -> Result<RecordBatch, ArrowError> {
        let mut c = ColumnsBuilder::default();
        Meta::write(&facts.iter().map(|f| &f.meta).collect::<Vec<_>>(), &mut c);
        c.utf8(
            "fraud_code",
            false,
            facts.iter().map(|f| Some(f.fraud_code.as_str())),
        );
        c.utf8(
            "nfib_group",
            false,
            facts.iter().map(|f| Some(&*f.nfib_group)),
        );
        c.utf8(
            "victim_kind",
            false,
            facts.iter().map(|f| Some(f.victim_kind)),
        );
        c.utf8(
            "postcode_district",
            true,
            facts.iter().map(|f| f.postcode_district.as_deref()),
        );
        c.utf8(
            "contact_channel",
            false,
            facts.iter().map(|f| Some(f.contact_channel.as_str())),
        );
        c.f64("loss_value", facts.iter().map(|f| f.loss_value));
        PlaceCols::write(&facts.iter().map(|f| &f.place).collect::<Vec<_>>(), &mut c);
        c.finish()
    }

    fn from_batch(batch: &RecordBatch, months: &mut MonthLabels) -> Result<Vec<Self>, String> {
        let r = BatchReader::new(batch);
        (0..batch.num_rows())
            .map(|row| {
                Ok(CybercrimeFact {
                    meta: Meta::read(&r, row, &STATUSES, months)?,
                    fraud_code: r.string("fraud_code", row)?.unwrap_or_default(),
                    nfib_group: r
                        .arc("nfib_group", row)?
                        .unwrap_or_else(|| Arc::from("unknown")),
                    victim_kind: known_value(
                        r.str("victim_kind", row)?,
                        &VICTIM_KINDS,
                        "victim_kind",
                    )?
                    .ok_or("victim_kind is null")?,
                    postcode_district: r.string("postcode_district", row)?,
                    contact_channel: r.string("contact_channel", row)?.unwrap_or_default(),
                    loss_value: r.f64("loss_value", row)?,
                    place: PlaceCols::read(&r, row)?,
                })
            })
            .collect()
    }
}
