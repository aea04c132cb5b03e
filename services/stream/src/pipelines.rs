//! Binds each pipeline of the registry (`lantern_pipelines::PIPELINES`) to its event and fact
//! types. [`with_pipeline`] is the one place a pipeline name becomes a type.

use lantern_common::config::TopicsConfig;
use lantern_enrich::ReferenceData;
use lantern_pipelines::PipelineSpec;
use lantern_schemas::{BusinessCrime, CybercrimeReport, Event, Incident};

use crate::facts::Fact;
use crate::facts::business_crime::BusinessCrimeFact;
use crate::facts::cybercrime::CybercrimeFact;
use crate::facts::incident::IncidentFact;
use crate::time::MonthLabels;

/// What distinguishes one pipeline from another; the core and the runner are generic over it.
pub trait PipelineKind: Send + Sync + 'static {
    /// Name, tables and topic key, from the registry.
    const SPEC: &'static PipelineSpec;
    type Event: Event + Send;
    type Fact: Fact;
    fn topic(topics: &TopicsConfig) -> &str;
    fn enrich(
        event: Self::Event,
        reference: &ReferenceData,
        months: &mut MonthLabels,
    ) -> Self::Fact;
}

/// Something to do with a pipeline's types, chosen by name at run time.
pub trait PipelineVisitor {
    type Output;
    fn visit<P: PipelineKind>(self) -> Self::Output;
}

/// Runs `visitor` with the types of the pipeline called `name`; `None` for an unknown name.
pub fn with_pipeline<V: PipelineVisitor>(name: &str, visitor: V) -> Option<V::Output> {
    let spec = lantern_pipelines::pipeline(name)?;
    Some(if spec == Incidents::SPEC {
        visitor.visit::<Incidents>()
    } else if spec == BusinessCrimes::SPEC {
        visitor.visit::<BusinessCrimes>()
    } else if spec == Cybercrimes::SPEC {
        visitor.visit::<Cybercrimes>()
    } else {
        unreachable!("pipeline {name} is registered but has no types in lantern-stream")
    })
}

#[derive(Debug)]
pub struct Incidents;
#[derive(Debug)]
pub struct BusinessCrimes;
#[derive(Debug)]
pub struct Cybercrimes;

impl PipelineKind for Incidents {
    const SPEC: &'static PipelineSpec = &lantern_pipelines::PIPELINES[0];
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
    const SPEC: &'static PipelineSpec = &lantern_pipelines::PIPELINES[1];
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
    const SPEC: &'static PipelineSpec = &lantern_pipelines::PIPELINES[2];
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
    struct Topic<'a>(&'a TopicsConfig);
    impl<'a> PipelineVisitor for Topic<'a> {
        type Output = &'a str;
        fn visit<P: PipelineKind>(self) -> &'a str {
            P::topic(self.0)
        }
    }
    with_pipeline(name, Topic(topics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_pipeline_has_types_bound_to_its_own_spec() {
        struct Name;
        impl PipelineVisitor for Name {
            type Output = &'static str;
            fn visit<P: PipelineKind>(self) -> &'static str {
                // The registry's tombstone is what readers outside the processor filter on.
                assert_eq!(
                    P::SPEC.tombstone,
                    <P::Fact as crate::facts::Fact>::TOMBSTONE
                );
                P::SPEC.name
            }
        }
        for registered in lantern_pipelines::PIPELINES {
            assert_eq!(with_pipeline(registered.name, Name), Some(registered.name));
        }
        assert_eq!(with_pipeline("burglaries", Name), None);
        // The types are bound by position in the registry: check each lands on its own entry.
        assert_eq!(Incidents::SPEC.facts_table, "incident_facts");
        assert_eq!(BusinessCrimes::SPEC.facts_table, "business_crime_facts");
        assert_eq!(Cybercrimes::SPEC.facts_table, "cybercrime_facts");
        let topics = TopicsConfig::default();
        assert_eq!(
            topic_of("cybercrime", &topics),
            Some(topics.cybercrime.as_str())
        );
    }
}
