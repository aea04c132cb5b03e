#!/usr/bin/env python3
"""Derive Lantern's harm weights (policy v1) from the Cambridge Crime Harm Index 2020 workbook.

Usage (from the repository root):

    python3 pipelines/reference/harm/derive_chi.py [XLSX] [--data-dir SOURCE_DATA_DIR]
                                                   [--recorded CSV] [--force FORCE_NAME] [--year YYYY/YY]
                                                   [--out-dir DIR]

XLSX defaults to /tmp/cchi/cchi2020.xlsx: the file `data/cchi2020dataxls.xlsx` of GitHub
techinesis/UK-Crime-Explorer at commit b9174e26d60a70edaa9fd74d10faf9503232f0cd (SHA-256
below). SOURCE_DATA_DIR defaults to ``../shared/data`` relative to the repository root, as for
pipelines/reference/derive.py. Inputs are read only. Outputs, written next to this script
(or to --out-dir):

    chi_weights_v1.csv             one row per Home Office offence code with a CCHI score
    chi_crime_type_weights_v1.csv  one row per police.uk crime type (no Anti-social behaviour)

Other inputs: ../property/offence_codes.csv (code -> police.uk crime type, description),
../property/crime_types.csv (the police.uk crime types) and
homeoffice/prc-pfa-201718_new.csv under SOURCE_DATA_DIR (Lancashire recorded crime 2017/18;
--recorded, --force and --year choose another file in the same layout, force or year).

Policy v1 (see README.md):
  * per code: `single` when every offence the workbook lists under the code has the same
    score; `min_of_offences` otherwise, and the weight is then the lowest of those scores.
    Scores are copied as the workbook stores them. Codes with no workbook row get no row.
  * per crime type: the mean of the per-code weights weighted by Lancashire's 2017/18
    recorded volume (four quarters). Codes without a weight are left out of the mean.

Python 3 standard library only (the workbook is read with zipfile + xml.etree). Output is
deterministic: rows are sorted, fields are quoted only when needed, line endings are LF,
numbers are computed with decimal arithmetic. A summary is written to stderr.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import sys
import zipfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_SOURCE = os.path.join(REPO_ROOT, "..", "shared", "data")
DEFAULT_XLSX = "/tmp/cchi/cchi2020.xlsx"
EXPECTED_SHA256 = "5724ad777c21b9be80e4ea4d9276569d8c27f5cef65bc4d115170c71c13767ce"

OFFENCE_CODES = os.path.join(HERE, "..", "property", "offence_codes.csv")
CRIME_TYPES = os.path.join(HERE, "..", "property", "crime_types.csv")
RECORDED = "homeoffice/prc-pfa-201718_new.csv"

SHEET = "CCHI 2020 values sheet"
COL_CODE = "CLASSIFICATION_CODE"
COL_SCORE = "CCHI Score"

FORCE = "Lancashire"
YEAR = "2017/18"
QUARTERS = ("1", "2", "3", "4")
NO_ROW_CRIME_TYPES = {"Anti-social behaviour"}  # not a crime: no sentencing starting point

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def fail(msg: str) -> None:
    raise SystemExit(f"derive_chi: {msg}")


# The reference data's own CSV conventions (minimal quoting, LF, UTF-8), from derive.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from derive import read_csv, write_csv  # noqa: E402


# --------------------------------------------------------------------------------------------
# workbook
# --------------------------------------------------------------------------------------------


def _col_index(ref: str) -> int:
    n = 0
    for ch in re.match(r"[A-Z]+", ref).group():
        n = n * 26 + ord(ch) - 64
    return n - 1


def read_sheet(path: str, sheet_name: str) -> list[dict[int, str]]:
    """Rows of one worksheet as {column index: cell text}, in sheet order.

    Numbers are returned exactly as stored in the cell's <v> element; shared and inline
    strings are resolved. Formulas are not evaluated (the cached value is returned).
    """
    m = "{%s}" % NS_MAIN
    with zipfile.ZipFile(path) as z:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in z.namelist():
            for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall(m + "si"):
                shared.append("".join(t.text or "" for t in si.iter(m + "t")))
        wb = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("{%s}Relationship" % NS_PKG_REL)}
        target = None
        for sh in wb.find(m + "sheets"):
            if sh.get("name") == sheet_name:
                target = targets[sh.get("{%s}id" % NS_REL)]
        if target is None:
            fail(f"{path}: no sheet named {sheet_name!r}")
        target = target.lstrip("/")
        if not target.startswith("xl/"):
            target = "xl/" + target
        root = ET.fromstring(z.read(target))
    rows = []
    for row in root.iter(m + "row"):
        cells: dict[int, str] = {}
        for c in row.findall(m + "c"):
            t = c.get("t")
            v = c.find(m + "v")
            if t == "s":
                val = shared[int(v.text)]
            elif t == "inlineStr":
                val = "".join(x.text or "" for x in c.iter(m + "t"))
            else:
                val = v.text if v is not None and v.text is not None else ""
            cells[_col_index(c.get("r"))] = val
        rows.append(cells)
    return rows


def normalise_code(code: str) -> str:
    # The workbook writes 4/1, 37/2; Lantern (and the Home Office open data) write 4.1, 37.2.
    return code.strip().replace("/", ".")


def read_scores(xlsx: str) -> dict[str, list[str]]:
    """Offence code -> list of CCHI scores (as stored), one per workbook row."""
    rows = read_sheet(xlsx, SHEET)
    header = {v.strip(): k for k, v in rows[0].items()}
    for col in (COL_CODE, COL_SCORE):
        if col not in header:
            fail(f"{xlsx}: sheet {SHEET!r} has no column {col!r}")
    ci, si = header[COL_CODE], header[COL_SCORE]
    scores: dict[str, list[str]] = defaultdict(list)
    n = 0
    for cells in rows[1:]:
        if not any(v.strip() for v in cells.values()):
            continue
        n += 1
        code = normalise_code(cells.get(ci, ""))
        score = cells.get(si, "").strip()
        if not code or not score:
            log(f"  workbook row without code or score skipped: code={code!r} score={score!r}")
            continue
        try:
            if not Decimal(score).is_finite():
                raise InvalidOperation
        except InvalidOperation:
            fail(f"{xlsx}: non-numeric CCHI score {score!r} under code {code}")
        scores[code].append(score)
    log(f"read {n} workbook rows, {len(scores)} classification codes")
    return scores


# --------------------------------------------------------------------------------------------
# per-code weights
# --------------------------------------------------------------------------------------------


def derive_code_weights(scores: dict[str, list[str]], offence_codes: dict[str, dict[str, str]]):
    """Returns (rows for chi_weights_v1.csv, {code: Decimal weight})."""
    out = []
    weights: dict[str, Decimal] = {}
    for code in sorted(scores):
        if code not in offence_codes:
            log(f"  workbook code {code!r} ({len(scores[code])} rows) is not in offence_codes.csv; not used")
            continue
        vals = scores[code]
        # One canonical text per numeric value; the workbook must not store one value two ways.
        text_by_value: dict[Decimal, str] = {}
        for s in vals:
            prev = text_by_value.setdefault(Decimal(s), s)
            if prev != s:
                fail(f"code {code}: score stored both as {prev!r} and {s!r}")
        lowest = min(text_by_value)
        rule = "single" if len(text_by_value) == 1 else "min_of_offences"
        weights[code] = lowest
        out.append([code, offence_codes[code]["offence_description"], text_by_value[lowest], rule, str(len(vals))])
    missing = sorted(set(offence_codes) - set(weights))
    log(f"per-code weights: {len(out)} codes "
        f"({sum(r[3] == 'single' for r in out)} single, {sum(r[3] == 'min_of_offences' for r in out)} min_of_offences); "
        f"{len(missing)} codes of offence_codes.csv have no workbook row: {', '.join(missing)}")
    return out, weights


# --------------------------------------------------------------------------------------------
# per-crime-type weights
# --------------------------------------------------------------------------------------------


def read_force_volumes(path: str, force: str, year: str, offence_codes: dict[str, dict[str, str]]) -> dict[str, int]:
    """Recorded-crime code (possibly combined, e.g. 1/4.1/4.10/4.2) -> the force's total for the year."""
    rows = read_csv(path)
    need = {"Financial_Year", "Financial_Quarter", "Force_Name", "Offence_Code", "Number_of_Offences", "Policeuk_Cat"}
    if not need <= set(rows[0]):
        fail(f"{path}: expected columns {sorted(need)}")
    vol: dict[str, int] = defaultdict(int)
    quarters = set()
    negative_quarters: list[str] = []
    for r in rows:
        if r["Force_Name"] != force or r["Financial_Year"] != year:
            continue
        if r["Financial_Quarter"] not in QUARTERS:
            fail(f"{path}: unexpected quarter {r['Financial_Quarter']!r}")
        quarters.add(r["Financial_Quarter"])
        n = int(r["Number_of_Offences"])
        code = r["Offence_Code"].strip()
        if n < 0:
            # The Home Office publishes negative quarterly counts where crimes recorded in an
            # earlier quarter were later cancelled or reclassified. Only the year total is used.
            negative_quarters.append(f"{code} Q{r['Financial_Quarter']}={n}")
        for member in code.split("/"):
            if member not in offence_codes:
                fail(f"{path}: code {member!r} not in offence_codes.csv")
            # Cross-check the file's own police.uk category against offence_codes.csv.
            if r["Policeuk_Cat"].lower() != offence_codes[member]["police_uk_category"].lower():
                fail(f"{path}: {member} is {r['Policeuk_Cat']!r} here but "
                     f"{offence_codes[member]['police_uk_category']!r} in offence_codes.csv")
        vol[code] += n
    if negative_quarters:
        log(f"  negative quarterly counts (adjustments, kept in the year total): {', '.join(negative_quarters)}")
    for code, n in sorted(vol.items()):
        if n < 0:
            fail(f"{path}: {force} {year} total for {code} is negative ({n})")
    if quarters != set(QUARTERS):
        fail(f"{path}: {force} {year} has quarters {sorted(quarters)}, expected {list(QUARTERS)}")
    log(f"{force} {year}: {len(vol)} recorded-crime codes, {sum(vol.values())} offences")
    return vol


