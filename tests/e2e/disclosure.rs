//! Disclosure control end to end on the real Lancashire sample: police.uk rows through Kafka
//! and the processor, published partner tables (with their vintages, manifests and `verify`),
//! a research extract, and what each role of the query service sees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::query_service::serve;
use crate::support::*;

const SAMPLE: &str = "data/sample/policeuk/2022-10-lancashire-street.csv";
const MSOA_TABLE: &str = "partner_incidents_msoa_monthly";
const THRESHOLD: i64 = 10;
/// The releases of the default policy.
const RELEASES: [&str; 5] = [
    MSOA_TABLE,
    "partner_incidents_csp_monthly",
    "partner_incidents_true_lad_quarterly",
    "partner_business_crime_csp_quarterly",
    "partner_cybercrime_lad_monthly",
];

fn data_dir(l: &Lantern) -> PathBuf {
    l.config.parent().unwrap().join("data")
}

fn vintage(l: &Lantern, release: &str, n: u64) -> PathBuf {
    data_dir(l)
        .join("published")
        .join(release)
        .join(format!("{n:06}"))
}

/// LSOA -> (its MSOA, whether it is in Lancashire), from the ONS lookup in the reference data.
fn msoa_of_lsoa() -> BTreeMap<String, (String, bool)> {
    let lookup = repo_root().join("pipelines/reference/places/lsoa.csv");
    csv::Reader::from_path(lookup)
        .unwrap()
        .records()
        .map(|row| {
            let row = row.unwrap();
            (
                row[0].to_string(),
                (row[2].to_string(), &row[6] == "E23000003"),
            )
        })
        .collect()
}

