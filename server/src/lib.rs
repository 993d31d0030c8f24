//! Fieldbook's sync server: the hub every device syncs with, in front of the council's case
//! system. Layers: `storage` (rows; SQLite or PostgreSQL) ← `hub` (sync decisions, access control)
//! ← `http` (axum routes) ← `serve` (start/stop). See `ARCHITECTURE.md` and `docs/PROTOCOL.md`.

pub mod audit;
pub mod auth;
pub mod http;
pub mod hub;
pub mod logging;
pub mod oversight;
pub mod serve;
pub mod storage;
