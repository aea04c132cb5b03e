//! What the analytics read: the aggregate tables and the per-record facts, all from one
//! committed snapshot (pinned while it is read, so the processor's garbage collector cannot
//! remove a file under it), so no two results of a run disagree about what had arrived.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use lantern_disclosure::source::{floats, live_records_sql, strings};
use lantern_query::catalog::{Catalog, Snapshot};

use crate::AnalyticsError;
use crate::month::Month;
use crate::rates::MonthlyCount;

/// One incident record (latest version, not cancelled, not placed outside the force area).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub record_id: String,
    pub source: String,
    pub occurred_at_us: i64,
    /// Event-time day (Europe/London), days since 1970-01-01.
    pub day: i64,
    pub month: Month,
    pub offence_code: Option<String>,
    pub crime_type: Option<String>,
    pub property_type: String,
    pub victim_reference: Option<String>,
    pub address_reference: Option<String>,
    pub lsoa_code: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// One business-crime report (latest version, not withdrawn).
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessRecord {
    pub business_ref: String,
    pub occurred_at_us: i64,
    pub sector: String,
    pub incident_type: String,
    pub loss_value: Option<f64>,
    pub lsoa_code: Option<String>,
}

/// One group of `cybercrime_monthly`.
#[derive(Debug, Clone, PartialEq)]
pub struct CyberMonthly {
    pub month: Month,
    pub lsoa_code: Option<String>,
    pub nfib_group: String,
    pub victim_kind: String,
    pub reports: u64,
    pub loss_total: f64,
}

pub struct Inputs {
    // Kept for its reader leases: the snapshot's files stay pinned while this lives.
    _catalog: Catalog,
    snapshot: Arc<Snapshot>,
    ctx: SessionContext,
}

impl Inputs {
    pub async fn open(data_dir: &Path) -> Result<Self, AnalyticsError> {
        let catalog = Catalog::new(data_dir, BTreeMap::new());
        let snapshot = catalog.snapshot().await?;
        let ctx = lantern_query::session_context();
        for (name, _) in snapshot.tables() {
            if let Some((_, table)) = snapshot.table(&name) {
                ctx.register_table(name.as_str(), table)?;
            }
        }
        Ok(Inputs {
            _catalog: catalog,
            snapshot,
            ctx,
        })
    }

    /// `("pipeline/partition", manifest seq)` of every shard read: what a result was made from.
    pub fn versions(&self) -> Vec<(String, u64)> {
        self.snapshot.versions()
    }

    fn has(&self, table: &str) -> bool {
        self.snapshot.table(table).is_some()
    }

    /// The live records of `pipeline` (see [`live_records_sql`]), these `columns` of each.
    async fn live_records(
        &self,
        pipeline: &str,
        columns: &str,
    ) -> Result<Vec<RecordBatch>, AnalyticsError> {
        let spec = lantern_pipelines::pipeline(pipeline).expect("a built-in pipeline");
        let sql = live_records_sql(spec, spec.facts_table, columns, "true");
        self.sql(spec.facts_table, &sql).await
    }

    async fn sql(&self, table: &str, sql: &str) -> Result<Vec<RecordBatch>, AnalyticsError> {
        if !self.has(table) {
            return Ok(Vec::new());
        }
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }

    pub async fn incidents_monthly(&self) -> Result<Vec<MonthlyCount>, AnalyticsError> {
        let batches = self
            .sql(
                "incidents_monthly",
                "SELECT month, lsoa_code, place_status <> 'outside_force' AS force_record, \
                 crime_type, property_type, SUM(incidents) AS n FROM incidents_monthly \
                 GROUP BY 1, 2, 3, 4, 5",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let (month, lsoa, force, crime, property, n) = (
                strings(b, "month"),
                strings(b, "lsoa_code"),
                strings(b, "force_record"),
                strings(b, "crime_type"),
                strings(b, "property_type"),
                floats(b, "n"),
            );
            for i in 0..b.num_rows() {
                let Some(month) = month[i].as_deref().and_then(Month::parse) else {
                    continue;
                };
                out.push(MonthlyCount {
                    month,
                    lsoa_code: lsoa[i].as_deref().map(Arc::from),
                    force_record: force[i].as_deref() == Some("true"),
                    crime_type: crime[i].clone(),
                    property_type: property[i].clone().unwrap_or_default(),
                    count: n[i].unwrap_or(0.0) as u64,
                });
            }
        }
        Ok(out)
    }

