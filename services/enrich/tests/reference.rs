//! Tests against the committed reference files in `pipelines/reference`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use lantern_enrich::{
    EnrichError, MAX_CENTROID_DISTANCE_KM, PlaceMethod, PlaceStatus, PropertyInput, PropertyType,
    ReferenceData,
};
use lantern_pipelines::PipelineFiles;

const LANCASHIRE: &str = "E23000003";

fn pipelines_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../pipelines")
}

fn reference_dir() -> PathBuf {
    pipelines_dir().join("reference")
}

/// The committed files, read from disk (the built-in copy is checked against them in
/// lantern-pipelines).
fn files() -> PipelineFiles {
    PipelineFiles::Dir(pipelines_dir())
}

fn refdata() -> &'static ReferenceData {
    static DATA: OnceLock<ReferenceData> = OnceLock::new();
    DATA.get_or_init(|| ReferenceData::load(&files(), LANCASHIRE).expect("load reference data"))
}

/// (code, name, msoa, ward, lad, csp, force, lat, lon) rows of lsoa.csv, read independently.
fn lsoa_rows() -> Vec<Vec<String>> {
    let mut rd = csv::Reader::from_path(reference_dir().join("places/lsoa.csv")).unwrap();
    rd.records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

const LANCASHIRE_LADS: [(&str, &str); 14] = [
    ("E06000008", "Blackburn with Darwen"),
    ("E06000009", "Blackpool"),
    ("E07000117", "Burnley"),
    ("E07000118", "Chorley"),
    ("E07000119", "Fylde"),
    ("E07000120", "Hyndburn"),
    ("E07000121", "Lancaster"),
    ("E07000122", "Pendle"),
    ("E07000123", "Preston"),
    ("E07000124", "Ribble Valley"),
    ("E07000125", "Rossendale"),
    ("E07000126", "South Ribble"),
    ("E07000127", "West Lancashire"),
    ("E07000128", "Wyre"),
];

#[test]
fn loads_all_lsoas_of_england_and_wales() {
    let r = refdata();
    assert_eq!(r.places.len(), 34_753);
    assert!(!r.places.is_empty());
}

#[test]
fn every_lancashire_lad_maps_to_the_force() {
    let r = refdata();
    let mut lads_in_force: BTreeMap<String, usize> = BTreeMap::new();
    for row in lsoa_rows() {
        let place = r.places.by_lsoa(&row[0]);
        let lad = place.lad_code.as_deref().unwrap().to_owned();
        let is_lancs_lad = LANCASHIRE_LADS.iter().any(|(c, _)| *c == lad);
        assert_eq!(is_lancs_lad, place.in_force_area, "{}", row[0]);
        if is_lancs_lad {
            assert_eq!(place.force_area_code.as_deref(), Some(LANCASHIRE));
            assert_eq!(place.status, PlaceStatus::InForce);
            assert!(place.csp_code.is_some());
            *lads_in_force.entry(lad).or_default() += 1;
        } else {
            assert_eq!(place.status, PlaceStatus::OutsideForce);
        }
    }
    assert_eq!(lads_in_force.len(), 14);
    for (code, name) in LANCASHIRE_LADS {
        assert_eq!(r.places.name(code).as_deref(), Some(name));
    }
    assert_eq!(r.places.name(LANCASHIRE).as_deref(), Some("Lancashire"));
    let in_force = r.places.lsoas_in_force();
    assert_eq!(in_force.len(), lads_in_force.values().sum::<usize>());
    assert!(in_force.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn known_lancashire_lsoa_has_full_chain() {
    let p = refdata().places.by_lsoa("E01025300");
    assert_eq!(p.lsoa_code.as_deref(), Some("E01025300"));
    assert_eq!(p.msoa_code.as_deref(), Some("E02005256")); // Preston 004
    assert_eq!(p.ward_code.as_deref(), Some("E05012208")); // Sharoe Green
    assert_eq!(p.lad_code.as_deref(), Some("E07000123")); // Preston
    assert_eq!(p.csp_code.as_deref(), Some("E22000158")); // Preston CSP
    assert_eq!(p.force_area_code.as_deref(), Some(LANCASHIRE));
    assert!(p.in_force_area);
    assert_eq!(p.status, PlaceStatus::InForce);
    assert_eq!(p.method, PlaceMethod::LsoaCode);
    assert_eq!(p.status.as_str(), "in_force");
    assert_eq!(p.method.as_str(), "lsoa_code");
    let names = &refdata().places;
    assert_eq!(names.name("E01025300").as_deref(), Some("Preston 004D"));
    assert_eq!(names.name("E02005256").as_deref(), Some("Preston 004"));
    assert_eq!(names.name("E05012208").as_deref(), Some("Sharoe Green"));
    // Lower-case input is accepted.
    assert_eq!(names.by_lsoa("e01025300").status, PlaceStatus::InForce);
}

#[test]
fn out_of_force_lsoa_is_kept_and_attributed() {
    // Wigan 035B (Greater Manchester): out-of-force LSOAs appear in the Lancashire street data.
    let p = refdata().places.by_lsoa("E01006221");
    assert_eq!(p.status, PlaceStatus::OutsideForce);
    assert!(!p.in_force_area);
    assert_eq!(p.force_area_code.as_deref(), Some("E23000005"));
    assert!(p.msoa_code.is_some() && p.csp_code.is_some());
}

#[test]
fn welsh_lsoa_gets_an_msoa() {
    let p = refdata().places.by_lsoa("W01000001"); // Isle of Anglesey 007A
    assert_eq!(p.msoa_code.as_deref(), Some("W02000007"));
    assert_eq!(p.lad_code.as_deref(), Some("W06000001"));
    assert_eq!(p.csp_code.as_deref(), Some("W14000001"));
    assert_eq!(p.force_area_code.as_deref(), Some("W15000001")); // North Wales
    assert_eq!(p.status, PlaceStatus::OutsideForce);
    // Every LSOA has an MSOA, ward, LAD, CSP and force.
    for row in lsoa_rows() {
        assert!(row[2..7].iter().all(|v| !v.is_empty()), "{row:?}");
    }
}

#[test]
fn points_are_placed_in_the_lsoa_whose_boundary_holds_them() {
    let r = refdata();
    // A population-weighted centroid usually lies inside its own LSOA's (generalised)
    // boundary, but not always: 22 of Lancashire's 941 do not.
    let mut inside_own = 0;
    for (code, lat, lon) in r.places.lsoas_in_force().iter() {
        let p = r.places.by_point(*lat, *lon);
        assert_eq!(p.method, PlaceMethod::PointInPolygon, "{code}");
        assert_eq!(p.method.as_str(), "point_in_polygon");
        assert_eq!(p.status, PlaceStatus::InForce, "{code}");
        inside_own += usize::from(p.lsoa_code.as_ref() == Some(code));
    }
    assert_eq!(inside_own, 941 - 22);
    // Preston 004D centroid, from lsoa.csv.
    let p = r.places.by_point(53.790040, -2.699028);
    assert_eq!(p.lsoa_code.as_deref(), Some("E01025300"));
    assert_eq!(p.lad_code.as_deref(), Some("E07000123"));
    // On the sands of Morecambe Bay, outside every generalised boundary but 1.5 km from a
    // Morecambe centroid: the nearest centroid places it, and says so.
    let p = r.places.by_point(54.06, -2.90);
    assert_eq!(p.method, PlaceMethod::NearestCentroid, "{p:?}");
    assert_eq!(p.status, PlaceStatus::InForce, "{p:?}");
}

#[test]
fn far_points_are_unplaced() {
    let r = refdata();
    for (lat, lon) in [
        (0.0, 0.0),
        (f64::NAN, -2.7),
        (53.8, f64::INFINITY),
        (91.0, 0.0),
        (53.9, -4.6),   // Isle of Man
        (54.5, -3.9),   // Irish Sea
        (55.95, -3.19), // Edinburgh
        (48.85, 2.35),  // Paris
    ] {
        let p = r.places.by_point(lat, lon);
        assert_eq!(p.status, PlaceStatus::Unplaced, "{lat},{lon}");
        assert_eq!(p.status.as_str(), "unplaced");
        assert!(p.lsoa_code.is_none() && !p.in_force_area);
    }
    // A point 0.5 km from a centroid is placed within 0.5 km.
    let (_, lat, lon) = r
        .places
        .lsoas_in_force()
        .into_iter()
        .find(|(c, _, _)| &**c == "E01025300")
        .unwrap();
    let km_per_deg = 6371.0088 * std::f64::consts::PI / 180.0;
    let (code, d) = r
        .places
        .nearest_centroid_km(lat + 0.5 / km_per_deg, lon, MAX_CENTROID_DISTANCE_KM)
        .unwrap();
    assert!(d > 0.0 && d <= 0.5 + 1e-9, "{code} {d}");
}

#[test]
fn unknown_lsoa_code() {
    let r = refdata();
    let p = r.places.by_lsoa("E01999999");
    assert_eq!(p.status, PlaceStatus::UnknownLsoa);
    assert_eq!(p.method, PlaceMethod::LsoaCode);
    assert!(p.lsoa_code.is_none() && p.msoa_code.is_none() && p.force_area_code.is_none());
    assert_eq!(p.status.as_str(), "unknown_lsoa");
}

#[test]
fn resolve_precedence() {
    let pl = &refdata().places;
    let preston = Some((53.790040, -2.699028));
    // Known LSOA wins over the point (here a point in Wigan would say otherwise).
    let p = pl.resolve(Some("E01006221"), preston, Some("PR1"));
    assert_eq!(p.lsoa_code.as_deref(), Some("E01006221"));
    assert_eq!(p.method, PlaceMethod::LsoaCode);
    // Unknown LSOA: the point decides.
    let p = pl.resolve(Some("E01999999"), preston, None);
    assert_eq!(p.lsoa_code.as_deref(), Some("E01025300"));
    assert_eq!(p.method, PlaceMethod::PointInPolygon);
    // Point only, unplaced.
    assert_eq!(
        pl.resolve(None, Some((0.0, 0.0)), Some("PR1")).status,
        PlaceStatus::Unplaced
    );
    // Unknown LSOA, no point.
    assert_eq!(
        pl.resolve(Some("E01999999"), None, Some("PR1")).status,
        PlaceStatus::UnknownLsoa
    );
    // Postcode district only.
    let p = pl.resolve(Some(" "), None, Some("PR1"));
    assert_eq!(p.status, PlaceStatus::PostcodeDistrictOnly);
    assert_eq!(p.method, PlaceMethod::None);
    assert_eq!(p.status.as_str(), "postcode_district_only");
    // Nothing (non-finite point counts as absent).
    let p = pl.resolve(None, Some((f64::NAN, f64::NAN)), Some(""));
    assert_eq!(p.status, PlaceStatus::NoLocation);
    assert_eq!(p.method, PlaceMethod::None);
    assert_eq!(
        (p.status.as_str(), p.method.as_str()),
        ("no_location", "none")
    );
    assert_eq!(p, lantern_enrich::Place::default());
}

/// Small deterministic generator (SplitMix64) so the test needs no extra dependency.
struct SplitMix(u64);
impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn resolve_100k_random_points_and_agree_with_brute_force() {
    let r = refdata();
    let centroids: Vec<(String, f64, f64)> = lsoa_rows()
        .into_iter()
        .map(|row| {
            (
                row[0].clone(),
                row[7].parse().unwrap(),
                row[8].parse().unwrap(),
            )
        })
        .collect();
    let mut rng = SplitMix(42);
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let km_per_deg = 6371.0088 * std::f64::consts::PI / 180.0;
    for i in 0..100_000 {
        // Half over a box around England and Wales, half over Lancashire and its borders.
        let (lat, lon) = if i % 2 == 0 {
            (49.5 + rng.next_f64() * 6.5, -6.8 + rng.next_f64() * 9.0)
        } else {
            (53.4 + rng.next_f64() * 0.8, -3.3 + rng.next_f64() * 1.3)
        };
        let p = r.places.resolve(None, Some((lat, lon)), None);
        *counts.entry(p.status.as_str()).or_default() += 1;
        assert_eq!(p.in_force_area, p.status == PlaceStatus::InForce);
        // Check the centroid fallback's grid search against a linear scan for a sample (the
        // boundary lookup has its own brute-force test in src/boundaries.rs).
        if i % 100 == 0 && p.method != PlaceMethod::PointInPolygon {
            let cos = lat.to_radians().cos();
            let best = centroids
                .iter()
                .map(|(c, clat, clon)| {
                    let dy = (clat - lat) * km_per_deg;
                    let dx = (clon - lon) * km_per_deg * cos;
                    (dx * dx + dy * dy, c)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)))
                .unwrap();
            if best.0.sqrt() <= MAX_CENTROID_DISTANCE_KM {
                assert_eq!(p.lsoa_code.as_deref(), Some(best.1.as_str()), "{lat},{lon}");
            } else {
                assert_eq!(p.status, PlaceStatus::Unplaced, "{lat},{lon}");
            }
        }
    }
    assert_eq!(counts.values().sum::<usize>(), 100_000);
    assert!(counts["in_force"] > 10_000, "{counts:?}");
    assert!(counts["outside_force"] > 10_000, "{counts:?}");
    assert!(counts["unplaced"] > 1_000, "{counts:?}");
}

fn prop(
    offence_code: Option<&str>,
    crime_type: Option<&str>,
    premises_type: Option<&str>,
    property_hint: Option<&str>,
    online_flag: bool,
) -> PropertyType {
    refdata().property.incident_property(&PropertyInput {
        offence_code,
        crime_type,
        premises_type,
        property_hint,
        online_flag,
    })
}

#[test]
fn property_precedence() {
    use PropertyType as P;
    // (1) offence code table
    assert_eq!(
        prop(Some("28E"), Some("Burglary"), None, None, false),
        P::Dwelling
    );
    assert_eq!(
        prop(Some("30C"), Some("Burglary"), None, None, false),
        P::BusinessPremises
    );
    assert_eq!(
        prop(Some("34A"), None, None, None, false),
        P::BusinessPremises
    );
    assert_eq!(
        prop(Some("34B"), None, None, None, false),
        P::PersonalProperty
    );
    assert_eq!(prop(Some("58C"), None, None, None, false), P::Vehicle);
    // a decisive offence code beats premises and hint
    assert_eq!(
        prop(
            Some("28e"),
            Some("Burglary"),
            Some("shop"),
            Some("vehicle"),
            true
        ),
        P::Dwelling
    );
    // `none` from the offence table is decisive too
    assert_eq!(prop(Some("8L"), None, None, None, true), P::None);
    // (2) hint beats premises and crime type; an unknown or invalid hint is ignored
    assert_eq!(
        prop(
            None,
            Some("Burglary"),
            Some("dwelling"),
            Some("business_premises"),
            false
        ),
        P::BusinessPremises
    );
    assert_eq!(
        prop(
            None,
            Some("Burglary"),
            Some("dwelling"),
            Some("unknown"),
            false
        ),
        P::Dwelling
    );
    assert_eq!(
        prop(
            None,
            Some("Burglary"),
            Some("dwelling"),
            Some("garbage"),
            false
        ),
        P::Dwelling
    );
    // an offence code typed unknown (58D) defers to later rules
    assert_eq!(
        prop(Some("58D"), None, Some("house"), None, false),
        P::Dwelling
    );
    // (3) premises for premises-dependent crime types
    assert_eq!(
        prop(None, Some("Burglary"), Some("dwelling"), None, false),
        P::Dwelling
    );
    assert_eq!(
        prop(
            None,
            Some("burglary"),
            Some("Convenience Store"),
            None,
            false
        ),
        P::BusinessPremises
    );
    assert_eq!(
        prop(None, Some("Robbery"), Some("shop"), None, false),
        P::BusinessPremises
    );
    assert_eq!(
        prop(None, Some("Other theft"), Some("car_park"), None, false),
        P::Vehicle
    );
    // a premises type with no opinion, or not premises dependent
    assert_eq!(
        prop(None, Some("Robbery"), Some("street"), None, false),
        P::PersonalProperty
    );
    assert_eq!(
        prop(None, Some("Vehicle crime"), Some("dwelling"), None, false),
        P::Vehicle
    );
    // (4) crime type default
    assert_eq!(prop(None, Some("Burglary"), None, None, false), P::Unknown);
    assert_eq!(
        prop(None, Some("Shoplifting"), None, None, false),
        P::BusinessPremises
    );
    assert_eq!(
        prop(
            None,
            Some("Violence and sexual offences"),
            None,
            None,
            false
        ),
        P::None
    );
    assert_eq!(
        prop(
            None,
            Some("Violence and Sexual Offences"),
            None,
            None,
            false
        ),
        P::None
    );
    assert_eq!(
        prop(None, Some("Bicycle theft"), None, None, false),
        P::PersonalProperty
    );
    // (5) online upgrades unknown only
    assert_eq!(prop(None, Some("Other crime"), None, None, true), P::Online);
    assert_eq!(prop(None, None, None, None, true), P::Online);
    assert_eq!(
        prop(None, Some("Violence and sexual offences"), None, None, true),
        P::None
    );
    assert_eq!(
        prop(None, Some("Anti-social behaviour"), None, None, true),
        P::None
    );
    // (6)
    assert_eq!(prop(None, None, None, None, false), P::Unknown);
    assert_eq!(
        prop(Some("ZZZ"), Some("Nonsense"), Some("moon"), None, false),
        P::Unknown
    );
    // the offence code supplies the crime type when the event has none
    assert_eq!(
        prop(Some("58D"), None, Some("shop"), None, false),
        P::BusinessPremises
    );
}

#[test]
fn offence_codes_and_crime_types() {
    let pr = &refdata().property;
    assert_eq!(
        pr.crime_type_for_offence("28E").as_deref(),
        Some("Burglary")
    );
    assert_eq!(
        pr.crime_type_for_offence("105A").as_deref(),
        Some("Violence and sexual offences")
    );
    assert_eq!(
        pr.crime_type_for_offence("46").as_deref(),
        Some("Shoplifting")
    );
    assert_eq!(
        pr.crime_type_for_offence("4.1").as_deref(),
        Some("Violence and sexual offences")
    );
    assert_eq!(
        pr.crime_type_for_offence("AF").as_deref(),
        Some("Other crime")
    );
    assert_eq!(pr.crime_type_for_offence("nope"), None);
    assert_eq!(
        pr.canonical_crime_type("THEFT FROM THE PERSON").as_deref(),
        Some("Theft from the person")
    );

    // Every police.uk category in the offence table is one of the 14 names.
    let expected: BTreeSet<&str> = [
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
    .into_iter()
    .collect();
    let mut rd =
        csv::Reader::from_path(reference_dir().join("property/offence_codes.csv")).unwrap();
    for rec in rd.records() {
        let rec = rec.unwrap();
        assert!(expected.contains(&rec[3]), "{rec:?}");
        let canonical = pr.crime_type_for_offence(&rec[0]).unwrap();
        assert_eq!(&*canonical, &rec[3]);
        assert_eq!(pr.offence_property(&rec[0]).unwrap().as_str(), &rec[4]);
    }
    for name in expected {
        assert_eq!(pr.canonical_crime_type(name).as_deref(), Some(name));
    }
}

#[test]
fn business_and_nfib() {
    let pr = &refdata().property;
    assert_eq!(
        pr.business_property("shoplifting"),
        PropertyType::BusinessPremises
    );
    assert_eq!(
        pr.business_property("abuse_violence_staff"),
        PropertyType::None
    );
    assert_eq!(pr.business_property("fraud"), PropertyType::Online);
    assert_eq!(pr.business_property("other"), PropertyType::Unknown);
    assert_eq!(
        pr.business_property("never heard of it"),
        PropertyType::Unknown
    );

    assert_eq!(&*pr.nfib_group("NFIB3A"), "NFIB3");
    assert_eq!(&*pr.nfib_group("nfib52c"), "NFIB52");
    assert_eq!(&*pr.nfib_group("NFIB5A"), "NFIB5");
    assert_eq!(&*pr.nfib_group("NFIB50A"), "NFIB50");
    assert_eq!(&*pr.nfib_group("NFIB1"), "NFIB1");
    // Not listed, but numbered within a known group.
    assert_eq!(&*pr.nfib_group("NFIB52F"), "NFIB52");
    assert!(!pr.nfib_known("NFIB52F"));
    // Unknown codes.
    for code in ["NFIB99Z", "NFIB", "XYZ", "", "NFIB4A"] {
        assert_eq!(&*pr.nfib_group(code), "unknown", "{code}");
    }
    assert_eq!(pr.nfib_property("NFIB3A"), PropertyType::Online);
    assert_eq!(pr.nfib_property("NFIB99Z"), PropertyType::Unknown);
    assert_eq!(
        pr.nfib_description("NFIB51A").as_deref(),
        Some("Denial of service attack")
    );
    // The same Arc is handed out (no allocation per call).
    assert!(Arc::ptr_eq(&pr.nfib_group("XYZ"), &pr.nfib_group("ABC")));
}

#[test]
fn property_type_strings_round_trip() {
    for p in PropertyType::ALL {
        assert_eq!(p.as_str().parse::<PropertyType>().unwrap(), p);
        assert_eq!(p.to_string(), p.as_str());
    }
    assert_eq!(
        " Business_Premises ".parse::<PropertyType>().unwrap(),
        PropertyType::BusinessPremises
    );
    let err = "house".parse::<PropertyType>().unwrap_err();
    assert!(matches!(err, EnrichError::UnknownPropertyType(_)));
}

#[test]
fn resolved_codes_share_storage() {
    let pl = &refdata().places;
    let a = pl.by_lsoa("E01025300");
    let b = pl.by_lsoa("E01025301");
    // Interned: two LSOAs in Preston share the same LAD and force Arc.
    assert!(Arc::ptr_eq(
        a.lad_code.as_ref().unwrap(),
        b.lad_code.as_ref().unwrap()
    ));
    assert!(Arc::ptr_eq(
        a.force_area_code.as_ref().unwrap(),
        b.force_area_code.as_ref().unwrap()
    ));
}

#[test]
fn load_errors_name_the_file() {
    let missing = ReferenceData::load(
        &PipelineFiles::Dir(pipelines_dir().join("does-not-exist")),
        LANCASHIRE,
    )
    .unwrap_err();
    assert!(matches!(missing, EnrichError::File(_)));
    assert!(missing.to_string().contains("places/lsoa.csv"), "{missing}");
    let bad_force = ReferenceData::load(&files(), "E23999999").unwrap_err();
    assert!(
        matches!(bad_force, EnrichError::UnknownForceArea { .. }),
        "{bad_force}"
    );
}

#[test]
fn malformed_rows_report_file_and_line() {
    let dir = std::env::temp_dir().join(format!("lantern-enrich-test-{}", std::process::id()));
    let files = PipelineFiles::Dir(dir.clone());
    let dir = dir.join("reference");
    std::fs::create_dir_all(dir.join("places")).unwrap();
    std::fs::create_dir_all(dir.join("property")).unwrap();
    let src = reference_dir();
    for f in [
        "places/names.csv",
        "places/lsoa_boundaries.txt",
        "property/offence_codes.csv",
        "property/premises_types.csv",
        "property/business_incident_types.csv",
        "property/nfib_codes.csv",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("places/lsoa.csv"),
        "lsoa_code,lsoa_name,msoa_code,ward_code,lad_code,csp_code,force_area_code,lat,lon\n\
         E01025300,Preston 004D,E02005256,E05012208,E07000123,E22000158,E23000003,53.79,-2.69\n\
         E01025301,Preston 004E,E02005256,E05012208,E07000123,E22000158,E23000003,north,-2.69\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("property/crime_types.csv"),
        "crime_type,property_type,premises_dependent\nBurglary,unknown,true\n",
    )
    .unwrap();
    let err = ReferenceData::load(&files, LANCASHIRE)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lsoa.csv:3:") && err.contains("lat"), "{err}");

    std::fs::write(
        dir.join("places/lsoa.csv"),
        "lsoa_code,lsoa_name,msoa_code,ward_code,lad_code,csp_code,force_area_code,lat,lon\n\
         E01025300,Preston 004D,E02005256,E05012208,E07000123,E22000158,E23000003,53.79,-2.69\n",
    )
    .unwrap();
    // The crime type table lacks most categories used by offence_codes.csv.
    let err = ReferenceData::load(&files, LANCASHIRE)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("offence_codes.csv:") && err.contains("police_uk_category"),
        "{err}"
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[test]
fn rural_points_are_placed_by_boundary_and_sea_points_by_the_cut_off() {
    // Forest of Bowland, inside Lancashire (Ribble Valley), ~8.5 km from the nearest
    // population-weighted centroid: its boundary places it whatever the centroid cut-off.
    let bowland = refdata().places.by_point(53.98, -2.55);
    assert_eq!(bowland.status, PlaceStatus::InForce);
    assert_eq!(bowland.method, PlaceMethod::PointInPolygon);
    assert_eq!(bowland.lad_code.as_deref(), Some("E07000124"));
    // Off Blackpool, in the Irish Sea: no boundary, no centroid within 5 km.
    let offshore = (53.82, -3.18);
    assert_eq!(
        refdata().places.by_point(offshore.0, offshore.1).status,
        PlaceStatus::Unplaced
    );
    let mut r = ReferenceData::load(&files(), LANCASHIRE).unwrap();
    assert_eq!(
        r.places.max_centroid_distance_km(),
        MAX_CENTROID_DISTANCE_KM
    );
    r.places.set_max_centroid_distance_km(10.0);
    let p = r.places.by_point(offshore.0, offshore.1);
    assert_eq!(p.status, PlaceStatus::InForce, "{p:?}");
    assert_eq!(p.method, PlaceMethod::NearestCentroid);
    assert_eq!(p.lad_code.as_deref(), Some("E06000009"), "Blackpool");
    // Still unplaced far out at sea.
    assert_eq!(r.places.by_point(54.5, -4.2).status, PlaceStatus::Unplaced);
}
