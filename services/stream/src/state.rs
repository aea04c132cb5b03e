//! The latest version of every record, grouped by event-time month.
//!
//! This is where revisions are resolved. For a record already held:
//! - a **higher version** replaces the stored one — unless the stored one is a tombstone (a
//!   cancelled incident, a withdrawn report): then only a version with the reinstating status
//!   (`recorded` / `reported`) may follow. The Home Office Counting Rules let a cancelled crime be
//!   reinstated, but as an explicit act; an `outcome_updated` after `cancelled` is far more likely
//!   a system replaying a stale workflow, and silently counting the crime again would be wrong.
//!   Such a version is a [`Conflict`];
//! - the **same version from the same event** (`event_id`) is a duplicate (a replay, or a producer
//!   retry) and changes nothing; the same version from a *different* event is a [`Conflict`]:
//!   two systems disagree about one revision, and the first to arrive must not win silently;
//! - a **lower version** is stale (it arrived out of order) and changes nothing.
//!
//! Conflicts go to the dead-letter topic (stage `conflict`) so that someone resolves them. A
//! cancellation is stored like any other version — the aggregate SQL excludes it — so that an
//! older version arriving later cannot bring the record back.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::facts::Fact;

/// What applying one fact did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied<F> {
    /// First version seen of this record.
    New,
    /// A higher version replaced `old`.
    Revised { old: F },
    /// Same version and event as stored: nothing changed.
    Duplicate,
    /// Lower version than stored: nothing changed.
    Stale,
    /// Refused, nothing changed; the reason says why (see the module docs).
    Conflict(Conflict),
}

/// Why a valid event was refused by the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A different event already holds this version of the record.
    SameVersion {
        record_id: Arc<str>,
        version: u64,
        held_by: String,
        refused: String,
    },
    /// The record is a tombstone and this version does not reinstate it.
    AfterTombstone {
        record_id: Arc<str>,
        tombstone_version: u64,
        tombstone: &'static str,
        status: &'static str,
        reinstates: &'static str,
    },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::SameVersion {
                record_id,
                version,
                held_by,
                refused,
            } => write!(
                f,
                "record {record_id} version {version} is already held by event {held_by}; \
                 event {refused} is a different event with the same version (give it a higher \
                 version if it is a correction)"
            ),
            Conflict::AfterTombstone {
                record_id,
                tombstone_version,
                tombstone,
                status,
                reinstates,
            } => write!(
                f,
                "record {record_id} is {tombstone} (version {tombstone_version}); a later \
                 version with status {status:?} cannot revive it — only status {reinstates:?} \
                 reinstates a {tombstone} record"
            ),
        }
    }
}

/// All facts of one pipeline.
#[derive(Debug)]
pub struct FactState<F> {
    /// record id -> month it currently sits in.
    index: HashMap<Arc<str>, Arc<str>>,
    /// month -> record id -> fact.
    months: HashMap<Arc<str>, HashMap<Arc<str>, F>>,
    /// Months changed since the last [`FactState::clear_touched`].
    touched: BTreeSet<Arc<str>>,
}

impl<F> Default for FactState<F> {
    fn default() -> Self {
        FactState {
            index: HashMap::new(),
            months: HashMap::new(),
            touched: BTreeSet::new(),
        }
    }
}

impl<F: Fact> FactState<F> {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The stored latest version of `record_id`.
    pub fn get(&self, record_id: &str) -> Option<&F> {
        let month = self.index.get(record_id)?;
        self.months.get(month)?.get(record_id)
    }

    /// Applies one fact under the rules in the module docs.
    pub fn apply(&mut self, fact: F) -> Applied<F> {
        let outcome = match self.get(fact.record_id()) {
            None => Applied::New,
            Some(stored) => match judge(stored, &fact) {
                Some(refusal) => return refusal,
                None => Applied::Revised {
                    old: stored.clone(),
                },
            },
        };
        let id = Arc::clone(fact.record_id());
        let month = Arc::clone(fact.month());
        if let Some(old_month) = self.index.insert(Arc::clone(&id), Arc::clone(&month)) {
            // A revision may move the record to another month (a corrected occurred_at): the old
            // month must be rewritten too.
            if let Some(facts) = self.months.get_mut(&old_month) {
                facts.remove(&id);
            }
            self.touched.insert(old_month);
        }
        self.months
            .entry(Arc::clone(&month))
            .or_default()
            .insert(id, fact);
        self.touched.insert(month);
        outcome
    }

    /// Loads a fact from a published snapshot (start-up); does not mark anything touched.
    pub fn restore(&mut self, fact: F) {
        let id = Arc::clone(fact.record_id());
        let month = Arc::clone(fact.month());
        self.index.insert(Arc::clone(&id), Arc::clone(&month));
        self.months.entry(month).or_default().insert(id, fact);
    }

    /// The months changed since the last [`FactState::clear_touched`]: the next commit must
    /// rewrite them.
    pub fn touched(&self) -> &BTreeSet<Arc<str>> {
        &self.touched
    }

    /// Forgets the touched months, once a commit that rewrote them has been published.
    pub fn clear_touched(&mut self) {
        self.touched.clear();
    }

    /// Every month that holds a fact, in order.
    pub fn months(&self) -> BTreeSet<Arc<str>> {
        self.months
            .iter()
            .filter(|(_, facts)| !facts.is_empty())
            .map(|(month, _)| Arc::clone(month))
            .collect()
    }

    /// The facts of one month, in record-id order so that files are reproducible.
    pub fn month_facts(&self, month: &str) -> Vec<&F> {
        let mut facts: Vec<&F> = self
            .months
            .get(month)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        facts.sort_by(|a, b| a.record_id().cmp(b.record_id()));
        facts
    }
}

/// How `incoming` relates to the `stored` version of its record: `None` if it replaces it,
/// otherwise the reason it changes nothing.
fn judge<F: Fact>(stored: &F, incoming: &F) -> Option<Applied<F>> {
    let (held, new) = (stored.meta(), incoming.meta());
    if new.version < held.version {
        return Some(Applied::Stale);
    }
    if new.version == held.version {
        if new.event_id == held.event_id {
            return Some(Applied::Duplicate);
        }
        return Some(Applied::Conflict(Conflict::SameVersion {
            record_id: Arc::clone(&held.record_id),
            version: held.version,
            held_by: held.event_id.clone(),
            refused: new.event_id.clone(),
        }));
    }
    if stored.is_tombstone() && new.status != F::REINSTATES && !incoming.is_tombstone() {
        return Some(Applied::Conflict(Conflict::AfterTombstone {
            record_id: Arc::clone(&held.record_id),
            tombstone_version: held.version,
            tombstone: F::TOMBSTONE,
            status: new.status,
            reinstates: F::REINSTATES,
        }));
    }
    None
}
