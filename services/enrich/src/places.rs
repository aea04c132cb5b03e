//! Place resolution: LSOA code or point → LSOA → MSOA → ward → LAD → CSP → force area.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::EnrichError;
use crate::boundaries::Boundaries;
use crate::table::Table;
use lantern_pipelines::PipelineFiles;

/// Default cut-off: a point further than this from every LSOA population-weighted centroid
/// is [`PlaceStatus::Unplaced`]. Note that large rural LSOAs are wider than this (in
/// Lancashire, parts of the Forest of Bowland are ~8.5 km from the nearest centroid); see
/// [`PlaceIndex::set_max_centroid_distance_km`].
pub const MAX_CENTROID_DISTANCE_KM: f64 = 5.0;

/// Side of a grid cell of the point index, in degrees (latitude and longitude).
pub const GRID_CELL_DEG: f64 = 0.05;

/// Mean Earth radius (km) and km per degree of latitude on that sphere.
const EARTH_RADIUS_KM: f64 = 6371.0088;
const KM_PER_DEG: f64 = EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;

/// The LSOA table, relative to the pipelines directory (`lantern_pipelines::PipelineFiles`).
pub const LSOA_FILE: &str = "reference/places/lsoa.csv";
/// The names table, relative to the pipelines directory.
pub const NAMES_FILE: &str = "reference/places/names.csv";

/// How a record's place relates to the configured force area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceStatus {
    /// Resolved to an LSOA inside the configured force area.
    InForce,
    /// Resolved to an LSOA in England or Wales outside the configured force area.
    OutsideForce,
    /// The record carries no location at all.
    NoLocation,
    /// An LSOA code was given that is not in the 2011 England and Wales set (and no usable point).
    UnknownLsoa,
    /// A point was given but is further than [`MAX_CENTROID_DISTANCE_KM`] from every LSOA
    /// centroid (at sea, outside England and Wales, or a placeholder such as 0,0).
    Unplaced,
    /// Only a postcode district is known: no LSOA or force attribution is possible.
    PostcodeDistrictOnly,
}

impl PlaceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            PlaceStatus::InForce => "in_force",
            PlaceStatus::OutsideForce => "outside_force",
            PlaceStatus::NoLocation => "no_location",
            PlaceStatus::UnknownLsoa => "unknown_lsoa",
            PlaceStatus::Unplaced => "unplaced",
            PlaceStatus::PostcodeDistrictOnly => "postcode_district_only",
        }
    }
}

impl std::fmt::Display for PlaceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which input determined (or was tried for) the place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceMethod {
    /// The record's LSOA code was looked up.
    LsoaCode,
    /// The record's point lies inside the LSOA's (generalised) boundary.
    PointInPolygon,
    /// The record's point lies inside no LSOA boundary (the generalised boundaries leave slivers
    /// along coasts and borders), so it was assigned to the LSOA with the nearest
    /// population-weighted centroid.
    NearestCentroid,
    /// No LSOA code or point was available.
    None,
}

impl PlaceMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            PlaceMethod::LsoaCode => "lsoa_code",
            PlaceMethod::PointInPolygon => "point_in_polygon",
            PlaceMethod::NearestCentroid => "nearest_centroid",
            PlaceMethod::None => "none",
        }
    }
}

impl std::fmt::Display for PlaceMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resolved geography of one record. Cloning is cheap (reference-count increments).
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub lsoa_code: Option<Arc<str>>,
    pub msoa_code: Option<Arc<str>>,
    pub ward_code: Option<Arc<str>>,
    pub lad_code: Option<Arc<str>>,
    pub csp_code: Option<Arc<str>>,
    pub force_area_code: Option<Arc<str>>,
    /// `true` exactly when `status` is [`PlaceStatus::InForce`].
    pub in_force_area: bool,
    pub status: PlaceStatus,
    pub method: PlaceMethod,
}

impl Default for Place {
    /// No location: every code `None`, status `NoLocation`, method `None`.
    fn default() -> Self {
        Self::unresolved(PlaceStatus::NoLocation, PlaceMethod::None)
    }
}

impl Place {
    /// A place with no codes.
    pub const fn unresolved(status: PlaceStatus, method: PlaceMethod) -> Self {
        Self {
            lsoa_code: None,
            msoa_code: None,
            ward_code: None,
            lad_code: None,
            csp_code: None,
            force_area_code: None,
            in_force_area: false,
            status,
            method,
        }
    }
}

