//! A force's own cluster, reached with config alone: TLS with a CA to trust, SASL/SCRAM, and
//! the password from a secret file. Wrong credentials fail at start with Kafka's reason.

use crate::support::*;

fn kafka_section(port: u16, tls: &std::path::Path, username: &str) -> String {
    format!(
        "bootstrap_servers = \"127.0.0.1:{port}\"\n\
         [kafka.properties]\n\
         \"security.protocol\" = \"SASL_SSL\"\n\
         \"sasl.mechanisms\" = \"SCRAM-SHA-256\"\n\
         \"sasl.username\" = \"{username}\"\n\
         \"ssl.ca.location\" = {:?}\n\
         [kafka.secret_files]\n\
         \"sasl.password\" = {:?}\n",
        tls.join("ca.pem").display().to_string(),
        tls.join("password").display().to_string(),
    )
}

#[test]
fn tls_and_scram_from_config_and_a_secret_file() {
    let secure_port = free_port();
    let broker = Broker::own_secured(secure_port);
    let tls = broker.tls_dir();
    let l = Lantern::on_broker_with_kafka(
        broker,
        &kafka_section(secure_port, &tls, "lantern"),
        "pipelines = [\"incidents\"]",
    );
    let file = repo_root().join("data/sample/policeuk/2022-09-lancashire-street.csv");
    let rows = csv::Reader::from_path(&file).unwrap().records().count() as i64;
    l.ok(&["import", "police-uk", file.to_str().unwrap()]);
    l.drain();
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly"),
        rows
    );

    // The same cluster with a user it does not know: a prompt, one-line reason, not a hang.
    std::fs::write(
        &l.config,
        std::fs::read_to_string(&l.config).unwrap().replace(
            "\"sasl.username\" = \"lantern\"",
            "\"sasl.username\" = \"intruder\"",
        ),
    )
    .unwrap();
    for command in [&["topics"][..], &["process", "--drain"][..]] {
        let started = std::time::Instant::now();
        let out = l.run(command);
        assert!(
            !out.status.success(),
            "{command:?} succeeded with a wrong user"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Authentication") || stderr.contains("authentication"),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("kafka.bootstrap_servers"), "{stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{command:?} took {:?} to give up",
            started.elapsed()
        );
    }
}
