//! Disclosure control: what leaves Lantern for partners and researchers, and the record that
//! lets anyone check it.
//!
//! - [`policy`]: the release policy (`pipelines/disclosure/releases.toml`), checked on load.
//! - [`ptable`]: the perturbation table of cell-key perturbation, proven safe for a threshold.
//! - [`key`]: the disclosure key behind record keys and pseudonyms (HMAC-SHA256).
//! - [`source`]: the records behind a table, from one pinned snapshot of the facts.
//! - [`protect`]: cells, then cell-key perturbation, rounding or suppression, then dominance.
//! - [`release`]: `lantern publish`: named, immutable vintages of each partner table.
//! - [`extract`]: `lantern extract`: k-anonymous, ℓ-diverse research extracts.
//! - [`manifest`] and [`verify`]: what an output holds, and `lantern verify` re-checking it.

mod error;
pub mod extract;
pub mod key;
pub mod manifest;
pub mod policy;
pub mod protect;
pub mod ptable;
pub mod release;
pub mod source;
pub mod verify;

pub use error::DisclosureError;
pub use key::SecretKey;
