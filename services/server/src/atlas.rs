//! The force's places, for the dashboard and for anyone joining by place:
//! - the `force_places` reference table: every LSOA of the configured force with its MSOA, ward,
//!   local authority and community safety partnership, their names, and the LSOA's Census 2011
//!   residents and households (public ONS data, readable by every role);
//! - their boundaries as GeoJSON for the map: LSOAs, and MSOAs outlined from their LSOAs.
//!
//! The boundaries are the generalised ONS LSOA 2011 boundaries of `lsoa_boundaries.txt`
//! (about a dozen vertices per LSOA). For the browser they are simplified further: vertices
//! rounded to 1e-4 degree (about 10 m) and repeats dropped, which keeps neighbours' shared
//! borders identical.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use datafusion::datasource::MemTable;
use lantern_enrich::boundaries::{self, Ring, UNITS_PER_DEGREE};
use lantern_enrich::{EnrichError, PlaceIndex, Populations};
use lantern_pipelines::PipelineFiles;
use serde_json::{Value, json};

/// The name the places table is registered under.
pub const FORCE_PLACES: &str = "force_places";

/// File units (1e-5 degree) per GeoJSON unit step (1e-4 degree).
const ROUNDING: i32 = 10;

/// A map layer the dashboard can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapLevel {
    Lsoa,
    Msoa,
}

impl MapLevel {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "lsoa" => Some(MapLevel::Lsoa),
            "msoa" => Some(MapLevel::Msoa),
            _ => None,
        }
    }
}

/// One LSOA of the force, with the places it lies in.
struct LsoaRow {
    lsoa: String,
    msoa: String,
    ward: String,
    lad: String,
    csp: String,
    residents: u64,
    households: u64,
}

/// The force's places table and map layers, built once at start.
pub struct Atlas {
    pub places: Arc<MemTable>,
    lsoa_geojson: Bytes,
    msoa_geojson: Bytes,
}

impl std::fmt::Debug for Atlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atlas").finish_non_exhaustive()
    }
}

impl Atlas {
    pub fn load(files: &PipelineFiles, force_area_code: &str) -> Result<Self, EnrichError> {
        let index = PlaceIndex::load(files, force_area_code)?;
        let populations = Populations::load(files)?;
        let rows: Vec<LsoaRow> = index
            .lsoas_in_force()
            .into_iter()
            .map(|(code, _, _)| {
                let place = index.by_lsoa(&code);
                let text = |c: Option<Arc<str>>| c.map(|c| c.to_string()).unwrap_or_default();
                let population = populations.of(&code).unwrap_or_default();
                LsoaRow {
                    lsoa: code.to_string(),
                    msoa: text(place.msoa_code),
                    ward: text(place.ward_code),
                    lad: text(place.lad_code),
                    csp: text(place.csp_code),
                    residents: population.residents,
                    households: population.households,
                }
            })
            .collect();
        let name = |code: &str| index.name(code).map(|n| n.to_string()).unwrap_or_default();
        let boundaries = index.boundaries();
        let lsoa_features = rows
            .iter()
            .filter_map(|r| feature(&r.lsoa, &name(&r.lsoa), boundaries.rings(&r.lsoa)?))
            .collect();
        let mut msoas: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in &rows {
            msoas.entry(&r.msoa).or_default().push(&r.lsoa);
        }
        let msoa_features = msoas
            .iter()
            .filter_map(|(msoa, lsoas)| feature(msoa, &name(msoa), &boundaries.outline(lsoas)))
            .collect();
        Ok(Atlas {
            places: places_table(&rows, &name),
            lsoa_geojson: collection(lsoa_features),
            msoa_geojson: collection(msoa_features),
        })
    }

    /// The GeoJSON FeatureCollection of a layer (each feature's `properties`: `code`, `name`).
    pub fn geojson(&self, level: MapLevel) -> Bytes {
        match level {
            MapLevel::Lsoa => self.lsoa_geojson.clone(),
            MapLevel::Msoa => self.msoa_geojson.clone(),
        }
    }
}

/// Reads one level's code from a row.
type CodeOf = fn(&LsoaRow) -> &str;