/// One LSOA row, with shared (interned) codes.
#[derive(Debug)]
struct LsoaRecord {
    code: Arc<str>,
    msoa: Option<Arc<str>>,
    ward: Option<Arc<str>>,
    lad: Option<Arc<str>>,
    csp: Option<Arc<str>>,
    force_area: Option<Arc<str>>,
    in_force: bool,
    /// `NaN` when the LSOA has no centroid (then it is not in the point index).
    lat: f64,
    lon: f64,
}

/// Uniform latitude/longitude grid over the LSOA centroids, stored as compressed rows:
/// the centroids of cell `c` are `items[starts[c]..starts[c + 1]]`.
#[derive(Debug)]
struct Grid {
    min_lat: f64,
    min_lon: f64,
    rows: i64,
    cols: i64,
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Grid {
    fn build(records: &[LsoaRecord]) -> Self {
        let placed = || {
            records
                .iter()
                .filter(|r| r.lat.is_finite() && r.lon.is_finite())
        };
        let (mut min_lat, mut max_lat) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut min_lon, mut max_lon) = (f64::INFINITY, f64::NEG_INFINITY);
        for r in placed() {
            min_lat = min_lat.min(r.lat);
            max_lat = max_lat.max(r.lat);
            min_lon = min_lon.min(r.lon);
            max_lon = max_lon.max(r.lon);
        }
        if !min_lat.is_finite() {
            return Self {
                min_lat: 0.0,
                min_lon: 0.0,
                rows: 0,
                cols: 0,
                starts: vec![0],
                items: Vec::new(),
            };
        }
        let rows = ((max_lat - min_lat) / GRID_CELL_DEG).floor() as i64 + 1;
        let cols = ((max_lon - min_lon) / GRID_CELL_DEG).floor() as i64 + 1;
        let ncells = (rows * cols) as usize;
        let cell_of = |r: &LsoaRecord| {
            let row = (((r.lat - min_lat) / GRID_CELL_DEG).floor() as i64).clamp(0, rows - 1);
            let col = (((r.lon - min_lon) / GRID_CELL_DEG).floor() as i64).clamp(0, cols - 1);
            (row * cols + col) as usize
        };
        let mut counts = vec![0u32; ncells + 1];
        for r in placed() {
            counts[cell_of(r) + 1] += 1;
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let starts = counts;
        let mut fill = starts.clone();
        let mut items = vec![0u32; starts[ncells] as usize];
        for (i, r) in records.iter().enumerate() {
            if r.lat.is_finite() && r.lon.is_finite() {
                let c = cell_of(r);
                items[fill[c] as usize] = i as u32;
                fill[c] += 1;
            }
        }
        Self {
            min_lat,
            min_lon,
            rows,
            cols,
            starts,
            items,
        }
    }

    /// Index of the nearest centroid within `max_km`, and its distance in km.
    ///
    /// Distance is the equirectangular approximation scaled at the query latitude, which
    /// differs from the great-circle distance by far less than a metre at these ranges.
    fn nearest(
        &self,
        records: &[LsoaRecord],
        lat: f64,
        lon: f64,
        max_km: f64,
    ) -> Option<(usize, f64)> {
        if self.rows == 0 || !lat.is_finite() || !lon.is_finite() || !(-90.0..=90.0).contains(&lat)
        {
            return None;
        }
        let cos_lat = lat.to_radians().cos();
        // Lower bound of the distance covered by one cell step, in km (longitude is the narrower side).
        let cell_km = GRID_CELL_DEG * KM_PER_DEG * cos_lat.min(1.0);
        if cell_km <= 0.0 {
            return None;
        }
        let row = ((lat - self.min_lat) / GRID_CELL_DEG).floor();
        let col = ((lon - self.min_lon) / GRID_CELL_DEG).floor();
        // Rings needed to be sure nothing within max_km is missed.
        let max_ring = (max_km / cell_km).ceil() as i64 + 1;
        // Far outside the grid: nothing can be within max_km.
        if row < -(max_ring as f64)
            || col < -(max_ring as f64)
            || row > (self.rows + max_ring) as f64
            || col > (self.cols + max_ring) as f64
        {
            return None;
        }
        let (row, col) = (row as i64, col as i64);
        let max_km2 = max_km * max_km;
        let mut best: Option<(usize, f64)> = None; // (index, squared km)
        for ring in 0..=max_ring {
            let (r0, r1) = (row - ring, row + ring);
            let (c0, c1) = (col - ring, col + ring);
            let mut visit = |r: i64, c: i64| {
                if c < 0 || c >= self.cols {
                    return;
                }
                let cell = (r * self.cols + c) as usize;
                let (s, e) = (self.starts[cell] as usize, self.starts[cell + 1] as usize);
                for &i in &self.items[s..e] {
                    let i = i as usize;
                    let rec = &records[i];
                    let dy = (rec.lat - lat) * KM_PER_DEG;
                    let dx = (rec.lon - lon) * KM_PER_DEG * cos_lat;
                    let d2 = dx * dx + dy * dy;
                    // Ties broken by index (records are sorted by code): deterministic.
                    if d2 <= max_km2 && best.is_none_or(|(bi, bd)| d2 < bd || (d2 == bd && i < bi))
                    {
                        best = Some((i, d2));
                    }
                }
            };
            for r in r0.max(0)..=r1.min(self.rows - 1) {
                if r == r0 || r == r1 {
                    // Top and bottom rows of the ring: every column.
                    for c in c0..=c1 {
                        visit(r, c);
                    }
                } else {
                    // Rows in between: only the first and last columns are new.
                    visit(r, c0);
                    if c1 != c0 {
                        visit(r, c1);
                    }
                }
            }
            // Every unvisited cell is at least `ring` whole cells away along one axis.
            let bound = ring as f64 * cell_km;
            if let Some((_, d2)) = best
                && d2 <= bound * bound
            {
                break;
            }
            if bound > max_km {
                break;
            }
        }
        best.map(|(i, d2)| (i, d2.sqrt()))
    }
}

/// Index of the 2011 LSOAs of England and Wales with their parent geographies and
/// population-weighted centroids.
#[derive(Debug)]
pub struct PlaceIndex {
    records: Vec<LsoaRecord>,
    by_code: HashMap<Arc<str>, u32>,
    names: HashMap<Arc<str>, Arc<str>>,
    grid: Grid,
    force_area_code: Arc<str>,
    max_distance_km: f64,
    boundaries: Boundaries,
}

impl PlaceIndex {
    /// Loads `reference/places/lsoa.csv` and `reference/places/names.csv`.
    pub fn load(files: &PipelineFiles, force_area_code: &str) -> Result<Self, EnrichError> {
        let mut interner: HashMap<Box<str>, Arc<str>> = HashMap::new();
        let mut intern = |s: &str| -> Option<Arc<str>> {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            if let Some(a) = interner.get(s) {
                return Some(a.clone());
            }
            let a: Arc<str> = Arc::from(s);
            interner.insert(Box::from(s), a.clone());
            Some(a)
        };
        let force = force_area_code.trim();

        let mut t = Table::open(files, LSOA_FILE)?;
        let c_code = t.column("lsoa_code")?;
        let c_name = t.column("lsoa_name")?;
        let c_msoa = t.column("msoa_code")?;
        let c_ward = t.column("ward_code")?;
        let c_lad = t.column("lad_code")?;
        let c_csp = t.column("csp_code")?;
        let c_pfa = t.column("force_area_code")?;
        let c_lat = t.column("lat")?;
        let c_lon = t.column("lon")?;
        let mut records = Vec::with_capacity(35_000);
        let mut by_code = HashMap::with_capacity(35_000);
        let mut names: HashMap<Arc<str>, Arc<str>> = HashMap::with_capacity(52_000);
        let mut in_force_count = 0usize;
        t.for_each(|rec| {
            let code = rec[c_code].trim();
            if code.is_empty() {
                return Err("empty lsoa_code".to_owned());
            }
            let code: Arc<str> = Arc::from(code);
            let coord = |col: usize, what: &str, lo: f64, hi: f64| -> Result<f64, String> {
                let v = rec[col].trim();
                if v.is_empty() {
                    return Ok(f64::NAN);
                }
                match v.parse::<f64>() {
                    Ok(x) if (lo..=hi).contains(&x) => Ok(x),
                    _ => Err(format!("{what} {v:?} is not a number in {lo}..={hi}")),
                }
            };
            let lat = coord(c_lat, "lat", -90.0, 90.0)?;
            let lon = coord(c_lon, "lon", -180.0, 180.0)?;
            if lat.is_nan() != lon.is_nan() {
                return Err("lat and lon must both be present or both blank".to_owned());
            }
            let force_area = intern(&rec[c_pfa]);
            let in_force = force_area.as_deref() == Some(force);
            in_force_count += usize::from(in_force);
            let idx = u32::try_from(records.len()).map_err(|_| "too many LSOAs".to_owned())?;
            if by_code.insert(code.clone(), idx).is_some() {
                return Err(format!("duplicate lsoa_code {code}"));
            }
            let name = rec[c_name].trim();
            if !name.is_empty() {
                names.insert(code.clone(), Arc::from(name));
            }
            records.push(LsoaRecord {
                code,
                msoa: intern(&rec[c_msoa]),
                ward: intern(&rec[c_ward]),
                lad: intern(&rec[c_lad]),
                csp: intern(&rec[c_csp]),
                force_area,
                in_force,
                lat,
                lon,
            });
            Ok(())
        })?;
        if in_force_count == 0 {
            return Err(EnrichError::UnknownForceArea {
                path: t.path.clone(),
                code: force.to_owned(),
            });
        }

        let mut t = Table::open(files, NAMES_FILE)?;
        let c_level = t.column("level")?;
        let c_code = t.column("code")?;
        let c_name = t.column("name")?;
        t.for_each(|rec| {
            let name = rec[c_name].trim();
            match intern(&rec[c_code]) {
                Some(code) if !rec[c_level].trim().is_empty() && !name.is_empty() => {
                    names.insert(code, Arc::from(name));
                    Ok(())
                }
                _ => Err("level, code and name must be non-empty".to_owned()),
            }
        })?;

        let grid = Grid::build(&records);
        Ok(Self {
            records,
            by_code,
            names,
            grid,
            force_area_code: Arc::from(force),
            max_distance_km: MAX_CENTROID_DISTANCE_KM,
            boundaries: Boundaries::load(files)?,
        })
    }

