//! Report intake end to end: reports posted over HTTP (curl, and the form in headless
//! Chromium) against the real broker, every answer the issue names (202, 400, 401, 403, 409, 413,
//! 429, 503), what reaches Kafka, and the accepted reports counted in `business_crime_monthly`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::query_service::{Served, serve};
use crate::support::*;

/// An answer: status, lower-cased headers, JSON body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: String,
    body: Value,
}

pub(crate) fn post(
    base: &str,
    token: Option<&str>,
    kind: &str,
    body: &[u8],
    key: Option<&str>,
) -> Answer {
    let headers_file = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new("curl");
    command
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-D"])
        .arg(headers_file.path())
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ]);
    if let Some(token) = token {
        command
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"));
    }
    if let Some(key) = key {
        command.arg("-H").arg(format!("Idempotency-Key: {key}"));
    }
    let mut child = command
        .arg(format!("{base}api/v1/reports/{kind}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    Answer {
        status: status.parse().unwrap(),
        headers: std::fs::read_to_string(headers_file.path())
            .unwrap()
            .to_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// A valid business-crime report, placed in Preston.
pub(crate) fn report(id: &str, business: &str) -> Value {
    json!({
        "schema_version": 1,
        "source": "e2e-intake",
        "occurred_at": "2022-10-14T10:30:00Z",
        "reported_at": "2022-10-14T11:00:00Z",
        "report_id": id,
        "version": 1,
        "status": "reported",
        "business_ref": business,
        "sector": "pharmacy",
        "premises": {"lsoa_code": "E01025437"},
        "incident_type": "shoplifting",
        "loss_value": 12.5,
        "reported_to_police": false
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn add_user(l: &Lantern, s: &Served, name: &str, role: &str, business: Option<&str>) {
    let mut args = vec!["users", "add", name, "--role", role, "--credentials-dir"];
    let dir = s.credentials_dir().to_str().unwrap().to_string();
    args.push(&dir);
    if let Some(business) = business {
        args.extend(["--business", business]);
    }
    l.ok(&args);
}

/// Report ids on the business-crime topic.
fn report_ids(l: &Lantern) -> Vec<String> {
    l.consume_all(&l.topics.business)
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.payload).unwrap();
            v["report_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_over_http_reach_kafka_and_the_tables_and_bad_ones_never_do() {
    let l = Lantern::start();
    let mut config = std::fs::read_to_string(&l.config).unwrap();
    config.push_str(
        "\n[intake]\nmax_body_bytes = 4096\nreports_per_minute = 20\nproduce_timeout_ms = 3000\n\
         idempotency_file = \"intake-keys.jsonl\"\n",
    );
    std::fs::write(&l.config, config).unwrap();
    let s = serve(&l);
    add_user(&l, &s, "shop", "reporter", Some("BIZ-1"));
    add_user(&l, &s, "burst", "reporter", Some("BIZ-9"));
    add_user(&l, &s, "adm", "admin", None);
    let base = s.dashboard_url().to_string();
    let shop = s.token("shop");

    // 401 and 403.
    let good = report("r-1", "BIZ-1");
    assert_eq!(
        post(&base, None, "business-crime", &bytes(&good), None).status,
        401
    );
    let analyst = post(
        &base,
        Some(&s.token("ana")),
        "business-crime",
        &bytes(&good),
        None,
    );
    assert_eq!(analyst.status, 403, "{}", analyst.body);
    let wrong_kind = post(&base, Some(&shop), "cybercrime-report", b"{}", None);
    assert_eq!(wrong_kind.status, 403, "{}", wrong_kind.body);
    let not_theirs = post(
        &base,
        Some(&shop),
        "business-crime",
        &bytes(&report("r-x", "BIZ-2")),
        None,
    );
    assert_eq!(not_theirs.status, 403);
    assert!(
        not_theirs.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/business_ref"),
        "{}",
        not_theirs.body
    );
    assert_eq!(
        post(&base, Some(&shop), "burglary", b"{}", None).status,
        404
    );

    // 400 naming every failing field; 413.
    let mut bad = report("r-bad", "BIZ-1");
    bad["sector"] = json!("Not A Slug");
    bad["loss_value"] = json!(-5);
    bad.as_object_mut().unwrap().remove("occurred_at");
    let refused = post(&base, Some(&shop), "business-crime", &bytes(&bad), None);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "invalid_report");
    let pointers: Vec<&str> = refused.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pointer"].as_str().unwrap())
        .collect();
    for field in ["/sector", "/loss_value", "/occurred_at"] {
        assert!(
            pointers.contains(&field),
            "{field} not named: {}",
            refused.body
        );
    }
    let mut huge = report("r-huge", "BIZ-1");
    huge["police_reference"] = json!("x".repeat(5000));
    assert_eq!(
        post(&base, Some(&shop), "business-crime", &bytes(&huge), None).status,
        413
    );

    // 202 after the broker's acknowledgement; the same key and body answer the same, once.
    let first = post(
        &base,
        Some(&shop),
        "business-crime",
        &bytes(&good),
        Some("key-1"),
    );
    assert_eq!(first.status, 202, "{}", first.body);
    assert!(first.body["offset"].as_i64().is_some(), "{}", first.body);
    assert_eq!(first.body["record_id"], "r-1");
    let again = post(
        &base,
        Some(&shop),
        "business-crime",
        &bytes(&good),
        Some("key-1"),
    );
    assert_eq!((again.status, &again.body), (202, &first.body));
    assert!(
        again.headers.contains("idempotent-replayed: true"),
        "{}",
        again.headers
    );
    let other = post(
        &base,
        Some(&shop),
        "business-crime",
        &bytes(&report("r-2", "BIZ-1")),
        Some("key-1"),
    );
    assert_eq!(other.status, 409, "{}", other.body);
    let second = post(
        &base,
        Some(&shop),
        "business-crime",
        &bytes(&report("r-2", "BIZ-1")),
        None,
    );
    assert_eq!(second.status, 202, "{}", second.body);
    let by_admin = post(
        &base,
        Some(&s.token("adm")),
        "business-crime",
        &bytes(&report("r-3", "BIZ-77")),
        None,
    );
    assert_eq!(by_admin.status, 202, "{}", by_admin.body);

    // 429 past the per-credential rate, with Retry-After; other users are unaffected.
    let burst = s.token("burst");
    let statuses: Vec<u16> = (0..21)
        .map(|_| post(&base, Some(&burst), "business-crime", b"{}", None).status)
        .collect();
    assert!(statuses[..20].iter().all(|s| *s == 400), "{statuses:?}");
    let limited = post(&base, Some(&burst), "business-crime", b"{}", None);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(
        limited.headers.contains("retry-after:"),
        "{}",
        limited.headers
    );

    // Every submission is in the audit log, refused ones too.
    let audit: Vec<Value> = l
        .ok(&["audit", "tail", "-n", "1000", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let logged = |pred: &dyn Fn(&Value) -> bool| audit.iter().any(pred);
    assert!(logged(&|r| r["user"] == "shop"
        && r["outcome"] == "ok"
        && r["report"]["record_id"] == "r-1"
        && r["report"]["topic"] == l.topics.business.as_str()));
    assert!(logged(&|r| r["report"]["replayed"] == true));
    assert!(logged(
        &|r| r["error_code"] == "invalid_report" && r["report"]["kind"] == "business-crime"
    ));
    assert!(logged(
        &|r| r["outcome"] == "unauthenticated" && r["report"].is_object()
    ));
    assert!(logged(
        &|r| r["error_code"] == "rate_limited" && r["user"] == "burst"
    ));

    // Exactly the accepted reports reached Kafka, and the processor counts them.
    let mut ids = report_ids(&l);
    ids.sort();
    assert_eq!(ids, ["r-1", "r-2", "r-3"], "what reached Kafka");
    l.drain();
    let counted = s.rows(
        "ana",
        "SELECT SUM(incidents) AS n, SUM(loss_total) AS loss FROM business_crime_monthly \
         WHERE sector = 'pharmacy' AND month = '2022-10' AND lsoa_code = 'E01025437'",
    );
    assert_eq!(counted[0]["n"], 3, "{counted:?}");

    // A restarted server still answers the key, from its file.
    drop(s);
    let s = serve_again(&l);
    let after_restart = post(
        s.dashboard_url(),
        Some(&shop),
        "business-crime",
        &bytes(&good),
        Some("key-1"),
    );
    assert_eq!(
        (after_restart.status, &after_restart.body),
        (202, &first.body)
    );

    // 503 when the broker does not answer, nothing queued: a server pointed at a closed port.
    let dead = serve_on_dead_broker(&l);
    let started = Instant::now();
    let unavailable = post(
        &dead.1,
        Some(&shop),
        "business-crime",
        &bytes(&report("r-4", "BIZ-1")),
        None,
    );
    assert_eq!(unavailable.status, 503, "{}", unavailable.body);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(unavailable.headers.contains("retry-after:"));
    drop(dead);
    let ids = report_ids(&l);
    assert!(!ids.contains(&"r-4".to_string()), "{ids:?}");

    // The form, in a real browser: a field error shown next to its input, then a filed report.
    let out = Command::new("node")
        .arg(repo_root().join("tests/e2e/browser/report.mjs"))
        .arg(s.dashboard_url())
        .arg(format!("shop:{}", s.password_file("shop").display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let form: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        form["fieldErrors"],
        json!(["/premises/lsoa_code"]),
        "{form}"
    );
    let filed = form["recordId"].as_str().unwrap().to_string();
    assert!(
        report_ids(&l).contains(&filed),
        "the form's report {filed} is not in Kafka"
    );
}

/// `lantern serve` again on the same configuration (ports and users unchanged).
fn serve_again(l: &Lantern) -> Served {
    crate::query_service::serve_existing(l)
}

/// `lantern serve` with the broker address replaced by a closed port: (process, base URL).
fn serve_on_dead_broker(l: &Lantern) -> (KillOnDrop, String) {
    let http = free_port();
    let mut command = l.command(&["serve"]);
    command
        .env(
            "LANTERN_KAFKA__BOOTSTRAP_SERVERS",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "LANTERN_QUERY__HTTP_LISTEN",
            format!("\"127.0.0.1:{http}\""),
        )
        .env(
            "LANTERN_QUERY__PG_LISTEN",
            format!("\"127.0.0.1:{}\"", free_port()),
        )
        .env(
            "LANTERN_HTTP__LISTEN",
            format!("\"127.0.0.1:{}\"", free_port()),
        )
        .env("LANTERN_DISCLOSURE__PUBLISH_INTERVAL_MS", "0")
        .env("LANTERN_ANALYTICS__INTERVAL_MS", "0")
        .stdout(Stdio::null());
    let child = KillOnDrop(command.spawn().unwrap());
    let base = format!("http://127.0.0.1:{http}/");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Command::new("curl")
        .args(["-s", "-o", "/dev/null", &base])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "the second server never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, base)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
