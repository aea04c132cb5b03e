//! The Helm chart sets only configuration Lantern knows, and Lantern loads what it renders.
//! Checked against Lantern's own config loader (which refuses unknown keys, naming them):
//! - the lantern.toml the chart renders (with Helm's engine) from the default values and from
//!   ci/full-values.yaml, with the values it came from;
//! - every `config` key values.schema.json allows, so also keys a user may set that the values
//!   files leave out (values files are held to the schema by scripts/check-chart.sh);
//! - the `LANTERN_*` environment variables the templates set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lantern_common::Config;
use serde_json::Value;

use crate::support::repo_root;

/// A value of the right type for a key the schema types as `kind`.
fn sample(kind: &Value) -> String {
    match kind.as_str() {
        Some("integer") | Some("number") => "1".into(),
        Some("boolean") => "false".into(),
        Some("array") => "[]".into(),
        Some("object") => "{}".into(),
        _ => "\"127.0.0.1:1\"".into(),
    }
}

/// Whether Lantern's config knows `section.key`: a config with only that key set either loads
/// or fails for another reason than an unknown field (e.g. a sample value it rejects).
fn known(section: &str, key: &str, value: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lantern.toml");
    std::fs::write(&path, format!("[{section}]\n{key} = {value}\n")).unwrap();
    match Config::load_with_env(Some(&path), Vec::new()) {
        Ok(_) => true,
        Err(error) => !error.to_string().contains("unknown field"),
    }
}

fn chart_file(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("helm/lantern").join(name)).unwrap()
}

#[test]
fn the_check_itself_spots_an_unknown_key() {
    assert!(known("processor", "max_batch_events", "1"));
    assert!(!known("processor", "max_batch_event", "1"));
    assert!(!known("nosuchsection", "key", "1"));
}

#[test]
fn every_config_key_the_values_schema_allows_exists_in_lantern() {
    let schema: Value = serde_json::from_str(&chart_file("values.schema.json")).unwrap();
    let config = &schema["properties"]["config"];
    assert_eq!(
        config["additionalProperties"],
        Value::Bool(false),
        "the schema must refuse config sections it does not list"
    );
    let mut checked = 0;
    for (section, keys) in config["properties"].as_object().unwrap() {
        assert_eq!(
            keys["additionalProperties"],
            Value::Bool(false),
            "config.{section}: the schema must refuse keys it does not list"
        );
        for (key, spec) in keys["properties"].as_object().unwrap() {
            assert!(
                known(section, key, &sample(&spec["type"])),
                "values.schema.json allows config.{section}.{key}, which Lantern does not know"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} keys in the schema");
}

/// The chart renderer (Helm's engine as a library, helm/lantern/ci/render): the one
/// scripts/check-chart.sh built (`E2E_HELM_RENDER`), or built here with `go build`.
fn renderer() -> PathBuf {
    if let Some(path) = std::env::var_os("E2E_HELM_RENDER") {
        return PathBuf::from(path);
    }
    let out = std::env::temp_dir().join(format!("lantern-helm-render-{}", std::process::id()));
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(repo_root().join("helm/lantern/ci/render"))
        .status()
        .expect("Go is needed to render the chart (scripts/check-chart.sh)");
    assert!(status.success(), "building the chart renderer failed");
    out
}

/// Renders the chart with `values` files and returns its ConfigMap's lantern.toml.
fn rendered_lantern_toml(values: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let chart = repo_root().join("helm/lantern");
    let rendered = Command::new(renderer())
        .arg(&chart)
        .arg(out.path())
        .args(values.iter().map(|v| chart.join(v)))
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let configmap = std::fs::read_to_string(out.path().join("configmap.yaml")).unwrap();
    let mut lines = configmap
        .lines()
        .skip_while(|l| l.trim() != "lantern.toml: |");
    lines.next().expect("the ConfigMap holds lantern.toml");
    lines
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .map(|l| l.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_rendered_config_loads_in_lantern_with_the_values_it_came_from() {
    for values in [&[][..], &["ci/full-values.yaml"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lantern.toml");
        std::fs::write(&path, rendered_lantern_toml(values)).unwrap();
        // As the pods run it: the SASL password from the environment (the chart's secret).
        let env = vec![(
            "LANTERN_KAFKA_SECRET__SASL_PASSWORD".to_string(),
            "s3cret".to_string(),
        )];
        let config = Config::load_with_env(Some(&path), env)
            .unwrap_or_else(|e| panic!("with {values:?}, Lantern refuses the chart's config: {e}"));
        assert_eq!(config.storage.data_dir, Path::new("/var/lib/lantern/data"));
        assert_eq!(config.http.listen, "0.0.0.0:9898");
        assert!(!config.up.embedded_broker);
        let property = |k: &str| config.kafka.properties.get(k).map(String::as_str);
        if values.is_empty() {
            assert_eq!(config.processor.max_batch_events, 100_000);
            assert!(config.disclosure.key_file.is_none());
            assert_eq!(property("security.protocol"), None);
            assert_eq!(config.storage.url, None);
        } else {
            assert_eq!(config.processor.max_batch_events, 20_000);
            assert_eq!(property("security.protocol"), Some("SASL_SSL"));
            assert_eq!(property("sasl.mechanisms"), Some("SCRAM-SHA-512"));
            assert_eq!(
                property("ssl.ca.location"),
                Some("/etc/lantern/kafka-ca/ca.crt")
            );
            assert_eq!(property("client.id"), Some("lantern"));
            assert_eq!(property("sasl.password"), Some("s3cret"));
            assert_eq!(config.query.partner_tables, ["business_crime_monthly"]);
            assert!(config.disclosure.key_file.is_some());
            assert_eq!(
                config.storage.url.as_deref(),
                Some("s3://lantern-tables/lancashire")
            );
        }
    }
}

#[test]
fn every_environment_variable_the_chart_sets_is_understood() {
    let mut names = BTreeSet::new();
    let templates = repo_root().join("helm/lantern/templates");
    for entry in std::fs::read_dir(templates).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("LANTERN_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    assert!(
        names.contains("LANTERN_KAFKA_SECRET__SASL_PASSWORD"),
        "{names:?}"
    );
    for name in names {
        let config = Config::load_with_env(None, vec![(name.clone(), "s3cret".to_string())])
            .unwrap_or_else(|e| panic!("the chart sets {name}, which Lantern refuses: {e}"));
        if let Some(property) = name.strip_prefix("LANTERN_KAFKA_SECRET__") {
            let property = property.to_ascii_lowercase().replace('_', ".");
            assert_eq!(
                config.kafka.properties.get(&property).map(String::as_str),
                Some("s3cret"),
                "{name} did not set librdkafka's {property}"
            );
        }
    }
}