fn places_table(rows: &[LsoaRow], name: &dyn Fn(&str) -> String) -> Arc<MemTable> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let levels: [(&str, CodeOf); 5] = [
        ("lsoa", |r| &r.lsoa),
        ("msoa", |r| &r.msoa),
        ("ward", |r| &r.ward),
        ("lad", |r| &r.lad),
        ("csp", |r| &r.csp),
    ];
    for (level, code_of) in levels {
        let codes: Vec<&str> = rows.iter().map(code_of).collect();
        fields.push(Field::new(format!("{level}_code"), DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(codes.clone())));
        fields.push(Field::new(format!("{level}_name"), DataType::Utf8, false));
        let names: Vec<String> = codes.iter().map(|c| name(c)).collect();
        columns.push(Arc::new(StringArray::from(names)));
    }
    fields.push(Field::new("residents", DataType::UInt64, false));
    columns.push(Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.residents),
    )));
    fields.push(Field::new("households", DataType::UInt64, false));
    columns.push(Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.households),
    )));
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(Arc::clone(&schema), columns).expect("columns built to the schema");
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("one batch of the schema"))
}

fn collection(features: Vec<Value>) -> Bytes {
    let json = json!({"type": "FeatureCollection", "features": features});
    Bytes::from(serde_json::to_vec(&json).expect("JSON values serialise"))
}

/// A GeoJSON feature of one place: a MultiPolygon, each outer ring with the holes inside it.
fn feature(code: &str, name: &str, rings: &[Ring]) -> Option<Value> {
    let rings: Vec<Ring> = rings.iter().filter_map(simplify).collect();
    let is_hole: Vec<bool> = rings
        .iter()
        .enumerate()
        .map(|(i, ring)| {
            let inside = rings
                .iter()
                .enumerate()
                .filter(|(j, other)| *j != i && ring_contains(other, ring[0]))
                .count();
            inside % 2 == 1
        })
        .collect();
    let polygons: Vec<Value> = rings
        .iter()
        .zip(&is_hole)
        .filter(|(_, hole)| !**hole)
        .map(|(outer, _)| {
            let mut polygon = vec![coordinates(outer)];
            polygon.extend(
                rings
                    .iter()
                    .zip(&is_hole)
                    .filter(|(ring, hole)| **hole && ring_contains(outer, ring[0]))
                    .map(|(ring, _)| coordinates(ring)),
            );
            json!(polygon)
        })
        .collect();
    (!polygons.is_empty()).then(|| {
        json!({
            "type": "Feature",
            "properties": {"code": code, "name": name},
            "geometry": {"type": "MultiPolygon", "coordinates": polygons},
        })
    })
}

/// Rounds to 1e-4 degree and drops repeated vertices; `None` when fewer than 3 remain.
fn simplify(ring: &Ring) -> Option<Ring> {
    let round = |v: i32| (f64::from(v) / f64::from(ROUNDING)).round() as i32 * ROUNDING;
    let mut out: Ring = Vec::with_capacity(ring.len());
    for &(x, y) in ring {
        let p = (round(x), round(y));
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    (out.len() >= 3).then_some(out)
}

/// A closed GeoJSON ring, `[longitude, latitude]` pairs.
fn coordinates(ring: &Ring) -> Value {
    let degrees = |v: i32| (f64::from(v) / UNITS_PER_DEGREE * 1e4).round() / 1e4;
    let mut points: Vec<Value> = ring
        .iter()
        .map(|&(x, y)| json!([degrees(x), degrees(y)]))
        .collect();
    points.push(points[0].clone());
    Value::Array(points)
}

/// Whether a vertex lies inside one ring.
fn ring_contains(ring: &Ring, (x, y): (i32, i32)) -> bool {
    boundaries::contains(std::slice::from_ref(ring), f64::from(x), f64::from(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lancashire_layers_and_places() {
        let atlas = Atlas::load(&PipelineFiles::from_setting(None), "E23000003").unwrap();
        for (level, at_least) in [(MapLevel::Lsoa, 900), (MapLevel::Msoa, 180)] {
            let json: Value = serde_json::from_slice(&atlas.geojson(level)).unwrap();
            let features = json["features"].as_array().unwrap();
            assert!(features.len() >= at_least, "{level:?}: {}", features.len());
            for f in features {
                let polygons = f["geometry"]["coordinates"].as_array().unwrap();
                assert!(!polygons.is_empty());
                assert!(
                    f["properties"]["name"]
                        .as_str()
                        .is_some_and(|n| !n.is_empty())
                );
            }
        }
        let msoa: Value = serde_json::from_slice(&atlas.geojson(MapLevel::Msoa)).unwrap();
        let single_outline = msoa["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["geometry"]["coordinates"].as_array().unwrap().len() == 1)
            .count();
        assert!(
            single_outline * 10 >= msoa["features"].as_array().unwrap().len() * 9,
            "most MSOAs dissolve into one outline: {single_outline}"
        );
    }
}
