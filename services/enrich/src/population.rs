//! Census 2011 usual residents and households of every place: the denominators of rates.
//!
//! `reference/places/population.csv` gives them per LSOA; every other level (MSOA, ward, local
//! authority, CSP, force area) is the sum of its LSOAs in `reference/places/lsoa.csv`. ONS codes
//! are unique across levels (E01…, E02…, E05…, E06–E09…, E22…, E23…), so one map serves all.

use std::collections::HashMap;
use std::sync::Arc;

use lantern_pipelines::PipelineFiles;

use crate::EnrichError;
use crate::places::LSOA_FILE;
use crate::table::Table;

pub const POPULATION_FILE: &str = "reference/places/population.csv";

/// Residents and households of a place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Population {
    pub residents: u64,
    pub households: u64,
}

impl std::ops::AddAssign for Population {
    fn add_assign(&mut self, other: Self) {
        self.residents += other.residents;
        self.households += other.households;
    }
}

/// The population of every place code at every level.
#[derive(Debug, Clone, Default)]
pub struct Populations {
    by_code: HashMap<Arc<str>, Population>,
}

impl Populations {
    pub fn load(files: &PipelineFiles) -> Result<Self, EnrichError> {
        let mut per_lsoa: HashMap<String, Population> = HashMap::with_capacity(35_000);
        let mut t = Table::open(files, POPULATION_FILE)?;
        let (c_code, c_residents, c_households) = (
            t.column("lsoa_code")?,
            t.column("residents")?,
            t.column("households")?,
        );
        t.for_each(|rec| {
            let number = |col: usize, what: &str| {
                rec[col]
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{what} {:?} is not a whole number", &rec[col]))
            };
            let population = Population {
                residents: number(c_residents, "residents")?,
                households: number(c_households, "households")?,
            };
            match per_lsoa.insert(rec[c_code].trim().to_string(), population) {
                Some(_) => Err(format!("duplicate lsoa_code {}", &rec[c_code])),
                None => Ok(()),
            }
        })?;
        let mut by_code: HashMap<Arc<str>, Population> = HashMap::with_capacity(52_000);
        let mut t = Table::open(files, LSOA_FILE)?;
        let columns = [
            "lsoa_code",
            "msoa_code",
            "ward_code",
            "lad_code",
            "csp_code",
            "force_area_code",
        ]
        .map(|c| t.column(c));
        let columns: Vec<usize> = columns.into_iter().collect::<Result<_, _>>()?;
        t.for_each(|rec| {
            let lsoa = rec[columns[0]].trim();
            let population = *per_lsoa
                .get(lsoa)
                .ok_or_else(|| format!("LSOA {lsoa} has no row in {POPULATION_FILE}"))?;
            for &c in &columns {
                let code = rec[c].trim();
                if !code.is_empty() {
                    *by_code.entry(Arc::from(code)).or_default() += population;
                }
            }
            Ok(())
        })?;
        Ok(Populations { by_code })
    }

    /// The population of a place at any level, by its code.
    pub fn of(&self, code: &str) -> Option<Population> {
        self.by_code.get(code).copied()
    }
}
