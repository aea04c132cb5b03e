//! The query service as users reach it: `curl` against the HTTP API, the real `psql`, and a
//! Python client (psycopg), with roles, refusals, limits, audit and live commits.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// A running `lantern serve` with three users (analyst, partner, researcher).
pub(crate) struct Served {
    child: Child,
    http: String,
    pg_port: u16,
    credentials: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends the `[query]` section (tight limits, so tests can exceed them quickly) and adds the
/// users, then starts `lantern serve`.
pub(crate) fn serve(l: &Lantern) -> Served {
    let http_port = free_port();
    let pg_port = free_port();
    let dir = l.config.parent().unwrap().to_path_buf();
    let mut config = std::fs::read_to_string(&l.config).unwrap();
    config.push_str(&format!(
        "\n[query]\nhttp_listen = \"127.0.0.1:{http_port}\"\npg_listen = \"127.0.0.1:{pg_port}\"\n\
         users_file = \"users.toml\"\naudit_log = \"audit.log\"\nmax_rows = 5000\ntimeout_ms = 3000\n\
         memory_limit_mb = 64\nmax_concurrent_queries = 2\npartner_tables = [\"business_crime_monthly\"]\n"
    ));
    std::fs::write(&l.config, config).unwrap();
    let credentials = dir.join("credentials");
    for (user, role) in [
        ("ana", "analyst"),
        ("pat", "partner"),
        ("rex", "researcher"),
    ] {
        l.ok(&[
            "users",
            "add",
            user,
            "--role",
            role,
            "--credentials-dir",
            credentials.to_str().unwrap(),
        ]);
    }
    start_serve(l, http_port, pg_port, credentials)
}

/// `lantern serve` again on the configuration [`serve`] wrote (same ports, users and files).
pub(crate) fn serve_existing(l: &Lantern) -> Served {
    let config = std::fs::read_to_string(&l.config).unwrap();
    let port_of = |key: &str| -> u16 {
        let at = config.rfind(&format!("{key} = \"127.0.0.1:")).unwrap() + key.len() + 14;
        config[at..].split('"').next().unwrap().parse().unwrap()
    };
    let credentials = l.config.parent().unwrap().join("credentials");
    start_serve(l, port_of("http_listen"), port_of("pg_listen"), credentials)
}

fn start_serve(l: &Lantern, http_port: u16, pg_port: u16, credentials: PathBuf) -> Served {
    let mut child = l
        .command(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Query service ready") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("lantern serve did not become ready");
    Served {
        child,
        http: format!("http://127.0.0.1:{http_port}/api/v1/sql"),
        pg_port,
        credentials,
    }
}

impl Served {
    /// The dashboard's address, `http://127.0.0.1:<port>/`.
    pub(crate) fn dashboard_url(&self) -> &str {
        self.http.trim_end_matches("api/v1/sql")
    }

    /// Where a user's password file is.
    pub(crate) fn password_file(&self, user: &str) -> PathBuf {
        self.credentials.join(format!("{user}.password"))
    }

    /// A user's HTTP bearer token.
    pub(crate) fn token(&self, user: &str) -> String {
        self.secret(user, "token")
    }

    /// Where the users' secrets are written.
    pub(crate) fn credentials_dir(&self) -> &Path {
        &self.credentials
    }

    fn secret(&self, user: &str, kind: &str) -> String {
        std::fs::read_to_string(self.credentials.join(format!("{user}.{kind}"))).unwrap()
    }

    /// `curl` as the docs show it; returns (status, body).
    fn curl(&self, user: Option<&str>, accept: &str, sql: &str) -> (u16, Vec<u8>) {
        let mut command = Command::new("curl");
        command.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-H"]);
        command.arg(format!("Accept: {accept}"));
        if let Some(user) = user {
            command.arg("-H").arg(format!(
                "Authorization: Bearer {}",
                self.secret(user, "token")
            ));
        }
        let out = command
            .args(["--data-binary", sql, &self.http])
            .output()
            .unwrap();
        let mut body = out.stdout;
        let newline = body.iter().rposition(|b| *b == b'\n').unwrap();
        let status = String::from_utf8_lossy(&body[newline + 1..])
            .parse()
            .unwrap();
        body.truncate(newline);
        (status, body)
    }

    /// A JSON query that must succeed; returns its rows.
    pub(crate) fn rows(&self, user: &str, sql: &str) -> Vec<Value> {
        let (status, body) = self.curl(Some(user), "application/json", sql);
        let json: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{sql}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
        });
        assert_eq!(status, 200, "{sql}: {json}");
        assert!(json.get("error").is_none(), "{sql}: {json}");
        json["rows"].as_array().unwrap().clone()
    }

