//! The rules computed offline (DOMAIN.md §1-3): the bank-holiday calendar, working-day arithmetic,
//! statutory and local timescales, the worklist, and the completeness checks. Pure functions: no
//! storage, no clock; callers pass "today" (an instant becomes a date only through
//! [`local_date`], in Europe/London).

pub mod calendar;
pub mod case_checks;
pub mod completeness;
pub mod days;
pub mod effective;
pub mod local_time;
pub mod settings;
pub mod status;
pub mod timescales;
pub mod worklist;

pub use local_time::local_date;

#[cfg(test)]
mod reform_tests;
#[cfg(test)]
mod timescale_tests;
