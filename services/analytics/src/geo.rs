//! Flat-earth geometry for distances of up to a few kilometres inside one force area, and a grid
//! index to find the points near each point without comparing every pair.

use std::collections::HashMap;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// An equirectangular projection centred on a latitude: x = R·λ·cos φ₀, y = R·φ (radians).
/// Over a force area (about 100 km north to south) the distance error at the edges is under
/// 0.2% for the sub-kilometre bands used here — smaller than police.uk's point snapping.
#[derive(Debug, Clone, Copy)]
pub struct Projection {
    cos_lat0: f64,
}

impl Projection {
    /// Centred on the mean latitude of `lats` (the equator if there are none).
    pub fn centred_on(lats: impl Iterator<Item = f64>) -> Self {
        let (sum, n) = lats.fold((0.0, 0usize), |(s, n), lat| (s + lat, n + 1));
        let lat0 = if n == 0 { 0.0 } else { sum / n as f64 };
        Projection {
            cos_lat0: lat0.to_radians().cos(),
        }
    }

    /// Metres east and north of (0°, 0°) at the projection's scale.
    pub fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            EARTH_RADIUS_M * lon.to_radians() * self.cos_lat0,
            EARTH_RADIUS_M * lat.to_radians(),
        )
    }
}

/// Points bucketed into square cells of a given size.
pub struct Grid<'a> {
    points: &'a [(f64, f64)],
    cell: f64,
    cells: HashMap<(i64, i64), Vec<u32>>,
}

impl<'a> Grid<'a> {
    pub fn new(points: &'a [(f64, f64)], cell: f64) -> Self {
        let mut cells: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
        for (i, &p) in points.iter().enumerate() {
            cells.entry(cell_of(p, cell)).or_default().push(i as u32);
        }
        Grid {
            points,
            cell,
            cells,
        }
    }

    /// Every pair `(i, j, distance)` with `i < j` and distance `< radius`; `radius` must not
    /// exceed the cell size (then a point's neighbours are all in the 3×3 cells around it).
    pub fn pairs_within(&self, radius: f64) -> Vec<(u32, u32, f64)> {
        let mut pairs = Vec::new();
        self.for_each_pair_within(radius, |i, j, d| pairs.push((i, j, d)));
        pairs
    }

    /// Calls `f(i, j, distance)` for every pair as [`Grid::pairs_within`] lists them, without
    /// holding them all.
    pub fn for_each_pair_within(&self, radius: f64, mut f: impl FnMut(u32, u32, f64)) {
        assert!(radius <= self.cell, "radius {radius} > cell {}", self.cell);
        for (i, &p) in self.points.iter().enumerate() {
            self.for_each_near(p, |j| {
                if (j as usize) > i {
                    let d = distance(p, self.points[j as usize]);
                    if d < radius {
                        f(i as u32, j, d);
                    }
                }
            });
        }
    }

    /// Indices of the points at distance `≤ radius` from `p` (radius ≤ cell size), `p`'s own
    /// index included when `p` is one of the points.
    pub fn within(&self, p: (f64, f64), radius: f64) -> Vec<u32> {
        assert!(radius <= self.cell, "radius {radius} > cell {}", self.cell);
        let mut out = Vec::new();
        self.for_each_near(p, |j| {
            if distance(p, self.points[j as usize]) <= radius {
                out.push(j);
            }
        });
        out.sort_unstable();
        out
    }

    fn for_each_near(&self, p: (f64, f64), mut f: impl FnMut(u32)) {
        let (cx, cy) = cell_of(p, self.cell);
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(bucket) = self.cells.get(&(cx + dx, cy + dy)) {
                    bucket.iter().copied().for_each(&mut f);
                }
            }
        }
    }
}

fn cell_of((x, y): (f64, f64), cell: f64) -> (i64, i64) {
    ((x / cell).floor() as i64, (y / cell).floor() as i64)
}

pub fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_distances_match_the_haversine_at_a_kilometre() {
        // Preston: 0.01° of latitude is 1,111.95 m on a sphere of the mean radius.
        let proj = Projection::centred_on([53.76].into_iter());
        let d = distance(proj.xy(53.76, -2.70), proj.xy(53.77, -2.70));
        assert!((d - 1111.95).abs() < 0.1, "{d}");
    }

    #[test]
    fn grid_pairs_equal_brute_force() {
        let points: Vec<(f64, f64)> = (0..300)
            .map(|i| (((i * 7919) % 1000) as f64, ((i * 104729) % 977) as f64))
            .collect();
        let grid = Grid::new(&points, 120.0);
        let mut fast: Vec<(u32, u32)> = grid
            .pairs_within(120.0)
            .into_iter()
            .map(|(i, j, _)| (i, j))
            .collect();
        fast.sort_unstable();
        let mut slow = Vec::new();
        for i in 0..points.len() {
            for j in i + 1..points.len() {
                if distance(points[i], points[j]) < 120.0 {
                    slow.push((i as u32, j as u32));
                }
            }
        }
        assert_eq!(fast, slow);
    }
}
