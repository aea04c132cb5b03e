//! The revision rules: how an incoming version relates to the one held for its record (kept in
//! the [`crate::index`]).
//!
//! For a record already held:
//! - a **higher version** replaces the stored one — unless the stored one is a tombstone (a
//!   cancelled incident, a withdrawn report): then only a version with the reinstating status
//!   (`recorded` / `reported`) may follow. The Home Office Counting Rules let a cancelled crime be
//!   reinstated, but as an explicit act; an `outcome_updated` after `cancelled` is far more likely
//!   a system replaying a stale workflow, and silently counting the crime again would be wrong.
//!   Such a version is a [`Conflict`];
//! - the **same version from the same event** (`event_id`) is a duplicate (a replay, or a producer
//!   retry) and changes nothing; the same version from a *different* event is a [`Conflict`]:
//!   two systems disagree about one revision, and the first to arrive must not win silently;
//! - a **lower version** is stale (it arrived out of order) and changes nothing;
//!
//! (A version on another partition than its record's never reaches these rules: the core
//! dead-letters it first, see [`crate::partitioner`].)
//!
//! Conflicts go to the dead-letter topic (stage `conflict`) so that someone resolves them. A
//! cancellation is stored like any other version — the aggregate SQL excludes it — so that an
//! older version arriving later cannot bring the record back.

use std::sync::Arc;

use crate::facts::Fact;
use crate::index::Held;

/// What an incoming version is, relative to the held one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// First version seen of this record.
    New,
    /// A higher version: it replaces the held one.
    Revises,
    /// Same version and event as held: nothing changes.
    Duplicate,
    /// Lower version than held: nothing changes.
    Stale,
    /// Refused, nothing changes; the reason says why (see the module docs).
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

/// Judges `incoming` against the `held` version of its record.
pub fn judge<F: Fact>(held: Option<&Held>, incoming: &F) -> Verdict {
    let Some(held) = held else {
        return Verdict::New;
    };
    let new = incoming.meta();
    if new.version < held.version {
        return Verdict::Stale;
    }
    if new.version == held.version {
        if new.event_id == held.event_id {
            return Verdict::Duplicate;
        }
        return Verdict::Conflict(Conflict::SameVersion {
            record_id: Arc::clone(&new.record_id),
            version: held.version,
            held_by: held.event_id.clone(),
            refused: new.event_id.clone(),
        });
    }
    if held.tombstone && new.status != F::REINSTATES && !incoming.is_tombstone() {
        return Verdict::Conflict(Conflict::AfterTombstone {
            record_id: Arc::clone(&new.record_id),
            tombstone_version: held.version,
            tombstone: F::TOMBSTONE,
            status: new.status,
            reinstates: F::REINSTATES,
        });
    }
    Verdict::Revises
}
