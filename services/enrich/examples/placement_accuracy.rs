//! How well a point alone places a record: for every police.uk row with coordinates and an
//! LSOA, place the point by point-in-polygon (centroid fallback) and by nearest centroid alone,
//! and count agreement with police.uk's own LSOA (and local authority).
//!
//! `cargo build --workspace --examples && $CARGO_TARGET_DIR/debug/examples/placement_accuracy
//! ../shared/data/policeuk/lancashire/*.csv`

use lantern_enrich::{PlaceMethod, ReferenceData};
use lantern_pipelines::PipelineFiles;

fn main() {
    let reference = ReferenceData::load(&PipelineFiles::from_setting(None), "E23000003").unwrap();
    let places = &reference.places;
    let (mut rows, mut pip_lsoa, mut pip_lad, mut centroid_lsoa, mut centroid_lad) =
        (0, 0, 0, 0, 0);
    let (mut in_polygon, mut fallback) = (0, 0);
    for file in std::env::args().skip(1) {
        let mut reader = csv::Reader::from_path(&file).unwrap();
        for row in reader.records() {
            let row = row.unwrap();
            let (Ok(lon), Ok(lat)) = (row[4].parse::<f64>(), row[5].parse::<f64>()) else {
                continue;
            };
            let truth = places.by_lsoa(&row[7]);
            if truth.lsoa_code.is_none() {
                continue;
            }
            rows += 1;
            let by_point = places.by_point(lat, lon);
            match by_point.method {
                PlaceMethod::PointInPolygon => in_polygon += 1,
                _ => fallback += 1,
            }
            pip_lsoa += usize::from(by_point.lsoa_code == truth.lsoa_code);
            pip_lad += usize::from(by_point.lad_code == truth.lad_code);
            if let Some((code, _)) = places.nearest_centroid_km(lat, lon, 5.0) {
                let nearest = places.by_lsoa(&code);
                centroid_lsoa += usize::from(nearest.lsoa_code == truth.lsoa_code);
                centroid_lad += usize::from(nearest.lad_code == truth.lad_code);
            }
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / rows.max(1) as f64;
    println!("{rows} located rows with a known LSOA");
    println!(
        "point in polygon (centroid fallback for {fallback}; {in_polygon} inside a boundary): \
         same LSOA {:.1}%, same LAD {:.1}%",
        pct(pip_lsoa),
        pct(pip_lad)
    );
    println!(
        "nearest centroid alone: same LSOA {:.1}%, same LAD {:.1}%",
        pct(centroid_lsoa),
        pct(centroid_lad)
    );
}
