//! `lantern up`: broker, stream processors and query service together, until ctrl-c.

use std::process::Command;

use anyhow::Context;
use lantern_common::Config;
use lantern_common::http::Readiness;
use lantern_stream::{RunOptions, StreamMetrics};

use crate::serve;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let _broker = if config.up.embedded_broker {
        Some(LocalBroker::start(&config)?)
    } else {
        None
    };
    crate::import::create_topics(&config, 3, None).await?;

    let registry = prometheus::Registry::new();
    let metrics = StreamMetrics::register(&registry).context("registering metrics")?;
    let readiness = Readiness::default();
    let ops = serve::start_ops_endpoint(&config, registry.clone(), readiness.clone()).await?;
    let server = serve::start_query_server(&config, &registry).await?;
    let publisher = crate::publish::spawn_loop(&config)?;
    let analyser = crate::analyse::spawn_loop(&config)?;
    println!("Lantern is up. Kafka: {}", config.kafka.bootstrap_servers);
    serve::print_connect_lines(&config, &server);
    println!("Stop everything with ctrl-c.");

    let processed = lantern_stream::run(
        config.clone(),
        metrics,
        readiness,
        RunOptions { drain: false },
        lantern_common::shutdown::signal(),
    )
    .await;
    tracing::info!("Stopping the query service.");
    for task in [publisher, analyser].into_iter().flatten() {
        task.abort();
    }
    server.stop().await;
    ops.stop().await;
    processed?;
    Ok(())
}

/// The local broker `lantern up` starts (with `up.broker_script`) and stops when dropped.
struct LocalBroker {
    script: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl LocalBroker {
    fn start(config: &Config) -> anyhow::Result<Self> {
        let script = &config.up.broker_script;
        if !script.exists() {
            anyhow::bail!(
                "up.broker_script: {} does not exist. Run lantern up from the repository root, \
                 or set up.embedded_broker = false and kafka.bootstrap_servers to your cluster",
                script.display()
            );
        }
        let port = broker_port(&config.kafka.bootstrap_servers)?;
        let dir = config.up.broker_dir.clone();
        let mut start = Command::new(script);
        start
            .args(["start", "--dir"])
            .arg(&dir)
            .args(["--port", &port.to_string()]);
        if let Some(controller_port) = config.up.controller_port {
            start.args(["--controller-port", &controller_port.to_string()]);
        }
        let status = start
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            anyhow::bail!(
                "{} start failed ({status}); see its output above",
                script.display()
            );
        }
        Ok(LocalBroker {
            script: script.clone(),
            dir,
        })
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let stopped = Command::new(&self.script)
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            eprintln!(
                "Could not stop the local broker under {}.",
                self.dir.display()
            );
        }
    }
}

/// The port of a single loopback `kafka.bootstrap_servers`, where the local broker listens.
fn broker_port(bootstrap: &str) -> anyhow::Result<u16> {
    let (host, port) = bootstrap.rsplit_once(':').unwrap_or((bootstrap, ""));
    if bootstrap.contains(',') || !matches!(host, "127.0.0.1" | "localhost") {
        anyhow::bail!(
            "kafka.bootstrap_servers = {bootstrap:?} is not a local broker: set up.embedded_broker = false \
             to use that cluster, or point bootstrap_servers at 127.0.0.1:<port>"
        );
    }
    port.parse()
        .with_context(|| format!("kafka.bootstrap_servers = {bootstrap:?} has no port"))
}
