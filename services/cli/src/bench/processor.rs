//! `lantern process` as a child process of the benchmark: its own topics, data directory and
//! consumer groups, watched from outside (resident memory from `/proc`, progress from the
//! shards' manifests), so the figures are the processor's alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use lantern_ingest::synthetic::stream::Kind;
use lantern_tables::manifest::{load_current, pipeline_dir};
use lantern_tables::shards::shard_dirs;

use super::measure::{Rss, rss_of};
use crate::generate::Topics;

/// Where a benchmark processor reads and writes: one run's topics, tables and groups.
#[derive(Debug, Clone)]
pub struct Setup {
    pub topics: Topics,
    pub dead_letter: String,
    pub data_dir: PathBuf,
    pub group_prefix: String,
}

impl Setup {
    /// A fresh setup named `name` under `work`: topics `<name>.<pipeline>`.
    pub fn new(name: &str, work: &Path) -> Setup {
        let topic = |kind: Kind| format!("{name}.{}", kind.pipeline());
        Setup {
            topics: Topics::new(Kind::ALL.map(topic)),
            dead_letter: format!("{name}.dlq"),
            data_dir: work.join(name).join("data"),
            group_prefix: name.to_string(),
        }
    }

    /// The settings that point a `lantern` command at this setup, as environment overrides.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "LANTERN_TOPICS__INCIDENTS".into(),
                self.topics.get(Kind::Incidents).into(),
            ),
            (
                "LANTERN_TOPICS__BUSINESS_CRIME".into(),
                self.topics.get(Kind::BusinessCrime).into(),
            ),
            (
                "LANTERN_TOPICS__CYBERCRIME".into(),
                self.topics.get(Kind::Cybercrime).into(),
            ),
            (
                "LANTERN_TOPICS__DEAD_LETTER".into(),
                self.dead_letter.clone(),
            ),
            (
                "LANTERN_STORAGE__DATA_DIR".into(),
                self.data_dir.display().to_string(),
            ),
            (
                "LANTERN_PROCESSOR__GROUP_PREFIX".into(),
                self.group_prefix.clone(),
            ),
            (
                "LANTERN_PROCESSOR__PIPELINES".into(),
                r#"["incidents","business_crime","cybercrime"]"#.into(),
            ),
            // Any free port: the benchmark watches the process, not its metrics.
            ("LANTERN_HTTP__LISTEN".into(), "127.0.0.1:0".into()),
        ]
    }

    /// The next offset the published tables reflect, per topic and partition.
    pub fn committed(&self) -> BTreeMap<(Kind, i32), i64> {
        let mut out = BTreeMap::new();
        for kind in Kind::ALL {
            let dir = pipeline_dir(&self.data_dir, kind.pipeline());
            for (partition, shard) in shard_dirs(&dir).unwrap_or_default() {
                // A manifest being replaced can fail to read for an instant: the next poll sees it.
                if let Ok(Some(manifest)) = load_current(&shard) {
                    let topic = self.topics.get(kind);
                    if let Some(&next) = manifest.offsets.get(topic).and_then(|o| o.get(&partition))
                    {
                        out.insert((kind, partition), next);
                    }
                }
            }
        }
        out
    }

    /// Events the tables reflect (every offset below the committed ones, dead letters included).
    pub fn progress(&self) -> i64 {
        self.committed().values().sum()
    }
}

/// A running `lantern process`.
pub struct ChildProcessor {
    child: Child,
    started: std::time::Instant,
}

impl ChildProcessor {
    /// Starts `lantern process [--drain]` with this binary, `config` and `setup`.
    pub fn start(
        config: Option<&Path>,
        setup: &Setup,
        drain: bool,
    ) -> anyhow::Result<ChildProcessor> {
        let exe = std::env::current_exe().context("finding this lantern binary")?;
        let mut command = Command::new(exe);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.arg("process");
        if drain {
            command.arg("--drain");
        }
        command
            .envs(setup.env())
            // Dead letters are expected (the stream has invalid events): errors only.
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = command.spawn().context("starting lantern process")?;
        Ok(ChildProcessor {
            child,
            started: std::time::Instant::now(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss(&self) -> Option<Rss> {
        rss_of(self.pid())
    }

    /// Whether it has exited, failing if it exited with an error.
    pub fn exited(&mut self) -> anyhow::Result<bool> {
        match self
            .child
            .try_wait()
            .context("waiting for lantern process")?
        {
            None => Ok(false),
            Some(status) if status.success() => Ok(true),
            Some(status) => bail!("lantern process failed ({status}); its log is above"),
        }
    }

    /// Seconds since it was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Asks it to stop (SIGTERM, as Kubernetes would) and waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let status = self.child.wait().context("waiting for lantern process")?;
        if !status.success() {
            bail!("lantern process exited with {status} after SIGTERM");
        }
        Ok(())
    }
}

impl Drop for ChildProcessor {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