    /// A JSON query that must fail; returns (status, error code, message).
    pub(crate) fn refused(&self, user: Option<&str>, sql: &str) -> (u16, String, String) {
        let (status, body) = self.curl(user, "application/json", sql);
        let json: Value = serde_json::from_slice(&body).unwrap();
        let error = &json["error"];
        (
            status,
            error["code"].as_str().unwrap_or_default().to_string(),
            error["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// The real `psql`, unaligned output; returns the process output.
    fn psql(&self, user: &str, password: &str, sql: &str) -> Output {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.pg_port.to_string(),
                "-U",
                user,
                "-d",
                "lantern",
            ])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .unwrap()
    }

    fn psql_ok(&self, user: &str, sql: &str) -> String {
        let out = self.psql(user, &self.secret(user, "password"), sql);
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn psql_err(&self, user: &str, sql: &str) -> String {
        let out = self.psql(user, &self.secret(user, "password"), sql);
        assert!(!out.status.success(), "psql allowed {sql}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn incidents(prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            incident(
                &format!("{prefix}-{i}"),
                1,
                "recorded",
                "2024-03-10T12:00:00Z",
                "Burglary",
                Some("E01025437"),
            )
        })
        .collect()
}

fn total(served: &Served, user: &str) -> i64 {
    served.rows(user, "SELECT SUM(incidents) AS n FROM incidents_monthly")[0]["n"]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_service_over_http_and_postgres() {
    let l = Lantern::start();
    l.produce(&l.topics.incidents, &incidents("a", 40)).await;
    l.drain();
    let s = serve(&l);

    // Authentication: none, wrong, right.
    assert_eq!(s.refused(None, "SELECT 1").0, 401);
    let forged = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer lnt.ana.{}", "0".repeat(64)))
        .args(["--data-binary", "SELECT 1", &s.http])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&forged.stdout),
        "401",
        "a forged token was accepted"
    );
    assert_eq!(total(&s, "ana"), 40);

