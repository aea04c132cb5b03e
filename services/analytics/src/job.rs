//! `lantern analyse`: every analytic over one snapshot of the tables, each written as a table.

use std::path::Path;
use std::time::{Duration, Instant};

use lantern_pipelines::PipelineFiles;

use crate::config::AnalyticsConfig;
use crate::geography::Geography;
use crate::harm::{HarmWeights, harm_monthly};
use crate::hotspots::{
    Window, concentration_table, gi_star_table, lsoa_counts, lsoa_harm, top_places,
};
use crate::inputs::{BusinessRecord, IncidentRecord, Inputs};
use crate::output::{WriteOutcome, write};
use crate::rates::{ALL_CRIME, crime_series, rates};
use crate::repeat::{EntityKind, Victimisation, live, summary};
use crate::table::AnalyticsTable;
use crate::{AnalyticsError, business, near_repeat};

/// What one run did to each table.
#[derive(Debug, Clone)]
pub struct TableRun {
    pub table: &'static str,
    pub rows: usize,
    pub outcome: WriteOutcome,
    pub compute: Duration,
}

/// Everything `analyse` needs besides the data: loaded once, reused by `--watch`.
pub struct Analytics {
    config: AnalyticsConfig,
    geo: Geography,
    weights: HarmWeights,
}

impl Analytics {
    pub fn load(files: &PipelineFiles, force_area_code: &str) -> Result<Self, AnalyticsError> {
        let config = AnalyticsConfig::load(files)?;
        let geo = Geography::load(files, force_area_code)?;
        let weights = HarmWeights::load(
            files,
            &config.harm.offence_weights,
            &config.harm.crime_type_weights,
        )?;
        Ok(Analytics {
            config,
            geo,
            weights,
        })
    }

    /// Computes and writes every table from the current snapshot under `data_dir`, unless that
    /// snapshot holds the shard versions in `last_read` (then `None`); on success `last_read`
    /// becomes the versions read. Start a watcher at `Some(vec![])` to skip a data directory
    /// with no tables yet, at `None` to always compute once.
    pub async fn refresh(
        &self,
        data_dir: &Path,
        last_read: &mut Option<Vec<(String, u64)>>,
    ) -> Result<Option<Vec<TableRun>>, AnalyticsError> {
        let inputs = Inputs::open(data_dir).await?;
        let versions = inputs.versions();
        if last_read.as_ref() == Some(&versions) {
            return Ok(None);
        }
        let runs = self.run(data_dir, inputs, &versions).await?;
        *last_read = Some(versions);
        Ok(Some(runs))
    }

    async fn run(
        &self,
        data_dir: &Path,
        inputs: Inputs,
        versions: &[(String, u64)],
    ) -> Result<Vec<TableRun>, AnalyticsError> {
        let monthly = inputs.incidents_monthly().await?;
        let records = inputs.incident_records().await?;
        let businesses = inputs.business_records().await?;
        let cyber = inputs.cyber_monthly().await?;
        let (config, geo, weights) = (self.config.clone(), self.geo.clone(), self.weights.clone());
        // CPU-bound (the Knox permutations above all): off the async workers.
        let computed = tokio::task::spawn_blocking(move || {
            let mut out: Vec<(AnalyticsTable, Duration)> = Vec::new();
            let mut timed = |f: &mut dyn FnMut() -> AnalyticsTable| {
                let started = Instant::now();
                let table = f();
                out.push((table, started.elapsed()));
            };
            timed(&mut || rates(&geo, &monthly, config.change.alpha));
            let crimes = victimisations(&records, &businesses);
            timed(&mut || summary(&geo, &crimes, config.repeat));
            timed(&mut || live(&geo, &crimes, config.repeat));
            timed(&mut || near_repeat::near_repeat(&records, &config.near_repeat));
            timed(&mut || harm_monthly(&geo, &records, &weights));
            if let Some(window) = Window::ending_at_latest(
                monthly.iter().map(|r| r.month),
                config.hotspots.window_months,
            ) {
                let counts = lsoa_counts(&geo, &monthly, window);
                let all = counts
                    .get(ALL_CRIME)
                    .cloned()
                    .unwrap_or_else(|| vec![0; geo.lsoas.len()]);
                let harm = lsoa_harm(&geo, &records, &weights, window);
                timed(&mut || top_places(&geo, &all, &harm, window, &config.hotspots));
                timed(&mut || concentration_table(&counts, window));
                timed(&mut || gi_star_table(&geo, &counts, window, &config.hotspots));
            }
            timed(&mut || business::business_crime(&geo, &businesses, config.business.window_days));
            timed(&mut || business::cyber_rates(&geo, &cyber));
            out
        })
        .await
        .expect("analytics computation panicked");
        let mut runs = Vec::new();
        for (table, compute) in computed {
            let outcome = write(data_dir, &table, versions).await?;
            runs.push(TableRun {
                table: table.name,
                rows: table.batch.num_rows(),
                outcome,
                compute,
            });
        }
        Ok(runs)
    }
}

/// Every crime against a linkable entity kind: incidents against victims and addresses, and
/// business-crime reports against businesses.
fn victimisations(records: &[IncidentRecord], businesses: &[BusinessRecord]) -> Vec<Victimisation> {
    let mut out = Vec::with_capacity(records.len() * 2 + businesses.len());
    for r in records {
        let scopes: Vec<String> = crime_series(r.crime_type.as_deref(), &r.property_type)
            .into_iter()
            .map(String::from)
            .collect();
        for (kind, entity) in [
            (EntityKind::Victim, &r.victim_reference),
            (EntityKind::Address, &r.address_reference),
        ] {
            out.push(Victimisation {
                kind,
                entity: entity.clone(),
                occurred_at_us: r.occurred_at_us,
                scopes: scopes.clone(),
                lsoa_code: r.lsoa_code.clone(),
            });
        }
    }
    for b in businesses {
        out.push(Victimisation {
            kind: EntityKind::Business,
            entity: Some(b.business_ref.clone()),
            occurred_at_us: b.occurred_at_us,
            scopes: vec![b.incident_type.clone(), "All business crime".into()],
            lsoa_code: b.lsoa_code.clone(),
        });
    }
    out
}