    /// Number of LSOAs in the index.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// `true` if no LSOA is loaded (never the case after a successful [`PlaceIndex::load`]).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The cut-off used by [`PlaceIndex::by_point`] (default [`MAX_CENTROID_DISTANCE_KM`]).
    pub fn max_centroid_distance_km(&self) -> f64 {
        self.max_distance_km
    }

    /// Changes the cut-off used by [`PlaceIndex::by_point`]. Non-finite or non-positive
    /// values are ignored. Larger values make the search visit more grid cells.
    pub fn set_max_centroid_distance_km(&mut self, km: f64) {
        if km.is_finite() && km > 0.0 {
            self.max_distance_km = km;
        }
    }

    /// The configured force area code.
    pub fn force_area_code(&self) -> &Arc<str> {
        &self.force_area_code
    }

    fn place_of(&self, idx: usize, method: PlaceMethod) -> Place {
        let r = &self.records[idx];
        Place {
            lsoa_code: Some(r.code.clone()),
            msoa_code: r.msoa.clone(),
            ward_code: r.ward.clone(),
            lad_code: r.lad.clone(),
            csp_code: r.csp.clone(),
            force_area_code: r.force_area.clone(),
            in_force_area: r.in_force,
            status: if r.in_force {
                PlaceStatus::InForce
            } else {
                PlaceStatus::OutsideForce
            },
            method,
        }
    }

