//! The latest version of every record, grouped by event-time month.
//!
//! This is where revisions are resolved: a fact replaces the stored one only if its version is
//! higher. Equal versions are duplicates (a replay, or a producer retry) and lower versions are
//! stale (arrived out of order); both change nothing. A cancellation is stored like any other
//! version — the aggregate SQL excludes it — so that an older version arriving later cannot bring
//! the record back.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::facts::Fact;

/// What applying one fact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First version seen of this record.
    New,
    /// A higher version replaced the stored one.
    Revised,
    /// Same version as stored: nothing changed.
    Duplicate,
    /// Lower version than stored: nothing changed.
    Stale,
}

impl Applied {
    pub fn changed(self) -> bool {
        matches!(self, Applied::New | Applied::Revised)
    }
}

/// All facts of one pipeline.
#[derive(Debug)]
pub struct FactState<F> {
    /// record id -> (version, month it currently sits in).
    index: HashMap<Arc<str>, (u64, Arc<str>)>,
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

    /// Applies one fact, keeping the highest version per record.
    pub fn apply(&mut self, fact: F) -> Applied {
        let id = fact.record_id();
        let month = Arc::clone(fact.month());
        let outcome = match self.index.get(id) {
            None => Applied::New,
            Some((stored, _)) if fact.version() > *stored => Applied::Revised,
            Some((stored, _)) if fact.version() == *stored => Applied::Duplicate,
            Some(_) => Applied::Stale,
        };
        if !outcome.changed() {
            return outcome;
        }
        let id = Arc::clone(id);
        if let Some((_, old_month)) = self
            .index
            .insert(Arc::clone(&id), (fact.version(), Arc::clone(&month)))
        {
            // A revision may move the record to another month (a corrected occurred_at): the old
            // month must be recomputed too.
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
        self.index
            .insert(Arc::clone(&id), (fact.version(), Arc::clone(&month)));
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
