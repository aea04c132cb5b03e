//! `lantern serve`: the query service on its own, over tables another process writes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use datafusion::catalog::TableProvider;
use lantern_common::Config;
use lantern_common::http::{self, Readiness};
use lantern_server::QueryServer;
use lantern_server::atlas::Atlas;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let readiness = Readiness::default();
    let ops = start_ops_endpoint(&config, registry.clone(), readiness.clone()).await?;
    let server = start_query_server(&config, &registry).await?;
    let publisher = crate::publish::spawn_loop(&config)?;
    let analyser = crate::analyse::spawn_loop(&config)?;
    let puller = crate::replica::keep_pulling(&config)?;
    readiness.set_ready(true);
    print_connect_lines(&config, &server);
    lantern_common::shutdown::signal().await;
    tracing::info!("Stopping the query service.");
    for task in [publisher, analyser, puller].into_iter().flatten() {
        task.abort();
    }
    server.stop().await;
    ops.stop().await;
    Ok(())
}

/// Starts the query service with the place names of the configured pipeline definitions.
pub async fn start_query_server(
    config: &Config,
    registry: &prometheus::Registry,
) -> anyhow::Result<QueryServer> {
    let files = config.pipelines.files();
    let names = files.read(lantern_enrich::NAMES_FILE)?;
    let place_names = lantern_query::place_names_table(&names).with_context(|| {
        format!(
            "loading place names from {}",
            files.display_name(lantern_enrich::NAMES_FILE).display()
        )
    })?;
    let reference: BTreeMap<String, Arc<dyn TableProvider>> = BTreeMap::from([(
        lantern_query::PLACE_NAMES.to_string(),
        place_names as Arc<dyn TableProvider>,
    )]);
    let atlas = Atlas::load(&files, &config.processor.force_area_code).with_context(|| {
        format!(
            "loading the places of force area {} (processor.force_area_code)",
            config.processor.force_area_code
        )
    })?;
    Ok(QueryServer::start(config, reference, Arc::new(atlas), registry).await?)
}

/// The `/metrics`, `/healthz`, `/readyz` endpoint at `http.listen`.
pub struct OpsEndpoint {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl OpsEndpoint {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

pub async fn start_ops_endpoint(
    config: &Config,
    registry: prometheus::Registry,
    readiness: Readiness,
) -> anyhow::Result<OpsEndpoint> {
    let listen: SocketAddr = config.http.listen.parse().context("http.listen")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound, task) = http::serve(listen, registry, readiness, async {
        let _ = stopped.await;
    })
    .await
    .with_context(|| format!("binding the metrics endpoint on {listen} (http.listen)"))?;
    tracing::info!(%bound, "Serving /metrics, /healthz and /readyz.");
    Ok(OpsEndpoint { stop, task })
}

/// Where each part listens and how to connect, as the user would type it.
pub fn print_connect_lines(config: &Config, server: &QueryServer) {
    let users = config.query.users_file.display();
    println!("Query service ready.");
    println!(
        "  PostgreSQL: psql -h {} -p {} -U <user> -d lantern",
        server.pg.ip(),
        server.pg.port()
    );
    println!(
        "  HTTP:       curl -H \"Authorization: Bearer <token>\" --data-binary 'SELECT 1' http://{}/api/v1/sql",
        server.http
    );
    println!(
        "  Dashboard:  http://{}/ (log in with a user's name and PostgreSQL password)",
        server.http
    );
    println!("  Metrics:    http://{}/metrics", config.http.listen);
    println!("  Users:      {users} (lantern users add <name> --role analyst)");
    println!(
        "  Audit log:  {} (lantern audit tail)",
        config.query.audit_log.display()
    );
}
