/// Errors that stop a pipeline. Bad *records* are never errors: they go to the dead-letter
/// topic. These are about the environment: Kafka, the disk, the reference data, the SQL.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("Kafka error while {context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "cannot use the Kafka cluster at {bootstrap}: {reason} (check kafka.bootstrap_servers and \
         the security settings in [kafka.properties] and [kafka.secret_files])"
    )]
    Connection { bootstrap: String, reason: String },
    #[error(transparent)]
    Table(#[from] lantern_tables::TableError),
    #[error(transparent)]
    Reference(#[from] lantern_enrich::EnrichError),
    #[error("aggregate {table}: {source}")]
    Aggregate {
        table: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    #[error(transparent)]
    Definition(#[from] lantern_pipelines::PipelineFileError),
    #[error("aggregate definition {path}: {reason}")]
    AggregateDefinition {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("aggregate definition {path} is not UTF-8")]
    DefinitionNotUtf8 { path: std::path::PathBuf },
    #[error("stored facts in {table} are unreadable: {reason}")]
    Facts { table: String, reason: String },
    #[error("record index {path}: {source}")]
    State {
        path: std::path::PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("cannot spill a refused dead letter to {path}: {source}")]
    Spill {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pipeline {pipeline} task failed: {reason}")]
    Task { pipeline: String, reason: String },
}

impl StreamError {
    pub(crate) fn kafka(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> Self {
        let context = context.into();
        move |source| StreamError::Kafka { context, source }
    }
}
