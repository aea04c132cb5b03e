//! The README's first command, `scripts/quickstart.sh`, as CI runs it (`--exit`): `lantern up`
//! with its own broker, the sample import, the SQL summary, and the psql and curl lines of
//! docs/analysts.md against the running query service. Everything but the script's `cargo build`
//! line, which the test build has already done (see `QUICKSTART_BIN` below).

use std::process::Command;

use crate::support::*;

#[test]
fn quickstart_runs_lantern_up_and_the_documented_client_lines() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let broker_port = free_port();
    let out = Command::new(repo_root().join("scripts/quickstart.sh"))
        .arg("--exit")
        // The binary this test build made. Left to itself the script runs `cargo build`, which
        // (features of a plain build differ from a test build's) relinked the binary that
        // every other test was starting: one failed with "No such file" mid-run.
        .env("QUICKSTART_BIN", env!("CARGO_BIN_EXE_lantern"))
        .env(
            "LANTERN_KAFKA__BOOTSTRAP_SERVERS",
            format!("127.0.0.1:{broker_port}"),
        )
        .env("LANTERN_HTTP__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env(
            "LANTERN_QUERY__HTTP_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "LANTERN_QUERY__PG_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("LANTERN_STORAGE__DATA_DIR", at("data"))
        .env("LANTERN_UP__BROKER_DIR", at("broker"))
        // Not the default broker port + 1, which another test's client socket may hold.
        .env("LANTERN_UP__CONTROLLER_PORT", free_port().to_string())
        .env("LANTERN_QUERY__USERS_FILE", at("users.toml"))
        .env("LANTERN_QUERY__AUDIT_LOG", at("audit.log"))
        .env("QUICKSTART_CREDENTIALS", at("credentials"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "Lantern is up",
        "Query service ready",
        "Preston",
        "== The same tables through the query service",
        // psql's aligned output of the monthly totals, then curl's CSV.
        " 2022-09 |",
        "nfib_group,reports",
        // The dashboard page is served at the printed address.
        "== The partnership dashboard",
        "in a browser and log in as analyst",
        "Stopping (--exit).",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}\n{stderr}"
        );
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("\"outcome\":\"ok\""))
            .count(),
        2,
        "the psql and curl queries were not both audited: {audit}"
    );
}
