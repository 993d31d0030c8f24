//! Oversight: the managers' and the board's view of timeliness, caseloads and sign-off
//! (issue #15, `docs/oversight.md`). Server-rendered pages over projections of the records
//! (`projection`), figures computed by the core's rules (`figures`), and the manager's decision
//! written as an Automerge change through the core's lifecycle function (`decision`).

pub mod board;
pub mod board_fold;
pub mod charts;
pub mod child;
pub mod decision;
pub mod export;
pub mod figures;
pub mod oidc;
pub mod pages;
pub mod projection;
pub mod queue;
pub mod routes;
pub mod rows;
pub mod session;
pub mod team;
