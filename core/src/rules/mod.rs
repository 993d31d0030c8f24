//! The rules computed offline (DOMAIN.md §1-3): the bank-holiday calendar, working-day arithmetic,
//! statutory and local timescales, the worklist, and the completeness checks. Pure functions: no
//! storage, no clock; callers pass "today".

pub mod calendar;
pub mod case_checks;
pub mod completeness;
pub mod days;
pub mod effective;
pub mod settings;
pub mod status;
pub mod timescales;
pub mod worklist;

#[cfg(test)]
mod reform_tests;
#[cfg(test)]
mod timescale_tests;
