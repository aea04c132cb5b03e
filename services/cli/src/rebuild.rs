//! `lantern rebuild`: recompute every aggregate from the facts, compare, and (unless `--check`)
//! publish the recomputation.
//!
//! The processor maintains aggregates incrementally (signed deltas merged into the current
//! rows). This is the independent check of that, and the repair if a definition changed: the
//! same SQL run over all of each shard's facts (a shard's aggregate rows are the aggregate of its
//! own records). It takes each shard's writer lock, so run it while `lantern process` is stopped.

use anyhow::Context;
use lantern_common::Config;
use lantern_stream::aggregate::Aggregates;
use lantern_stream::pipelines::{PipelineKind, PipelineVisitor, with_pipeline};
use lantern_stream::store::{RebuildReport, rebuild};

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// Only compare: exit with status 1 if any published month differs from the recomputation.
    #[arg(long)]
    check: bool,
}

struct Rebuild<'a> {
    config: &'a Config,
    replace: bool,
}

/// One shard's reports.
struct ShardReports {
    partition: i32,
    reports: Vec<RebuildReport>,
}

impl PipelineVisitor for Rebuild<'_> {
    type Output = futures::future::BoxFuture<'static, anyhow::Result<Vec<ShardReports>>>;
    fn visit<P: PipelineKind>(self) -> Self::Output {
        let dir =
            lantern_tables::manifest::pipeline_dir(&self.config.storage.data_dir, P::SPEC.name);
        let files = self.config.pipelines.files();
        let replace = self.replace;
        Box::pin(async move {
            let aggregates = Aggregates::load::<P>(&files).await?;
            let mut out = Vec::new();
            for shard in lantern_tables::shards::published_shards(&dir)? {
                let _lock = lantern_tables::lock_shard(&shard.dir).with_context(|| {
                    format!(
                        "pipeline {} partition {} is being written (stop lantern process first)",
                        P::SPEC.name,
                        shard.partition
                    )
                })?;
                let reports = rebuild::<P>(&shard.dir, &aggregates, replace).await?;
                out.push(ShardReports {
                    partition: shard.partition,
                    reports,
                });
            }
            Ok(out)
        })
    }
}

pub async fn run(config: Config, args: RebuildArgs) -> anyhow::Result<()> {
    if config.storage.url.is_some() && !args.check {
        // A replacement would be a commit of the working copy that never reaches the store.
        anyhow::bail!(
            "with storage.url set, lantern rebuild can only --check (it reads a replica of the \
             object store); replacing published months there is not supported yet"
        );
    }
    let mut differing = 0;
    for pipeline in &config.processor.pipelines {
        let visitor = Rebuild {
            config: &config,
            replace: !args.check,
        };
        let shards = with_pipeline(pipeline, visitor)
            .expect("config validation admits only known pipelines")
            .await
            .with_context(|| format!("rebuilding {pipeline}"))?;
        for ShardReports { partition, reports } in shards {
            for report in reports {
                differing += report.differing.len();
                let verdict = match (report.differing.is_empty(), args.check) {
                    (true, _) => "identical to the recomputation".to_string(),
                    (false, true) => format!("DIFFERS in {}", report.differing.join(", ")),
                    (false, false) => {
                        format!("differed in {}; replaced", report.differing.join(", "))
                    }
                };
                println!(
                    "{} (partition {partition}): {} months, {verdict}",
                    report.table, report.months
                );
            }
        }
    }
    if args.check && differing > 0 {
        anyhow::bail!("{differing} published months differ from a recomputation from the facts");
    }
    Ok(())
}