    fn lookup(&self, code: &str) -> Option<usize> {
        let code = code.trim();
        if let Some(&i) = self.by_code.get(code) {
            return Some(i as usize);
        }
        // LSOA codes are upper case; accept "e01025300" without allocating.
        if code.bytes().any(|b| b.is_ascii_lowercase()) {
            return crate::table::with_folded(code, crate::table::Fold::Upper, |c| {
                self.by_code.get(c).copied()
            })
            .flatten()
            .map(|i| i as usize);
        }
        None
    }

    /// Place of an LSOA 2011 code. An unknown code gives status [`PlaceStatus::UnknownLsoa`],
    /// method [`PlaceMethod::LsoaCode`] and no codes.
    pub fn by_lsoa(&self, code: &str) -> Place {
        match self.lookup(code) {
            Some(i) => self.place_of(i, PlaceMethod::LsoaCode),
            None => Place::unresolved(PlaceStatus::UnknownLsoa, PlaceMethod::LsoaCode),
        }
    }

    /// Place of a WGS84 point: the LSOA whose boundary contains it ([`PlaceMethod::PointInPolygon`]);
    /// failing that, the LSOA whose population-weighted centroid is nearest
    /// ([`PlaceMethod::NearestCentroid`]).
    ///
    /// If no boundary contains the point and no centroid is within [`MAX_CENTROID_DISTANCE_KM`]
    /// (or the value set with [`PlaceIndex::set_max_centroid_distance_km`]), or the coordinates
    /// are not finite, the status is [`PlaceStatus::Unplaced`].
    ///
    /// On the 97,640 located Lancashire police.uk rows, point-in-polygon agrees with police.uk's
    /// own LSOA for 86.1% and the nearest centroid for 72.9% (`pipelines/reference/README.md`).
    pub fn by_point(&self, lat: f64, lon: f64) -> Place {
        if let Some(i) = self
            .boundaries
            .containing(lat, lon)
            .and_then(|code| self.lookup(code))
        {
            return self.place_of(i, PlaceMethod::PointInPolygon);
        }
        match self
            .grid
            .nearest(&self.records, lat, lon, self.max_distance_km)
        {
            Some((i, _)) => self.place_of(i, PlaceMethod::NearestCentroid),
            None => Place::unresolved(PlaceStatus::Unplaced, PlaceMethod::NearestCentroid),
        }
    }

