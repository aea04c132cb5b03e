#!/usr/bin/env python3
"""Derive Lantern's reference tables from the published source files.

Usage (from the repository root):

    python3 pipelines/reference/derive.py [SOURCE_DATA_DIR]

SOURCE_DATA_DIR defaults to ``../shared/data`` relative to the repository root. The
source files are read only; outputs are written next to this script:

    places/lsoa.csv                 one row per LSOA 2011 in England and Wales
    places/names.csv                labels for msoa, ward, lad, csp and force_area codes
    property/offence_codes.csv      Home Office offence code -> police.uk category, property type

The hand-written tables (property/crime_types.csv, premises_types.csv,
business_incident_types.csv, nfib_codes.csv) are not generated; this script only checks
them for well-formedness.

Python 3 standard library only. Output is deterministic: rows are sorted, fields are quoted
only when needed, line endings are LF. A summary of cross-checks is written to stderr.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_SOURCE = os.path.join(REPO_ROOT, "..", "shared", "data")

LSOA_LOOKUP = "ons/LSOA11_to_WD19_LAD19_lookup_EW__jtrim-ons_csv135.csv"
MSOA_LOOKUP = "ons/MSOA11_to_WD19_LAD19_lookup_EW__jtrim-ons_csv179.csv"
LAD_CSP_PFA = "ons/LAD19_to_CSP19_PFA19_lookup_EW__jtrim-ons_csv194.csv"
CSP_NAMES = "ons/CSP19_names_codes_EW__jtrim-ons_csv267.csv"
PFA_NAMES = "ons/PFA19_names_codes_UK__jtrim-ons_csv244.csv"
CENTROIDS = "ons/Lower_Layer_Super_Output_Areas_December_2011_Population_Weighted_Centroids.csv"
POLICEFORCE_LSOA = "ons/PoliceforceLSOA.csv"
CRIME_CAT_MAPPINGS = "homeoffice/CrimeCatMappings.csv"

# The 14 police.uk crime types, exactly as police.uk spells them.
POLICE_UK_CATEGORIES = [
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
]

PROPERTY_TYPES = [
    "dwelling",
    "business_premises",
    "vehicle",
    "personal_property",
    "online",
    "none",
    "unknown",
]

LSOA_NAME_RE = re.compile(r"^(.* \d{3})[A-Z]$")


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def read_csv(path: str) -> list[dict[str, str]]:
    # utf-8-sig strips the BOM that the centroids file starts with.
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: str, header: list[str], rows: list[list[str]]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        w.writerows(rows)
    log(f"wrote {os.path.relpath(path, REPO_ROOT)}: {len(rows)} rows")


def fmt_coord(v: str) -> str:
    # Round to 6 dp (~0.1 m); "%.6f" is deterministic for a given float.
    return "%.6f" % round(float(v), 6)


def strip_ua(name: str) -> str:
    return name[:-3] if name.endswith(" UA") else name


# --------------------------------------------------------------------------------------------
# places
# --------------------------------------------------------------------------------------------


def derive_places(src: str, out_dir: str) -> None:
    lsoas = read_csv(os.path.join(src, LSOA_LOOKUP))
    msoas = read_csv(os.path.join(src, MSOA_LOOKUP))
    lad_csp = read_csv(os.path.join(src, LAD_CSP_PFA))
    csp_names = read_csv(os.path.join(src, CSP_NAMES))
    pfa_names = read_csv(os.path.join(src, PFA_NAMES))
    centroids = read_csv(os.path.join(src, CENTROIDS))
    pf_lsoa = read_csv(os.path.join(src, POLICEFORCE_LSOA))

    # MSOA name -> code (names are unique in the 2011 set; checked).
    msoa_by_name: dict[str, str] = {}
    msoa_name_by_code: dict[str, str] = {}
    for r in msoas:
        nm, cd = r["MSOA11NM"], r["MSOA11CD"]
        prev = msoa_by_name.setdefault(nm, cd)
        if prev != cd:
            raise SystemExit(f"MSOA name {nm!r} maps to two codes {prev} and {cd}")
        msoa_name_by_code[cd] = nm

    # LAD -> set of (CSP, PFA). Merged councils (2019) map to several CSPs.
    lad_rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in lad_csp:
        lad_rows[r["LAD19CD"]].append(r)

    # England: LSOA -> (MSOA, pre-2019 LAD code/name, police force name) from PoliceforceLSOA.
    pf_by_lsoa = {r["LSOA Code"]: r for r in pf_lsoa}

    # Resolve CSP for LSOAs in LADs that map to several CSPs (merged councils):
    #   rule A: the LSOA's predecessor LAD (PoliceforceLSOA, England only) has exactly the
    #           name of one of the candidate CSPs -> that CSP;
    #   rule B: elimination - if, after rule A, exactly one predecessor LAD and exactly one
    #           candidate CSP of the merged LAD remain unmatched, pair them (the lookup says
    #           some part of the LAD lies in that CSP and no other part is unallocated);
    #   otherwise the CSP is left blank. No other inference is made.
    ambiguous = {lad: rows for lad, rows in lad_rows.items() if len(rows) > 1}
    csp_for_pred: dict[tuple[str, str], str] = {}  # (lad, predecessor lad code) -> csp
    for lad, rows in sorted(ambiguous.items()):
        pfas = {r["PFA19CD"] for r in rows}
        if len(pfas) != 1:
            log(f"WARNING: LAD {lad} spans several force areas {sorted(pfas)}; PFA left blank")
        cands = {r["CSP19NM"]: r["CSP19CD"] for r in rows}
        preds = {}
        for l in lsoas:
            if l["LAD19CD"] == lad and l["LSOA11CD"] in pf_by_lsoa:
                p = pf_by_lsoa[l["LSOA11CD"]]
                preds[p["Local authority code"]] = strip_ua(p["Local authority name"])
        unmatched_preds = {}
        used = set()
        for pcd, pnm in sorted(preds.items()):
            if pnm in cands:
                csp_for_pred[(lad, pcd)] = cands[pnm]
                used.add(pnm)
                log(f"  CSP for merged LAD {lad} ({rows[0]['LAD19NM']}): predecessor {pcd} {pnm} -> {cands[pnm]} (name match)")
            else:
                unmatched_preds[pcd] = pnm
        left = {nm: cd for nm, cd in cands.items() if nm not in used}
        if len(unmatched_preds) == 1 and len(left) == 1:
            (pcd, pnm), (cnm, ccd) = next(iter(unmatched_preds.items())), next(iter(left.items()))
            csp_for_pred[(lad, pcd)] = ccd
            log(f"  CSP for merged LAD {lad} ({rows[0]['LAD19NM']}): predecessor {pcd} {pnm} -> {ccd} {cnm} (elimination)")
        elif unmatched_preds:
            log(f"  CSP for merged LAD {lad}: unresolved predecessors {unmatched_preds}; CSP left blank")

    cent = {r["lsoa11cd"]: (r["Y"], r["X"]) for r in centroids}

    rows = []
    msoa_agree = msoa_disagree = msoa_unchecked = 0
    pfa_agree = pfa_disagree = pfa_unchecked = 0
    csp_blank = pfa_blank = no_centroid = 0
    disagreements = []
    pfa_name = {r["PFA19CD"]: r["PFA19NM"] for r in pfa_names}
    for l in lsoas:
        code, name = l["LSOA11CD"], l["LSOA11NM"]
        m = LSOA_NAME_RE.match(name)
        msoa = msoa_by_name.get(m.group(1), "") if m else ""
        if not msoa:
            log(f"WARNING: no MSOA for LSOA {code} {name!r}")
        lad = l["LAD19CD"]
        cands = lad_rows.get(lad, [])
        csp = pfa = ""
        if len(cands) == 1:
            csp, pfa = cands[0]["CSP19CD"], cands[0]["PFA19CD"]
        elif len(cands) > 1:
            pfas = {r["PFA19CD"] for r in cands}
            pfa = next(iter(pfas)) if len(pfas) == 1 else ""
            p = pf_by_lsoa.get(code)
            if p is not None:
                csp = csp_for_pred.get((lad, p["Local authority code"]), "")
        else:
            log(f"WARNING: LAD {lad} ({l['LAD19NM']}) missing from CSP/PFA lookup")
        csp_blank += not csp
        pfa_blank += not pfa

        # Cross-checks against PoliceforceLSOA (England only).
        p = pf_by_lsoa.get(code)
        if p is None:
            msoa_unchecked += 1
            pfa_unchecked += 1
        else:
            if p["MSOA Code"] == msoa:
                msoa_agree += 1
            else:
                msoa_disagree += 1
                disagreements.append((code, name, msoa, p["MSOA Code"]))
            if not p["Police_force"]:
                pfa_unchecked += 1
            elif p["Police_force"] == pfa_name.get(pfa):
                pfa_agree += 1
            else:
                pfa_disagree += 1

        lat = lon = ""
        c = cent.get(code)
        if c is None:
            no_centroid += 1
        else:
            lat, lon = fmt_coord(c[0]), fmt_coord(c[1])
        rows.append([code, name, msoa, l["WD19CD"], lad, csp, pfa, lat, lon])

    rows.sort()
    if len({r[0] for r in rows}) != len(rows):
        raise SystemExit("duplicate LSOA codes in lookup")
    write_csv(
        os.path.join(out_dir, "places", "lsoa.csv"),
        ["lsoa_code", "lsoa_name", "msoa_code", "ward_code", "lad_code", "csp_code",
         "force_area_code", "lat", "lon"],
        rows,
    )
    checked = msoa_agree + msoa_disagree
    log(f"MSOA (from LSOA name) vs PoliceforceLSOA: {msoa_agree}/{checked} agree "
        f"({100.0 * msoa_agree / checked:.3f}%), {msoa_disagree} disagree, "
        f"{msoa_unchecked} not in PoliceforceLSOA (Wales)")
    for d in disagreements[:20]:
        log(f"  disagreement: {d}")
    log(f"Force area vs PoliceforceLSOA.Police_force: {pfa_agree} agree, {pfa_disagree} disagree, "
        f"{pfa_unchecked} unchecked (Wales or blank Police_force)")
    log(f"blank csp_code: {csp_blank}; blank force_area_code: {pfa_blank}; no centroid: {no_centroid}")

    # names.csv: labels for every code used in lsoa.csv.
    used = {k: set() for k in ("msoa", "ward", "lad", "csp", "force_area")}
    for r in rows:
        for k, v in zip(("msoa", "ward", "lad", "csp", "force_area"), r[2:7]):
            if v:
                used[k].add(v)
    labels: dict[str, dict[str, str]] = {k: {} for k in used}
    labels["msoa"] = msoa_name_by_code
    for l in lsoas:
        labels["ward"][l["WD19CD"]] = l["WD19NM"]
        labels["lad"][l["LAD19CD"]] = l["LAD19NM"]
    for r in lad_csp:
        labels["csp"][r["CSP19CD"]] = r["CSP19NM"]
    for r in csp_names:
        labels["csp"][r["CSP19CD"]] = r["CSP19NM"]
    labels["force_area"] = pfa_name
    name_rows = []
    for level in sorted(used):
        for code in sorted(used[level]):
            nm = labels[level].get(code)
            if not nm:
                log(f"WARNING: no name for {level} {code}")
                continue
            name_rows.append([level, code, nm])
    name_rows.sort()
    write_csv(os.path.join(out_dir, "places", "names.csv"), ["level", "code", "name"], name_rows)


# --------------------------------------------------------------------------------------------
# property: offence codes
# --------------------------------------------------------------------------------------------

# Property-type rules for Home Office offence codes. Applied in this order; the first rule
# that matches wins. Each rule is (name, predicate(code, description, subgroup, category),
# property_type). Rules are deliberately explicit so that a reviewer can check every code.
#
#  1. burglary_residential    subgroup "Domestic burglary" (28A-28H, 29, 29A)   -> dwelling
#  2. burglary_business       subgroup "Non-domestic burglary" (30A-30D, 31, 31A)
#                                                                               -> business_premises
#  3. robbery_business        34A robbery of business property                  -> business_premises
#  4. robbery_personal        34B robbery of personal property                  -> personal_property
#  5. vehicle_offences        45, 48, 126, 37.x (37.1 causing death by aggravated vehicle
#                             taking, 37.2 aggravated vehicle taking)           -> vehicle
#                             (37.1 is counted by police.uk under violence; the property
#                             involved is nonetheless a taken vehicle)
#  6. theft_from_person       39                                                -> personal_property
#  7. bicycle_theft           44                                                -> personal_property
#  8. shoplifting             46                                                -> business_premises
#  9. theft_in_dwelling       40 theft in a dwelling                            -> dwelling
# 10. theft_by_employee       41 theft by an employee (victim is the employer)  -> business_premises
# 11. making_off              49A making off without payment (victim is a trader)
#                                                                               -> business_premises
# 12. criminal_damage_sub     58A -> dwelling, 58B -> business_premises, 58C -> vehicle;
#                             58D, 58J, 56A, 56B (other / racially aggravated damage, arson)
#                                                                               -> unknown
# 13. fraud                   offence group "Fraud offences" (AF, CIFAS, UK Finance, FFA UK)
#                                                                               -> online
# 14. no_property_target      police.uk category Violence and sexual offences, Public order,
#                             Drugs, Possession of weapons                      -> none
# 15. misc_no_property        miscellaneous offences against the person, the state or
#                             justice with no property target: 15, 24, 26, 27, 67, 69, 76,
#                             79, 80, 83, 86, 95, 96, 802                        -> none
# 16. otherwise                                                                 -> unknown
#     (e.g. 35 blackmail, 42 theft of mail, 43 dishonest use of electricity, 47 theft from
#     automatic machine or meter, 49 other theft, 33 going equipped, 54 handling, 99 other)

CRIMINAL_DAMAGE_BY_CODE = {
    "58A": "dwelling",
    "58B": "business_premises",
    "58C": "vehicle",
}
MISC_NO_PROPERTY = {"15", "24", "26", "27", "67", "69", "76", "79", "80", "83", "86", "95", "96", "802"}
NO_PROPERTY_CATEGORIES = {
    "Violence and sexual offences",
    "Public order",
    "Drugs",
    "Possession of weapons",
}


def property_type_for_offence(code: str, group: str, subgroup: str, category: str) -> tuple[str, str]:
    if subgroup == "Domestic burglary":
        return "burglary_residential", "dwelling"
    if subgroup == "Non-domestic burglary":
        return "burglary_business", "business_premises"
    if code == "34A":
        return "robbery_business", "business_premises"
    if code == "34B":
        return "robbery_personal", "personal_property"
    if code in ("45", "48", "126") or code.startswith("37."):
        return "vehicle_offences", "vehicle"
    if code == "39":
        return "theft_from_person", "personal_property"
    if code == "44":
        return "bicycle_theft", "personal_property"
    if code == "46":
        return "shoplifting", "business_premises"
    if code == "40":
        return "theft_in_dwelling", "dwelling"
    if code == "41":
        return "theft_by_employee", "business_premises"
    if code == "49A":
        return "making_off", "business_premises"
    if category == "Criminal damage and arson":
        return "criminal_damage_sub", CRIMINAL_DAMAGE_BY_CODE.get(code, "unknown")
    if group == "Fraud offences":
        return "fraud", "online"
    if category in NO_PROPERTY_CATEGORIES:
        return "no_property_target", "none"
    if code in MISC_NO_PROPERTY:
        return "misc_no_property", "none"
    return "otherwise", "unknown"


def normalise_category(raw: str) -> str:
    for c in POLICE_UK_CATEGORIES:
        if c.lower() == raw.strip().lower():
            return c
    raise SystemExit(f"unrecognised police.uk category {raw!r}")


def derive_offence_codes(src: str, out_dir: str) -> None:
    rows = []
    rule_counts: dict[str, int] = defaultdict(int)
    for r in read_csv(os.path.join(src, CRIME_CAT_MAPPINGS)):
        category = normalise_category(r["Police.uk_Cat"])
        # "1/4.1/4.10/4.2" (homicide) lists several codes in one row: one output row each.
        for code in r["Offence_Code"].split("/"):
            code = code.strip()
            rule, ptype = property_type_for_offence(
                code, r["Offence_Group"], r["Offence_Subgroup"], category
            )
            rule_counts[rule] += 1
            rows.append([code, r["Offence_Description"], r["Offence_Subgroup"], category, ptype])
    if len({r[0] for r in rows}) != len(rows):
        raise SystemExit("duplicate offence codes")
    rows.sort()
    write_csv(
        os.path.join(out_dir, "property", "offence_codes.csv"),
        ["offence_code", "offence_description", "offence_subgroup", "police_uk_category",
         "property_type"],
        rows,
    )
    log("offence property rules applied: " + ", ".join(f"{k}={v}" for k, v in sorted(rule_counts.items())))


# --------------------------------------------------------------------------------------------
# checks on the hand-written tables
# --------------------------------------------------------------------------------------------


def check_hand_written(out_dir: str) -> None:
    checks = {
        "crime_types.csv": (["crime_type", "property_type", "premises_dependent"], "property_type", False),
        "premises_types.csv": (["premises_type", "property_type"], "property_type", True),
        "business_incident_types.csv": (["incident_type", "property_type", "label"], "property_type", False),
        "nfib_codes.csv": (["fraud_code", "group", "description", "property_type"], "property_type", False),
    }
    for fname, (header, ptcol, blank_ok) in checks.items():
        path = os.path.join(out_dir, "property", fname)
        if not os.path.exists(path):
            log(f"WARNING: hand-written {fname} missing")
            continue
        with open(path, "rb") as fh:
            if b"\r" in fh.read():
                raise SystemExit(f"{fname}: CR line endings")
        with open(path, encoding="utf-8", newline="") as fh:
            rd = csv.reader(fh)
            got = next(rd)
            if got != header:
                raise SystemExit(f"{fname}: header {got} != {header}")
            body = list(rd)
        idx = header.index(ptcol)
        for i, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise SystemExit(f"{fname}:{i}: {len(row)} fields")
            v = row[idx]
            if not (v in PROPERTY_TYPES or (blank_ok and v == "")):
                raise SystemExit(f"{fname}:{i}: bad property_type {v!r}")
        if fname == "crime_types.csv":
            names = sorted(r[0] for r in body)
            if names != sorted(POLICE_UK_CATEGORIES):
                raise SystemExit(f"crime_types.csv: crime types {names} != police.uk list")
            for i, row in enumerate(body, start=2):
                if row[2] not in ("true", "false"):
                    raise SystemExit(f"crime_types.csv:{i}: premises_dependent must be true/false")
        log(f"checked property/{fname}: {len(body)} rows")


def derive_population(src: str, out_dir: str) -> None:
    """Census 2011 table PHP01: usual residents and households per LSOA, the denominators of
    rates (per 1,000 residents; residential burglary per 1,000 households)."""
    path = os.path.join(src, "census", "census_2011_population_hh.csv")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    # Duplicate and blank header names: the columns are positional. The first "Persons" is
    # all usual residents (the next two split it into households and communal establishments).
    lsoa_col = header.index("LSOA Code")
    residents_col = header.index("Persons")
    households_col = header.index("Households")
    out = []
    for row in rows[1:]:
        residents = int(row[residents_col].replace(",", ""))
        households = int(row[households_col].replace(",", ""))
        out.append([row[lsoa_col].strip(), str(residents), str(households)])
    out.sort()
    if len({r[0] for r in out}) != len(out):
        raise SystemExit(f"{path}: an LSOA appears twice")
    write_csv(os.path.join(out_dir, "places", "population.csv"), ["lsoa_code", "residents", "households"], out)


def main(argv: list[str]) -> int:
    src = argv[1] if len(argv) > 1 else DEFAULT_SOURCE
    src = os.path.abspath(src)
    if not os.path.isdir(os.path.join(src, "ons")):
        log(f"source data directory {src} has no ons/ subdirectory")
        return 2
    derive_places(src, HERE)
    derive_population(src, HERE)
    derive_offence_codes(src, HERE)
    check_hand_written(HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
