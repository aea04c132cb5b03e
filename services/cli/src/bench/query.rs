//! Query latency over the end-to-end run's tables, through the query service's engine (the one
//! `lantern serve` runs): each statement checked read-only, planned on a pinned snapshot of the
//! shards' manifests, and run with the analyst role and the configured limits. Transport (HTTP,
//! PostgreSQL wire) is left out: `scripts/query_latency.py` measures it against a server.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use futures::TryStreamExt;
use lantern_common::Config;
use lantern_query::access::{Principal, Role};
use lantern_query::engine::Engine;
use serde::Serialize;

use super::measure::Percentiles;

/// The dashboard's panels and an analyst's everyday questions (as in
/// `scripts/query_latency.py`), over the aggregate tables.
const QUERIES: [(&str, &str); 8] = [
    (
        "dashboard: trend of one LAD",
        "SELECT month, crime_type, SUM(incidents) AS n FROM incidents_monthly \
         WHERE lad_code = 'E07000123' AND month BETWEEN '2023-07' AND '2024-06' \
         GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "dashboard: top places",
        "SELECT lsoa_code, SUM(incidents) AS n FROM incidents_monthly \
         WHERE in_force_area AND month BETWEEN '2023-07' AND '2024-06' \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    ),
    (
        "dashboard: placement",
        "SELECT place_status, SUM(incidents) AS n FROM incidents_monthly GROUP BY 1 ORDER BY 1",
    ),
    (
        "dashboard: business by sector",
        "SELECT sector, SUM(incidents) AS n, SUM(loss_total) AS loss \
         FROM business_crime_monthly GROUP BY 1 ORDER BY 2 DESC",
    ),
    (
        "dashboard: fraud by code",
        "SELECT nfib_group, fraud_code, SUM(reports) AS n FROM cybercrime_monthly \
         GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 12",
    ),
    (
        "analyst: monthly by LAD",
        "SELECT lad_code, month, SUM(incidents) FROM incidents_monthly WHERE in_force_area \
         GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "analyst: top crime types",
        "SELECT crime_type, property_type, SUM(incidents) AS n FROM incidents_monthly \
         GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 12",
    ),
    (
        "analyst: one LSOA daily",
        "SELECT day, crime_type, SUM(incidents) FROM incidents_daily \
         WHERE lsoa_code = 'E01025437' GROUP BY 1, 2 ORDER BY 1",
    ),
];

#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryFigures {
    pub runs_per_query: usize,
    /// Every run of every query together.
    pub all: Percentiles,
    pub by_query: BTreeMap<&'static str, Percentiles>,
    /// What the tables hold, to check against what was generated.
    pub totals: Totals,
}

/// Live records counted in each pipeline's monthly table.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub incidents: i64,
    pub business_crime: i64,
    pub cybercrime: i64,
}

pub struct Queries {
    engine: std::sync::Arc<Engine>,
}

impl Queries {
    pub fn open(config: &Config, data_dir: &Path) -> Queries {
        Queries {
            engine: lantern_server::engine(config, data_dir, BTreeMap::new()),
        }
    }

    /// Runs `sql` as an analyst and returns its rows.
    async fn run(&self, sql: &str) -> anyhow::Result<Vec<datafusion::arrow::array::RecordBatch>> {
        let session = self
            .engine
            .session(Principal::new("bench", Role::Analyst))?;
        let stream = session
            .run(sql)
            .await
            .with_context(|| format!("running {sql}"))?;
        Ok(stream.try_collect().await?)
    }

    async fn total(&self, sql: &str) -> anyhow::Result<i64> {
        let batches = self.run(sql).await?;
        let column = batches
            .first()
            .map(|b| b.column(0).clone())
            .context("a total query returned no batch")?;
        let column = datafusion::arrow::compute::cast(
            &column,
            &datafusion::arrow::datatypes::DataType::Int64,
        )?;
        let values = column.as_primitive::<Int64Type>();
        Ok(if values.is_null(0) {
            0
        } else {
            values.value(0)
        })
    }

    pub async fn totals(&self) -> anyhow::Result<Totals> {
        Ok(Totals {
            incidents: self
                .total("SELECT SUM(incidents) FROM incidents_monthly")
                .await?,
            business_crime: self
                .total("SELECT SUM(incidents) FROM business_crime_monthly")
                .await?,
            cybercrime: self
                .total("SELECT SUM(reports) FROM cybercrime_monthly")
                .await?,
        })
    }

    /// Each query once to warm up, then `runs` times, timed one at a time.
    pub async fn measure(&self, runs: usize) -> anyhow::Result<QueryFigures> {
        let (mut all, mut by_query) = (Vec::new(), BTreeMap::new());
        for (name, sql) in QUERIES {
            self.run(sql).await?;
            let mut samples = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                std::hint::black_box(self.run(sql).await?);
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            all.extend_from_slice(&samples);
            by_query.insert(name, Percentiles::of(samples));
        }
        Ok(QueryFigures {
            runs_per_query: runs,
            all: Percentiles::of(all),
            by_query,
            totals: self.totals().await?,
        })
    }
}