    /// The LSOA boundaries (contiguity weights use them).
    pub fn boundaries(&self) -> &Boundaries {
        &self.boundaries
    }

    /// Distance in km from the point to the nearest LSOA centroid, if within `max_km`.
    pub fn nearest_centroid_km(&self, lat: f64, lon: f64, max_km: f64) -> Option<(Arc<str>, f64)> {
        self.grid
            .nearest(&self.records, lat, lon, max_km)
            .map(|(i, d)| (self.records[i].code.clone(), d))
    }

    /// Resolves a record's place from whatever location it carries. Blank strings count as
    /// absent, and so do non-finite coordinates.
    ///
    /// 1. an LSOA code that is known → [`PlaceIndex::by_lsoa`] (`InForce` / `OutsideForce`);
    /// 2. else a point → [`PlaceIndex::by_point`] (which may be `Unplaced`);
    /// 3. else an LSOA code that is not known → `UnknownLsoa`;
    /// 4. else a postcode district → `PostcodeDistrictOnly`;
    /// 5. else `NoLocation`.
    pub fn resolve(
        &self,
        lsoa_code: Option<&str>,
        point: Option<(f64, f64)>,
        postcode_district: Option<&str>,
    ) -> Place {
        let lsoa_code = lsoa_code.map(str::trim).filter(|s| !s.is_empty());
        if let Some(code) = lsoa_code
            && let Some(i) = self.lookup(code)
        {
            return self.place_of(i, PlaceMethod::LsoaCode);
        }
        if let Some((lat, lon)) = point
            && lat.is_finite()
            && lon.is_finite()
        {
            return self.by_point(lat, lon);
        }
        if lsoa_code.is_some() {
            return Place::unresolved(PlaceStatus::UnknownLsoa, PlaceMethod::LsoaCode);
        }
        if postcode_district.is_some_and(|p| !p.trim().is_empty()) {
            return Place::unresolved(PlaceStatus::PostcodeDistrictOnly, PlaceMethod::None);
        }
        Place::default()
    }

    /// `(code, lat, lon)` of every LSOA in the configured force area that has a centroid,
    /// sorted by code.
    pub fn lsoas_in_force(&self) -> Vec<(Arc<str>, f64, f64)> {
        self.records
            .iter()
            .filter(|r| r.in_force && r.lat.is_finite())
            .map(|r| (r.code.clone(), r.lat, r.lon))
            .collect()
    }

    /// Label for an LSOA, MSOA, ward, LAD, CSP or force area code.
    pub fn name(&self, code: &str) -> Option<Arc<str>> {
        self.names.get(code.trim()).cloned()
    }
}
