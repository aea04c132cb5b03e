"""Getis-Ord Gi* recomputed with PySAL (libpysal weights, esda.G_Local) from Lantern's own
counts, and Benjamini-Hochberg q-values with SciPy, then compared with Lantern's
analytics_gi_star to 1e-9. The weights are built here, by libpysal, not taken from Lantern:
a distance band on the ONS centroids, or queen / rook contiguity of the boundary polygons.

usage: check_gistar.py LANTERN_ROWS.json LSOA_CSV distance_band DISTANCE_M
       check_gistar.py LANTERN_ROWS.json BOUNDARIES_TXT queen|rook"""

import csv
import json
import math
import sys
import warnings

import esda
import libpysal
import numpy as np
from scipy.stats import false_discovery_control

lantern_json, reference, scheme = sys.argv[1], sys.argv[2], sys.argv[3]
rows = sorted(json.load(open(lantern_json)), key=lambda r: r["lsoa_code"])


def distance_band_weights(lsoa_csv, distance):
    centroids = {r["lsoa_code"]: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(open(lsoa_csv))}
    lat_lon = [centroids[r["lsoa_code"]] for r in rows]
    # The same projection Lantern documents: equirectangular at the mean latitude.
    R = 6371008.8
    cos0 = math.cos(math.radians(sum(lat for lat, _ in lat_lon) / len(lat_lon)))
    points = np.array([(R * math.radians(lon) * cos0, R * math.radians(lat)) for lat, lon in lat_lon])
    return libpysal.weights.DistanceBand(points, threshold=distance, binary=True, silence_warnings=True)


def contiguity_weights(boundaries_txt, rook):
    from shapely.geometry import MultiPolygon, Polygon

    wanted = {r["lsoa_code"] for r in rows}
    shapes = {}
    for line in open(boundaries_txt):
        if line.startswith("#"):
            continue
        code, rest = line.rstrip("\n").split(" ", 1)
        if code not in wanted:
            continue
        rings = []
        for ring in rest.split("|"):
            v = list(map(int, ring.split()))
            x, y = v[0], v[1]
            points = [(x, y)]
            for i in range(2, len(v), 2):
                x, y = x + v[i], y + v[i + 1]
                points.append((x, y))
            rings.append(points)
        # Each ring as its own polygon part: libpysal matches shared vertices / edges.
        shapes[code] = MultiPolygon([Polygon(r) for r in rings])
    polygons = [shapes[r["lsoa_code"]] for r in rows]
    kind = libpysal.weights.Rook if rook else libpysal.weights.Queen
    return kind.from_iterable(polygons)


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # islands: an LSOA whose only neighbour is itself
    if scheme == "distance_band":
        w = distance_band_weights(reference, float(sys.argv[4]))
    else:
        w = contiguity_weights(reference, scheme == "rook")
    cardinality = [w.cardinalities[i] + 1 for i in w.id_order]
    mismatched = [r["lsoa_code"] for r, c in zip(rows, cardinality) if r["neighbours"] != c]
    if mismatched:
        sys.exit(f"{scheme}: {len(mismatched)} LSOAs have other neighbours than libpysal finds, e.g. {mismatched[:5]}")
    y = np.array([r["count"] for r in rows], dtype=float)
    g = esda.G_Local(y, w, transform="B", star=True, permutations=0)
worst = 0.0
for r, z in zip(rows, g.Zs):
    if r["gi_star_z"] is None:
        if not math.isnan(z):
            sys.exit(f"{r['lsoa_code']}: Lantern has no Gi*, esda {z}")
        continue
    worst = max(worst, abs(r["gi_star_z"] - z))
p = np.array([r["p_value"] for r in rows])
q = false_discovery_control(p, method="bh")
worst_q = max(abs(a - b["q_value"]) for a, b in zip(q, rows))
print(f"gi* ({scheme}): {len(rows)} LSOAs; largest |z difference| {worst:.3e}; largest |q difference| {worst_q:.3e}")
if worst > 1e-9 or worst_q > 1e-9:
    sys.exit(1)