    // The three formats.
    let (status, csv) = s.curl(
        Some("ana"),
        "text/csv",
        "SELECT month, SUM(incidents) AS n FROM incidents_monthly GROUP BY month",
    );
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(csv).unwrap(), "month,n\n2024-03,40\n");
    let (status, arrow) = s.curl(
        Some("ana"),
        "application/vnd.apache.arrow.stream",
        "SELECT 1 AS one",
    );
    assert_eq!(status, 200);
    assert_eq!(
        &arrow[..4],
        &[0xff, 0xff, 0xff, 0xff],
        "an Arrow IPC stream starts with a continuation marker"
    );
    assert_eq!(s.curl(Some("ana"), "application/xml", "SELECT 1").0, 406);

    // Read-only, over HTTP and the wire.
    for (sql, kind) in [
        ("DROP TABLE incidents_monthly", "DROP"),
        (
            "INSERT INTO incidents_monthly SELECT * FROM incidents_monthly",
            "INSERT",
        ),
        (
            "COPY incidents_monthly TO '/tmp/lantern-e2e-leak.csv'",
            "COPY",
        ),
        (
            "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE",
        ),
        (
            "CREATE VIEW v AS SELECT * FROM incidents_monthly",
            "CREATE VIEW",
        ),
        ("SET datafusion.execution.target_partitions = 1", "SET"),
        ("PREPARE p AS SELECT 1", "PREPARE"),
    ] {
        let (status, code, message) = s.refused(Some("ana"), sql);
        assert_eq!(
            (status, code.as_str()),
            (400, "read_only"),
            "{sql}: {message}"
        );
        assert!(message.contains(kind), "{sql}: {message}");
        let err = s.psql_err("ana", sql);
        assert!(err.contains("read-only"), "psql {sql}: {err}");
    }
    assert!(!Path::new("/tmp/lantern-e2e-leak.csv").exists());
    let (status, code, _) = s.refused(Some("ana"), "SELECT * FROM '/etc/passwd'");
    assert_eq!((status, code.as_str()), (400, "invalid_query"));
    assert!(
        !s.psql_err("ana", "SELECT * FROM '/etc/passwd'")
            .contains("root:")
    );

    // Roles: a partner reaches only its allow-listed table, by no route.
    for sql in [
        "SELECT * FROM incidents_monthly",
        "WITH x AS (SELECT * FROM incidents_monthly) SELECT COUNT(*) FROM x",
        "SELECT COUNT(*) FROM business_crime_monthly b JOIN incidents_monthly i ON b.month = i.month",
        "SELECT (SELECT COUNT(*) FROM public.incidents_monthly)",
    ] {
        let (status, code, message) = s.refused(Some("pat"), sql);
        assert_eq!(
            (status, code.as_str()),
            (403, "table_not_allowed"),
            "{sql}: {message}"
        );
        let err = s.psql_err("pat", sql);
        assert!(
            err.contains("may not read table incidents_monthly"),
            "psql {sql}: {err}"
        );
    }
    let (status, code, _) = s.refused(
        Some("pat"),
        "CREATE VIEW v AS SELECT * FROM incidents_monthly",
    );
    assert_eq!((status, code.as_str()), (400, "read_only"));
    let listed: Vec<String> = s
        .rows("pat", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        .iter()
        .map(|r| r["table_name"].as_str().unwrap().to_string())
        // `lantern serve` publishes the partner tables it can (no disclosure key here: the
        // rounded and suppressed ones); tests/e2e/disclosure.rs checks those.
        .filter(|name| !name.starts_with("partner_"))
        .collect();
    assert_eq!(
        listed,
        ["business_crime_monthly", "force_places", "place_names"]
    );
    let dt = s.psql_ok("pat", "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1");
    assert!(
        !dt.contains("incidents_monthly"),
        "pg_catalog shows a partner an unpublished table: {dt}"
    );
    assert_eq!(
        s.rows("pat", "SELECT COUNT(*) AS n FROM business_crime_monthly")[0]["n"],
        0
    );
    assert_eq!(
        s.refused(Some("rex"), "SELECT * FROM incidents_monthly").0,
        403
    );

    // psql: catalog commands and a wrong password.
    let tables = s.psql_ok("ana", "\\dt");
    for table in [
        "incidents_monthly",
        "incidents_daily",
        "business_crime_monthly",
        "cybercrime_monthly",
    ] {
        assert!(tables.contains(table), "\\dt: {tables}");
    }
    assert!(
        !tables.contains("facts"),
        "internal tables listed: {tables}"
    );
    let described = s.psql_ok("ana", "\\d incidents_monthly");
    assert!(described.contains("lsoa_code"), "\\d: {described}");
    let out = s.psql("ana", "not-the-password", "SELECT 1");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert_eq!(
        s.psql_ok("ana", "SELECT SUM(incidents) FROM incidents_monthly")
            .trim(),
        "40"
    );

    // Limits, each exceeded, and the server keeps serving after each.
    for (sql, code, sqlstate_words) in [
        (
            "SELECT * FROM range(1000000)",
            "row_limit_exceeded",
            "query.max_rows",
        ),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
            "timeout",
            "query.timeout_ms",
        ),
        (
            "SELECT COUNT(*) FROM range(1000000000000)",
            "timeout",
            "query.timeout_ms",
        ),
        (
            "SELECT COUNT(*) FROM range(20000000) a JOIN range(20000000) b ON a.value = b.value",
            "memory_limit_exceeded",
            "query.memory_limit_mb",
        ),
    ] {
        let started = Instant::now();
        let (status, got, message) = s.refused(Some("ana"), sql);
        assert_eq!((status, got.as_str()), (422, code), "{sql}: {message}");
        assert!(message.contains(sqlstate_words), "{sql}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{sql} was not stopped in time"
        );
        let err = s.psql_err("ana", sql);
        assert!(err.contains(sqlstate_words), "psql {sql}: {err}");
        assert_eq!(
            total(&s, "ana"),
            40,
            "the server stopped serving after {sql}"
        );
    }

    // A Python client.
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "import psycopg\n\
         with psycopg.connect(host='127.0.0.1', port={}, user='ana', password=open({:?}).read(), dbname='lantern') as c:\n\
         \x20   rows = c.execute('SELECT month, SUM(incidents) FROM incidents_monthly WHERE crime_type = %s GROUP BY month', ['Burglary']).fetchall()\n\
         \x20   print(rows)\n",
        s.pg_port,
        s.credentials.join("ana.password").display().to_string()
    );
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psycopg ({python}; scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[('2024-03', 40)]"
    );

    // A commit becomes visible to the next query, without restarting the server.
    let mut processor = l.command(&["process"]).spawn().unwrap();
    l.produce(&l.topics.incidents, &incidents("b", 5)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while total(&s, "ana") != 45 {
        assert!(
            Instant::now() < deadline,
            "the new commit never became visible"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        s.psql_ok("ana", "SELECT SUM(incidents) FROM incidents_monthly")
            .trim(),
        "45"
    );
    let _ = processor.kill();
    let _ = processor.wait();

    // Every query is in the audit log, refused ones too.
    let audit = l.ok(&["audit", "tail", "-n", "1000", "--json"]);
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |pred: &dyn Fn(&Value) -> bool| records.iter().any(pred);
    assert!(find(
        &|r| r["outcome"] == "unauthenticated" && r["protocol"] == "http"
    ));
    assert!(find(&|r| r["outcome"] == "unauthenticated"
        && r["protocol"] == "postgres"
        && r["user"] == "ana"));
    assert!(find(&|r| r["error_code"] == "table_not_allowed"
        && r["user"] == "pat"
        && r["role"] == "partner"));
    assert!(find(
        &|r| r["error_code"] == "read_only" && r["protocol"] == "postgres"
    ));
    assert!(find(&|r| r["outcome"] == "ok"
        && r["rows"] == 1
        && r["tables"] == serde_json::json!(["incidents_monthly"])));
}

/// The PostgreSQL JDBC driver, which DBeaver and other JDBC tools use. scripts/test.sh fetches
/// it from Maven Central into the local Maven repository and names it in `E2E_PGJDBC_JAR`.
fn pgjdbc_jar() -> PathBuf {
    std::env::var_os("E2E_PGJDBC_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap())
                .join(".m2/repository/org/postgresql/postgresql/42.7.14/postgresql-42.7.14.jar")
        })
}

