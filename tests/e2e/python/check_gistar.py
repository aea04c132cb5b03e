"""Getis-Ord Gi* recomputed with PySAL (libpysal weights, esda.G_Local) from Lantern's own
counts and the ONS centroids, and Benjamini-Hochberg q-values with SciPy, then compared with
Lantern's analytics_gi_star to 1e-9.

usage: check_gistar.py LANTERN_ROWS.json LSOA_CSV DISTANCE_M"""

import csv
import json
import math
import sys
import warnings

import esda
import libpysal
import numpy as np
from scipy.stats import false_discovery_control

lantern_json, lsoa_csv, distance = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = sorted(json.load(open(lantern_json)), key=lambda r: r["lsoa_code"])
centroids = {r["lsoa_code"]: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(open(lsoa_csv))}
lat_lon = [centroids[r["lsoa_code"]] for r in rows]
# The same projection Lantern documents: equirectangular at the mean latitude.
R = 6371008.8
cos0 = math.cos(math.radians(sum(lat for lat, _ in lat_lon) / len(lat_lon)))
points = np.array([(R * math.radians(lon) * cos0, R * math.radians(lat)) for lat, lon in lat_lon])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # islands: an LSOA whose only neighbour is itself
    w = libpysal.weights.DistanceBand(points, threshold=distance, binary=True, silence_warnings=True)
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
print(f"gi*: {len(rows)} LSOAs; largest |z difference| {worst:.3e}; largest |q difference| {worst_q:.3e}")
if worst > 1e-9 or worst_q > 1e-9:
    sys.exit(1)