def volume_weight(code: str, weights: dict[str, Decimal]) -> Decimal | None:
    """Weight for a recorded-crime code. A combined code (the Home Office records homicide as
    1/4.1/4.10/4.2, one count for the four codes) cannot be split by code, so it gets a weight
    only if every member code has a weight and all are equal; otherwise it is unweighted."""
    members = code.split("/")
    ws = {weights.get(m) for m in members}
    if None in ws or len(ws) != 1:
        return None
    return ws.pop()


def derive_crime_type_weights(recorded: str, force: str, year: str, offence_codes, weights: dict[str, Decimal]) -> list[list[str]]:
    crime_types = [r["crime_type"] for r in read_csv(CRIME_TYPES)]
    vol = read_force_volumes(recorded, force, year, offence_codes)
    out = []
    for ct in sorted(crime_types):
        if ct in NO_ROW_CRIME_TYPES:
            log(f"  {ct}: no row (not a crime; no sentencing starting point)")
            continue
        total = weighted_vol = 0
        weighted_sum = Decimal(0)
        contributing = []
        unweighted = []
        for code in sorted(vol):
            cats = {offence_codes[m]["police_uk_category"] for m in code.split("/")}
            if len(cats) != 1:
                fail(f"combined code {code} spans crime types {sorted(cats)}")
            if cats.pop() != ct:
                continue
            n = vol[code]
            total += n
            w = volume_weight(code, weights)
            if w is None:
                if n:
                    unweighted.append(f"{code}={n}")
                continue
            if n == 0:
                continue  # a weighted code with no recorded offence contributes nothing
            weighted_vol += n
            weighted_sum += w * n
            contributing.append(code)
        if weighted_vol == 0:
            log(f"  {ct}: NO ROW - no weighted code with recorded volume (volume {total}; unweighted {unweighted})")
            continue
        mean = (weighted_sum / weighted_vol).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        share = (Decimal(weighted_vol) / Decimal(total)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        out.append([ct, str(mean), str(len(contributing)), str(share)])
        log(f"  {ct}: weight {mean} from {len(contributing)} codes; weighted volume {weighted_vol}/{total} "
            f"= {share}; unweighted volume: {', '.join(unweighted) or 'none'}")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("xlsx", nargs="?", default=DEFAULT_XLSX, help=f"CCHI 2020 workbook (default {DEFAULT_XLSX})")
    ap.add_argument("--data-dir", default=DEFAULT_SOURCE, help="shared source data directory (default ../shared/data from the repository root)")
    ap.add_argument("--recorded", help=f"recorded-crime CSV in the Home Office open-data layout (default DATA_DIR/{RECORDED})")
    ap.add_argument("--force", default=FORCE, help=f"Force_Name whose volumes weight the mean (default {FORCE})")
    ap.add_argument("--year", default=YEAR, help=f"Financial_Year to sum over its four quarters (default {YEAR})")
    ap.add_argument("--out-dir", default=HERE, help="where to write the two CSVs (default: next to this script)")
    args = ap.parse_args(argv[1:])
    recorded = os.path.abspath(args.recorded or os.path.join(args.data_dir, RECORDED))
    if not os.path.isfile(recorded):
        log(f"recorded-crime file {recorded} not found")
        return 2
    with open(args.xlsx, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    if digest != EXPECTED_SHA256:
        log(f"WARNING: {args.xlsx} has SHA-256 {digest}, not the documented {EXPECTED_SHA256}")

    offence_codes = {r["offence_code"]: r for r in read_csv(OFFENCE_CODES)}
    scores = read_scores(args.xlsx)
    code_rows, weights = derive_code_weights(scores, offence_codes)
    ct_rows = derive_crime_type_weights(recorded, args.force, args.year, offence_codes, weights)
    # Both tables are computed before either is written, so a failure leaves both untouched.
    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    write_csv(os.path.join(out, "chi_weights_v1.csv"),
              ["offence_code", "offence_description", "weight_days", "rule", "offences_in_source"], code_rows)
    write_csv(os.path.join(out, "chi_crime_type_weights_v1.csv"),
              ["crime_type", "weight_days", "offence_codes_weighted", "recorded_share_weighted"], ct_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