    pub async fn incident_records(&self) -> Result<Vec<IncidentRecord>, AnalyticsError> {
        let batches = self
            .live_records(
                "incidents",
                "record_id, source, CAST(occurred_at AS BIGINT) AS t_us, \
                 CAST(day AS INT) AS day_n, month, offence_code, crime_type, property_type, \
                 victim_reference, address_reference, lsoa_code, lat, lon",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let text = |name| strings(b, name);
            let (id, source, month, offence, crime, property) = (
                text("record_id"),
                text("source"),
                text("month"),
                text("offence_code"),
                text("crime_type"),
                text("property_type"),
            );
            let (victim, address, lsoa) = (
                text("victim_reference"),
                text("address_reference"),
                text("lsoa_code"),
            );
            let (t_us, day, lat, lon) = (
                floats(b, "t_us"),
                floats(b, "day_n"),
                floats(b, "lat"),
                floats(b, "lon"),
            );
            for i in 0..b.num_rows() {
                let Some(month) = month[i].as_deref().and_then(Month::parse) else {
                    continue;
                };
                out.push(IncidentRecord {
                    record_id: id[i].clone().unwrap_or_default(),
                    source: source[i].clone().unwrap_or_default(),
                    occurred_at_us: t_us[i].unwrap_or(0.0) as i64,
                    day: day[i].unwrap_or(0.0) as i64,
                    month,
                    offence_code: offence[i].clone(),
                    crime_type: crime[i].clone(),
                    property_type: property[i].clone().unwrap_or_default(),
                    victim_reference: victim[i].clone(),
                    address_reference: address[i].clone(),
                    lsoa_code: lsoa[i].clone(),
                    lat: lat[i],
                    lon: lon[i],
                });
            }
        }
        Ok(out)
    }

    pub async fn business_records(&self) -> Result<Vec<BusinessRecord>, AnalyticsError> {
        let batches = self
            .live_records(
                "business_crime",
                "business_ref, CAST(occurred_at AS BIGINT) AS t_us, sector, incident_type, \
                 loss_value, lsoa_code",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let (business, sector, kind, lsoa) = (
                strings(b, "business_ref"),
                strings(b, "sector"),
                strings(b, "incident_type"),
                strings(b, "lsoa_code"),
            );
            let (t_us, loss) = (floats(b, "t_us"), floats(b, "loss_value"));
            for i in 0..b.num_rows() {
                out.push(BusinessRecord {
                    business_ref: business[i].clone().unwrap_or_default(),
                    occurred_at_us: t_us[i].unwrap_or(0.0) as i64,
                    sector: sector[i].clone().unwrap_or_default(),
                    incident_type: kind[i].clone().unwrap_or_default(),
                    loss_value: loss[i],
                    lsoa_code: lsoa[i].clone(),
                });
            }
        }
        Ok(out)
    }

    pub async fn cyber_monthly(&self) -> Result<Vec<CyberMonthly>, AnalyticsError> {
        let batches = self
            .sql(
                "cybercrime_monthly",
                "SELECT month, lsoa_code, nfib_group, victim_kind, SUM(reports) AS reports, \
                 CAST(SUM(loss_total) AS DOUBLE) AS loss FROM cybercrime_monthly \
                 WHERE place_status <> 'outside_force' GROUP BY 1, 2, 3, 4",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let (month, lsoa, group, victim) = (
                strings(b, "month"),
                strings(b, "lsoa_code"),
                strings(b, "nfib_group"),
                strings(b, "victim_kind"),
            );
            let (reports, loss) = (floats(b, "reports"), floats(b, "loss"));
            for i in 0..b.num_rows() {
                let Some(month) = month[i].as_deref().and_then(Month::parse) else {
                    continue;
                };
                out.push(CyberMonthly {
                    month,
                    lsoa_code: lsoa[i].clone(),
                    nfib_group: group[i].clone().unwrap_or_else(|| "unknown".into()),
                    victim_kind: victim[i].clone().unwrap_or_default(),
                    reports: reports[i].unwrap_or(0.0) as u64,
                    loss_total: loss[i].unwrap_or(0.0),
                });
            }
        }
        Ok(out)
    }
}