/// The MSOA table's rows from its CSV, each as column name -> value.
fn published_msoa_rows(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join(format!("{MSOA_TABLE}.csv"))).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            headers
                .iter()
                .map(String::from)
                .zip(row.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// (month, MSOA, crime type) -> records, straight from the police.uk CSV and the ONS lookup:
/// what anyone can compute from police.uk's own public file.
fn public_msoa_counts() -> BTreeMap<(String, String, String), i64> {
    let msoa_of = msoa_of_lsoa();
    let mut counts = BTreeMap::new();
    for row in csv::Reader::from_path(repo_root().join(SAMPLE))
        .unwrap()
        .records()
    {
        let row = row.unwrap();
        // Rows without a known LSOA are published as not placed (an empty place); rows placed
        // in a neighbouring force are left out, as Lantern leaves them out.
        let msoa = match msoa_of.get(&row[7]) {
            Some((_, false)) => continue,
            Some((msoa, true)) => msoa.clone(),
            None => String::new(),
        };
        *counts
            .entry((row[1].to_string(), msoa, row[9].to_string()))
            .or_insert(0) += 1;
    }
    counts
}

/// The published table's rows from its CSV: (month, MSOA, crime type) -> count.
fn published_msoa_counts(dir: &Path) -> BTreeMap<(String, String, String), i64> {
    let mut out = BTreeMap::new();
    for row in published_msoa_rows(dir) {
        assert!(
            row["sensitive_group"].is_empty(),
            "police.uk rows carry no sensitive flags"
        );
        let key = (
            row["period"].clone(),
            row["place_code"].clone(),
            row["crime_type"].clone(),
        );
        out.insert(key, row["count"].parse().unwrap());
    }
    out
}

/// Each row's rate is 1000 × its published count / its place's residents, and the residents
/// are the census residents of the MSOA's LSOAs (summed here from the reference files).
fn check_rates(dir: &Path) {
    let msoa_of = msoa_of_lsoa();
    let mut residents: BTreeMap<String, i64> = BTreeMap::new();
    for row in csv::Reader::from_path(repo_root().join("pipelines/reference/places/population.csv"))
        .unwrap()
        .records()
    {
        let row = row.unwrap();
        *residents.entry(msoa_of[&row[0]].0.clone()).or_default() += row[1].parse::<i64>().unwrap();
    }
    let mut checked = 0;
    for row in published_msoa_rows(dir) {
        if row["place_level"] != "msoa" || row["place_code"].is_empty() || row["count"].is_empty() {
            continue;
        }
        let n: f64 = row["count"].parse().unwrap();
        let p: i64 = row["residents"].parse().unwrap();
        assert_eq!(p, residents[&row["place_code"]], "{row:?}");
        let r: f64 = row["rate_per_1000"].parse().unwrap();
        assert!((r - 1000.0 * n / p as f64).abs() < 1e-9, "{row:?}");
        checked += 1;
    }
    assert!(checked > 500, "only {checked} rates");
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn verify(l: &Lantern, dir: &Path) -> (bool, String) {
    let out = l.run(&["verify", dir.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Copies a vintage or extract so it can be tampered with.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in files_of(from) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lancashire_published_tables_extract_and_roles() {
    let l = Lantern::start();
    let key_file = l.config.parent().unwrap().join("disclosure.key");
    l.ok(&["key", "new", key_file.to_str().unwrap()]);
    let mut config = std::fs::read_to_string(&l.config).unwrap();
    config.push_str("\n[disclosure]\nkey_file = \"disclosure.key\"\npublish_interval_ms = 500\n");
    std::fs::write(&l.config, config).unwrap();

    // Nothing published yet: publishing says so and is not an error.
    let out = l.ok(&["publish"]);
    assert!(out.contains("nothing to publish yet"), "{out}");

    l.ok(&[
        "import",
        "police-uk",
        repo_root().join(SAMPLE).to_str().unwrap(),
    ]);
    // Business crime and cybercrime (SYNTHETIC: no real reports are public), for the tables
    // with money totals under dominance rules.
    l.ok(&["import", "synthetic"]);
    l.drain();
    let out = l.ok(&["publish"]);
    println!("{out}");
    assert!(
        out.contains(&format!("{MSOA_TABLE}: vintage 1 written")),
        "{out}"
    );
    let v1 = vintage(&l, MSOA_TABLE, 1);
    for release in RELEASES {
        let dir = vintage(&l, release, 1);
        let (ok, out) = verify(&l, &dir);
        assert!(ok, "{out}");
        let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
        println!(
            "{release} vintage 1 report: {}",
            report.split_whitespace().collect::<String>()
        );
    }
    let business: serde_json::Value = serde_json::from_slice(
        &std::fs::read(vintage(&l, RELEASES[3], 1).join("report.json")).unwrap(),
    )
    .unwrap();
    assert!(business["records"].as_u64().unwrap() >= 700, "{business}");
    assert!(business["suppressed"].as_u64().unwrap() > 0, "{business}");

    // 1. No published cell shows 1..T-1; every count is the true one moved by the table's
    //    noise; and the true counts are exactly police.uk's own public counts at this level,
    //    so the published table, differenced against police.uk, shows only noise.
    let published = published_msoa_counts(&v1);
    check_rates(&v1);
    let public = public_msoa_counts();
    assert!(published.len() > 500, "only {} rows", published.len());
    for (cell, count) in &published {
        assert!(*count >= THRESHOLD, "{cell:?} published as {count}");
        let truth = public.get(cell).copied().unwrap_or(0);
        assert!(
            truth > 0,
            "{cell:?} is published but police.uk has no such records"
        );
        assert!(
            (count - truth).abs() < THRESHOLD,
            "{cell:?}: {count} vs {truth}"
        );
        if truth >= THRESHOLD + 2 {
            assert!((count - truth).abs() <= 2, "{cell:?}: {count} vs {truth}");
        }
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v1.join("report.json")).unwrap()).unwrap();
    println!("{MSOA_TABLE} vintage 1 report: {report}");
    let in_force: i64 = public.values().sum();
    assert_eq!(report["records"].as_i64().unwrap(), in_force);
    assert!(report["perturbed"].as_u64().unwrap() > 0);
    assert!(report["small_cells_to_zero"].as_u64().unwrap() > 0);
    assert!(report["small_cells_to_threshold"].as_u64().unwrap() > 0);
    let hidden = public
        .iter()
        .filter(|(c, _)| !published.contains_key(*c))
        .count();
    assert_eq!(
        hidden as u64,
        report["small_cells_to_zero"].as_u64().unwrap()
    );

    // The force's own tier holds no police.uk record, and business crime has no data yet.
    let true_tier = data_dir(&l)
        .join("published/partner_incidents_true_lad_quarterly/000001/partner_incidents_true_lad_quarterly.csv");
    let true_rows = std::fs::read_to_string(true_tier).unwrap();
    assert_eq!(true_rows.lines().count(), 1, "header only: {true_rows}");

    // 2. verify: the vintage holds; a changed byte, a weakened threshold and a broken chain
    //    are each reported.
    let (ok, out) = verify(&l, &v1);
    assert!(ok, "{out}");
    let tampered = l.config.parent().unwrap().join("tampered");
    copy_dir(&v1, &tampered);
    let csv_path = tampered.join(format!("{MSOA_TABLE}.csv"));
    let mut bytes = std::fs::read(&csv_path).unwrap();
    let last_digit = bytes.iter().rposition(u8::is_ascii_digit).unwrap();
    bytes[last_digit] = if bytes[last_digit] == b'1' {
        b'2'
    } else {
        b'1'
    };
    std::fs::write(&csv_path, bytes).unwrap();
    let (ok, out) = verify(&l, &tampered);
    assert!(
        !ok && out.contains(&format!("FAILED  {MSOA_TABLE}.csv: SHA-256")),
        "{out}"
    );
    std::fs::remove_dir_all(&tampered).unwrap();
    copy_dir(&v1, &tampered);
    let policy = tampered.join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text.replace("threshold = 10", "threshold = 5")).unwrap();
    let (ok, out) = verify(&l, &tampered);
    assert!(!ok && out.contains("policy.toml"), "{out}");

    // 3. Re-running from the same snapshot gives the same bytes; nothing new is written.
    let out = l.ok(&["publish", "--release", MSOA_TABLE]);
    assert!(out.contains("unchanged since vintage 1"), "{out}");
    let before = files_of(&v1);
    let kept = l.config.parent().unwrap().join("kept");
    std::fs::rename(v1.parent().unwrap(), &kept).unwrap();
    l.ok(&["publish", "--release", MSOA_TABLE]);
    assert_eq!(
        files_of(&v1),
        before,
        "a re-run must be byte-identical, manifest included"
    );

    // 4. The query service: partners see published tables only, researchers their extract.
    let served = serve(&l);
    let out = l.ok(&["extract", "--spec", "builtin:incidents_research"]);
    println!("{out}");
    let extract_dir = data_dir(&l).join("extracts/incidents_research");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(extract_dir.join("report.json")).unwrap()).unwrap();
    println!("incidents_research report: {}", report);
    assert!(report["k_reached"].as_u64().unwrap() >= 10);
    assert!(report["l_reached"]["outcome"].as_u64().unwrap() >= 2);
    assert_eq!(report["subsets"].as_array().unwrap().len(), 7);
    let (ok, out) = verify(&l, &extract_dir);
    assert!(ok, "{out}");
    let again = l.config.parent().unwrap().join("extract-again");
    l.ok(&[
        "extract",
        "--spec",
        "builtin:incidents_research",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        files_of(&again),
        files_of(&extract_dir),
        "extract re-run differs"
    );
    let refused = l.run(&["extract", "--spec", "builtin:incidents_research"]);
    assert!(
        !refused.status.success(),
        "an extract must never be overwritten"
    );

    // The extract holds no id in the clear and no coordinate.
    let extract_csv = std::fs::read_to_string(extract_dir.join("incidents_research.csv")).unwrap();
    let header = extract_csv.lines().next().unwrap();
    assert_eq!(
        header,
        "record_id_pseudonym,victim_reference_pseudonym,period,place,offence,outcome"
    );
    let ids: BTreeSet<String> = csv::Reader::from_path(repo_root().join(SAMPLE))
        .unwrap()
        .records()
        .filter_map(|r| Some(r.ok()?[0].to_string()))
        .filter(|id| !id.is_empty())
        .take(50)
        .collect();
    assert!(ids.iter().all(|id| !extract_csv.contains(id.as_str())));

    let sql = format!("SELECT SUM(count) AS n FROM {MSOA_TABLE}");
    let n = served.rows("pat", &sql)[0]["n"].as_i64().unwrap();
    assert_eq!(n, published.values().sum::<i64>());
    let (status, code, _) = served.refused(Some("pat"), "SELECT * FROM incidents_monthly");
    assert_eq!((status, code.as_str()), (403, "table_not_allowed"));
    let (status, _, _) = served.refused(Some("pat"), "SELECT * FROM incidents_research");
    assert_eq!(status, 403);
    let (status, _, _) = served.refused(Some("rex"), "SELECT * FROM incidents_research");
    assert_eq!(status, 403, "rex has not been granted the extract");
    l.ok(&[
        "users",
        "add",
        "uni",
        "--role",
        "researcher",
        "--grant",
        "incidents_research",
        "--credentials-dir",
        served_credentials(&l).to_str().unwrap(),
    ]);
    let rows = served.rows("uni", "SELECT COUNT(*) AS n FROM incidents_research");
    assert_eq!(rows[0]["n"].as_u64(), report["records_released"].as_u64());

    // 5. A revision makes a new vintage, published by the running service on its own, chained
    //    to the previous one; a broken chain is reported.
    let moved: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| {
            incident(
                &format!("e2e-rev-{i}"),
                1,
                "recorded",
                "2022-10-05T10:00:00Z",
                "Burglary",
                Some("E01033223"),
            )
        })
        .collect();
    l.produce(&l.topics.incidents, &moved).await;
    l.drain();
    // The twelve events land on several partitions, each shard commits on its own, and the
    // service publishes whenever the snapshot changes: a vintage may show a partial count
    // before the one that shows all twelve. Wait for that one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let latest = loop {
        let newest = (2..)
            .map(|n| vintage(&l, "partner_incidents_true_lad_quarterly", n))
            .take_while(|dir| dir.join("manifest.json").exists())
            .last();
        if let Some(dir) = newest {
            let csv = std::fs::read_to_string(dir.join("partner_incidents_true_lad_quarterly.csv"))
                .unwrap();
            if csv.contains("2022-Q4") && csv.contains("Burglary,,10,published") {
                break dir;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lantern serve published no vintage with all twelve revisions"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let (ok, out) = verify(&l, &latest);
    assert!(ok, "{out}");
    assert!(out.contains("chain intact"), "{out}");
    let previous: u64 = latest
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap()
        - 1;
    let previous_manifest = latest
        .parent()
        .unwrap()
        .join(format!("{previous:06}/manifest.json"));
    let text = std::fs::read_to_string(&previous_manifest).unwrap();
    std::fs::write(
        &previous_manifest,
        text.replace(
            &format!("\"vintage\": {previous}"),
            &format!("\"vintage\": {previous} "),
        ),
    )
    .unwrap();
    let (ok, out) = verify(&l, &latest);
    assert!(!ok && out.contains("does not hash"), "{out}");
    drop(served);
}

fn served_credentials(l: &Lantern) -> PathBuf {
    l.config.parent().unwrap().join("credentials")
}
