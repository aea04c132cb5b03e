//! Reference-data enrichment for Lantern: place (LSOA 2011 → MSOA → ward → LAD → CSP →
//! police force area) and property type, resolved per event without allocating (resolved
//! codes are shared `Arc<str>` clones).
//!
//! The tables are the committed files under `pipelines/reference/` (see its README for
//! provenance, the derivation and the precedence rules).
//!
//! ```no_run
//! use std::path::Path;
//! use lantern_enrich::{PropertyInput, ReferenceData};
//!
//! let refdata = ReferenceData::load(Path::new("pipelines/reference"), "E23000003")?;
//! let place = refdata.places.resolve(Some("E01025300"), None, None);
//! assert_eq!(place.status.as_str(), "in_force");
//! let p = refdata.property.incident_property(&PropertyInput {
//!     offence_code: Some("28E"),
//!     ..Default::default()
//! });
//! assert_eq!(p.as_str(), "dwelling");
//! # Ok::<(), lantern_enrich::EnrichError>(())
//! ```

mod error;
mod places;
mod property;
mod table;

use std::path::Path;

pub use error::EnrichError;
pub use places::{
    GRID_CELL_DEG, LSOA_FILE, MAX_CENTROID_DISTANCE_KM, NAMES_FILE, Place, PlaceIndex, PlaceMethod,
    PlaceStatus,
};
pub use property::{
    BUSINESS_INCIDENT_TYPES_FILE, CRIME_TYPES_FILE, NFIB_CODES_FILE, OFFENCE_CODES_FILE,
    PREMISES_TYPES_FILE, PropertyInput, PropertyRules, PropertyType, UNKNOWN_NFIB_GROUP,
};

/// All reference data used to enrich events.
#[derive(Debug)]
pub struct ReferenceData {
    pub places: PlaceIndex,
    pub property: PropertyRules,
}

impl ReferenceData {
    /// Loads every table from `reference_dir` (normally `pipelines/reference`).
    /// `force_area_code` is the configured force (Lancashire: `E23000003`); it must match
    /// at least one LSOA.
    pub fn load(reference_dir: &Path, force_area_code: &str) -> Result<Self, EnrichError> {
        Ok(Self {
            places: PlaceIndex::load(reference_dir, force_area_code)?,
            property: PropertyRules::load(reference_dir)?,
        })
    }
}
