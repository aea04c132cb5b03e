//! The force area's places: every LSOA in it with its parents, centroid and census population,
//! so rates have denominators and place-based analytics count the places with no crime too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use lantern_disclosure::policy::PlaceLevel;
use lantern_enrich::{Populations, ReferenceData};
use lantern_pipelines::PipelineFiles;

use crate::AnalyticsError;

pub use lantern_enrich::{POPULATION_FILE, Population};

/// The levels person- and business-level figures are given at: the force, and its local
/// authorities (finer places hold too few victims to mean much).
pub const FORCE_AND_LAD: [PlaceLevel; 2] = [PlaceLevel::Force, PlaceLevel::Lad];

#[derive(Debug, Clone)]
pub struct Lsoa {
    pub code: Arc<str>,
    /// Codes at every level, in [`PlaceLevel::ALL`] order (the LSOA's own code first).
    pub codes: [Arc<str>; 6],
    pub lat: f64,
    pub lon: f64,
    pub population: Population,
}

impl Lsoa {
    pub fn code_at(&self, level: PlaceLevel) -> &Arc<str> {
        &self.codes[level_index(level)]
    }
}

fn level_index(level: PlaceLevel) -> usize {
    PlaceLevel::ALL
        .iter()
        .position(|l| *l == level)
        .expect("ALL lists every level")
}

/// Every LSOA of the configured force area, sorted by code.
#[derive(Debug, Clone)]
pub struct Geography {
    pub force_area_code: Arc<str>,
    pub lsoas: Vec<Lsoa>,
    by_code: HashMap<Arc<str>, usize>,
    /// Queen and rook contiguity between the force's LSOAs (indices into `lsoas`), from their
    /// boundaries; empty when built without boundaries.
    queen: Vec<BTreeSet<u32>>,
    rook: Vec<BTreeSet<u32>>,
}

impl Geography {
    pub fn load(files: &PipelineFiles, force_area_code: &str) -> Result<Self, AnalyticsError> {
        let reference = ReferenceData::load(files, force_area_code)?;
        let population = Populations::load(files)?;
        let mut lsoas = Vec::new();
        for (code, lat, lon) in reference.places.lsoas_in_force() {
            let place = reference.places.by_lsoa(&code);
            let code_or_blank = |c: Option<Arc<str>>| c.unwrap_or_else(|| Arc::from(""));
            let codes = [
                code.clone(),
                code_or_blank(place.msoa_code),
                code_or_blank(place.ward_code),
                code_or_blank(place.lad_code),
                code_or_blank(place.csp_code),
                code_or_blank(place.force_area_code),
            ];
            let population = population.of(&code).ok_or_else(|| {
                AnalyticsError::reference(POPULATION_FILE, format!("no population for LSOA {code}"))
            })?;
            lsoas.push(Lsoa {
                code,
                codes,
                lat,
                lon,
                population,
            });
        }
        let mut geo = Self::from_lsoas(force_area_code, lsoas);
        let codes: Vec<&str> = geo.lsoas.iter().map(|l| l.code.as_ref()).collect();
        let boundaries = reference.places.boundaries();
        geo.queen = boundaries.contiguity(&codes, false);
        geo.rook = boundaries.contiguity(&codes, true);
        Ok(geo)
    }

    pub fn from_lsoas(force_area_code: &str, mut lsoas: Vec<Lsoa>) -> Self {
        lsoas.sort_by(|a, b| a.code.cmp(&b.code));
        let by_code = lsoas
            .iter()
            .enumerate()
            .map(|(i, l)| (l.code.clone(), i))
            .collect();
        let none = vec![BTreeSet::new(); lsoas.len()];
        Geography {
            force_area_code: Arc::from(force_area_code),
            lsoas,
            by_code,
            queen: none.clone(),
            rook: none,
        }
    }

    /// Each LSOA's contiguous LSOAs (not itself): rook (a shared edge) or queen (a shared point).
    pub fn contiguity(&self, rook: bool) -> &[BTreeSet<u32>] {
        match rook {
            true => &self.rook,
            false => &self.queen,
        }
    }

    pub fn lsoa(&self, code: &str) -> Option<&Lsoa> {
        self.by_code.get(code).map(|&i| &self.lsoas[i])
    }

    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.by_code.get(code).copied()
    }

    /// The places a record counts in, at `levels`: the force always (every force record counts
    /// there, placed or not), each finer level only when the record is placed in one of the
    /// force's LSOAs.
    pub fn places_of(
        &self,
        lsoa_code: Option<&str>,
        levels: &[PlaceLevel],
    ) -> Vec<(PlaceLevel, Arc<str>)> {
        let lsoa = lsoa_code.and_then(|c| self.lsoa(c));
        levels
            .iter()
            .filter_map(|&level| match (level, lsoa) {
                (PlaceLevel::Force, _) => Some((level, self.force_area_code.clone())),
                (_, Some(lsoa)) => Some((level, lsoa.code_at(level).clone())),
                (_, None) => None,
            })
            .collect()
    }

    /// Population of every place at each of `levels`, keyed by (level, code).
    pub fn populations_at(
        &self,
        levels: &[PlaceLevel],
    ) -> HashMap<(PlaceLevel, Arc<str>), Population> {
        levels
            .iter()
            .flat_map(|&level| {
                self.populations(level)
                    .into_iter()
                    .map(move |(code, p)| ((level, code), p))
            })
            .collect()
    }

    /// Population of every place at `level` in the force area, by code.
    pub fn populations(&self, level: PlaceLevel) -> BTreeMap<Arc<str>, Population> {
        let mut out: BTreeMap<Arc<str>, Population> = BTreeMap::new();
        for lsoa in &self.lsoas {
            *out.entry(lsoa.code_at(level).clone()).or_default() += lsoa.population;
        }
        out
    }
}
