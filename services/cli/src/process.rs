//! `lantern process`

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use lantern_common::Config;
use lantern_common::http::{self, Readiness};
use lantern_stream::{RunOptions, StreamMetrics};

#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Exit once every partition has been consumed to its current end (for batch runs and the
    /// quick start), instead of running until ctrl-c / SIGTERM.
    #[arg(long)]
    drain: bool,
}

pub async fn run(config: Config, args: ProcessArgs) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = StreamMetrics::register(&registry).context("registering metrics")?;
    let readiness = Readiness::default();
    let listen: SocketAddr = config.http.listen.parse().context("http.listen")?;
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound, http_task) = http::serve(listen, registry, readiness.clone(), async {
        let _ = http_stopped.await;
    })
    .await
    .with_context(|| format!("binding the metrics endpoint on {listen} (http.listen)"))?;
    tracing::info!(%bound, "Serving /metrics, /healthz and /readyz.");

    let started = Instant::now();
    let options = RunOptions { drain: args.drain };
    let result = lantern_stream::run(
        config,
        metrics,
        readiness,
        options,
        lantern_common::shutdown::signal(),
    )
    .await;
    let _ = stop_http.send(());
    let _ = http_task.await;
    let summaries = result?;
    let elapsed = started.elapsed().as_secs_f64();
    for s in &summaries {
        println!(
            "{:<15} received {:>8}  dead-lettered {:>5}  commits {:>4}  records in state {:>8}",
            s.pipeline, s.received, s.dead_lettered, s.commits, s.records
        );
    }
    let received: u64 = summaries.iter().map(|s| s.received).sum();
    println!(
        "processed {received} events in {elapsed:.2}s ({:.0} events/s, including start-up and the final idle check)",
        received as f64 / elapsed.max(1e-9)
    );
    Ok(())
}
