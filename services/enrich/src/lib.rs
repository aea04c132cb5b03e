//! Reference-data enrichment for Lantern: place (LSOA 2011 → MSOA → ward → LAD → CSP →
//! police force area) and property type, resolved per event without allocating (resolved
//! codes are shared `Arc<str>` clones).
//!
//! The tables are the committed files under `pipelines/reference/` (see its README for
//! provenance, the derivation and the precedence rules), built into the binary by
//! `lantern-pipelines` unless `pipelines.dir` names a directory to read them from.
//!
//! ```no_run
//! use lantern_enrich::{PropertyInput, ReferenceData};
//! use lantern_pipelines::PipelineFiles;
//!
//! let refdata = ReferenceData::load(&PipelineFiles::Embedded, "E23000003")?;
//! let place = refdata.places.resolve(Some("E01025300"), None, None);
//! assert_eq!(place.status.as_str(), "in_force");
//! let p = refdata.property.incident_property(&PropertyInput {
//!     offence_code: Some("28E"),
//!     ..Default::default()
//! });
//! assert_eq!(p.as_str(), "dwelling");
//! # Ok::<(), lantern_enrich::EnrichError>(())
//! ```

pub mod boundaries;
mod error;
mod places;
pub mod population;
mod property;
mod table;

use lantern_pipelines::PipelineFiles;

pub use error::EnrichError;
pub use places::{
    GRID_CELL_DEG, LSOA_FILE, MAX_CENTROID_DISTANCE_KM, NAMES_FILE, Place, PlaceIndex, PlaceMethod,
    PlaceStatus,
};
pub use population::{POPULATION_FILE, Population, Populations};
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
    /// Loads every table from `files` (normally the built-in `pipelines/reference`).
    /// `force_area_code` is the configured force (Lancashire: `E23000003`); it must match
    /// at least one LSOA.
    pub fn load(files: &PipelineFiles, force_area_code: &str) -> Result<Self, EnrichError> {
        Ok(Self {
            places: PlaceIndex::load(files, force_area_code)?,
            property: PropertyRules::load(files)?,
        })
    }
}
