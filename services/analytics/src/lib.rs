//! Crime-prevention analytics (People, Places, Property, Problems), each result a table that
//! analysts query with SQL, recomputed as the stream updates (`lantern analyse [--watch]`, and
//! on its own inside `lantern serve` / `lantern up`).
//!
//! - [`rates`]: rates per 1,000 residents / households; month-on-month, year-on-year and
//!   rolling-12-month change with the conditional exact test.
//! - [`repeat`]: repeat victimisation of victims, addresses and businesses; the live list.
//! - [`near_repeat`] over [`knox`]: the Knox test for near repeats.
//! - [`hotspots`] over [`gistar`]: top places, concentration, Getis-Ord Gi*.
//! - [`harm`]: the Cambridge Crime Harm Index.
//! - [`business`]: business crime per business; cybercrime rates.
//! - [`stats`], [`geo`], [`month`]: the statistics, geometry and calendar they share.
//! - [`geography`], [`inputs`], [`config`], [`table`], [`output`], [`job`]: where the inputs
//!   come from, the parameters, and how results are written.

pub mod business;
pub mod config;
mod error;
pub mod geo;
pub mod geography;
pub mod gistar;
pub mod harm;
pub mod hotspots;
pub mod inputs;
pub mod job;
pub mod knox;
pub mod month;
pub mod near_repeat;
pub mod output;
pub mod rates;
pub mod repeat;
pub mod stats;
pub mod table;

pub use error::AnalyticsError;
pub use job::{Analytics, TableRun};