impl Served {
    /// tests/e2e/clients/JdbcClient.java as `user`: its `key<TAB>value` lines.
    fn jdbc(&self, user: &str) -> std::collections::BTreeMap<String, String> {
        let jar = pgjdbc_jar();
        assert!(jar.exists(), "{}: run scripts/test.sh", jar.display());
        let out = Command::new("java")
            .arg("-cp")
            .arg(&jar)
            .arg(repo_root().join("tests/e2e/clients/JdbcClient.java"))
            .arg(self.pg_port.to_string())
            .arg(user)
            .arg(self.password_file(user))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "JDBC client as {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// tests/e2e/clients/grafana_editor.py as `user`, describing `table`.
    fn grafana(&self, user: &str, table: &str) -> Value {
        let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into());
        let out = Command::new(&python)
            .arg(repo_root().join("tests/e2e/clients/grafana_editor.py"))
            .arg(self.pg_port.to_string())
            .arg(user)
            .arg(self.password_file(user))
            .arg(table)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "Grafana's queries as {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// What DBeaver (through the real JDBC driver) and Grafana's query editor ask on connect is
/// answered, and lists only the tables the user's role may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jdbc_and_grafana_browse_the_catalog_by_role() {
    let l = Lantern::start();
    l.produce(&l.topics.incidents, &incidents("j", 7)).await;
    l.drain();
    let s = serve(&l);

    let analyst = s.jdbc("ana");
    assert!(
        analyst["product"].starts_with("PostgreSQL 16"),
        "{analyst:?}"
    );
    assert!(analyst["schemas"].contains("public"), "{analyst:?}");
    let tables: Vec<&str> = analyst["tables"].split(',').collect();
    for table in ["incidents_monthly", "business_crime_monthly", "place_names"] {
        assert!(tables.contains(&table), "JDBC getTables: {tables:?}");
    }
    for column in ["lsoa_code", "crime_type", "incidents"] {
        assert!(
            analyst["columns"].split(',').any(|c| c == column),
            "JDBC getColumns: {}",
            analyst["columns"]
        );
    }
    assert_eq!(analyst["burglaries"], "7", "{analyst:?}");

    let partner = s.jdbc("pat");
    assert!(
        !partner["tables"].contains("incidents_monthly"),
        "JDBC lists an unpublished table to a partner: {}",
        partner["tables"]
    );
    assert!(partner["tables"].contains("business_crime_monthly"));
    assert_eq!(partner.get("columns").map(String::as_str), Some(""));
    assert!(
        partner["refused"].starts_with("42501"),
        "a partner's prepared query on incidents_monthly: {partner:?}"
    );

    let grafana = s.grafana("ana", "incidents_monthly");
    assert_eq!(grafana["version"], serde_json::json!([1600]));
    assert_eq!(grafana["timescaledb"], serde_json::json!([]));
    assert_eq!(grafana["schemas"], serde_json::json!(["public"]));
    let tables = grafana["tables"].as_array().unwrap();
    assert!(
        tables.contains(&Value::from("incidents_monthly")),
        "tables on the search path are listed unqualified: {tables:?}"
    );
    let columns = grafana["columns"].as_array().unwrap();
    assert!(columns.contains(&Value::from("lsoa_code")), "{columns:?}");
    let qualified = s.grafana("ana", "public.incidents_monthly");
    assert_eq!(qualified["columns"], grafana["columns"]);

    let grafana = s.grafana("pat", "incidents_monthly");
    assert!(
        !grafana["tables"]
            .as_array()
            .unwrap()
            .contains(&Value::from("incidents_monthly")),
        "{grafana}"
    );
    assert_eq!(grafana["columns"], serde_json::json!([]));
}
