//! Which sources fed each pipeline (`police_uk`, `rms`, `synthetic`, ...), so the dashboard can
//! label a panel SYNTHETIC exactly while its pipeline holds synthetic records. Only the set of
//! source names is returned, never a count, so it discloses nothing about any record; every
//! logged-in role may ask.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use arrow::array::AsArray;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use lantern_query::QueryError;
use lantern_query::engine::Engine;

/// Pipeline name -> the distinct `source` of its records.
pub type Sources = BTreeMap<String, BTreeSet<String>>;

/// The sources of the current snapshot, recomputed only when a pipeline commits.
#[derive(Debug, Default)]
pub struct Provenance {
    cache: Mutex<Option<Cached>>,
}

/// The snapshot's shard versions, and what they gave.
type Cached = (Vec<(String, u64)>, Arc<Sources>);

impl Provenance {
    pub async fn sources(&self, engine: &Engine) -> Result<Arc<Sources>, QueryError> {
        let snapshot = engine.catalog().snapshot().await?;
        let versions = snapshot.versions();
        if let Some((seen, sources)) = &*self.cache.lock().expect("provenance lock poisoned")
            && *seen == versions
        {
            return Ok(Arc::clone(sources));
        }
        let mut sources = Sources::new();
        for (pipeline, table, provider) in snapshot.internal_tables() {
            if provider.schema().field_with_name("source").is_err() {
                continue;
            }
            let context = SessionContext::new();
            context
                .register_table(table, provider)
                .map_err(QueryError::Plan)?;
            let batches = context
                .sql(&format!(
                    "SELECT DISTINCT CAST(source AS VARCHAR) AS source FROM \"{table}\""
                ))
                .await
                .map_err(QueryError::Plan)?
                .collect()
                .await
                .map_err(QueryError::Execution)?;
            let names = sources.entry(pipeline.to_string()).or_default();
            for batch in batches {
                let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)
                    .map_err(QueryError::Format)?;
                names.extend(column.as_string::<i32>().iter().flatten().map(String::from));
            }
        }
        let sources = Arc::new(sources);
        *self.cache.lock().expect("provenance lock poisoned") =
            Some((versions, Arc::clone(&sources)));
        Ok(sources)
    }
}
