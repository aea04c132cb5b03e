//! Analytics end to end: events through Kafka and the processor, `lantern analyse`, then each
//! result checked against an independent computation — DuckDB and SciPy for rates and change
//! from the raw police.uk CSVs, PySAL's esda for Gi*, the events themselves for repeat
//! victimisation — and who may read the results.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::query_service::serve;
use crate::support::*;

const SAMPLES: [&str; 2] = [
    "data/sample/policeuk/2022-09-lancashire-street.csv",
    "data/sample/policeuk/2022-10-lancashire-street.csv",
];
const LANCASHIRE: &str = "E23000003";

/// Runs a checking script with the test Python (DuckDB, SciPy, PySAL); returns its stdout.
fn python_check(script: &str, args: &[&str]) -> String {
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let path = repo_root().join("tests/e2e/python").join(script);
    let out = Command::new(&python)
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed (E2E_PYTHON={python}; scripts/test.sh installs duckdb, scipy and esda):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{stdout}");
    stdout
}

fn write_json(dir: &Path, name: &str, rows: &[Value]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(rows).unwrap()).unwrap();
    path.to_string_lossy().to_string()
}

fn reference(file: &str) -> String {
    repo_root()
        .join("pipelines/reference")
        .join(file)
        .to_string_lossy()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn lancashire_rates_hotspots_and_harm_agree_with_independent_tools() {
    let l = Lantern::start();
    let dir = l.config.parent().unwrap().to_path_buf();
    let samples: Vec<String> = SAMPLES
        .iter()
        .map(|s| repo_root().join(s).to_string_lossy().to_string())
        .collect();
    for sample in &samples {
        l.ok(&["import", "police-uk", sample]);
    }
    l.drain();
    let out = l.ok(&["analyse"]);
    print!("{out}");
    assert!(out.contains("analytics_rates_monthly: "), "{out}");
    assert!(out.contains("vintage 1"), "{out}");
    // Nothing new arrived: every table is unchanged, no new vintage.
    let again = l.ok(&["analyse"]);
    assert_eq!(
        again.matches("unchanged since vintage 1").count(),
        10,
        "{again}"
    );

    // 1. Rates and month-on-month change, force and LAD, against DuckDB over the raw CSVs.
    let rates = l.sql(
        "SELECT month, place_level, place_code, crime_type, count, population, rate_per_1000, \
         previous_month_count, mom_p_value FROM analytics_rates_monthly \
         WHERE place_level IN ('force', 'lad')",
    );
    let rates_json = write_json(&dir, "rates.json", &rates);
    let mut args = vec![
        rates_json.as_str(),
        &reference("places/lsoa.csv"),
        &reference("places/population.csv"),
        LANCASHIRE,
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(samples.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python_check("check_rates.py", &args);

    // 2. Gi* over every Lancashire LSOA, against esda on weights libpysal builds itself: a
    //    distance band on the centroids, and queen contiguity of the boundary polygons.
    let gi_under = |weights: &str| {
        l.sql(&format!(
            "SELECT lsoa_code, count, neighbours, gi_star_z, p_value, q_value, spot \
             FROM analytics_gi_star WHERE crime_type = 'All crime' AND weights = '{weights}'"
        ))
    };
    let gi = gi_under("distance_band");
    assert_eq!(gi.len(), 941, "every LSOA of the force, with crime or not");
    assert!(
        gi.iter().any(|r| r["spot"] == "hot spot"),
        "no hot spot in Lancashire?"
    );
    let gi_json = write_json(&dir, "gi.json", &gi);
    let lsoa_csv = reference("places/lsoa.csv");
    python_check(
        "check_gistar.py",
        &[&gi_json, &lsoa_csv, "distance_band", "2000"],
    );
    let queen = gi_under("queen");
    assert_eq!(queen.len(), 941);
    let queen_json = write_json(&dir, "gi_queen.json", &queen);
    let boundaries = reference("places/lsoa_boundaries.txt");
    python_check("check_gistar.py", &[&queen_json, &boundaries, "queen"]);

    // 3. Concentration and top places agree with the Gi* counts they share.
    let total: i64 = gi.iter().map(|r| r["count"].as_i64().unwrap()).sum();
    let concentration = l.sql(
        "SELECT crimes, places, places_holding_50pct, gini FROM analytics_concentration \
         WHERE crime_type = 'All crime'",
    );
    assert_eq!(concentration[0]["crimes"].as_i64().unwrap(), total);
    assert_eq!(concentration[0]["places"].as_i64().unwrap(), 941);
    let mut counts: Vec<i64> = gi.iter().map(|r| r["count"].as_i64().unwrap()).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top = l.sql(
        "SELECT place_code, value FROM analytics_hotspots_top \
         WHERE ranking = 'count' AND place_level = 'lsoa' ORDER BY rank",
    );
    assert_eq!(top.len(), 20);
    assert_eq!(top[0]["value"].as_f64().unwrap() as i64, counts[0]);

    // 4. Harm: police.uk rows have no offence code, so each is weighted by its crime type;
    //    the force's All crime harm is Σ count × weight over the types.
    let weights: HashMap<String, f64> =
        csv::Reader::from_path(reference("harm/chi_crime_type_weights_v1.csv"))
            .unwrap()
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[1].parse().unwrap())
            })
            .collect();
    let by_type = l.sql(
        "SELECT crime_type, SUM(count) AS n FROM analytics_rates_monthly \
         WHERE place_level = 'force' AND month = '2022-10' GROUP BY crime_type",
    );
    let expected: f64 = by_type
        .iter()
        .filter_map(|r| Some(weights.get(r["crime_type"].as_str()?)? * r["n"].as_f64()?))
        .sum();
    let harm = l.sql(
        "SELECT harm_days, crimes_missing_weight, weighted_by_crime_type FROM analytics_harm_monthly \
         WHERE place_level = 'force' AND crime_type = 'All crime' AND month = '2022-10'",
    );
    assert!(
        (harm[0]["harm_days"].as_f64().unwrap() - expected).abs() < 0.01,
        "{harm:?} vs {expected}"
    );
    assert_eq!(
        harm[0]["crimes_missing_weight"].as_i64(),
        Some(0),
        "{harm:?}"
    );

    // 5. Near repeat on police.uk points: month bands, and the run says how many it used.
    let knox = l.sql(
        "SELECT time_band, events, observed_pairs, p_value FROM analytics_near_repeat \
         WHERE run = 'burglary_policeuk_months' ORDER BY distance_from_m, time_from",
    );
    assert_eq!(knox.len(), 15);
    assert_eq!(knox[0]["time_band"], "[0, 1) months");
    let burglaries = l.count(
        "SELECT SUM(count) FROM analytics_rates_monthly \
         WHERE place_level = 'force' AND crime_type = 'Burglary'",
    );
    let events = knox[0]["events"].as_i64().unwrap();
    assert!(
        events > burglaries * 9 / 10 && events <= burglaries,
        "{events} of {burglaries}"
    );

    // 6. Who may read analytics: analysts, not partners or researchers.
    let served = serve(&l);
    let rows = served.rows("ana", "SELECT COUNT(*) AS n FROM analytics_repeat_live");
    assert_eq!(rows.len(), 1);
    for user in ["pat", "rex"] {
        let (status, code, message) =
            served.refused(Some(user), "SELECT * FROM analytics_rates_monthly");
        assert_eq!(status, 403, "{user}: {code} {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn synthetic_repeats_and_near_repeats_are_found_and_listed() {
    let l = Lantern::start();
    let months = "2022-01,2022-02,2022-03,2022-04,2022-05,2022-06";
    l.ok(&[
        "import",
        "synthetic",
        "--months",
        months,
        "--burglaries-per-month",
        "400",
    ]);
    l.drain();
    print!("{}", l.ok(&["analyse"]));

    // The events themselves, counted here: crimes and distinct addresses in the window.
    let events: Vec<Value> = l
        .consume_all(&l.topics.incidents)
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect();
    assert!(events.len() > 2000, "{}", events.len());
    let mut per_address: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        let address = e["location"]["address_reference"].as_str().unwrap();
        *per_address.entry(address.to_string()).or_default() += 1;
    }
    let summary = l.sql(
        "SELECT crimes, victims, repeat_victims, repeat_share, repeats_within_28d \
         FROM analytics_repeat_victimisation WHERE entity_kind = 'address' \
         AND scope = 'Residential burglary' AND place_level = 'force'",
    );
    let s = &summary[0];
    // Six months of data: the 365-day window holds all of it.
    assert_eq!(s["crimes"].as_u64().unwrap(), events.len() as u64);
    assert_eq!(s["victims"].as_u64().unwrap(), per_address.len() as u64);
    let repeat = per_address.values().filter(|&&n| n >= 2).count() as u64;
    assert_eq!(s["repeat_victims"].as_u64().unwrap(), repeat);
    assert!(s["repeats_within_28d"].as_u64().unwrap() > 0, "{s}");

    // The planted near repeats (within 200 m and 14 days) show in the first cells.
    let first = &l.sql(
        "SELECT knox_ratio, p_value, permutations, seed FROM analytics_near_repeat \
         WHERE run = 'burglary_dwelling_days' AND distance_from_m = 0 AND time_from = 0",
    )[0];
    assert!(first["knox_ratio"].as_f64().unwrap() > 1.2, "{first}");
    assert!(first["p_value"].as_f64().unwrap() <= 0.01, "{first}");
    assert_eq!(first["permutations"].as_u64(), Some(999));

    // The live list: each entry hit twice within 28 days, the latest in the last 28.
    let live = l.sql("SELECT entity_kind, days_between FROM analytics_repeat_live");
    assert!(
        live.iter().any(|r| r["entity_kind"] == "address"),
        "{live:?}"
    );
    assert!(
        live.iter()
            .all(|r| r["days_between"].as_f64().unwrap() <= 28.0)
    );

    // Business crime: repeat businesses among the synthetic reports.
    let business = l.sql(
        "SELECT businesses, incidents, repeat_businesses_2plus FROM analytics_business_crime \
         WHERE place_level = 'force' AND sector = 'All sectors'",
    );
    assert!(
        business[0]["repeat_businesses_2plus"].as_u64().unwrap() > 0,
        "{business:?}"
    );
    let cyber =
        l.count("SELECT SUM(reports) FROM analytics_cyber_rates WHERE place_level = 'force'");
    assert_eq!(
        cyber,
        l.count(
            "SELECT SUM(reports) FROM cybercrime_monthly WHERE place_status <> 'outside_force'"
        )
    );

    // Refreshed as the stream updates: `lantern serve` recomputes when a commit lands.
    let mut config = std::fs::read_to_string(&l.config).unwrap();
    config.push_str("\n[analytics]\ninterval_ms = 500\n");
    std::fs::write(&l.config, config).unwrap();
    let served = serve(&l);
    let all_crime = "SELECT SUM(count) AS n FROM analytics_rates_monthly \
                     WHERE place_level = 'force' AND crime_type = 'All crime'";
    let before = l.count(all_crime);
    l.ok(&[
        "import",
        "synthetic",
        "--months",
        "2022-07",
        "--burglaries-per-month",
        "100",
        "--seed",
        "7",
    ]);
    l.drain();
    let expected = l.count("SELECT SUM(incidents) FROM incidents_monthly");
    assert!(expected > before, "{expected} after {before}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rows = served.rows("ana", all_crime);
        if rows[0]["n"].as_i64() == Some(expected) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "analytics still at {rows:?}, not {expected}, 60 s after the commit"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
