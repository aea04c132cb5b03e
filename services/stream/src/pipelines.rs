//! The registry of pipelines: one plain list, one entry per event kind.

use lantern_common::config::TopicsConfig;
use lantern_enrich::ReferenceData;
use lantern_schemas::{BusinessCrime, CybercrimeReport, Event, Incident};

use crate::facts::Fact;
use crate::facts::business_crime::BusinessCrimeFact;
use crate::facts::cybercrime::CybercrimeFact;
use crate::facts::incident::IncidentFact;
use crate::time::MonthLabels;

/// What distinguishes one pipeline from another; the runner is generic over it.
pub trait PipelineKind: Send + Sync + 'static {
    /// Pipeline name: consumer group suffix, data directory, metric label.
    const NAME: &'static str;
    /// The internal table holding the latest version of every record.
    const FACTS_TABLE: &'static str;
    /// Aggregate tables, each defined by `pipelines/sql/<name>.sql` over the facts table.
    const AGGREGATES: &'static [&'static str];
    type Event: Event + Send;
    type Fact: Fact;
    fn topic(topics: &TopicsConfig) -> &str;
    fn enrich(
        event: Self::Event,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> Self::Fact;
}

#[derive(Debug)]
pub struct Incidents;
#[derive(Debug)]
pub struct BusinessCrimes;
#[derive(Debug)]
pub struct Cybercrimes;

impl PipelineKind for Incidents {
    const NAME: &'static str = "incidents";
    const FACTS_TABLE: &'static str = "incident_facts";
    const AGGREGATES: &'static [&'static str] = &["incidents_monthly", "incidents_daily"];
    type Event = Incident;
    type Fact = IncidentFact;
    fn topic(topics: &TopicsConfig) -> &str {
        &topics.incidents
    }
    fn enrich(
        event: Incident,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> IncidentFact {
        IncidentFact::enrich(event, reference, months)
    }
}

impl PipelineKind for BusinessCrimes {
    const NAME: &'static str = "business_crime";
    const FACTS_TABLE: &'static str = "business_crime_facts";
    const AGGREGATES: &'static [&'static str] = &["business_crime_monthly"];
    type Event = BusinessCrime;
    type Fact = BusinessCrimeFact;
    fn topic(topics: &TopicsConfig) -> &str {
        &topics.business_crime
    }
    fn enrich(
        event: BusinessCrime,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> BusinessCrimeFact {
        BusinessCrimeFact::enrich(event, reference, months)
    }
}

impl PipelineKind for Cybercrimes {
    const NAME: &'static str = "cybercrime";
    const FACTS_TABLE: &'static str = "cybercrime_facts";
    const AGGREGATES: &'static [&'static str] = &["cybercrime_monthly"];
    type Event = CybercrimeReport;
    type Fact = CybercrimeFact;
    fn topic(topics: &TopicsConfig) -> &str {
        &topics.cybercrime
    }
    fn enrich(
        event: CybercrimeReport,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> CybercrimeFact {
        CybercrimeFact::enrich(event, reference, months)
    }
}

/// The input topic of the pipeline named `name`, or `None` for a name that is not a pipeline.
pub fn topic_of<'a>(name: &str, topics: &'a TopicsConfig) -> Option<&'a str> {
    [
        (Incidents::NAME, Incidents::topic(topics)),
        (BusinessCrimes::NAME, BusinessCrimes::topic(topics)),
        (Cybercrimes::NAME, Cybercrimes::topic(topics)),
    ]
    .into_iter()
    .find_map(|(pipeline, topic)| (pipeline == name).then_some(topic))
}
