//! The partnership dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
//! tests/e2e/browser/dashboard.mjs) logs in as an analyst and as a partner over the real
//! Lancashire sample, and the numbers the page shows must equal SQL run through the API. The
//! screenshots and printed PDFs are kept in `E2E_ARTIFACTS_DIR` (scripts/test.sh: under the
//! target directory) for a person to look at: a chart that renders blank is a failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::query_service::{Served, serve};
use crate::support::*;

const SAMPLES: [&str; 2] = [
    "data/sample/policeuk/2022-09-lancashire-street.csv",
    "data/sample/policeuk/2022-10-lancashire-street.csv",
];

fn artifacts_dir() -> PathBuf {
    std::env::var_os("E2E_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lantern-e2e-artifacts"))
        .join("dashboard")
}

/// Runs the browser as each user; what each one's page showed.
fn browse(served: &Served, users: &[&str]) -> Value {
    let out_dir = artifacts_dir();
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("tests/e2e/browser/dashboard.mjs"))
        .arg(served.dashboard_url())
        .arg(&out_dir);
    for user in users {
        command.arg(format!("{user}:{}", served.password_file(user).display()));
    }
    let out = command
        .output()
        .expect("node (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "the browser run failed (scripts/test.sh installs chromium and playwright-core): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("Screenshots and PDFs: {}", out_dir.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A panel's table rows as shown: `key` column -> `value` column.
fn shown(panel: &Value, key: &str, value: &str) -> BTreeMap<String, String> {
    panel["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (text(&r[key]), text(&r[value])))
        .collect()
}

/// The same from SQL rows.
fn queried(rows: &[Value], key: &str, value: &str) -> BTreeMap<String, String> {
    rows.iter()
        .map(|r| (text(&r[key]), text(&r[value])))
        .collect()
}

fn check_every_panel_drawn(user: &str, page: &Value, expected: &[&str]) {
    let panels = page["panels"].as_object().unwrap();
    let ids: Vec<&str> = panels.keys().map(String::as_str).collect();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(ids, want, "{user}'s panels");
    for (id, panel) in panels {
        assert_eq!(panel["state"], "ready", "{user}'s {id} panel: {panel}");
    }
    assert_eq!(
        page["consoleErrors"],
        serde_json::json!([]),
        "{user}: errors in the browser console"
    );
    // Drawn shapes: lines and areas per crime type, a bar per row, a path per map area.
    for (id, at_least) in [("trend", 10), ("map", 150), ("cyber", 5)] {
        let shapes = panels[id]["chartShapes"].as_u64().unwrap();
        assert!(
            shapes >= at_least,
            "{user}'s {id} chart drew {shapes} shapes"
        );
    }
    assert!(panels["business"]["synthetic"].as_bool().unwrap());
    assert!(panels["cyber"]["synthetic"].as_bool().unwrap());
    assert!(!panels["trend"]["synthetic"].as_bool().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_what_sql_says_to_analysts_and_partners() {
    let l = Lantern::start();
    let key_file = l.config.parent().unwrap().join("disclosure.key");
    l.ok(&["key", "new", key_file.to_str().unwrap()]);
    let mut config = std::fs::read_to_string(&l.config).unwrap();
    config.push_str("\n[disclosure]\nkey_file = \"disclosure.key\"\n");
    std::fs::write(&l.config, config).unwrap();
    for sample in SAMPLES {
        l.ok(&[
            "import",
            "police-uk",
            repo_root().join(sample).to_str().unwrap(),
        ]);
    }
    // Business and cyber reports: SYNTHETIC (no real ones are public); the page must say so.
    l.ok(&["import", "synthetic"]);
    l.drain();
    l.ok(&["analyse"]);
    l.ok(&["publish"]);
    let s = serve(&l);

    let pages = browse(&s, &["ana", "pat"]);

    // The analyst: every panel, the force's own figures.
    let ana = &pages["ana"];
    assert_eq!(ana["role"], "analyst");
    assert_eq!(
        (text(&ana["from"]), text(&ana["to"])),
        ("2022-09".into(), "2022-10".into())
    );
    check_every_panel_drawn(
        "analyst",
        ana,
        &[
            "trend",
            "change",
            "top",
            "map",
            "business",
            "cyber",
            "placement",
        ],
    );
    let panels = &ana["panels"];
    let total = s.rows(
        "ana",
        "SELECT SUM(incidents) AS n FROM incidents_monthly WHERE in_force_area",
    );
    assert_eq!(text(&panels["trend"]["total"]), text(&total[0]["n"]));
    let top = s.rows(
        "ana",
        "SELECT lsoa_code, SUM(incidents) AS n FROM incidents_monthly WHERE in_force_area AND lsoa_code IS NOT NULL \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    );
    assert_eq!(
        shown(&panels["top"], "code", "incidents"),
        queried(&top, "lsoa_code", "n")
    );
    assert!(
        panels["top"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !text(&r["harm_days"]).is_empty()),
        "harm missing from the top places: {}",
        panels["top"]
    );
    let change = s.rows(
        "ana",
        "SELECT crime_type, \"count\" AS n, mom_change FROM analytics_rates_monthly \
         WHERE place_level = 'force' AND month = '2022-10'",
    );
    assert_eq!(
        panels["change"]["rows"].as_array().unwrap().len(),
        change.len()
    );
    let counts: Vec<String> = change.iter().map(|r| text(&r["n"])).collect();
    for row in panels["change"]["rows"].as_array().unwrap() {
        assert!(
            counts.contains(&text(&row["count"])),
            "{row} not in {change:?}"
        );
    }
    let trend_rows = s.rows(
        "ana",
        "SELECT COUNT(*) AS n FROM (SELECT month, crime_type FROM incidents_monthly WHERE in_force_area GROUP BY 1, 2)",
    );
    assert_eq!(ana["trendCsv"]["header"], "month,crime_type,incidents");
    assert_eq!(
        ana["trendCsv"]["rows"], trend_rows[0]["n"],
        "the trend panel's CSV download"
    );
    println!("Analyst's dashboard timing: {}", ana["timing"]);
    let placement = s.rows(
        "ana",
        "SELECT place_status, SUM(incidents) AS n FROM incidents_monthly GROUP BY 1",
    );
    assert_eq!(
        shown(&panels["placement"], "place_status", "incidents"),
        queried(&placement, "place_status", "n")
    );
    let business = s.rows(
        "ana",
        "SELECT sector, SUM(incidents) AS n FROM business_crime_monthly WHERE in_force_area GROUP BY 1",
    );
    assert_eq!(
        shown(&panels["business"], "sector", "incidents"),
        queried(&business, "sector", "n")
    );
    assert!(
        panels["map"]["chartShapes"].as_u64().unwrap() >= 900,
        "one shape per Lancashire LSOA: {}",
        panels["map"]
    );

    // The partner: published figures only, and no analyst-only panel.
    let pat = &pages["pat"];
    assert_eq!(pat["role"], "partner");
    assert!(
        !pat["levels"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ward")),
        "wards are not published: {}",
        pat["levels"]
    );
    check_every_panel_drawn(
        "partner",
        pat,
        &["trend", "top", "map", "business", "cyber", "placement"],
    );
    let (status, code, _) = s.refused(Some("pat"), "SELECT * FROM analytics_rates_monthly");
    assert_eq!((status, code.as_str()), (403, "table_not_allowed"));
    let panels = &pat["panels"];
    let total = s.rows(
        "pat",
        "SELECT SUM(\"count\") AS n FROM partner_incidents_csp_monthly \
         WHERE period_level = 'month' AND place_code IS NOT NULL AND crime_type IS NOT NULL",
    );
    assert_eq!(text(&panels["trend"]["total"]), text(&total[0]["n"]));
    let top = s.rows(
        "pat",
        "SELECT place_code, SUM(\"count\") AS n FROM partner_incidents_msoa_monthly \
         WHERE period_level = 'month' AND place_code IS NOT NULL AND crime_type IS NOT NULL \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    );
    assert_eq!(
        shown(&panels["top"], "code", "incidents"),
        queried(&top, "place_code", "n")
    );
    let unplaced = s.rows(
        "pat",
        "SELECT SUM(\"count\") AS n FROM partner_incidents_csp_monthly \
         WHERE period_level = 'month' AND place_code IS NULL AND crime_type IS NOT NULL",
    );
    assert_eq!(
        shown(&panels["placement"], "place_status", "incidents")["not placed"],
        text(&unplaced[0]["n"])
    );
    // Guessing a password: ten tries a minute per user name, then 429.
    let login = |password: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg("Content-Type: application/json")
            .arg("--data-binary")
            .arg(format!(r#"{{"user": "pat", "password": "{password}"}}"#))
            .arg(format!("{}api/v1/login", s.dashboard_url()))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    // (The browser's login as pat took one try, which may have refilled since.)
    let statuses: Vec<String> = (0..12).map(|i| login(&format!("guess-{i}"))).collect();
    let limited = statuses.iter().position(|s| s == "429");
    assert!(
        matches!(limited, Some(9..=10)),
        "401 for nine or ten guesses, then 429: {statuses:?}"
    );
    assert!(statuses[..limited.unwrap()].iter().all(|s| s == "401"));
    assert_eq!(
        login(&std::fs::read_to_string(s.password_file("pat")).unwrap()),
        "429",
        "the right password is refused too while limited"
    );

    for user in ["ana", "pat"] {
        for kind in ["png", "pdf"] {
            let file = artifacts_dir().join(format!("dashboard-{user}.{kind}"));
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(size > 10_000, "{} is {size} bytes", file.display());
        }
    }
}
